"""Datasets on disk: official layouts, the prepared-data index, and ``laanet prepare``.

Import the submodules directly (``laanet.data.index``, ``laanet.data.layouts``, ``laanet.data.prepare``);
this package imports nothing heavy.
"""
