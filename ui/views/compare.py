"""Compare any two runs: metrics in one table, loss and accuracy curves, each model's layers.

``metrics_row`` and the column settings are the lab's runs table's too.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from convlab.figures import best_epoch, curves_figure
from convlab.models import PRESETS

from .. import state
from ..charts import chart
from ..runs import Run
from . import Page

METRIC_COLUMNS = {
    **{column: st.column_config.NumberColumn(format="%.4f") for column in
       ("train loss", "train accuracy", "test loss", "test accuracy")},
    "params": st.column_config.NumberColumn(format="localized"),
    "training time (s)": st.column_config.NumberColumn(format="%.0f"),
    "run": st.column_config.TextColumn(width="large", pinned=True),  # long names, kept in view
}


def metrics_row(run: Run) -> dict:
    metrics, history = run.meta["metrics"], run.meta["history"]
    epoch = best_epoch(history)
    return {
        "run": run.label,
        "train loss": metrics["train_loss"],
        "train accuracy": metrics["train_accuracy"],
        "test loss": metrics["test_loss"],
        "test accuracy": metrics["test_accuracy"],
        "best test accuracy": f"{history['test_accuracy'][epoch - 1]:.4f} (epoch {epoch})",
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
        picked.append(runs[column.selectbox(
            "Run " + slot[-1].upper(), list(runs), key=slot, persist_state=state.KEEP,
            format_func=lambda key: runs[key].label,
        )])
    st.dataframe(pd.DataFrame([metrics_row(run) for run in picked]), hide_index=True, column_config=METRIC_COLUMNS)
    chart(curves_figure({run.label: run.meta["history"] for run in picked}), key="curves_chart")
    st.caption(
        "Solid lines: training data (averaged over each epoch). Dashed: the 10,000 test images after "
        "each epoch. ★ marks each run's best test accuracy; when the training curve keeps improving "
        "after it while the test curve doesn't, the model is overfitting: learning the training images "
        "rather than clothes."
    )
    for column, run in zip(st.columns(2), picked):
        meta = run.meta
        column.subheader(run.label)
        column.dataframe(
            pd.DataFrame(meta["layers"]), hide_index=True,
            column_config={"params": st.column_config.NumberColumn(format="localized")},
        )
        versions = meta["versions"]
        column.caption(
            f"{meta['params']:,} parameters. Trained {meta['created']} on {meta['machine']} with "
            f"TensorFlow {versions['tensorflow']}, Keras {versions['keras']}, seed {run.spec.seed}."
            + (f" {meta['stop_reason'].capitalize()}." if meta.get("stop_reason") else "")
        )
