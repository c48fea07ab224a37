"""axe-core (the engine behind Lighthouse) in a Playwright page: WCAG 2.1 A/AA violations, one line each.

``axe_violations(page)`` loads the vendored release (``vendor/axe-core/axe.min.js``, see its
VERSION.md) into the page and into every frame of it (Streamlit's component iframes), and runs
it in each document on its own. Each frame is then its own "initiator": run from the top with
``iframes: true`` instead, axe checks a frame's nodes but skips its page-level rules (a frame's
``<title>`` and ``lang``), which a screen reader announces all the same. Only serious and
critical violations count: the ones Lighthouse's accessibility score weighs most, and the ones
the app promises to have none of (README, Accessibility).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

AXE_JS = Path(__file__).resolve().parent.parent / "vendor" / "axe-core" / "axe.min.js"
WCAG_TAGS = ("wcag2a", "wcag2aa", "wcag21a", "wcag21aa")
SEVERE = ("serious", "critical")

# One document's violations (its frames are checked by their own run); only what a line needs goes back.
_RUN_JS = """async (tags) => {
  const results = await axe.run(document, {runOnly: {type: "tag", values: tags}, iframes: false,
                                           resultTypes: ["violations"]});
  return results.violations.map((rule) => ({
    id: rule.id, impact: rule.impact, help: rule.help,
    nodes: rule.nodes.map((node) => ({
      impact: node.impact, target: node.target.map(String).join(" "),
      summary: (node.failureSummary || "").replace(/^Fix (any|all) of the following:\\s*/, "").split("\\n")[0].trim(),
    })),
  }));
}"""
# How a line names the frame a node is in: its iframe's title, else its address without the query.
_FRAME_NAME_JS = "e => 'iframe ' + JSON.stringify(e.title || (e.getAttribute('src') || '').split('?')[0])"


@lru_cache(maxsize=1)
def _axe_source() -> str:
    if not AXE_JS.exists():
        raise FileNotFoundError(f"axe-core isn't vendored at {AXE_JS}: see vendor/axe-core/VERSION.md to get it")
    return AXE_JS.read_text(encoding="utf-8")


def _frame_name(frame) -> str:
    """``iframe "<title>"`` for each frame around ``frame``, outermost first ("" for the page itself)."""
    names = []
    while frame.parent_frame is not None:
        names.append(frame.frame_element().evaluate(_FRAME_NAME_JS))
        frame = frame.parent_frame
    return "".join(f"{name} >> " for name in reversed(names))


def axe_violations(page) -> list[str]:
    """One readable line per serious or critical WCAG 2.1 A/AA violation on ``page`` and in its frames.

    Each line: ``rule [impact] target: what is wrong (the rule's help)``, a node in a frame's
    target starting with ``iframe "<its title>" >>``. An empty list is a pass.
    """
    source = _axe_source()
    lines = []
    for frame in page.frames:
        try:
            if not frame.evaluate("() => typeof window.axe === 'object'"):
                frame.evaluate(source)
            where = _frame_name(frame)
            rules = frame.evaluate(_RUN_JS, list(WCAG_TAGS))
        except Exception as error:  # a frame a rerun took away meanwhile has nothing left to check
            if frame.is_detached() or "detached" in str(error).lower() or "destroyed" in str(error).lower():
                continue
            raise
        for rule in rules:
            for node in rule["nodes"]:
                impact = node["impact"] or rule["impact"]
                if impact in SEVERE:
                    lines.append(
                        f"{rule['id']} [{impact}] {where}{node['target']}: "
                        f"{node['summary'] or rule['help']} ({rule['help']})"
                    )
    return lines
