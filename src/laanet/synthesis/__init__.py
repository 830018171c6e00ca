"""Pseudo-fakes for training LAA-Net from real faces only, and their targets.

They follow the official loaders ``datasets/face_forensic_sbi.py`` with ``datasets/sbi/utils.py`` (SBI),
``datasets/face_forensic_hm.py`` (BI) and the target encoder of ``datasets/common.py``.

Import from the modules (this package imports nothing heavy by itself):

- :mod:`laanet.synthesis.sbi` — :class:`~laanet.synthesis.sbi.SBISynthesizer` (Self-Blended Images).
- :mod:`laanet.synthesis.bi` — :class:`~laanet.synthesis.bi.BISynthesizer` and its k-NN
  :class:`~laanet.synthesis.bi.PartnerIndex` (Blended Images, Face X-ray style).
- :mod:`laanet.synthesis.targets` — :func:`~laanet.synthesis.targets.make_targets`: heatmap and
  self-consistency targets from a boundary map (exact to the official encoder).
- :mod:`laanet.synthesis.sample` — :class:`~laanet.synthesis.sample.SynthesizedPair`, what both return.
- :mod:`laanet.synthesis.augment`, :mod:`~laanet.synthesis.pipeline`, :mod:`~laanet.synthesis.hull`,
  :mod:`~laanet.synthesis.landmarks` — the shared steps; :mod:`~laanet.synthesis.preview` — grid images.

Typical use in a ``Dataset.__getitem__``::

    rng = np.random.default_rng([seed, epoch, index])
    pair = synthesizer(crop, landmarks, rng)          # SynthesizedPair
    arrays = pair.to_arrays()                         # image 2×3×N×N in [-1, 1], heatmap, consistency, label
"""
