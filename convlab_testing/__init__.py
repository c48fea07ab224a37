"""Helpers for checking the real app from outside, shared by ``tests/`` and ``bench/``.

Not part of the app or of the ``convlab`` library: nothing here is imported by them.
"""
