"""Training networks: the one training loop, the re-training recipe, weight averaging, resumable checkpoints.

:mod:`~nsganet.train.loop` trains (proxy evaluation, fine-tuning) and holds
the losses and the finite-loss check; :mod:`~nsganet.train.recipe` is the
NSGANet re-training recipe (:func:`~nsganet.train.recipe.fit`);
:mod:`~nsganet.train.checkpoint` is the resumable-checkpoint scaffold it and
supernet training share, with progress as events; :mod:`~nsganet.train.curves`
writes training curves; :mod:`~nsganet.train.ema` averages weights.
"""
