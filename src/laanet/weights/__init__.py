"""Bundled weights (``demo.pt``) and the catalogue of weight sets laanet knows (:mod:`laanet.weights.catalog`)."""
