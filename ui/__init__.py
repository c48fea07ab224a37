"""ConvLab's page: Streamlit lives here and only here (``convlab/`` never imports it).

``app.py`` is the table of contents; each view is one module in ``ui/views/`` with a
``render(page)``. Around them: ``runtime`` (workarounds of Streamlit and TensorFlow
internals), ``resources`` (cached getters), ``runs`` (the stored runs as records, loaded or
trained), ``state`` (the page's shared state and its URL), ``charts`` (charts, components,
thumbnails) and ``page`` (the page's CSS and its small scripts).
"""
