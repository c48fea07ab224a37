"""ConvLab: the logic behind the dashboard, in pipeline order.

data (Fashion-MNIST from local files) -> models (specs and Keras models) -> training
-> store (the models/ cache) -> activations (what each conv and pool layer sees)
-> figures (Plotly figures for the app). ``python -m convlab`` is the command line.
Nothing here imports Streamlit, so all of it is testable and usable on its own.
"""

__version__ = "0.1.0"

import os

# TensorFlow's C++ start-up chatter (CUDA probes, oneDNN notes) buries the real output on a
# CPU-only machine; keep warnings and errors. A value the user set wins.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
