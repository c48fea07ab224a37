"""Charts of numbers: class probabilities, the confusion matrix, class mixes, training curves,
the replay's accuracy, the shift probe's invariance and a sweep's variants.

Their margins hold the axes' labels and titles and a legend above, as drawn in the page's font at a laptop's
width: Plotly's automargin (the chart component's template) then has nothing to add, and a figure is laid out
once, not twice (a third of its drawing time). It still widens a margin that a longer label needs.
"""

from __future__ import annotations

import numpy as np

from ..data import CLASS_NAMES
from .parts import label
from .scales import (
    BEST_COLOR,
    CORRECT_COLORSCALE,
    LEGEND_ABOVE,
    MISTAKES_COLORSCALE,
    RUN_COLORS,
    SWEEP_COLOR,
    floored_range,
)


def probabilities_figure(titles: list[str], probabilities: dict[str, np.ndarray]) -> dict:
    """Side by side per image: each model's 10 class probabilities as horizontal bars.

    ``probabilities`` maps a model's name to an (images, 10) array.
    """
    images = len(titles)
    width = (1 - 0.06 * (images - 1)) / images
    data, layout, annotations = [], {}, []
    for image, title in enumerate(titles):
        suffix = str(image + 1) if image else ""
        left = image * (width + 0.06)
        layout[f"xaxis{suffix}"] = {
            "domain": [left, left + width],
            "range": [0, 1],
            "tickformat": ".0%",
            "anchor": f"y{suffix}",
            "fixedrange": True,
        }
        layout[f"yaxis{suffix}"] = {
            "anchor": f"x{suffix}",
            "autorange": "reversed",
            "fixedrange": True,
            "showticklabels": image == 0,
            "matches": "y" if image else None,
        }
        annotations.append(label(title, left + width / 2, 1.0, yshift=4, size=13, anchor="center"))
        for number, (model, values) in enumerate(probabilities.items()):
            data.append(
                {
                    "type": "bar",
                    "orientation": "h",
                    "x": np.asarray(values[image]).tolist(),
                    "y": list(CLASS_NAMES),
                    "name": model,
                    "legendgroup": model,
                    "showlegend": image == 0,
                    "marker": {"color": RUN_COLORS[number % len(RUN_COLORS)]},
                    "xaxis": f"x{suffix}",
                    "yaxis": f"y{suffix}",
                    "hovertemplate": f"{model}: %{{y}} %{{x:.1%}}<extra></extra>",
                }
            )
    layout.update(
        {
            "barmode": "group",
            "height": 380,
            "annotations": annotations,
            "margin": {"l": 68, "r": 26, "t": 40, "b": 74},
            "legend": {"orientation": "h", "y": -0.12},
        }
    )
    return {"data": data, "layout": layout}


def confusion_figure(matrix: np.ndarray, normalised: bool) -> dict:
    """Rows = true class, columns = predicted class; each cell's count or fraction written in it.

    Mistakes (off the diagonal, reds) and correct predictions (the diagonal, blues) are two
    heatmaps, each on its own scale from 0 to its largest cell: on one scale the ~900 correct
    per class would wash 100+ mistakes out to white. Then come the click targets, last.
    """
    matrix = np.asarray(matrix)
    text = [[f"{v:.0%}" if normalised else f"{int(v)}" for v in row] for row in matrix]
    diagonal = np.eye(len(matrix), dtype=bool)
    click_targets = {
        # Invisible click targets, one per cell: Streamlit reports clicks on points, not heatmap cells.
        "type": "scatter",
        "mode": "markers",
        "name": "choose",
        "x": [predicted for _ in CLASS_NAMES for predicted in CLASS_NAMES],
        "y": [true for true in CLASS_NAMES for _ in CLASS_NAMES],
        "marker": {"symbol": "square", "size": 40, "opacity": 0.01, "color": "white"},
        "selected": {"marker": {"opacity": 0.01}},
        "unselected": {"marker": {"opacity": 0.01}},
        "customdata": [value for row in text for value in row],
        "hovertemplate": "true %{y}, predicted %{x}: %{customdata}. Click to list them.<extra></extra>",
    }
    return {
        "data": [
            _confusion_cells(matrix, text, ~diagonal, MISTAKES_COLORSCALE),
            _confusion_cells(matrix, text, diagonal, CORRECT_COLORSCALE),
            click_targets,  # last, over both heatmaps
        ],
        "layout": {
            "clickmode": "event+select",
            "xaxis": {"title": {"text": "predicted class"}, "side": "top", "fixedrange": True},
            "yaxis": {"title": {"text": "true class"}, "autorange": "reversed", "fixedrange": True},
            "height": 520,
            "margin": {"l": 90, "r": 10, "t": 50, "b": 10},
        },
    }


def _confusion_cells(matrix: np.ndarray, text: list[list[str]], shown: np.ndarray, colorscale: list) -> dict:
    """A heatmap of the ``shown`` cells only (the others None: not drawn), 0 to their largest value."""
    zmin, zmax = floored_range(float(matrix[shown].max(initial=0)))  # no mistakes at all: every cell white
    return {
        "type": "heatmap",
        "z": np.where(shown, matrix, None).tolist(),
        "x": list(CLASS_NAMES),
        "y": list(CLASS_NAMES),
        "zmin": zmin,
        "zmax": zmax,
        "colorscale": colorscale,
        "showscale": False,
        "text": np.where(shown, text, "").tolist(),
        "texttemplate": "%{text}",  # coloured to contrast with its cell
        "hoverinfo": "skip",  # the click targets carry the hover text
    }


def class_mix_figure(counts: np.ndarray, title: str) -> dict:
    return {
        "data": [
            {
                "type": "bar",
                "x": list(CLASS_NAMES),
                "y": np.asarray(counts).tolist(),
                "marker": {"color": RUN_COLORS[1]},
                "hovertemplate": "%{x}: %{y}<extra></extra>",
            }
        ],
        "layout": {
            "title": {"text": title, "font": {"size": 14}},
            "height": 300,
            "yaxis": {"title": {"text": "images"}, "fixedrange": True},
            "xaxis": {"fixedrange": True},
            "margin": {"l": 40, "r": 46, "t": 40, "b": 56},
        },
    }


def best_epoch(history: dict[str, list[float]]) -> int:
    """The 1-based epoch of the highest test accuracy (the first, on a tie)."""
    accuracies = history["test_accuracy"]
    return int(np.argmax(accuracies)) + 1


def curves_figure(histories: dict[str, dict[str, list[float]]], mark_best: bool = True) -> dict:
    """Loss and accuracy per epoch, train (solid) and test (dashed), one colour per run.

    With ``mark_best``, a star marks each run's epoch of best test accuracy: past it, the
    train curve keeps improving while the test curve doesn't, which is overfitting.
    """
    data = []
    for number, (name, history) in enumerate(histories.items()):
        color = RUN_COLORS[number % len(RUN_COLORS)]
        for metric, axis in (("loss", ""), ("accuracy", "2")):
            for split, dash in (("train", "solid"), ("test", "dash")):
                values = history[f"{split}_{metric}"]
                data.append(
                    {
                        "type": "scatter",
                        "mode": "lines+markers",
                        "x": list(range(1, len(values) + 1)),
                        "y": values,
                        "name": f"{name} · {split}",
                        "legendgroup": f"{name} {split}",
                        "showlegend": metric == "loss",
                        "line": {"color": color, "dash": dash},
                        "xaxis": f"x{axis}",
                        "yaxis": f"y{axis}",
                        "hovertemplate": f"{name} {split} {metric}, epoch %{{x}}: %{{y:.4f}}<extra></extra>",
                    }
                )
        if mark_best and history["test_accuracy"]:
            epoch = best_epoch(history)
            data.append(
                {
                    "type": "scatter",
                    "mode": "markers",
                    "x": [epoch],
                    "y": [history["test_accuracy"][epoch - 1]],
                    "name": f"{name} · best test accuracy",
                    "xaxis": "x2",
                    "yaxis": "y2",
                    "marker": {"symbol": "star", "size": 16, "color": color, "line": {"width": 1, "color": "black"}},
                    "hovertemplate": f"{name}: best test accuracy %{{y:.4f}} at epoch %{{x}}<extra></extra>",
                }
            )
    # Epochs 1..N left to right, a tick at each (never 2.5); the lines start at epoch 1, the first one trained.
    epochs = max((len(history["train_loss"]) for history in histories.values()), default=1)
    axis = {
        "title": {"text": f"epoch (1 to {epochs}, left to right)"},
        "tickmode": "linear",
        "tick0": 1,
        "dtick": 1,
        "range": [0.7, max(epochs, 1) + 0.3],
    }
    layout = {
        "xaxis": {**axis, "domain": [0, 0.45]},
        "xaxis2": {**axis, "domain": [0.55, 1]},
        "yaxis": {"title": {"text": "loss"}},
        "yaxis2": {"title": {"text": "accuracy"}, "anchor": "x2"},
        "height": 380,
        "margin": {"l": 50, "r": 10, "t": 76, "b": 44},
        "legend": LEGEND_ABOVE,
    }
    return {"data": data, "layout": layout}


def replay_accuracy_figure(points, current: int, epoch_test_accuracy: list[float] = ()) -> dict:
    """A training's accuracy at each snapshot: the whole run faint, up to ``current`` strong, a dot there.

    ``points`` are ``snapshots.Point``s. The x axis counts snapshots, not epochs: most of them fall
    in the first epoch, where learning is fastest, and would crowd into its first tenth on a time
    axis. ``epoch_test_accuracy`` adds Keras' own test accuracy on the whole test set at each
    epoch's end, as open circles.
    """
    x = list(range(len(points)))
    labels = [p.label for p in points]
    data = []
    for split, color in (("train", RUN_COLORS[0]), ("test", RUN_COLORS[1])):
        y = [getattr(p, f"{split}_accuracy") for p in points]
        data.append(
            {
                "type": "scatter",
                "mode": "lines",
                "x": x,
                "y": y,
                "hoverinfo": "skip",
                "showlegend": False,
                "line": {"color": color, "width": 1, "dash": "dot"},
                "opacity": 0.5,
            }
        )
        data.append(
            {
                "type": "scatter",
                "mode": "lines+markers",
                "x": x[: current + 1],
                "y": y[: current + 1],
                "customdata": labels[: current + 1],
                "name": split,
                "line": {"color": color, "width": 3},
                "marker": {"size": 6},
                "hovertemplate": f"%{{customdata}}: {split} accuracy %{{y:.1%}}<extra></extra>",
            }
        )
        data.append(
            {
                "type": "scatter",
                "mode": "markers",
                "x": [current],
                "y": [y[current]],
                "showlegend": False,
                "marker": {"size": 14, "color": color, "line": {"color": "rgb(255, 255, 255)", "width": 2}},
                "hoverinfo": "skip",
            }
        )
    ends = [i for i, p in enumerate(points) if p.epochs > 0 and float(p.epochs).is_integer()]
    if len(epoch_test_accuracy) and len(ends) == len(epoch_test_accuracy):
        data.append(
            {
                "type": "scatter",
                "mode": "markers",
                "x": ends,
                "y": list(epoch_test_accuracy),
                "name": "test, all 10,000 images",
                "customdata": [labels[i] for i in ends],
                "marker": {"symbol": "circle-open", "size": 11, "color": RUN_COLORS[1], "line": {"width": 2}},
                "hovertemplate": "%{customdata}: test accuracy on all 10,000 test images %{y:.2%}<extra></extra>",
            }
        )
    ticks = [0, *ends]
    layout = {
        "xaxis": {
            "title": {"text": "snapshot (ticks: the start, then each epoch's end)"},
            "tickvals": ticks,
            "ticktext": ["start", *(labels[i].removeprefix("epoch ") for i in ends)],
            "fixedrange": True,
            "range": [-0.5, len(points) - 0.5],
            "automargin": True,
        },
        "yaxis": {"title": {"text": "accuracy"}, "range": [0, 1.02], "tickformat": ".0%", "fixedrange": True},
        "height": 300,
        "margin": {"l": 60, "r": 10, "t": 46, "b": 44},
        "legend": LEGEND_ABOVE,
    }
    return {"data": data, "layout": layout}


def invariance_figure(curves: dict) -> dict:
    """Test accuracy against a shift (left) and a rotation (right), one colour per model.

    ``curves`` maps a model's name to an ``invariance.Invariance``. Shifts in x are solid, in y dashed.
    """
    data = []
    for number, (name, found) in enumerate(curves.items()):
        color = RUN_COLORS[number % len(RUN_COLORS)]
        for values, axis, dash in ((found.accuracy_shift_x, "x", "solid"), (found.accuracy_shift_y, "y", "dash")):
            data.append(
                {
                    "type": "scatter",
                    "mode": "lines+markers",
                    "x": list(found.shifts),
                    "y": list(values),
                    "name": f"{name} · shifted in {axis}",
                    "line": {"color": color, "dash": dash},
                    "hovertemplate": f"{name}, shifted %{{x}} px in {axis}: %{{y:.1%}}<extra></extra>",
                }
            )
        data.append(
            {
                "type": "scatter",
                "mode": "lines+markers",
                "x": list(found.angles),
                "y": list(found.accuracy_rotate),
                "name": f"{name} · turned",
                "line": {"color": color, "dash": "dot"},
                "xaxis": "x2",
                "yaxis": "y2",
                "hovertemplate": f"{name}, turned %{{x}}°: %{{y:.1%}}<extra></extra>",
            }
        )
    accuracy = {"range": [0, 1], "tickformat": ".0%", "fixedrange": True}
    layout = {
        "xaxis": {"domain": [0, 0.47], "title": {"text": "shift (pixels)"}, "dtick": 2, "fixedrange": True},
        "yaxis": {**accuracy, "title": {"text": "test accuracy"}},
        "xaxis2": {
            "domain": [0.53, 1],
            "title": {"text": "rotation (degrees, + = anticlockwise)"},
            "dtick": 15,
            "anchor": "y2",
            "fixedrange": True,
        },
        "yaxis2": {**accuracy, "anchor": "x2"},
        "height": 380,
        "margin": {"l": 60, "r": 10, "t": 66, "b": 44},
        "legend": LEGEND_ABOVE,
    }
    return {"data": data, "layout": layout}


def sweep_figure(rows: list[dict], best_key: str | None) -> dict:
    """A sweep's variants: test accuracy against parameters (left, log axis) and training time (right).

    ``rows`` are ``sweeps.comparison`` rows; those without a test accuracy yet are left out.
    The row keyed ``best_key`` (``sweeps.best``) is a red star in both panels, labelled
    "best: <variant>", so the trade-off reads at a glance: is the winner also the biggest or
    the slowest?
    """
    finished = [row for row in rows if row.get("test accuracy") is not None]
    layout = {
        "xaxis": {"domain": [0, 0.47], "type": "log", "title": {"text": "parameters"}, "fixedrange": True},
        "xaxis2": {"domain": [0.53, 1], "anchor": "y", "title": {"text": "training time (s)"}, "fixedrange": True},
        "yaxis": {"title": {"text": "test accuracy"}, "tickformat": ".1%", "fixedrange": True},
        "font": {"size": 16},  # read from the back of a classroom
        "height": 440,
        "margin": {"l": 80, "r": 20, "t": 70, "b": 70},
        "showlegend": False,
    }
    if not finished:
        for axis in ("xaxis", "xaxis2", "yaxis"):
            layout[axis]["visible"] = False
        layout["plot_bgcolor"] = "rgba(0,0,0,0)"  # no empty grey panel behind the message
        layout["annotations"] = [
            {
                "text": "no finished runs yet",
                "showarrow": False,
                "font": {"size": 18},
                "xref": "paper",
                "yref": "paper",
                "x": 0.5,
                "y": 0.5,
                "xanchor": "center",
                "yanchor": "middle",
            }
        ]
        return {"data": [], "layout": layout}
    # Ticks at 1, 2 and 5 × 10^n as "50k", "1M": Plotly's own log ticks crowd short ranges with bare digits.
    layout["xaxis"].update(_log_ticks([row["params"] for row in finished]))
    hover = [_sweep_hover(row) for row in finished]
    y = [row["test accuracy"] for row in finished]
    panels = (("x", "params"), ("x2", "training time (s)"))
    data, annotations = [], []
    winner = next((row for row in finished if row.get("key") == best_key), None)
    for axis, column in panels:
        data.append(
            {
                "type": "scatter",
                "mode": "markers",
                "x": [row[column] for row in finished],
                "y": y,
                "xaxis": axis,
                "yaxis": "y",
                "name": "variants",
                "text": hover,
                "hovertemplate": "%{text}<extra></extra>",
                "marker": {"size": 13, "color": SWEEP_COLOR, "line": {"color": "rgb(255, 255, 255)", "width": 1}},
            }
        )
    if winner is not None:
        for axis, column in panels:
            x = winner[column]
            if x is None:  # a finished run always has its time; this guards hand-made rows
                continue
            data.append(
                {
                    "type": "scatter",
                    "mode": "markers",
                    "x": [x],
                    "y": [winner["test accuracy"]],
                    "xaxis": axis,
                    "yaxis": "y",
                    "name": "best",
                    "text": [_sweep_hover(winner)],
                    "hovertemplate": "<b>best</b><br>%{text}<extra></extra>",
                    "marker": {
                        "symbol": "star",
                        "size": 24,
                        "color": BEST_COLOR,
                        "line": {"color": "rgb(255, 255, 255)", "width": 1},
                    },
                }
            )
            # The best point is the highest, so its label goes above it (into the top margin), leaning
            # inwards at a panel's edge so it isn't cut off.
            xs = [float(np.log10(v)) if axis == "x" else v for v in (row[column] for row in finished) if v is not None]
            position = float(np.log10(x)) if axis == "x" else x  # an annotation on a log axis is placed in log10 units
            spread = max(xs) - min(xs)
            where = (position - min(xs)) / spread if spread else 0.5
            annotations.append(
                {
                    "text": f"best: {winner['variant']}",
                    "x": position,
                    "y": winner["test accuracy"],
                    "xref": axis,
                    "yref": "y",
                    "showarrow": True,
                    "arrowhead": 2,
                    "ax": 0,
                    "ay": -36,
                    "xanchor": "left" if where < 0.25 else "right" if where > 0.75 else "center",
                    "font": {"size": 15, "color": BEST_COLOR},
                }
            )
    layout["annotations"] = annotations
    return {"data": data, "layout": layout}


def _sweep_hover(row: dict) -> str:
    parts = [f"<b>{row['variant']}</b>", f"test accuracy {row['test accuracy']:.2%}", f"{row['params']:,} parameters"]
    if row.get("training time (s)") is not None:
        parts.append(f"trained in {row['training time (s)']:.1f} s")
    if row.get("epochs run") is not None:
        parts.append(f"{row['epochs run']} epochs run")
    return "<br>".join(parts)


def _log_ticks(values: list[float]) -> dict:
    """tickvals/ticktext at 1, 2, 5 × 10^n around ``values`` (all positive)."""
    low, high = min(values) / 1.6, max(values) * 1.6
    ticks = [
        m * 10**n
        for n in range(int(np.floor(np.log10(low))), int(np.ceil(np.log10(high))) + 1)
        for m in (1, 2, 5)
        if low <= m * 10**n <= high
    ]
    return {"tickvals": ticks, "ticktext": [_short_count(v) for v in ticks]}


def _short_count(value: int) -> str:
    """1000 -> '1k', 2000000 -> '2M', 500 -> '500'."""
    for size, suffix in ((10**9, "G"), (10**6, "M"), (10**3, "k")):
        if value >= size:
            return f"{value / size:g}{suffix}"
    return str(value)
