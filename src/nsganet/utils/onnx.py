"""Exporting a network to ONNX: the one exporter behind ``net.onnx`` files and ONNX Runtime latency; and checking
that an ONNX file is one of the network it should hold."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

#: The names of the input and the output of the exported networks.
INPUT_NAME, OUTPUT_NAME = "input", "logits"


def export_onnx(model: Any, path: str | Path, example_input: Any) -> Path:
    """Write ``model`` (in eval mode) to an ONNX file with a dynamic batch dimension.

    The file is opened here and handed to the exporter, which takes any path
    this way (one with bytes that are not UTF-8 too).
    """
    import torch

    path = Path(path)
    model = model.eval()
    with warnings.catch_warnings(), path.open("wb") as handle:
        warnings.simplefilter("ignore")  # the TorchScript exporter warns about tracing details
        torch.onnx.export(model, (example_input,), handle, dynamo=False, input_names=[INPUT_NAME],
                          output_names=[OUTPUT_NAME], opset_version=17,
                          dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}})
    return path


def _shape_text(shape: Sequence[Any]) -> str:
    """``[N, 3, 32, 32]``: dimensions, a dynamic one as N."""
    return "[" + ", ".join(str(d) if isinstance(d, int) else "N" for d in shape) + "]"


def _fits(shape: Sequence[Any], expected: Sequence[int | None]) -> bool:
    """Whether ``shape`` (ints, or names of dynamic dimensions) can be ``expected`` (None: any size)."""
    return len(shape) == len(expected) and all(not isinstance(d, int) or e is None or d == e
                                               for d, e in zip(shape, expected))


def io_mismatch(session: Any, input_shape: Sequence[int], num_classes: int) -> str:
    """How an ONNX Runtime session's input and output differ from a network's ('' when they fit).

    The network takes one ``input`` batch of ``input_shape`` (C, H, W) images
    and returns ``logits`` of ``num_classes``, as :func:`export_onnx` writes it.
    """
    inputs, outputs = session.get_inputs(), session.get_outputs()
    expected_in, expected_out = [None, *input_shape], [None, num_classes]
    if len(inputs) != 1 or inputs[0].name != INPUT_NAME or not _fits(inputs[0].shape, expected_in):
        given = ", ".join(f"{a.name!r} {_shape_text(a.shape)}" for a in inputs) or "nothing"
        return f"it takes {given}; the network takes {INPUT_NAME!r} {_shape_text(expected_in)}"
    if not outputs or outputs[0].name != OUTPUT_NAME or not _fits(outputs[0].shape, expected_out):
        given = ", ".join(f"{a.name!r} {_shape_text(a.shape)}" for a in outputs) or "nothing"
        return f"it returns {given}; the network returns {OUTPUT_NAME!r} {_shape_text(expected_out)}"
    return ""
