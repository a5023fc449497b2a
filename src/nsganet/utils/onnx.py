"""Exporting a network to ONNX: the one exporter behind ``net.onnx`` files and ONNX Runtime latency."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any


def export_onnx(model: Any, path: str | Path, example_input: Any) -> Path:
    """Write ``model`` (in eval mode) to an ONNX file with a dynamic batch dimension."""
    import torch

    path = Path(path)
    model = model.eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter warns about tracing details
        torch.onnx.export(model, (example_input,), str(path), dynamo=False, input_names=["input"],
                          output_names=["logits"], dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
                          opset_version=17)
    return path
