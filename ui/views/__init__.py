"""The page's views, one module each, each with a ``render(page)``; ``app.py`` lists them."""

from __future__ import annotations

from dataclasses import dataclass

from convlab.data import Split
from convlab.store import StoredModel

from ..runs import Run


@dataclass(frozen=True)
class Page:
    """What every view is given: the test images, the stored runs, and the page's model."""

    split: Split
    runs: dict[str, Run]
    run: Run  # the model chosen in the sidebar
    stored: StoredModel | None  # its loaded model; None while a server's first run waits for TensorFlow
