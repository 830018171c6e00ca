"""Running ``laanet prepare``, ``eval`` and ``detect`` on a Ray cluster (the optional extra ``laanet[ray]``).

One module per job, each reusing the local per-item code so that results match the local path:

- :mod:`laanet.scale.ray_prepare`: one Ray task per video (``laanet.data.prepare.process_source``: frames →
  faces → crops); the driver writes ``index.jsonl`` and ``prepare_log.jsonl`` exactly as a local run does;
- :mod:`laanet.scale.ray_eval`: Ray Data batches of stored crops scored by actors that load the model once
  (``laanet.evaluation.evaluate.predict``); the driver writes the usual ``laanet eval`` outputs;
- :mod:`laanet.scale.ray_detect`: actors that each hold a :class:`laanet.Detector` and score whole files;
  the driver writes the usual ``laanet detect`` outputs;
- :mod:`laanet.scale.ray_cluster`: connecting to the cluster and the options the three share.

Nothing here imports Ray at module level: ``import laanet.scale`` costs nothing without ``--ray``.
See docs/scale.md.
"""
