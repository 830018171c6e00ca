"""Evaluation: metrics (``metrics``), DeeperForensics-1.0 perturbations (``perturb``), the eval run
(``evaluate``) and its reports (``report``). Import the submodules directly; this package imports nothing heavy.
"""
