"""The stored runs as typed records, loaded on demand; the lesson's models trained when missing.

A run is a spec and the metadata the store recorded for it (history, metrics, versions, ...),
parsed once per rerun (``list_runs``). A lesson model whose files are missing or turn out
damaged is trained again on the spot, with a progress bar; a lab run whose files are unusable
is set aside by the store and reported here.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import streamlit as st

from convlab.jobs import DONE
from convlab.models import PRESETS, ModelSpec
from convlab.store import ModelStore, StoredModel

from .resources import get_queue, get_store


@dataclass(frozen=True)
class Run:
    key: str
    spec: ModelSpec
    meta: dict  # as the store recorded it: history, metrics, params, layers, versions, ...

    @property
    def label(self) -> str:
        return self.spec.label()

    @property
    def is_preset(self) -> bool:
        return self.spec.preset_name() is not None


def list_runs(store: ModelStore) -> dict[str, Run]:
    """Every stored run by key, newest first (the store sets aside and reports unreadable ones)."""
    return {meta["key"]: Run(meta["key"], ModelSpec.from_dict(meta["spec"]), meta) for meta in store.list_metadata()}


def problem(key: str) -> str:
    """What the store said about a run's files, for a page that can't show it."""
    return get_store().problems.get(key, "This run's files could not be read.")


def load(run: Run) -> StoredModel | None:
    """The run's model; a lesson model whose files turn out damaged is trained again, here and now."""
    stored = get_store().load(run.spec)  # a damaged file is set aside (store.problems says why)
    if stored is None and run.is_preset:
        ensure_model(get_store(), run.spec.preset_name(), run.spec)
        stored = get_store().load(run.spec)
    return stored


def ensure_models(store: ModelStore) -> None:
    """Every preset, checked in models/ or trained now through the queue, with progress bars.

    Only a look at the files: a model is loaded when a view needs it (the journey needs only
    the conv model), which keeps the first page quick; one found damaged then is trained again
    on the spot (``load``).
    """
    for name, spec in PRESETS.items():
        if not store.has(spec) and store.load(spec) is None:  # load sets aside what is unusable
            ensure_model(store, name, spec)
        if spec.key() in store.problems:
            st.warning(store.problems[spec.key()])


def ensure_model(store: ModelStore, name: str, spec: ModelSpec) -> None:
    """Train one preset through the queue with a progress bar, saying first why its files were unusable.

    The bar lives here, outside any cached function, so a cache hit never replays it. Two
    sessions arriving together wait for the same training; a closed tab doesn't stop it.
    """
    if spec.key() in store.problems:
        st.warning(store.problems[spec.key()] + " Training it again now…")
    job = get_queue().submit(spec)
    bar = st.progress(0.0, text=f"The {name} model ({spec.describe()}) isn't in models/ yet: training it, once…")
    while job.active:
        bar.progress(
            job.fraction_done(),
            text=(
                f"Training the {name} model: epoch {min(job.epoch + 1, spec.epochs)} of {spec.epochs}, "
                f"batch {job.batch:,} of {job.batches_per_epoch:,}"
                + (f" · about {duration(job.seconds_left())} left" if job.seconds_left() else "")
            ),
        )
        time.sleep(0.5)
    bar.empty()
    if job.state != DONE:
        st.error(f"The {name} model could not be trained: {job.message}")
        st.stop()


def store_notes_ui(store: ModelStore, runs: dict[str, Run]) -> None:
    """Lab runs whose files were unusable and were set aside: said once per session, with the fix."""
    presets = {spec.key() for spec in PRESETS.values()}
    dismissed = st.session_state.setdefault("dismissed_store_notes", set())
    notes = {
        key: message
        for key, message in store.problems.items()
        if key not in presets and key not in runs and key not in dismissed
    }
    if notes:
        st.warning(
            "**A lab run's files were unusable, so it is not in the model lists:**\n\n"
            + "\n".join(f"- {message}" for message in notes.values())
            + "\n\nTrain it again in the 🧪 Lab tab; the set-aside files stay in `models/corrupt/` for a look."
        )
        st.button("Dismiss", key="dismiss_store_notes", on_click=dismissed.update, args=(set(notes),))


def duration(seconds: float) -> str:
    """'42 s' or '3 min 05 s'."""
    seconds = int(round(seconds))
    return f"{seconds // 60} min {seconds % 60:02d} s" if seconds >= 60 else f"{seconds} s"
