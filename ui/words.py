"""The terms of the "how and why" views, after the plain words: each with a one-line definition a
newcomer can follow and a link to the paper it comes from.

The views open with one plain sentence above their picture (what a 15-year-old needs to read it);
the terms follow below for whoever wants the name and the source. The links were checked against
the papers: the arXiv abstracts of Simonyan et al. (saliency), Selvaraju et al. (Grad-CAM) and
Smilkov et al. (SmoothGrad), and Erhan et al.'s Montréal technical report (activation maximisation).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Term:
    name: str
    definition: str  # one line, plain words; "{side}" is filled in where the view knows it
    source: str  # the paper's authors and year
    url: str


TERMS = {
    "saliency": Term(
        "Saliency map",
        "for every pixel, how much the class's score would change if that pixel changed a tiny bit "
        "(the score's gradient): bright a lot, black not at all.",
        "Simonyan, Vedaldi & Zisserman 2013",
        "https://arxiv.org/abs/1312.6034",
    ),
    "grad-cam": Term(
        "Grad-CAM",
        "the last conv layer's maps, each weighted by how much the class's score depends on it, added "
        "up and laid over the picture; those maps are only {side}×{side}, so it shows roughly where, never which "
        "pixel.",
        "Selvaraju et al. 2017",
        "https://arxiv.org/abs/1610.02391",
    ),
    "smoothgrad": Term(
        "SmoothGrad",
        "the saliency map averaged over {copies} copies of the picture with a little random noise "
        "added to each, which calms its speckle.",
        "Smilkov et al. 2017",
        "https://arxiv.org/abs/1706.03825",
    ),
    "activation maximisation": Term(
        "Activation maximisation",
        "start from a plain grey picture and change its pixels, step by step, in "
        "whichever direction makes the filter fire harder (gradient ascent).",
        'Erhan, Bengio, Courville & Vincent 2009, "Visualizing Higher-Layer Features of a Deep Network"',
        "https://www.researchgate.net/publication/265022827_Visualizing_Higher-Layer_Features_of_a_Deep_Network",
    ),
}


def terms_markdown(names: list[str], **values) -> str:
    """The terms ``names`` as a Markdown list, each "**Name** ([source](url)): definition", under a
    short heading; ``values`` fill the definitions' blanks (``side``, ``copies``)."""
    lines = [
        f"- **{TERMS[name].name}** ([{TERMS[name].source}]({TERMS[name].url})): "
        f"{TERMS[name].definition.format(**values)}"
        for name in names
    ]
    return "**The words for it**\n\n" + "\n".join(lines)
