"""After the search: exported network folders, picking and exporting a run's architectures, re-training them.

:mod:`~nsganet.deploy.netfile` reads and writes network folders (``net.json``,
``net.pt``, ``net.onnx``); :mod:`~nsganet.deploy.select` picks architectures
of a run's front and exports them; :mod:`~nsganet.deploy.retrain` trains a
network folder into a new one.
"""
