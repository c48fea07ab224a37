"""The exercise lab: build a variant, train it with live progress, keep and compare the runs.

The lesson's exercises without editing code: change the filter counts, remove or add
convolutions, train longer, stop with a callback once loss or accuracy crosses a threshold.
Trainings go through the server's one queue, which hands them to a worker process (or a Ray
cluster, see ``convlab/jobs.py``); this session's own are followed here. A sweep trains a
grid of variants at once (``sweep.py``).
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from convlab.figures.curves import curves_figure
from convlab.jobs import (
    DONE,
    FAILED,
    MAX_ACTIVE_PER_REQUESTER,
    QUEUED,
    RUNNING,
    Job,
    QueueFull,
    TrainingQueue,
    your_training,
)
from convlab.models import MAX_CONV_BLOCKS, MAX_EPOCHS, PRESETS, ModelSpec, count_params, layer_table, params_explained
from convlab.store import RestoreRefused

from .. import state
from ..charts import chart
from ..page import request_scroll
from ..resources import get_queue, get_store
from ..runs import Run, duration, remember, requester
from . import Page
from .compare import metric_columns, metrics_row
from .sweep import sweep_builder_ui, sweeps_ui

FILTER_CHOICES = (16, 32, 64, 128)
SAMPLE_CHOICES = (60_000, 10_000, 1_000)
RUN_COLUMNS = ("run", "test accuracy", "train accuracy", "params", "epochs", "training time (s)")
# Trainings a page follows in its panel, newest first: every one it may have active, and a few finished.
MAX_FOLLOWED = MAX_ACTIVE_PER_REQUESTER + 4


MODES = ("One variant", "A sweep")


def render(page: Page) -> None:
    st.header("Exercise lab: build, train and compare your own variants")
    queue = get_queue()
    st.caption(
        "The lesson's exercises, without editing code: change the filter counts, remove or add "
        "convolutions, train longer, or stop with a callback once loss or accuracy crosses a threshold. "
        f"Trainings run {queue.describe()}; others wait in a queue."
    )
    if queue.notice:
        st.warning(queue.notice)
    mode = st.segmented_control(
        "Train",
        MODES,
        default=MODES[0],
        key="lab_mode",
        persist_state=state.KEEP,
        help="A sweep trains every combination of a few values at once, and compares them.",
    )
    spec = builder_ui("1 · Build the base of the sweep" if mode == MODES[1] else "1 · Build a variant")
    if mode == MODES[1]:
        sweep_builder_ui(spec)
    else:
        if spec is not None:
            spec_preview_ui(spec)
        train_button_ui(spec, page.runs)
    training_ui()
    sweeps_ui(page.runs)
    runs_ui(page.runs)


# -- 1 · build -------------------------------------------------------------------------------------
def builder_ui(title: str = "1 · Build a variant") -> ModelSpec | None:
    """The variant builder; returns a valid spec, or None after saying what is wrong."""
    keep = state.KEEP
    st.subheader(title)
    left, middle, right = st.columns(3)
    blocks = left.radio(
        "Conv blocks (Conv2D + MaxPool)",
        range(MAX_CONV_BLOCKS + 1),
        index=2,
        horizontal=True,
        key="lab_blocks",
        persist_state=keep,
        help="0 is the lesson's dense baseline; 1 removes the second convolution; 3 adds one more.",
    )
    filters = tuple(
        left.select_slider(
            f"Filters in conv{block + 1}", FILTER_CHOICES, value=64, key=f"lab_filters_{block}", persist_state=keep
        )
        for block in range(blocks)
    )
    dense_units = middle.select_slider(
        "Dense units", (32, 64, 128, 256, 512), value=128, key="lab_dense", persist_state=keep
    )
    epochs = middle.slider(
        "Epochs",
        1,
        MAX_EPOCHS,
        5,
        key="lab_epochs",
        persist_state=keep,
        help="Try 20 to see overfitting: training accuracy keeps rising, test accuracy doesn't.",
    )
    batch_size = middle.select_slider(
        "Batch size", (16, 32, 64, 128, 256), value=32, key="lab_batch", persist_state=keep
    )
    samples = right.selectbox(
        "Training images",
        SAMPLE_CHOICES,
        key="lab_samples",
        persist_state=keep,
        format_func=lambda n: f"{n:,}" + (" (all, as the lesson)" if n == 60_000 else " (quick)"),
    )
    seed = right.number_input("Seed", 0, 2**31 - 1, 42, key="lab_seed", persist_state=keep)
    rule = right.radio(
        "Stop rule (the lesson's callback)",
        ("none", "loss below", "accuracy above"),
        horizontal=True,
        key="lab_stop_kind",
        persist_state=keep,
    )
    threshold = None
    if rule == "loss below":
        threshold = right.number_input(
            "Stop once training loss <", 0.01, 5.0, 0.4, 0.05, key="lab_stop_loss", persist_state=keep
        )
    elif rule == "accuracy above":
        threshold = right.number_input(
            "Stop once training accuracy >", 0.5, 0.99, 0.9, 0.01, key="lab_stop_accuracy", persist_state=keep
        )
    try:
        return ModelSpec(
            conv_filters=filters,
            dense_units=dense_units,
            epochs=epochs,
            batch_size=batch_size,
            seed=int(seed),
            train_samples=samples,
            stop_loss=threshold if rule == "loss below" else None,
            stop_accuracy=threshold if rule == "accuracy above" else None,
        )
    except ValueError as error:
        st.error(str(error))
        return None


def spec_preview_ui(spec: ModelSpec) -> None:
    st.markdown(
        f"**{spec.label()}** · **{count_params(spec):,} parameters** (the lesson's conv model has "
        f"{count_params(PRESETS['conv']):,})"
    )
    # Drawn once opened (a rerun): the Lab's first visit, the tour's last step, mounts two elements fewer.
    breakdown = st.expander("Where are its parameters? Layer by layer", key="lab_layers", on_change="rerun")
    if breakdown.open:
        with breakdown:
            st.markdown(params_explained(spec))
            st.dataframe(
                pd.DataFrame(layer_table(spec)),
                hide_index=True,
                column_config={"params": st.column_config.NumberColumn(format="localized")},
            )


# -- 2 · train -------------------------------------------------------------------------------------
def train_button_ui(spec: ModelSpec | None, runs: dict[str, Run]) -> None:
    st.subheader("2 · Train")
    if spec is None:
        st.button("Train", disabled=True, key="lab_train")
        return
    queue = get_queue()
    existing = queue.find(spec.key())
    mine = existing is not None and existing.requester == requester()
    if mine and existing.active:  # the person's own click on Train, followed at once (and kept current)
        st.fragment(run_every=1.0)(_your_request_ui)(existing.key)
        return
    if mine and existing.state == DONE and spec.key() in runs:
        st.success(
            "Your training is done: its result is below, and the run is in the runs table and the model "
            "list. Change a setting above to train another variant."
        )
        return
    if spec.key() in runs:
        st.info("This exact variant is already trained: it is in the runs table below and in the journey's model list.")
        return
    if existing is not None and existing.active:  # someone else's request for the same spec: trained once
        st.info(
            "This exact variant is already being trained or waiting in the queue: someone else (another page, "
            "or a sweep) asked for it first, and it won't be trained twice. Its progress is shown below."
        )
        _remember(existing)
        return
    refused = st.session_state.pop("lab_refused", None)
    if refused:
        st.warning(refused)
    st.button("Train", type="primary", key="lab_train", on_click=_submit, args=(spec,))


def _your_request_ui(key: str) -> None:
    queue = get_queue()
    job = queue.find(key)
    if job is not None and job.active:  # once done, the training panel reruns the whole page
        st.info(your_training(job, queue.position(job)) + " Its progress is shown below.", icon="⏳")


def _submit(spec: ModelSpec) -> None:
    try:
        job = get_queue().submit(spec, requester=requester())
    except QueueFull as error:
        st.session_state["lab_refused"] = str(error)
        return
    _remember(job)
    request_scroll(".st-key-training_panel")  # the progress shows below the builder: bring it into view


def _remember(job: Job) -> None:
    remember("my_jobs", job.key, MAX_FOLLOWED)


def _my_jobs() -> list[Job]:
    queue = get_queue()
    return [job for job in (queue.find(key) for key in st.session_state.get("my_jobs", [])) if job]


def training_ui() -> None:
    """This session's trainings; polls once a second while any is queued or running."""
    jobs = _my_jobs()
    if not jobs:
        return
    polling = any(job.active for job in jobs)
    st.fragment(run_every=1.0 if polling else None)(_jobs_panel)()


def _jobs_panel() -> None:
    if state.whole_page_wanted():  # a button here changed the page's model and tab
        st.rerun(scope="app")
    jobs = _my_jobs()
    with st.container(key="training_panel"):
        for job in jobs[:3]:
            _job_ui(get_queue(), job)
    was_active = st.session_state.get("jobs_active", False)
    now_active = any(job.active for job in jobs)
    st.session_state["jobs_active"] = now_active
    if was_active and not now_active:
        finished = next((job for job in jobs if job.state == DONE), None)
        if finished is not None:
            st.session_state["lab_run"] = finished.key  # the run picker shows the new run
        st.rerun(scope="app")  # a run finished: refresh the runs table, model lists and comparison


def _job_ui(queue: TrainingQueue, job: Job) -> None:
    label = job.spec.label()
    mine = job.requester == requester()
    with st.container(border=True):
        if job.state == QUEUED:
            ahead = queue.position(job)
            waiting = job.message or f"waiting in the queue, {ahead} training{'s' if ahead != 1 else ''} ahead"
            st.markdown(f"**{label}** · {your_training(job, ahead) if mine else waiting}")
            st.button("Cancel", key=f"cancel_{job.key}", on_click=queue.stop, args=(job,))
        elif job.state == RUNNING:
            st.markdown(
                f"**{label}** · training"
                + (f" on {job.where}" if job.where else "")
                + (f" · {job.message}" if job.message else "")
            )
            total = job.spec.epochs
            st.progress(min(job.epoch / total, 1.0), text=f"Epoch {min(job.epoch + 1, total)} of {total}")
            running = job.running
            if job.batches_per_epoch:
                batch_text = f"Batch {job.batch:,} of {job.batches_per_epoch:,}" + (
                    f" · loss {running['loss']:.3f} · accuracy {running['accuracy']:.3f}" if running else ""
                )
                st.progress(job.batch / job.batches_per_epoch, text=batch_text)
            else:  # the worker is still loading the images and building the model: no batches to count yet
                st.caption("Getting ready: loading the training images and building the model…")
            left = job.seconds_left()
            st.caption(f"Elapsed {duration(job.elapsed())}" + (f" · about {duration(left)} left" if left else ""))
            if job.history["train_loss"]:
                chart(curves_figure({label: job.history}, mark_best=False), key=f"live_{job.key}")
            if job.stop_event.is_set():
                st.caption("Stopping after the current batch…")
            else:
                st.button(
                    "Stop training",
                    key=f"stop_{job.key}",
                    on_click=queue.stop,
                    args=(job,),
                    help="Ends after the current batch and keeps the epochs done so far as a usable model.",
                )
        elif job.state == DONE:
            meta = job.stored.meta
            text = f"**{label}** · {finished(meta)}"
            if job.message:
                text += f" {job.message[0].upper() + job.message[1:]}."
            st.success(text)
            if not job.stored.saved:
                st.warning(get_store().problems.get(job.key, "This model could not be saved; it lives in memory."))
            # In this fragment a callback reruns only the fragment: the panel asks for a whole rerun.
            with st.container(horizontal=True, gap="small"):  # as wide as their words; wrapping, never cut
                st.button(
                    "Show in the journey", key=f"journey_{job.key}", on_click=state.use_model, args=(job.key, True)
                )
                st.button(
                    "⏯️ Replay its training",
                    key=f"replay_{job.key}",
                    on_click=state.use_model,
                    args=(job.key, True, "replay"),
                    help="Watch its filters learn, snapshot by snapshot.",
                )
        elif job.state == FAILED:
            st.error(f"**{label}** · {job.message}")
        else:
            st.info(f"**{label}** · {job.message}")


def finished(meta: dict) -> str:
    """A finished run in its own metadata's figures: 'Trained in 21 s: test accuracy 0.825 after 3 epochs.'"""
    return (
        f"Trained in {duration(meta['seconds'])}: test accuracy {meta['metrics']['test_accuracy']:.3f} "
        f"after {trained_for(meta)}."
    )


def trained_for(meta: dict) -> str:
    """'3 epochs', '1 epoch', or '2 full epochs and part of epoch 3' for a run stopped by request."""
    epochs = meta["epochs_run"]
    if meta.get("stopped_by_request"):
        full = epochs - 1
        done = f"{full} full epoch{'s' if full != 1 else ''} and " if full else ""
        return f"{done}part of epoch {epochs}"
    return f"{epochs} epoch{'s' if epochs != 1 else ''}"


# -- 3 · runs --------------------------------------------------------------------------------------
def runs_ui(runs: dict[str, Run]) -> None:
    st.subheader("3 · Runs")
    rows = [
        {
            **metrics_row(run),
            "conv filters": "-".join(map(str, run.spec.conv_filters)) or "none",
            "dense": run.spec.dense_units,
            "epochs asked": run.spec.epochs,
            "stopped": run.meta.get("stop_reason") or "",
            "made": run.meta["created"].replace("T", " ")[:16],
            "saved": "yes" if run.meta.get("saved", True) else "memory only",
            "key": key,
        }
        for key, run in runs.items()
    ]
    # The columns that fit a 1280×720 laptop with the sidebar open; the chosen run's other details below.
    st.dataframe(
        pd.DataFrame(rows),
        hide_index=True,
        column_config=metric_columns(run.label for run in runs.values()),
        key="runs_table",
        column_order=RUN_COLUMNS,
    )
    chosen = runs[
        st.selectbox(
            "Run", list(runs), key="lab_run", persist_state=state.KEEP, format_func=lambda key: runs[key].label
        )
    ]
    row = next(row for row in rows if row["key"] == chosen.key)
    details = [
        f"made {row['made']}",
        f"key `{row['key']}`",
        *([row["stopped"]] if row["stopped"] else []),
        *(["kept in memory only"] if row["saved"] != "yes" else []),
    ]
    st.markdown(f"**{chosen.label}**: " + " · ".join(details))
    # One row of buttons as wide as their words, wrapping on a narrow screen rather than cutting them.
    with st.container(horizontal=True, gap="small"):
        st.button("Show in the journey", key="lab_use", on_click=state.use_model, args=(chosen.key,))
        st.button(
            "⏯️ Replay its training",
            key="lab_replay",
            on_click=state.use_model,
            args=(chosen.key, False, "replay"),
            disabled=not chosen.meta.get("snapshots"),
            help="Watch its filters learn, snapshot by snapshot."
            if chosen.meta.get("snapshots")
            else "It was trained before ConvLab recorded snapshots.",
        )
        delete = st.button(
            "Delete run",
            key="lab_delete",
            disabled=chosen.is_preset,
            help="The lesson's two models can't be deleted." if chosen.is_preset else None,
        )
    if delete:
        st.session_state["confirm_delete"] = chosen.key
    if st.session_state.get("confirm_delete") == chosen.key and not chosen.is_preset:
        st.warning(f"Delete **{chosen.label}** and its files? This can't be undone.")
        st.button("Yes, delete it", key="lab_delete_confirm", on_click=_delete_run, args=(chosen,))
    set_aside_ui(runs)


def _delete_run(run: Run) -> None:
    get_store().delete(run.spec)
    st.session_state.pop("confirm_delete", None)


def set_aside_ui(runs: dict[str, Run]) -> None:
    """Runs whose files failed a check and were moved to ``models/corrupt/``: why, and a Restore button each."""
    set_aside = get_store().set_aside_runs()
    note = st.session_state.pop("restore_note", None)
    if not set_aside and note is None:
        return
    with st.container(key="set_aside"):
        st.markdown(
            "**Set aside**: runs whose files failed a check (damaged, or not the model their name says), moved "
            "to `models/corrupt/` and left out of the lists. Restore puts one back if its files now pass."
        )
        if note is not None:
            kind, text = note
            (st.success if kind == "restored" else st.warning)(text)
        for aside in set_aside:
            with st.container(horizontal=True, gap="small", vertical_alignment="center"):
                again = " (trained again since: delete that run to restore this one)" if aside.key in runs else ""
                st.markdown(
                    f"**{aside.label}** · set aside {aside.when[:16].replace('T', ' ')} UTC{again}: {aside.reason}"
                )
                st.button("Restore", key=f"restore_{aside.id}", on_click=_restore, args=(aside.id,))


def _restore(set_aside_id: str) -> None:
    try:
        st.session_state["restore_note"] = ("restored", get_store().restore(set_aside_id))
    except RestoreRefused as error:
        st.session_state["restore_note"] = ("refused", str(error))
    except ValueError:  # restored meanwhile, from another page
        st.session_state["restore_note"] = ("refused", "That run is no longer set aside: another page restored it.")
    except Exception as error:  # the files passed their check but couldn't be moved (permissions, disk)
        st.session_state["restore_note"] = (
            "refused",
            f"The run could not be restored just now ({type(error).__name__}: {error}); its files stay where they are.",
        )
