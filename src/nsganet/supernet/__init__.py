"""Weight sharing: training a supernet with the sandwich rule, and the supernet files a search reads.

Works for any :class:`~nsganet.spaces.base.SupernetSpace`: the space activates
and extracts subnets, so :mod:`~nsganet.supernet.training` and
:mod:`~nsganet.supernet.files` never name one. The once-for-all MobileNetV3
network itself (elastic layers, the supernet, OFA's published weights) lives
with the other networks in :mod:`nsganet.nn`.
"""
