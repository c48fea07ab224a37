"""Compare any two runs: metrics in one table, loss and accuracy curves, each model's layers and
where its parameters are (why a variant has more or fewer than the lesson's conv model).

``metrics_row`` and the column settings are the lab's runs table's too. The tables show only the
columns that fit a 1280×720 laptop with the sidebar open (``COMPARE_COLUMNS``): a column cut off at
the right edge reads as a wrong number; the rest stay in the data (the losses are in the curves).
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from convlab.figures.curves import best_epoch, curves_figure
from convlab.models import PRESETS, params_explained

from .. import state
from ..charts import chart
from ..runs import Run
from . import Page

METRIC_COLUMNS = {
    **{
        column: st.column_config.NumberColumn(format="%.4f")
        for column in ("train loss", "train accuracy", "test loss", "test accuracy")
    },
    "params": st.column_config.NumberColumn(format="localized"),
    "training time (s)": st.column_config.NumberColumn(format="%.0f"),
    "run": st.column_config.TextColumn(pinned=True),  # as wide as its longest name: see metric_columns
}
# A width per character of the grid's 14 px Source Sans enough for any run name (they measure 5.6–6.0 px a
# character, a digit 6.5), and a cell's padding (8 px a side, and some to spare).
CHAR_PX, CELL_PADDING, PRESENTER_SCALE = 6.5, 24, 20 / 16
COMPARE_COLUMNS = ("run", "test accuracy", "best test accuracy", "train accuracy", "params", "training time (s)")


def metric_columns(labels) -> dict:
    """``METRIC_COLUMNS`` with the run column as wide as its longest name: the grid sizes a column to
    its contents once, and a longer name coming in later (a run just trained) was cut ("conv 16, dense 1")."""
    widest = max((len(label) for label in labels), default=0)
    # Presenter mode's 20 px root font (16 px otherwise) enlarges the grid's type too.
    scale = PRESENTER_SCALE if state.presenting() else 1.0
    width = round(max(widest * CHAR_PX + CELL_PADDING, 60) * scale)
    return {**METRIC_COLUMNS, "run": st.column_config.TextColumn(width=width, pinned=True)}


def metrics_row(run: Run) -> dict:
    metrics, history = run.meta["metrics"], run.meta["history"]
    epoch = best_epoch(history)
    return {
        "run": run.label,
        "train loss": metrics["train_loss"],
        "train accuracy": metrics["train_accuracy"],
        "test loss": metrics["test_loss"],
        "test accuracy": metrics["test_accuracy"],
        "best test accuracy": f"{history['test_accuracy'][epoch - 1]:.4f} (epoch {epoch} of {run.meta['epochs_run']})",
        "params": run.meta["params"],
        "epochs": run.meta["epochs_run"],
        "training time (s)": run.meta["seconds"],
    }


def render(page: Page) -> None:
    runs = page.runs
    st.header("Compare two runs")
    defaults = [PRESETS["dense"].key(), PRESETS["conv"].key()]
    picked = []
    for column, slot, default in zip(st.columns(2), ("compare_a", "compare_b"), defaults):
        if st.session_state.get(slot) not in runs:  # first visit, or the run was deleted
            st.session_state[slot] = default
        picked.append(
            runs[
                column.selectbox(
                    "Run " + slot[-1].upper(),
                    list(runs),
                    key=slot,
                    persist_state=state.KEEP,
                    format_func=lambda key: runs[key].label,
                )
            ]
        )
    st.dataframe(
        pd.DataFrame([metrics_row(run) for run in picked]),
        hide_index=True,
        column_order=COMPARE_COLUMNS,
        column_config=metric_columns(run.label for run in picked),
    )
    chart(curves_figure({run.label: run.meta["history"] for run in picked}), key="curves_chart")
    epochs = max(len(run.meta["history"]["test_loss"]) for run in picked)
    st.markdown(
        f"Read each line left to right: one dot per epoch, from epoch 1 to epoch {epochs}. Solid lines: the "
        "training images (averaged over each epoch). Dashed: the 10,000 test images after each epoch. ★ marks "
        "each run's best test accuracy; when the training line keeps improving after it while the test line "
        "doesn't, the model is overfitting: learning the training images rather than clothes."
    )
    for column, run in zip(st.columns(2), picked):
        meta = run.meta
        column.subheader(run.label)
        column.dataframe(
            pd.DataFrame(meta["layers"]),
            hide_index=True,
            column_config={"params": st.column_config.NumberColumn(format="localized")},
        )
        column.markdown(params_explained(run.spec))
        versions = meta["versions"]
        column.caption(
            f"{meta['params']:,} parameters. Trained {meta['created']} on {meta['machine']} with "
            f"TensorFlow {versions['tensorflow']}, Keras {versions['keras']}, seed {run.spec.seed}."
            + (f" {meta['stop_reason'].capitalize()}." if meta.get("stop_reason") else "")
        )
