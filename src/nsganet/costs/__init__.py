"""What an architecture costs: FLOPs and parameters, latency measured on this machine or predicted by a table.

:mod:`~nsganet.costs.model` is the cost model a search asks;
:mod:`~nsganet.costs.latency` times networks (PyTorch or ONNX Runtime);
:mod:`~nsganet.costs.lut` builds and reads per-layer latency look-up tables.
"""
