"""The lesson as a guided tour: the steps a teacher clicks through in front of a room.

Each ``Step`` sets the page's view (URL parameters in ``urlstate``'s encoding) and says, in a
few sentences, what to look at. Where a step asks people to look for something it asks a
question first and reveals the answer on request.

The lesson's video names filters by number, but those numbers belong to the model trained in
the video: a network trained again learns its filters in another order. So every filter a step
shows is found in ConvLab's own model by ``convlab.filtermeasures`` (its docstring gives the
yardstick: a filter's response against its typical one, live filters, lit cells), and the text
says how. Here, responses are read in ``LAYER`` and typical ones over every ``SAMPLE_EVERY``-th
test image.

Computing all of it takes one pass over that sample (``Baseline``) and a few passes of three
images: a second or two once the models are loaded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from .activations import Inspector
from .data import CLASS_NAMES, IMAGE_SIZE, Split, first_of_class
from .filtermeasures import (
    LIT,
    LIVE_SHARE,
    SAMPLE_EVERY,
    VERTICAL,
    Baseline,
    Places,
    baseline,
    baseline_of,
    find_disagreeing_filter,
    find_quiet_filter,
    find_shared_filter,
    find_vertical_shared_filter,
    layer_maps,
    listed,
    peak_place,
    places,
    relative_peaks,
    shared_rank,
    verticality,
)
from .store import StoredModel

LAYER = "pool2"  # the journey's last map, what the dense layers see: a feature must get this far to count
FIRST_LAYER = "conv1"  # where the pullover and trouser are compared "at first"
HALF = 0.5  # under half the weakest boot's response the feature is gone; under half the strongest's, not shared
ALIKE = 0.9  # within a tenth of the weakest boot's response: "as bright as the boots'"
BOOTS = (0, 23, 28)  # the lesson's three ankle boots
TROUSERS = (2, 3, 5)  # the lesson's three trousers
# The tour's steps, in order (``lesson_tour`` makes one of each): the URL's tour=1..len(SLUGS).
SLUGS = ("dense", "conv", "labels", "boots", "pullover", "trouser", "other-filter", "trousers", "shirts", "exercises")
PULLOVER, TROUSER = 1, 2  # the test images the lesson puts in the third slot
LESSON_FILTER = 1  # the lesson's CONVOLUTION_NUMBER
BOOT, SHIRT, TROUSER_LABEL, PULLOVER_LABEL = 9, 6, 1, 2  # Fashion-MNIST's labels
SCALE = "layer"  # one colour scale per column: a weak map must look weak beside a strong one
METRICS = ("train_loss", "train_accuracy", "test_loss", "test_accuracy")  # the run metadata's, as the steps quote them


@dataclass(frozen=True)
class Step:
    slug: str  # unique, e.g. "boots"
    title: str  # short: the progress dots' tooltip and the step's heading
    view: dict[str, str]  # the URL parameters the step sets (urlstate's encoding); always "tab"
    narration: str  # Markdown, a few plain sentences (shown on demand: "More")
    question: str | None = None  # asked before the reveal
    answer: str | None = None  # revealed on request (Markdown); its first sentence answers the question
    facts: dict = field(default_factory=dict)  # the computed numbers the texts use
    lead: str = ""  # one short line, always shown (a projector's strip); "": the narration's first sentence
    mixed: bool = False  # the images mix classes on purpose (the page's "don't share a label" note stays off)

    @property
    def short(self) -> str:
        """The line the tour's strip always shows."""
        return self.lead or first_sentence(self.narration)[0]

    @property
    def verdict(self) -> str:
        """The answer's first sentence: what the strip shows once revealed (the rest under "More")."""
        return first_sentence(self.answer or "")[0]


def first_sentence(text: str) -> tuple[str, str]:
    """(the first sentence, the rest) of plain Markdown prose; a number's point ends no sentence."""
    parts = re.split(r"(?<=[.!?])\s+(?=[A-Z*(])", text.strip(), maxsplit=1)
    return parts[0], parts[1] if len(parts) > 1 else ""


# -- the model's work ----------------------------------------------------------------------------
def multiplications_per_image(model) -> int:
    """Multiplications one image costs in the model's Conv2D and Dense layers (weights × positions)."""
    total = 0
    for layer in model.layers:
        kernel = getattr(layer, "kernel", None)
        if kernel is None:
            continue
        positions = int(np.prod(layer.output.shape[1:-1]))  # a Dense layer has one "position"
        total += positions * int(np.prod(kernel.shape))
    return total


# -- wording -------------------------------------------------------------------------------------
def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _times(values) -> str:
    """0.64×, 0.00× and 1.06×"""
    parts = [f"{value:.2f}×" for value in values]
    return ", ".join(parts[:-1]) + " and " + parts[-1]


def _plural(name: str) -> str:
    return {"Ankle boot": "ankle boots", "T-shirt/top": "T-shirts/tops", "Trouser": "trousers"}.get(
        name, f"{name.lower()}s"
    )


def _how_many_times(ratio: float) -> str:
    """ "twice", "three times", "2.5 times" (to 2 decimals: 2/3 ÷ 1/3 is 2 in words, not 1.9999999999999996)"""
    ratio = round(float(ratio), 2)
    if ratio.is_integer() and 2 <= ratio <= 5:
        return {2: "twice", 3: "three times", 4: "four times", 5: "five times"}[int(ratio)]
    return f"{ratio:g} times"


def _number_word(n: int) -> str:
    return ("no", "one", "two", "three", "four", "five")[n] if 0 <= n <= 5 else str(n)


def _together(found: Places, item: str) -> str:
    """A clause on where a filter's maps are lit together, as ``places`` found it."""
    if found.together is None:
        return (
            f"no cell is lit (at least {LIT:.0%} of its own map's peak) in all {_number_word(len(found.peaks))} "
            f"{item}s' maps at once"
        )
    return (
        f"all {_number_word(len(found.peaks))} {item}s' maps are lit together {found.together} of the maps, "
        f"each at least {found.least:.0%} of its own peak there"
    )


def _brightest(found: Places, images) -> str:
    """A clause on where each map is brightest, as ``places`` found it: one place, or each image's."""
    if len(set(found.peaks)) == 1 and found.peaks[0] is not None:
        return f"every map is brightest in the {found.peaks[0]}"
    each = listed(
        f"image {int(image)}'s in the {peak}" if peak else f"image {int(image)}'s nowhere (all dark)"
        for image, peak in zip(images, found.peaks)
    )
    return f"their brightest cells are not all in one place: {each}"


def _sentence(clause: str) -> str:
    """A clause as a sentence of its own: capital first letter, full stop."""
    return clause[:1].upper() + clause[1:] + "."


def _images_param(images) -> str:
    return ",".join(str(int(index)) for index in images)


def _view(tab: str, model: str, images=None, filter_index: int | None = None) -> dict[str, str]:
    view = {"tab": tab, "model": model}
    if images is not None:
        view["images"] = _images_param(images)
    if filter_index is not None:
        view.update({"filter": str(int(filter_index)), "layer": LAYER, "scale": SCALE})
    return view


# -- the steps -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Context:
    """What every step reads: both models, the test split and the conv model's yardstick."""

    conv: StoredModel
    dense: StoredModel
    split: Split
    inspector: Inspector  # the conv model's
    base: Baseline

    def images(self, indices) -> np.ndarray:
        return self.split.images[list(indices)]

    def relative(self, indices) -> np.ndarray:
        return relative_peaks(self.inspector, self.images(indices), LAYER, self.base)

    def name(self, index: int) -> str:
        return CLASS_NAMES[int(self.split.labels[index])]


def _dense_step(ctx: _Context) -> Step:
    meta, spec = ctx.dense.meta, ctx.dense.spec
    metrics = meta["metrics"]
    as_expected = metrics["test_accuracy"] < metrics["train_accuracy"]
    narration = (
        f"We start where the previous lesson ended: a network that flattens each {IMAGE_SIZE}×{IMAGE_SIZE} "
        f"picture into {IMAGE_SIZE * IMAGE_SIZE} numbers and feeds them to a dense layer of {spec.dense_units} "
        f"units, then to 10 outputs, one per class. ConvLab trained it for {meta['epochs_run']} epochs on "
        f"{spec.train_samples:,} pictures in **{meta['seconds']:.0f} s** ({meta.get('machine', 'this machine')}). "
        f"After its last epoch the training loss was {metrics['train_loss']:.2f} and accuracy "
        f"{metrics['train_accuracy']:.1%}. On the {len(ctx.split):,} test pictures, which it never saw, loss is "
        f"{metrics['test_loss']:.2f} and accuracy **{metrics['test_accuracy']:.1%}**: "
        + ("a little worse, as you'd expect of new pictures." if as_expected else "no worse, which is unusual.")
    )
    facts = {"seconds": meta["seconds"], **{name: metrics[name] for name in METRICS}}
    lead = (
        f"Where the previous lesson ended: a dense network, **{metrics['test_accuracy']:.1%}** right on the "
        "test pictures."
    )
    return Step("dense", "The dense baseline", _view("compare", spec.key()), narration, facts=facts, lead=lead)


def _conv_step(ctx: _Context) -> Step:
    meta, spec = ctx.conv.meta, ctx.conv.spec
    metrics, dense = meta["metrics"], ctx.dense.meta
    filters = spec.conv_filters
    slower = meta["seconds"] / dense["seconds"]
    work, dense_work = multiplications_per_image(ctx.conv.model), multiplications_per_image(ctx.dense.model)
    gain = metrics["test_accuracy"] - dense["metrics"]["test_accuracy"]
    narration = (
        f"The conv version puts {_number_word(len(filters))} blocks in front of the same dense layers: a Conv2D "
        f"layer of {filters[0]} filters, {spec.kernel_size}×{spec.kernel_size} each, then a "
        f"{spec.pool_size}×{spec.pool_size} max-pool that keeps the brightest value of each window. Training took "
        f"**{meta['seconds']:.0f} s**, {slower:.1f}× the dense model's time: for each of the "
        f"{spec.train_samples:,} pictures of every epoch, {filters[0]} filters slide over it, the results are "
        f"pooled, {filters[-1]} more filters slide over those maps, and they are pooled again before the dense "
        f"layers. That is {work:,} multiplications per picture, against {dense_work:,} for the dense model. In "
        f"return loss fell (training {metrics['train_loss']:.2f}, test {metrics['test_loss']:.2f}) and accuracy "
        f"rose to {metrics['train_accuracy']:.1%} on the training pictures and **{metrics['test_accuracy']:.1%}** "
        f"on the test pictures, {100 * gain:+.1f} points over the dense model."
    )
    facts = {
        "seconds": meta["seconds"],
        **{name: metrics[name] for name in METRICS},
        "slower": slower,
        "multiplications": work,
        "dense_multiplications": dense_work,
        "gain": gain,
    }
    lead = (
        f"With {_number_word(len(filters))} conv blocks: **{metrics['test_accuracy']:.1%}** on the test pictures, "
        f"{100 * gain:+.1f} points, in {slower:.1f}× the time."
    )
    return Step("conv", "Adding convolutions", _view("compare", spec.key()), narration, facts=facts, lead=lead)


def _labels_step(ctx: _Context) -> Step:
    positions = [int(i) for i in np.flatnonzero(ctx.split.labels[:100] == BOOT)]
    name = CLASS_NAMES[BOOT]
    layers = ctx.conv.spec.feature_layers()
    sides = " → ".join(str(side) for side in [IMAGE_SIZE] + [side for _, side, _ in layers])
    narration = (
        "Below the journey's grid, **pick images by label** lists the first 100 test labels, the printout the "
        f"lesson makes. Label {BOOT} is {name}: in those 100 it appears at {listed(positions)}. The journey "
        f"starts with the first three, test images {listed(BOOTS)}: three {_plural(name)}, one per row of the "
        f"grid, travelling left to right through {listed(layer for layer, _, _ in layers)}. The maps' titles "
        f"show them shrinking, {sides}."
    )
    view = _view("journey", ctx.conv.spec.key(), BOOTS)
    view["filter"] = str(LESSON_FILTER)  # the lesson's starting filter, before ConvLab finds its own
    lead = f"Label {BOOT}, {name}: test images {listed(BOOTS)}, one per row, through every layer."
    return Step(
        "labels",
        f"Label {BOOT}: {_plural(name)}",
        view,
        narration,
        lead=lead,
        facts={"label": BOOT, "positions": positions, "images": list(BOOTS)},
    )


def _boots_step(ctx: _Context) -> Step:
    images = ctx.images(BOOTS)
    chosen, score = find_shared_filter(ctx.inspector, images, LAYER, ctx.base)
    relative = ctx.relative(BOOTS)
    found = places(layer_maps(ctx.inspector, images, LAYER)[..., chosen])
    rank = shared_rank(ctx.inspector, images, LAYER, ctx.base, LESSON_FILTER)
    lesson_score = float(relative[:, LESSON_FILTER].min())
    narration = (
        "Which filter picks out something the three boots share? In the video it was filter 1, but filter "
        "numbers belong to the model trained there: ConvLab's model learned its filters in another order, so "
        f"ConvLab asked its own model. For each filter it takes the brightest value of each boot's {LAYER} map "
        f"(the last column, what the dense layers get), divides it by that filter's average over "
        f"{ctx.base.sample:,} test pictures, and keeps the filter whose *weakest* boot still scores highest. In "
        f"ConvLab's model that is **filter {chosen}**. Each column has one colour scale for all three rows, so "
        "brightness compares across them."
    )
    verdict = "Not in one place" if found.together is None else "Yes" if score >= 1 else "Weakly"
    answer = (
        f"{verdict}: {_together(found, 'boot')}. {_sentence(_brightest(found, BOOTS))} Filter {chosen}'s {LAYER} "
        f"peaks are {_times(relative[:, chosen])} its average on a test picture (images {listed(BOOTS)}). The "
        f"video's filter {LESSON_FILTER} scores {lesson_score:.2f}× here, {_ordinal(rank)} of the "
        f"{int(ctx.base.live[LAYER].sum())} live filters."
    )
    lead = f"ConvLab's model finds the filter the three boots share most: **filter {chosen}**."
    return Step(
        "boots",
        "What the boots share",
        _view("journey", ctx.conv.spec.key(), BOOTS, chosen),
        narration,
        question=f"Will filter {chosen} light up something all three boots share? Where?",
        answer=answer,
        lead=lead,
        facts={
            "filter": chosen,
            "score": score,
            "relative": relative[:, chosen].tolist(),
            "place": found.together,
            "together": found.least,
            "cells": list(found.cells),
            "ninths": list(found.ninths),
            "peaks": list(found.peaks),
            "lesson_filter_score": lesson_score,
            "lesson_filter_rank": rank,
        },
    )


def _survival(ctx: _Context, chosen: int, item: int) -> dict:
    """How the item in the third slot compares with the boots on filter ``chosen``, first and last."""
    images = ctx.images(BOOTS + (item,))
    first = layer_maps(ctx.inspector, images, FIRST_LAYER)[..., chosen]
    last = layer_maps(ctx.inspector, images, LAYER)[..., chosen]
    first_peaks, last_peaks = first.max(axis=(1, 2)), last.max(axis=(1, 2))
    weakest_first, weakest_last = float(first_peaks[:-1].min()), float(last_peaks[:-1].min())
    return {
        "filter": chosen,
        "item": item,
        "label": int(ctx.split.labels[item]),
        "first": float(first_peaks[-1]),
        "first_boot": weakest_first,
        "first_ratio": float(first_peaks[-1]) / weakest_first if weakest_first > 0 else 0.0,
        "first_region": peak_place(first[-1]),
        "last": float(last_peaks[-1]),
        "last_boot": weakest_last,
        "last_ratio": float(last_peaks[-1]) / weakest_last if weakest_last > 0 else 0.0,
        "survives": bool(last_peaks[-1] >= HALF * weakest_last),
    }


def _survival_answer(ctx: _Context, facts: dict) -> str:
    name = ctx.name(facts["item"]).lower()
    at_first = "as bright as the boots'" if facts["first_ratio"] >= ALIKE else "dimmer than the boots' already"
    if facts["survives"]:
        verdict = f"What the boots share survives: this filter alone doesn't tell a boot from a {name}."
    else:
        verdict = f"What the boots share is gone: filter {facts['filter']} helps tell a boot from a {name}."
    return (
        f"{'Yes' if facts['survives'] else 'No'}: by the {LAYER} column the {name}'s brightest value is "
        f"{facts['last']:.2f} against at least {facts['last_boot']:.2f} for the boots, {facts['last_ratio']:.0%}. "
        f"In the {FIRST_LAYER} column it was {facts['first']:.2f} ({facts['first_ratio']:.0%} of the weakest "
        f"boot's {facts['first_boot']:.2f}; the {name}'s map is brightest in its {facts['first_region']}): "
        f"{at_first}. {verdict}"
    )


def _pullover_step(ctx: _Context, chosen: int) -> Step:
    name = ctx.name(PULLOVER)
    return _third_image_step(
        ctx,
        chosen,
        "pullover",
        PULLOVER,
        f"Put test image {PULLOVER} in the third slot: two boots and something else, the classes mixed on purpose "
        f"to test what the boots share. In the video it passes for a handbag; Fashion-MNIST labels it **{name}**. "
        f"Keep filter {chosen}, the one that found what the boots share, and follow the third row from left to "
        "right.",
        f"Does the {name.lower()} keep what filter {chosen} found in the boots?",
        f"Two boots and a {name.lower()}, mixed on purpose: still filter {chosen}.",
    )


def _trouser_step(ctx: _Context, chosen: int) -> Step:
    name = ctx.name(TROUSER)
    return _third_image_step(
        ctx,
        chosen,
        "trouser",
        TROUSER,
        f"Now test image {TROUSER}, labelled **{name}**, in the third slot, still with filter {chosen}: again two "
        "boots and another class, on purpose. Compare the third row with the two boots above it, column by column.",
        f"And the {name.lower()}: does it keep what the boots share?",
        f"Two boots and a {name.lower()}, mixed on purpose: still filter {chosen}.",
    )


def _third_image_step(
    ctx: _Context, chosen: int, slug: str, image: int, narration: str, question: str, lead: str
) -> Step:
    """The lesson's experiment: two boots and ``image`` in the third slot, with the boots' filter
    (classes mixed on purpose: ``mixed``)."""
    facts = _survival(ctx, chosen, image)
    return Step(
        slug,
        f"Image {image}, a {ctx.name(image)}",
        _view("journey", ctx.conv.spec.key(), BOOTS[:2] + (image,), chosen),
        narration,
        question=question,
        answer=_survival_answer(ctx, facts),
        facts=facts,
        lead=lead,
        mixed=True,
    )


def _other_filter_step(ctx: _Context) -> Step:
    chosen, share = find_disagreeing_filter(ctx.inspector, ctx.images(BOOTS), LAYER, ctx.base)
    relative = ctx.relative(BOOTS)[:, chosen]
    weakest = BOOTS[int(np.argmin(relative))]
    narration = (
        "Back to the three boots, with a filter that disagrees about them (filter 2 in the video). Among the "
        "filters that light at least one boot as brightly as an average test picture, ConvLab took the one "
        f"whose weakest boot gets the smallest share of its strongest boot's response: **filter {chosen}**."
    )
    verdict = "No" if share < HALF else "Partly"
    answer = (
        f"{verdict}: its {LAYER} peaks are {_times(relative)} its average, so the weakest boot (image {weakest}) "
        f"gets {share:.0%} of the strongest one's response. Whatever it found, the three boots don't share it."
    )
    return Step(
        "other-filter",
        "A filter that disagrees",
        _view("journey", ctx.conv.spec.key(), BOOTS, chosen),
        narration,
        lead=f"Back to the three boots, with a filter that disagrees about them: **filter {chosen}**.",
        question=f"Does filter {chosen} find anything all three boots share?",
        answer=answer,
        facts={"filter": chosen, "share": share, "relative": relative.tolist(), "weakest": weakest},
    )


def _trousers_step(ctx: _Context) -> Step:
    name = _plural(CLASS_NAMES[TROUSER_LABEL])
    images = ctx.images(TROUSERS)
    chosen, score = find_vertical_shared_filter(ctx.inspector, images, LAYER, ctx.base)
    maps = layer_maps(ctx.inspector, images, LAYER)[..., chosen]
    vertical = [verticality(feature_map) for feature_map in maps]
    relative = ctx.relative(TROUSERS)[:, chosen]
    found = places(maps)
    across = VERTICAL / (1 - VERTICAL)  # how many times the change going down, the change going across must be
    narration = (
        f"Test images {listed(TROUSERS)} are all {name}. In the video filters 2 and 4 picked out an upright "
        "line the trousers share. ConvLab looked in its own model for a filter whose maps show upright stripes on "
        f"all three: going across each {LAYER} map, from cell to cell, the brightness changes at least "
        f"{_how_many_times(across)} as much as going down it, as it does across an upright line. Of those, the one "
        f"that lights up its dimmest trouser most, against its own average on a test picture, is **filter {chosen}**."
    )
    item = CLASS_NAMES[TROUSER_LABEL].lower()
    answer = (
        f"Upright stripes: {listed(f'{v:.0%}' for v in vertical)} of the brightness change in its three {LAYER} "
        f"maps goes across, not down. All three {name} light it up, {_times(relative)} its average on a test "
        f"picture; {_together(found, item)}. {_sentence(_brightest(found, TROUSERS))}"
    )
    lead = f"Three {name}, test images {listed(TROUSERS)}, and a filter for upright lines: **filter {chosen}**."
    return Step(
        "trousers",
        f"Three {name}",
        _view("journey", ctx.conv.spec.key(), TROUSERS, chosen),
        narration,
        question=f"What will filter {chosen} light up in the {name}?",
        answer=answer,
        lead=lead,
        facts={
            "filter": chosen,
            "score": score,
            "relative": relative.tolist(),
            "verticality": vertical,
            "place": found.together,
            "together": found.least,
            "cells": list(found.cells),
            "ninths": list(found.ninths),
            "peaks": list(found.peaks),
        },
    )


def _shirts_step(ctx: _Context) -> Step:
    shirts = tuple(first_of_class(ctx.split.labels, SHIRT))
    shirt, name = CLASS_NAMES[SHIRT].lower(), _plural(CLASS_NAMES[SHIRT])
    images = ctx.images(shirts)
    quiet, quiet_score = find_quiet_filter(ctx.inspector, images, LAYER, ctx.base)
    lit, lit_score = find_shared_filter(ctx.inspector, images, LAYER, ctx.base)
    relative = ctx.relative(shirts)
    maps = layer_maps(ctx.inspector, images, LAYER)[..., lit]
    cells = [int((feature_map > 0).sum()) for feature_map in maps]
    found = places(maps)
    lesson_score = float(relative[:, LESSON_FILTER].min())
    narration = (
        f"Label {SHIRT} is {CLASS_NAMES[SHIRT]}; the first three in the printout are test images {listed(shirts)}. "
        "In the video one filter did little with them and another lit up parts of them. Measuring each filter "
        f"against its own average on a test picture, among those that fire on at least 1 test picture in "
        f"{round(1 / LIVE_SHARE)}, **filter {lit}** lights up even its dimmest {shirt} more than any other, and "
        f"**filter {quiet}** lights up even its brightest {shirt} less than any other. "
        f"The grid shows filter {lit}; type {quiet} in the filter box to compare, or click the filter slider and "
        "step through the filters with ← / → (elsewhere on the page those keys move the tour)."
    )
    parts = "Parts" if max(cells) < maps[0].size / 2 else "Much of them"
    little = "little" if quiet_score < 1 else "about as much as on an average test picture"
    answer = (
        f"{parts}: of the {maps[0].size} cells of each {LAYER} map, filter {lit} is above zero in only "
        f"{listed(cells)}, with peaks {_times(relative[:, lit])} its average on a test picture. "
        f"{_sentence(_together(found, shirt))} {_sentence(_brightest(found, shirts))} "
        f"Filter {quiet} sees {little}: {_times(relative[:, quiet])} its average, though it fires on other "
        f"pictures. The video's filter {LESSON_FILTER} scores {lesson_score:.2f}× on its weakest {shirt}."
    )
    return Step(
        "shirts",
        f"Three {name}",
        _view("journey", ctx.conv.spec.key(), shirts, lit),
        narration,
        question=f"Will filter {lit} light up whole {name}, or parts of them? And filter {quiet}?",
        answer=answer,
        lead=f"Three {name}: **filter {lit}** lights them up most, **filter {quiet}** least.",
        facts={
            "filter": lit,
            "score": lit_score,
            "relative": relative[:, lit].tolist(),
            "cells": cells,
            "place": found.together,
            "together": found.least,
            "lit_cells": list(found.cells),
            "ninths": list(found.ninths),
            "peaks": list(found.peaks),
            "quiet_filter": quiet,
            "quiet_score": quiet_score,
            "quiet_relative": relative[:, quiet].tolist(),
            "images": list(shirts),
            "lesson_filter_score": lesson_score,
        },
    )


def _exercises_step(ctx: _Context) -> Step:
    narration = (
        "Your turn, in the 🧪 Lab, without code: give the conv layers 16 or 32 filters instead of 64 and compare "
        "accuracy and training time; remove the second conv block, or add a third; switch on the stop rule that "
        "ends training once loss drops below a value you choose. Every run you train appears in 📊 Compare and "
        "⏯️ Replay. The next lesson moves on to bigger pictures where the object isn't always in the middle: "
        f"↔️ Shift probe shows what moving these centred {IMAGE_SIZE}×{IMAGE_SIZE} pictures does to both models."
    )
    lead = "Your turn in the 🧪 Lab: fewer filters, more or fewer conv blocks, a rule to stop training."
    return Step("exercises", "Exercises", _view("lab", ctx.conv.spec.key()), narration, lead=lead)


def _check(conv: StoredModel, dense: StoredModel, split: Split) -> None:
    """The tour's texts are true only of Fashion-MNIST's test split and a conv model with a pool2."""
    names = [type(layer).__name__ for layer in dense.model.layers]
    if "Conv2D" in names:
        raise ValueError("dense must be a model without convolutions: pass the store's PRESETS['dense'] run")
    if LAYER not in [layer.name for layer in conv.model.layers]:
        raise ValueError(f"conv has no {LAYER} layer: pass the store's PRESETS['conv'] run (two conv blocks)")
    expected = {BOOT: BOOTS, TROUSER_LABEL: TROUSERS, PULLOVER_LABEL: (PULLOVER,)}
    for label, images in expected.items():
        if len(split) <= max(images) or any(split.labels[i] != label for i in images):
            raise ValueError("split is not Fashion-MNIST's test split: pass load_split('test')")


def lesson_tour(
    conv: StoredModel,
    dense: StoredModel,
    split: Split,
    inspector: Inspector | None = None,
    maxima: dict[str, np.ndarray] | None = None,
) -> list[Step]:
    """The lesson's steps on ConvLab's models: ``conv`` and ``dense`` are the store's StoredModels.

    ``inspector``: the conv model's, if the caller has one (the app's is shared between
    sessions and holds the model's lock); otherwise one is made. ``maxima``: the conv model's map
    maxima over all of ``split`` (``convlab.testset``), if the caller has them: the yardstick then
    takes every fifth image's from them instead of a pass over those images.
    """
    _check(conv, dense, split)
    if inspector is None:
        inspector = Inspector(conv.model)
    elif inspector.model is not conv.model:
        raise ValueError("inspector must be the conv model's: pass Inspector(conv.model) or none")
    if maxima is None:
        base = baseline(inspector, split.images[::SAMPLE_EVERY])
    elif any(len(values) != len(split) for values in maxima.values()):
        raise ValueError(f"maxima must hold all {len(split):,} test images' maxima, one row each")
    else:
        base = baseline_of({layer: values[::SAMPLE_EVERY] for layer, values in maxima.items()})
    ctx = _Context(conv, dense, split, inspector, base)
    boots = _boots_step(ctx)
    chosen = boots.facts["filter"]
    return [
        _dense_step(ctx),
        _conv_step(ctx),
        _labels_step(ctx),
        boots,
        _pullover_step(ctx, chosen),
        _trouser_step(ctx, chosen),
        _other_filter_step(ctx),
        _trousers_step(ctx),
        _shirts_step(ctx),
        _exercises_step(ctx),
    ]
