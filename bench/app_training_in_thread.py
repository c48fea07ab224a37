"""The app as it trained before trainings moved off the server: in a thread of the Streamlit server.

``bench/trainings.py`` serves this wrapper to measure the reference figure in the same run as
the app itself: the one change is the queue's executor (``InProcess``, the command line's).
"""

import runpy
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import streamlit as st  # noqa: E402

from convlab.data import load_split  # noqa: E402
from convlab.jobs import InProcess, TrainingQueue  # noqa: E402
from ui import resources  # noqa: E402


@st.cache_resource(show_spinner=False)
def _queue_training_in_the_server() -> TrainingQueue:
    return TrainingQueue(resources.get_store(), InProcess(lambda: (load_split("train"), load_split("test"))))


resources.get_queue = _queue_training_in_the_server
runpy.run_path(str(Path(__file__).resolve().parent.parent / "app.py"), run_name="__main__")
