"""The stored runs as typed records, loaded on demand; the lesson's models trained when missing.

A run is a spec and the metadata the store recorded for it (history, metrics, versions, ...),
parsed once per rerun (``list_runs``). A lesson model whose files are missing or proven damaged
is trained again on the spot, with a progress bar; a lab run whose files are proven damaged is
set aside by the store, reported here and listed in the lab with a Restore button. A model that
can't be loaded for another reason (memory, a broken install) keeps its files and is tried again
on the next run. Also this page's token (``requester``), which the queue counts trainings by.
"""

from __future__ import annotations

import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass

import streamlit as st

from convlab.jobs import DONE
from convlab.models import PRESETS, ModelSpec
from convlab.store import ModelStore, ModelUnavailable, StoredModel

from .resources import get_queue, get_store

MAX_DISMISSED = 64  # store notes a page remembers dismissing; one forgotten is at worst shown again


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
    """What the store said about a run's files or its last load, for a page that can't show it."""
    store = get_store()
    return store.unavailable.get(key) or store.problems.get(key, "This run's files could not be read.")


def load(run: Run) -> StoredModel | None:
    """The run's model; a lesson model whose files turn out damaged is trained again, here and now.

    None when its files were set aside (``store.problems`` says why) or when it can't be loaded just
    now (``store.unavailable`` says why; its files are kept and the next run tries again).
    """
    store = get_store()
    try:
        stored = store.load(run.spec)  # proven-damaged files are set aside
        if stored is None and run.is_preset:
            ensure_model(store, run.spec.preset_name(), run.spec)
            stored = store.load(run.spec)
    except ModelUnavailable:
        return None
    return stored


def requester() -> str:
    """This page's token: the jobs it asks for are "your training" here, and count towards its limit."""
    return st.session_state.setdefault("lab_requester", secrets.token_hex(8))


def remember(name: str, item, limit: int) -> None:
    """Add ``item`` to the session's list ``name``, newest first, keeping the newest ``limit``: what a page
    remembers stays bounded however long it stays open."""
    kept = OrderedDict.fromkeys([item, *st.session_state.get(name, [])])
    st.session_state[name] = list(kept)[:limit]


def ensure_models(store: ModelStore) -> None:
    """Every preset, checked in models/ or trained now through the queue, with progress bars.

    Only a look at the files: a model is loaded when a view needs it (the journey needs only
    the conv model), which keeps the first page quick; one found damaged then is trained again
    on the spot (``load``).
    """
    for name, spec in PRESETS.items():
        try:
            if not store.has(spec) and store.load(spec) is None:  # load sets aside what is proven unusable
                ensure_model(store, name, spec)
        except ModelUnavailable as error:  # its files are kept: nothing is trained over them
            st.warning(error.page_message)
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
    dismissed = st.session_state.get("dismissed_store_notes", [])
    notes = {
        key: message
        for key, message in store.problems.items()
        if key not in presets and key not in runs and key not in dismissed
    }
    if notes:
        st.warning(
            "**A lab run's files were unusable, so it is not in the model lists:**\n\n"
            + "\n".join(f"- {message}" for message in notes.values())
            + "\n\nThe 🧪 Lab tab lists it under *Set aside*, where you can restore it or train it again; "
            "the set-aside files stay in `models/corrupt/` for a look."
        )
        st.button("Dismiss", key="dismiss_store_notes", on_click=_dismiss, args=(list(notes),))


def _dismiss(keys: list[str]) -> None:
    for key in keys:
        remember("dismissed_store_notes", key, MAX_DISMISSED)


def duration(seconds: float) -> str:
    """'42 s' or '3 min 05 s'."""
    seconds = int(round(seconds))
    return f"{seconds // 60} min {seconds % 60:02d} s" if seconds >= 60 else f"{seconds} s"
