"""Plotly figures for the dashboard, built as plain dicts, one module per concern.

- ``scales``: colours, colour scales and the colour-range rules (also the palettes a page can choose);
- ``journey``: the journey's grid of images and maps (and its panel size, row titles, the browser's parts);
- ``tiles``: a grid of small heatmaps drawn as one mosaic (every filter's map, kernels, portraits);
- ``curves``: probabilities, the confusion matrix, class mixes, training curves, sweeps, invariance;
- ``explanations``: how a number is computed and where a model looked;
- ``parts``: small pieces several of them share.

A many-panel figure built through ``plotly.subplots.make_subplots`` and graph objects costs far more
than the same figure as a dict, which matters because the journey grid is redrawn on every move.
Import from the module that draws what you need: ``from convlab.figures.journey import journey_figure``.
"""
