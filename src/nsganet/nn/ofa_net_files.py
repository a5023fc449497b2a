"""NSGANetV2's network files, both ways: ``net.config`` (OFA's MobileNetV3 config) and its weights.

NSGANetV2 exports a selected architecture as three files: ``net.subnet`` (the
choices, ``{"ks": [...], "e": [...], "d": [...], "r": R}``), ``net.config``
(the JSON config dictionary of OFA's static ``MobileNetV3``: ``first_conv``,
``blocks`` of inverted-residual layers with their shortcuts,
``final_expand_layer``, ``feature_mix_layer``, ``classifier``, ``bn``) and
``net.inherited`` (``{"state_dict": ...}`` of that network; fine-tuned weights
are ``net.init``). This module turns a :class:`~nsganet.nn.mobilenetv3.MobileNetV3`
into that config and state dict, and reads them back into layer
specifications and nsganet's key names. Both layouts OFA has used are read:
blocks under ``mobile_inverted_conv`` with ``MBInvertedConvLayer`` layers
(the one NSGANetV2 wrote, and writes here) and under ``conv`` with
``MBConvLayer``; state dicts saved from ``DataParallel`` (``module.``) too.
Every entry is checked; anything else is a one-line :class:`NsganetError`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from nsganet.errors import NsganetError
from nsganet.nn.mobilenetv3 import LayerSpec, MobileNetV3
from nsganet.nn.mobilenetv3_shape import ACTIVATIONS

SUBNET_FILE, CONFIG_FILE, INHERITED_FILE, INIT_FILE = "net.subnet", "net.config", "net.inherited", "net.init"

__all__ = ["CONFIG_FILE", "INHERITED_FILE", "INIT_FILE", "SUBNET_FILE", "OfaNet", "from_ofa_state_dict",
           "net_config", "parse_net_config", "to_ofa_state_dict"]


@dataclass(frozen=True)
class OfaNet:
    """What a ``net.config`` describes: the layers (the fixed first block included) and the rest of the network.

    ``expand_ratios`` are the layers' own (1 for the first block);
    ``resolution`` is the input size the config records (NSGANetV2 adds it;
    OFA's own configs do not), else None.
    """

    layers: tuple[LayerSpec, ...]
    expand_ratios: tuple[float, ...]
    in_channels: int
    stem_stride: int
    final_expand_channels: int
    feature_mix_channels: int
    num_classes: int
    dropout: float
    bn_momentum: float
    bn_eps: float
    resolution: int | None


# -- writing ------------------------------------------------------------------------------------------------------


def _conv_config(in_channels: int, out_channels: int, kernel: int, stride: int, bn: bool) -> dict[str, Any]:
    return {"name": "ConvLayer", "kernel_size": kernel, "stride": stride, "dilation": 1, "groups": 1, "bias": False,
            "has_shuffle": False, "in_channels": in_channels, "out_channels": out_channels, "use_bn": bn,
            "act_func": "h_swish", "dropout_rate": 0, "ops_order": "weight_bn_act"}


def net_config(model: MobileNetV3, expand_ratios: list[float]) -> dict[str, Any]:
    """OFA's config dictionary of ``model``, as NSGANetV2 wrote ``net.config`` (plus its ``resolution``).

    ``expand_ratios`` are the layers' expansion ratios (1 for the first block),
    which the config records beside the expanded widths.
    """
    if len(expand_ratios) != len(model.blocks):
        raise NsganetError(f"{len(expand_ratios)} expansion ratios for {len(model.blocks)} layers")
    stem = model.stem.conv
    blocks = []
    for block, ratio in zip(model.blocks, expand_ratios):
        spec = block.spec
        layer = {"name": "MBInvertedConvLayer", "in_channels": spec.in_channels, "out_channels": spec.out_channels,
                 "kernel_size": spec.kernel_size, "stride": spec.stride,
                 "expand_ratio": int(ratio) if float(ratio).is_integer() else ratio,
                 "mid_channels": spec.mid_channels if spec.expand else None, "act_func": spec.act,
                 "use_se": spec.se}
        shortcut = {"name": "IdentityLayer", "in_channels": spec.in_channels, "out_channels": spec.out_channels,
                    "use_bn": False, "act_func": None, "dropout_rate": 0, "ops_order": "weight_bn_act"}
        blocks.append({"name": "MobileInvertedResidualBlock", "mobile_inverted_conv": layer,
                       "shortcut": shortcut if block.residual else None})
    norm = next(m for m in model.modules() if isinstance(m, nn.BatchNorm2d))
    return {
        "name": "MobileNetV3", "bn": {"momentum": norm.momentum, "eps": norm.eps},
        "first_conv": _conv_config(stem.in_channels, stem.out_channels, 3, stem.stride[0], True),
        "blocks": blocks,
        "final_expand_layer": _conv_config(model.final_expand.conv.in_channels, model.final_expand.conv.out_channels,
                                           1, 1, True),
        "feature_mix_layer": _conv_config(model.feature_mix.conv.in_channels, model.feature_mix.conv.out_channels, 1,
                                          1, False),
        "classifier": {"name": "LinearLayer", "in_features": model.classifier.in_features,
                       "out_features": model.classifier.out_features, "bias": True, "use_bn": False,
                       "act_func": None, "dropout_rate": model.dropout.p, "ops_order": "weight_bn_act"},
        "resolution": model.resolution,
    }


#: (nsganet's name inside a block, the original's name inside ``blocks.N.mobile_inverted_conv.``)
_BLOCK_PARTS = (("expand.", "inverted_bottleneck.conv."), ("expand_bn.", "inverted_bottleneck.bn."),
                ("depthwise.", "depth_conv.conv."), ("depthwise_bn.", "depth_conv.bn."),
                ("se.reduce.", "depth_conv.se.fc.reduce."), ("se.expand.", "depth_conv.se.fc.expand."),
                ("project.", "point_linear.conv."), ("project_bn.", "point_linear.bn."))
_TOP_PARTS = (("stem.conv.", "first_conv.conv."), ("stem.bn.", "first_conv.bn."),
              ("final_expand.conv.", "final_expand_layer.conv."), ("final_expand.bn.", "final_expand_layer.bn."),
              ("feature_mix.conv.", "feature_mix_layer.conv."), ("classifier.", "classifier.linear."))


def _original_key(key: str) -> str:
    for ours, theirs in _TOP_PARTS:
        if key.startswith(ours):
            return theirs + key[len(ours):]
    match = re.fullmatch(r"blocks\.(\d+)\.(.+)", key)
    if match is not None:
        for ours, theirs in _BLOCK_PARTS:
            if match.group(2).startswith(ours):
                return f"blocks.{match.group(1)}.mobile_inverted_conv.{theirs}{match.group(2)[len(ours):]}"
    raise KeyError(f"no counterpart in OFA's MobileNetV3 for {key!r}")


def to_ofa_state_dict(model: MobileNetV3) -> dict[str, torch.Tensor]:
    """``model``'s weights under the key names of NSGANetV2's ``net.inherited`` (OFA's MobileNetV3)."""
    return {_original_key(k): v.detach().cpu() for k, v in model.state_dict().items()}


def from_ofa_state_dict(state: Mapping[str, Any], model: MobileNetV3, where: str) -> dict[str, torch.Tensor]:
    """A state dict of OFA's MobileNetV3 (either layout) under ``model``'s key names, checked key by key.

    Every tensor of ``model`` must be there with its shape (batch norms'
    ``num_batches_tracked`` may be absent, as in older files) and no other.
    """
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise NsganetError(f"{where} is not a state dict of tensors")
    given = {}
    for key, value in state.items():
        key = re.sub(r"^blocks\.(\d+)\.conv\.", r"blocks.\1.mobile_inverted_conv.", key.removeprefix("module."))
        given[key] = value
    ours = model.state_dict()
    out, missing = {}, []
    for key, tensor in ours.items():
        theirs = _original_key(key)
        if theirs not in given:
            if key.endswith("num_batches_tracked"):
                out[key] = tensor.clone()
                continue
            missing.append(theirs)
            continue
        if tuple(given[theirs].shape) != tuple(tensor.shape):
            raise NsganetError(f"{where}: {theirs!r} has shape {tuple(given[theirs].shape)}, the network described "
                               f"needs {tuple(tensor.shape)}")
        out[key] = given.pop(theirs)
    if missing:
        raise NsganetError(f"{where} lacks {len(missing)} tensor(s) of the network, e.g. {missing[0]!r}")
    if given:
        raise NsganetError(f"{where} has {len(given)} tensor(s) the network does not, e.g. {next(iter(given))!r}")
    return out


# -- reading ------------------------------------------------------------------------------------------------------


def _get(values: Any, key: str, kind: type | tuple[type, ...], where: str, default: Any = ...) -> Any:
    """``values[key]`` of type ``kind`` (a missing key is an error unless ``default`` is given)."""
    if not isinstance(values, Mapping):
        raise NsganetError(f"{where} must be a mapping, got {type(values).__name__}")
    if key not in values:
        if default is not ...:
            return default
        raise NsganetError(f"{where} lacks {key!r}")
    value = values[key]
    if not isinstance(value, kind) or (isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple)
                                                                                  else (kind,))):
        raise NsganetError(f"{where}.{key} must be {getattr(kind, '__name__', kind)}, got {value!r}")
    return value


def _positive(values: Any, key: str, where: str) -> int:
    value = _get(values, key, int, where)
    if value < 1:
        raise NsganetError(f"{where}.{key} must be positive, got {value}")
    return value


def _conv(values: Any, where: str, kernel: int, bn: bool) -> tuple[int, int, int]:
    """(in, out, stride) of a ``ConvLayer`` entry of the expected kind."""
    name = _get(values, "name", str, where)
    if name != "ConvLayer":
        raise NsganetError(f"{where} must be a ConvLayer, got {name!r}")
    checks = {"kernel_size": kernel, "use_bn": bn, "act_func": "h_swish"}
    for key, expected in checks.items():
        value = values.get(key, expected)
        if value != expected:
            raise NsganetError(f"{where}.{key} is {value!r}; OFA's MobileNetV3 has {expected!r} there")
    if values.get("bias", False) or values.get("groups", 1) != 1 or values.get("dilation", 1) != 1:
        raise NsganetError(f"{where} has a bias, groups or dilation OFA's MobileNetV3 does not")
    return _positive(values, "in_channels", where), _positive(values, "out_channels", where), \
        _positive(values, "stride", where) if "stride" in values else 1


def _layer(block: Any, where: str) -> tuple[LayerSpec, float, bool]:
    """One block: its layer, its expansion ratio and whether it has an identity shortcut."""
    key = "mobile_inverted_conv" if isinstance(block, Mapping) and "mobile_inverted_conv" in block else "conv"
    values = _get(block, key, Mapping, where)
    inner = f"{where}.{key}"
    name = _get(values, "name", str, inner)
    if name not in ("MBInvertedConvLayer", "MBConvLayer"):
        raise NsganetError(f"{inner} must be an MBInvertedConvLayer (MBConvLayer), got {name!r}")
    cin, cout = _positive(values, "in_channels", inner), _positive(values, "out_channels", inner)
    kernel, stride = _positive(values, "kernel_size", inner), _positive(values, "stride", inner)
    if kernel % 2 == 0 or stride not in (1, 2):
        raise NsganetError(f"{inner}: kernel {kernel} and stride {stride}; OFA's layers have odd kernels, stride 1 "
                           "or 2")
    ratio = _get(values, "expand_ratio", (int, float), inner)
    mid = _get(values, "mid_channels", (int, type(None)), inner, None)
    act = _get(values, "act_func", str, inner)
    if act not in ACTIVATIONS:
        raise NsganetError(f"{inner}.act_func must be one of {', '.join(ACTIVATIONS)}, got {act!r}")
    se = _get(values, "use_se", bool, inner, False)
    if values.get("groups") is not None:
        raise NsganetError(f"{inner} has grouped convolutions, which OFA's MobileNetV3 does not")
    expand = ratio != 1
    width = (mid if mid is not None else round(cin * ratio)) if expand else cin
    if ratio <= 0 or width < 1:
        raise NsganetError(f"{inner}: expansion {ratio} gives {width} channels")
    shortcut = block.get("shortcut")
    if shortcut is not None:
        kind = _get(shortcut, "name", str, f"{where}.shortcut")
        if kind != "IdentityLayer":
            raise NsganetError(f"{where}.shortcut must be an IdentityLayer or null, got {kind!r}")
    spec = LayerSpec(cin, cout, kernel, stride, width, act, se, expand=expand)
    if (shortcut is not None) != (stride == 1 and cin == cout):
        raise NsganetError(f"{where}: a shortcut {'is' if shortcut is not None else 'is not'} given where OFA's "
                           f"MobileNetV3 {'has none' if shortcut is not None else 'has one'} ({cin} -> {cout} "
                           f"channels, stride {stride})")
    return spec, float(ratio), shortcut is not None


def parse_net_config(config: Any, where: str = CONFIG_FILE) -> OfaNet:
    """The network a ``net.config`` dictionary describes, every entry checked (one-line errors naming it)."""
    name = _get(config, "name", str, where)
    if name not in ("MobileNetV3", "NSGANetV2"):
        raise NsganetError(f"{where} describes a {name}; nsganet reads OFA MobileNetV3 configs")
    in_channels, stem_width, stem_stride = _conv(_get(config, "first_conv", Mapping, where), f"{where}.first_conv",
                                                 3, True)
    blocks = _get(config, "blocks", list, where)
    if not blocks:
        raise NsganetError(f"{where}.blocks is empty")
    layers, ratios = [], []
    width = stem_width
    for i, block in enumerate(blocks):
        spec, ratio, _ = _layer(block, f"{where}.blocks[{i}]")
        if spec.in_channels != width:
            raise NsganetError(f"{where}.blocks[{i}] takes {spec.in_channels} channels, the layer before gives "
                               f"{width}")
        layers.append(spec)
        ratios.append(ratio)
        width = spec.out_channels
    final_in, final_out, _ = _conv(_get(config, "final_expand_layer", Mapping, where), f"{where}.final_expand_layer",
                                   1, True)
    mix_in, mix_out, _ = _conv(_get(config, "feature_mix_layer", Mapping, where), f"{where}.feature_mix_layer", 1,
                               False)
    classifier = _get(config, "classifier", Mapping, where)
    if _get(classifier, "name", str, f"{where}.classifier") != "LinearLayer":
        raise NsganetError(f"{where}.classifier must be a LinearLayer")
    features = _positive(classifier, "in_features", f"{where}.classifier")
    if (final_in, mix_in, features) != (width, final_out, mix_out):
        raise NsganetError(f"{where}: the head's widths ({final_in} -> {final_out}, {mix_in} -> {mix_out}, "
                           f"{features} features) do not follow the last layer's {width} channels")
    dropout = float(_get(classifier, "dropout_rate", (int, float), f"{where}.classifier", 0.0))
    if not 0 <= dropout < 1:
        raise NsganetError(f"{where}.classifier.dropout_rate must be in [0, 1), got {dropout}")
    bn = _get(config, "bn", Mapping, where, {"momentum": 0.1, "eps": 1e-3})  # NSGANetV2's default without one
    momentum = float(_get(bn, "momentum", (int, float), f"{where}.bn", 0.1))
    eps = float(_get(bn, "eps", (int, float), f"{where}.bn", 1e-3))
    resolution = _get(config, "resolution", (int, type(None)), where, None)
    if resolution is not None and resolution < 1:
        raise NsganetError(f"{where}.resolution must be positive, got {resolution}")
    return OfaNet(tuple(layers), tuple(ratios), in_channels, stem_stride, final_out, mix_out,
                  _positive(classifier, "out_features", f"{where}.classifier"), dropout, momentum, eps, resolution)
