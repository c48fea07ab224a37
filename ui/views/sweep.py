"""The lab's sweeps: the lesson's exercises in one click, a grid of variants trained and compared.

The builder's settings are the base; the person picks a few values to vary (conv blocks,
filters, epochs) and trains every combination at once: one after another on this machine,
in parallel on a Ray cluster. One panel follows the sweep (how many are done, each variant's
state) and compares the results as they land: one table, and one chart of test accuracy
against parameters and training time with the best variant marked.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from convlab.figures.curves import sweep_figure
from convlab.jobs import DONE, RUNNING, Job, QueueFull
from convlab.models import MAX_CONV_BLOCKS, ModelSpec
from convlab.sweeps import AXES, MAX_VARIANTS, Sweep, best, comparison, load_sweeps, save_sweep

from .. import state
from ..charts import chart
from ..page import request_scroll
from ..resources import get_queue, get_store
from ..runs import Run, requester

EPOCH_CHOICES = (1, 2, 3, 5, 10, 20)
FILTER_CHOICES = (16, 32, 64, 128)


def sweep_builder_ui(base: ModelSpec | None) -> None:
    """What to vary around ``base`` (the builder's settings), and the button that trains the grid."""
    st.subheader("2 · Sweep: train a grid of variants at once")
    st.caption(
        "The builder above sets everything else. Pick the values to try; every combination is "
        "trained and compared below. Leave a box empty to keep the builder's value."
    )
    blocks, filters, epochs = st.columns(3)
    axes = {
        "blocks": blocks.multiselect(
            "Conv blocks",
            range(MAX_CONV_BLOCKS + 1),
            key="sweep_blocks",
            persist_state=state.KEEP,
            help="0 is the dense baseline.",
        ),
        "filters": filters.multiselect(
            "Filters in every conv layer", FILTER_CHOICES, key="sweep_filters", persist_state=state.KEEP
        ),
        "epochs": epochs.multiselect("Epochs", EPOCH_CHOICES, key="sweep_epochs", persist_state=state.KEEP),
    }
    axes = {name: values for name, values in axes.items() if values}
    if base is None:
        st.button("Train the sweep", disabled=True, key="sweep_train")
        return
    if not axes:
        st.info(
            "Pick at least one value to vary: for the lesson's exercises, filters 16, 32, 64 × conv blocks 1, 2, 3."
        )
        st.button("Use the lesson's exercises", key="sweep_lesson", on_click=_lesson_grid)
        return
    try:
        sweep = Sweep.of(base, axes)
    except ValueError as error:
        st.error(str(error))
        return
    specs = sweep.specs()
    runs = {meta["key"] for meta in get_store().list_metadata()}
    new = sum(spec.key() not in runs for spec in specs)
    st.markdown(
        f"**{sweep.describe()}**: {new} to train, {len(specs) - new} already trained "
        f"(at most {MAX_VARIANTS} per sweep). They train {get_queue().describe()}."
    )
    refused = st.session_state.pop("sweep_refused", None)
    if refused:
        st.warning(refused)
    st.button(
        f"Train {len(specs)} variant{'s' if len(specs) != 1 else ''}",
        type="primary",
        key="sweep_train",
        on_click=_submit,
        args=(sweep,),
    )


def _lesson_grid() -> None:
    st.session_state["sweep_filters"], st.session_state["sweep_blocks"] = [16, 32, 64], [1, 2, 3]


def _submit(sweep: Sweep) -> None:
    try:  # every variant counts towards the page's limit: all are queued, or none
        get_queue().submit_all(sweep.specs(), requester=requester())
    except QueueFull as error:
        st.session_state["sweep_refused"] = str(error)
        return
    save_sweep(get_store().root, sweep)
    st.session_state["lab_sweep"] = sweep.key()
    request_scroll(".st-key-sweep_panel")


def sweeps_ui(runs: dict[str, Run]) -> None:
    """The chosen sweep's progress and comparison; polls once a second while any variant trains."""
    records = load_sweeps(get_store().root)
    if not records:
        return
    keys = [record.key for record in records]
    if st.session_state.get("lab_sweep") not in keys:
        st.session_state["lab_sweep"] = keys[0]
    active = any(job.active for job in _jobs(_record(records).sweep))
    st.fragment(run_every=1.0 if active else None)(_sweep_panel)()


def _record(records):
    return next(r for r in records if r.key == st.session_state["lab_sweep"])


def _jobs(sweep: Sweep) -> list[Job]:
    queue = get_queue()
    return [job for job in (queue.find(spec.key()) for spec in sweep.specs()) if job is not None]


def _sweep_panel() -> None:
    if state.whole_page_wanted():
        st.rerun(scope="app")
    records = load_sweeps(get_store().root)
    with st.container(key="sweep_panel"):
        st.subheader("Sweeps: compare the variants")
        labels = {
            record.key: f"{record.sweep.name or record.sweep.describe()} · {record.created[:16].replace('T', ' ')}"
            for record in records
        }
        st.selectbox("Sweep", list(labels), key="lab_sweep", format_func=labels.get)
        sweep = _record(records).sweep
        metas = {meta["key"]: meta for meta in get_store().list_metadata()}
        # A run is in the folder a moment before its job says done: by then it counts as trained.
        jobs = {job.key: job for job in _jobs(sweep) if job.key not in metas or not job.active}
        rows = comparison(sweep, metas, {key: _state(job) for key, job in jobs.items()})
        done = sum(row["test accuracy"] is not None for row in rows)
        st.progress(
            done / len(rows),
            text=f"{done} of {len(rows)} variants trained"
            + (f" · {_running_text(jobs)}" if any(job.active for job in jobs.values()) else ""),
        )
        winner = best(rows)
        if winner is not None:
            row = next(r for r in rows if r["key"] == winner)
            st.markdown(
                f"**Best{' so far' if done < len(rows) else ''}: {row['variant']}**, "
                f"test accuracy {row['test accuracy']:.4f} with "
                f"{row['params']:,} parameters in {row['training time (s)']:.0f} s of training."
            )
        table = pd.DataFrame(rows)
        table.insert(0, "best", ["★" if r["key"] == winner else "" for r in rows])
        axes = [AXES[name] for name, _ in sweep.axes]
        # What varies and how it did come first: on a laptop screen the rest scrolls.
        table = table[
            [
                "best",
                *axes,
                "test accuracy",
                "params",
                "training time (s)",
                "train accuracy",
                "epochs run",
                "state",
                "variant",
            ]
        ]
        st.dataframe(
            table,
            hide_index=True,
            key="sweep_table",
            column_config={
                "test accuracy": st.column_config.NumberColumn(format="%.4f"),
                "train accuracy": st.column_config.NumberColumn(format="%.4f"),
                "training time (s)": st.column_config.NumberColumn(format="%.0f"),
                "params": st.column_config.NumberColumn(format="localized"),
                "variant": st.column_config.TextColumn(width="large"),
            },
        )
        # The chart names points by what varies ("conv blocks 1, filters per conv layer 64"), not the whole spec.
        varied = [AXES[name] for name, values in sweep.axes if len(values) > 1]
        chart(sweep_figure([{**row, "variant": _short(row, varied)} for row in rows], winner), key="sweep_chart")
        st.caption(
            "Each point is one variant. Up is better; left is smaller (fewer parameters) or quicker. "
            "More filters and blocks cost parameters and time: does the accuracy follow?"
        )
        active = [job for job in jobs.values() if job.active]
        if active:
            st.button(
                "Stop the sweep",
                key="sweep_stop",
                on_click=_stop,
                args=(active,),
                help="Variants still waiting are cancelled; the one training stops after its batch and is kept.",
            )
        elif winner is not None:
            st.button("Show the best in the journey", key="sweep_best", on_click=state.use_model, args=(winner, True))
    was_active = st.session_state.get("sweep_active", False)
    now_active = any(job.active for job in jobs.values())
    st.session_state["sweep_active"] = now_active
    if was_active and not now_active:
        st.rerun(scope="app")  # the sweep finished: refresh the runs table and the model lists


def _short(row: dict, axes: list[str]) -> str:
    return ", ".join(f"{axis} {row[axis]}" for axis in axes if row[axis] is not None) or row["variant"]


def _state(job: Job) -> str:
    if job.state == RUNNING:
        return f"training, {job.fraction_done():.0%}"
    return job.state if job.state != DONE else "trained"


def _running_text(jobs: dict[str, Job]) -> str:
    running = [job for job in jobs.values() if job.state == RUNNING]
    waiting = sum(job.state == "queued" for job in jobs.values())
    return f"{len(running)} training, {waiting} waiting"


def _stop(jobs: list[Job]) -> None:
    queue = get_queue()
    for job in sorted(jobs, key=lambda job: job.state == RUNNING):  # the waiting first, so none starts meanwhile
        queue.stop(job)
