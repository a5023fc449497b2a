"""Load the published once-for-all MobileNetV3 weights into :class:`MobileNetV3Supernet`.

OFA's ``OFAMobileNetV3`` (checkpoints ``ofa_mbv3_d234_e346_k357_w1.0`` and
``..._w1.2``) computes exactly what our supernet computes with
:meth:`SupernetConfig.imagenet` of the same width, so loading is a renaming of
state-dict keys. OFA's layout is::

    first_conv.{conv,bn}                       -> stem.{conv,bn}
    blocks.0.conv.{depth_conv,point_linear}    -> first_block.{depthwise,project}[_bn]
    blocks.B.conv.inverted_bottleneck.conv     -> stages.S.L.expand       (B = 1 + S * max_depth + L)
    blocks.B.conv.depth_conv.conv[.KtoK_matrix]-> stages.S.L.depthwise
    blocks.B.conv.depth_conv.se.fc.{reduce,expand} -> stages.S.L.se.{reduce,expand}
    blocks.B.conv.point_linear.conv            -> stages.S.L.project
    final_expand_layer / feature_mix_layer / classifier.linear -> final_expand / feature_mix / classifier

Dynamic layers in OFA wrap their weights once more (``.conv.conv.weight``,
``.bn.bn.weight``); older checkpoints name blocks' ``conv`` ``mobile_inverted_conv``
and checkpoints saved from ``DataParallel`` prefix ``module.``: all are accepted.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch

from nsganet.errors import NsganetError, torch_load_problem
from nsganet.nn.mobilenetv3_shape import OFA_RESOLUTIONS, SupernetConfig, middle_channels
from nsganet.nn.mobilenetv3_supernet import MobileNetV3Supernet

logger = logging.getLogger(__name__)

#: Normalisation of ImageNet images in OFA's checkpoints.
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)

__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "CheckpointError", "LoadReport", "load_ofa_checkpoint",
           "load_ofa_state_dict", "ofa_key", "ofa_supernet_config", "read_ofa_checkpoint", "to_ofa_state_dict"]


class CheckpointError(NsganetError):
    """A checkpoint that cannot be read or does not fit the supernet."""


@dataclass(frozen=True)
class LoadReport:
    """Keys of the supernet the checkpoint did not provide, and checkpoint keys that were not used."""

    missing_keys: tuple[str, ...]
    unexpected_keys: tuple[str, ...]


_BN = r"(weight|bias|running_mean|running_var|num_batches_tracked)"
_LAYER_PARTS = (  # (our suffix inside a layer, OFA suffix inside ``blocks.B.conv.``)
    (rf"expand_bn\.{_BN}", r"inverted_bottleneck.bn.\1"),
    (r"expand\.weight", "inverted_bottleneck.conv.weight"),
    (r"depthwise\.weight", "depth_conv.conv.weight"),
    (r"depthwise\.(\d+to\d+_matrix)", r"depth_conv.conv.\1"),
    (rf"depthwise_bn\.{_BN}", r"depth_conv.bn.\1"),
    (r"se\.(reduce|expand)\.(weight|bias)", r"depth_conv.se.fc.\1.\2"),
    (r"project\.weight", "point_linear.conv.weight"),
    (rf"project_bn\.{_BN}", r"point_linear.bn.\1"),
)


def ofa_key(key: str, max_depth: int = 4) -> str:
    """The (normalised) OFA ``OFAMobileNetV3`` state-dict key of one of our supernet's keys."""
    for prefix, target in (("stem.", "first_conv."), ("final_expand.", "final_expand_layer."),
                           ("feature_mix.", "feature_mix_layer."), ("classifier.", "classifier.linear.")):
        if key.startswith(prefix):
            return target + key[len(prefix):]
    match = re.fullmatch(r"first_block\.(.+)", key) or re.fullmatch(r"stages\.(\d+)\.(\d+)\.(.+)", key)
    if match is None:
        raise KeyError(f"no OFA counterpart for {key!r}")
    if key.startswith("first_block."):
        block, rest = 0, match.group(1)
    else:
        block, rest = 1 + int(match.group(1)) * max_depth + int(match.group(2)), match.group(3)
    for pattern, replacement in _LAYER_PARTS:
        if re.fullmatch(pattern, rest):
            return f"blocks.{block}.conv." + re.sub(pattern, replacement, rest)
    raise KeyError(f"no OFA counterpart for {key!r}")


def _normalise(key: str) -> str:
    """An OFA checkpoint key in the canonical form :func:`ofa_key` produces."""
    key = key.removeprefix("module.").replace(".mobile_inverted_conv.", ".conv.")
    for doubled, single in ((".conv.conv.", ".conv."), (".bn.bn.", ".bn."), (".linear.linear.", ".linear.")):
        key = key.replace(doubled, single)
    return key


def _examples(keys: list[str] | tuple[str, ...], n: int = 3) -> str:
    shown = ", ".join(repr(k) for k in keys[:n])
    return shown + (f" and {len(keys) - n} more" if len(keys) > n else "")


def _describe(supernet: MobileNetV3Supernet) -> str:
    cfg = supernet.config
    return (f"width_mult={cfg.width_mult:g}, depths={list(cfg.depths)}, kernels={list(cfg.kernel_sizes)}, "
            f"expand_ratios={[float(e) for e in cfg.expand_ratios]}, num_classes={supernet.num_classes}")


def load_ofa_state_dict(supernet: MobileNetV3Supernet, state_dict: Mapping[str, torch.Tensor],
                        strict: bool = True, skip_classifier: bool = False) -> LoadReport:
    """Copy an ``OFAMobileNetV3`` state dict into ``supernet`` (built with the matching config).

    ``skip_classifier`` leaves our classifier untouched (to fine-tune on a
    dataset with another number of classes). Checkpoints lacking batch norms'
    ``num_batches_tracked`` are accepted. With ``strict`` any other missing or
    unused key raises :class:`CheckpointError`; otherwise they are logged and
    reported. A checkpoint of another architecture, or of the same one with
    other widths or choices, raises :class:`CheckpointError` (one line).
    """
    if not isinstance(state_dict, Mapping) or not all(isinstance(v, torch.Tensor) for v in state_dict.values()):
        raise CheckpointError("an OFA checkpoint must be a state dict mapping names to tensors")
    ours = supernet.state_dict()
    max_depth = supernet.config.max_depth
    wanted = {ofa_key(key, max_depth): key for key in ours
              if not (skip_classifier and key.startswith("classifier."))}
    mapped: dict[str, torch.Tensor] = {}
    unexpected: list[str] = []
    for key, value in state_dict.items():
        target = wanted.get(_normalise(key))
        if target is None:
            if not (skip_classifier and _normalise(key).startswith("classifier.")):
                unexpected.append(key)
            continue
        if tuple(value.shape) != tuple(ours[target].shape):
            raise CheckpointError(
                f"checkpoint does not fit this supernet ({_describe(supernet)}): {key!r} has shape "
                f"{tuple(value.shape)}, expected {tuple(ours[target].shape)}")
        mapped[target] = value
    if not mapped:
        raise CheckpointError(f"checkpoint is not an OFA MobileNetV3 state dict: none of its {len(state_dict)} "
                              f"keys ({_examples(list(state_dict))}) is one")
    missing = [k for k in wanted.values() if k not in mapped and not k.endswith("num_batches_tracked")]
    if strict and (missing or unexpected):
        problems = []
        if missing:
            problems.append(f"{len(missing)} missing ({_examples(missing)})")
        if unexpected:
            problems.append(f"{len(unexpected)} unexpected ({_examples(unexpected)})")
        raise CheckpointError(f"checkpoint does not fit this supernet ({_describe(supernet)}): "
                              f"{'; '.join(problems)} keys")
    supernet.load_state_dict(mapped, strict=False)
    if missing or unexpected:
        logger.warning("OFA checkpoint: %d missing keys (%s), %d unexpected keys (%s)", len(missing),
                    _examples(missing), len(unexpected), _examples(unexpected))
    logger.info("loaded %d tensors from an OFA MobileNetV3 checkpoint", len(mapped))
    return LoadReport(tuple(missing), tuple(unexpected))


def read_ofa_checkpoint(path: str | Path) -> Mapping[str, torch.Tensor]:
    """The state dict of an OFA checkpoint file (a state dict, possibly under ``"state_dict"``).

    The file is read with ``torch.load(weights_only=True)``: tensors and plain
    containers only, never arbitrary pickled code.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"OFA checkpoint {path} does not exist")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for unreadable or unsafe files
        raise CheckpointError(f"cannot read OFA checkpoint {path}: {torch_load_problem(exc)}") from None
    if isinstance(obj, Mapping) and isinstance(obj.get("state_dict"), Mapping):
        obj = obj["state_dict"]
    if not isinstance(obj, Mapping) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise CheckpointError(f"{path}: an OFA checkpoint must be a state dict mapping names to tensors")
    return obj


def load_ofa_checkpoint(supernet: MobileNetV3Supernet, path: str | Path, strict: bool = True,
                        skip_classifier: bool = False) -> LoadReport:
    """Load an OFA checkpoint file (see :func:`read_ofa_checkpoint`) into ``supernet``."""
    state = read_ofa_checkpoint(path)
    try:
        return load_ofa_state_dict(supernet, state, strict=strict, skip_classifier=skip_classifier)
    except CheckpointError as exc:
        raise CheckpointError(f"{path}: {exc}") from None


#: OFA's MobileNetV3 has five elastic stages with these strides and activations; the checkpoint does not say.
OFA_STAGE_STRIDES = (2, 2, 2, 1, 2)
OFA_STAGE_ACTS = ("relu", "relu", "h_swish", "h_swish", "h_swish")
#: The choices OFA's MobileNetV3 supernets are trained with (a checkpoint holds only the largest of each).
OFA_EXPAND_RATIOS, OFA_DEPTHS = (3, 4, 6), (2, 3, 4)


def ofa_supernet_config(state_dict: Mapping[str, torch.Tensor]) -> tuple[SupernetConfig, int, int]:
    """The shape of the OFA MobileNetV3 supernet a state dict holds: (config, classes, input channels).

    Widths, the largest kernel, expansion and depth, the smaller kernels (the
    kernel-transform matrices) and the stages with squeeze-and-excitation come
    from the tensors; the stage strides and activations, the expansion and
    depth choices below the largest and the resolutions (128..256) are OFA's.
    OFA's own checkpoints (widths 1.0 and 1.2) give exactly
    :meth:`SupernetConfig.imagenet`; smaller or larger ones of the same layout
    give the supernet with their widths. Anything else is a one-line
    :class:`CheckpointError`.
    """
    keys = {_normalise(k): v for k, v in state_dict.items()}

    def tensor(key: str) -> torch.Tensor:
        if key not in keys:
            raise CheckpointError(f"not an OFA MobileNetV3 state dict: it has no {key!r} (nor its OFA variants)")
        return keys[key]

    stem_w, in_channels = tensor("first_conv.conv.weight").shape[:2]
    first_out = tensor("blocks.0.conv.point_linear.conv.weight").shape[0]
    blocks = 1 + max(int(k.split(".")[1]) for k in keys if k.startswith("blocks."))
    stages = len(OFA_STAGE_STRIDES)
    if (blocks - 1) % stages:
        raise CheckpointError(f"not an OFA MobileNetV3 state dict: {blocks - 1} elastic layers do not make "
                              f"{stages} stages of equal depth")
    max_depth = (blocks - 1) // stages
    widths, se, in_width = [], [], int(first_out)
    kernels: set[int] = set()
    largest_expand = 0
    for stage in range(stages):
        first = 1 + stage * max_depth
        mid, cin = (int(n) for n in tensor(f"blocks.{first}.conv.inverted_bottleneck.conv.weight").shape[:2])
        expand = next((e for e in OFA_EXPAND_RATIOS if middle_channels(cin, e) == mid), None)
        if cin != in_width or expand is None or (largest_expand and expand != largest_expand):
            raise CheckpointError(f"not an OFA MobileNetV3 state dict: block {first} expands {cin} to {mid} "
                                  f"channels, which none of OFA's expansions {list(OFA_EXPAND_RATIOS)} gives")
        largest_expand = expand
        widths.append(int(tensor(f"blocks.{first}.conv.point_linear.conv.weight").shape[0]))
        se.append(f"blocks.{first}.conv.depth_conv.se.fc.reduce.weight" in keys)
        depthwise = tensor(f"blocks.{first}.conv.depth_conv.conv.weight")
        kernels.add(int(depthwise.shape[-1]))
        kernels.update(int(k.rsplit("to", 1)[1].split("_")[0]) for k in keys
                       if k.startswith(f"blocks.{first}.conv.depth_conv.conv.") and k.endswith("_matrix"))
        in_width = widths[-1]
    if max_depth not in OFA_DEPTHS:
        raise CheckpointError(f"not an OFA MobileNetV3 state dict: stages of {max_depth} layers, OFA's have "
                              f"{list(OFA_DEPTHS)}")
    final_expand = int(tensor("final_expand_layer.conv.weight").shape[0])
    classes, feature_mix = (int(n) for n in tensor("classifier.linear.weight").shape)
    shape = {"stem_channels": int(stem_w), "first_block_channels": int(first_out), "stage_channels": tuple(widths),
             "stage_strides": OFA_STAGE_STRIDES, "stage_acts": OFA_STAGE_ACTS, "stage_se": tuple(se),
             "final_expand_channels": final_expand, "feature_mix_channels": feature_mix,
             "resolutions": OFA_RESOLUTIONS, "kernel_sizes": tuple(sorted(kernels)),
             "expand_ratios": tuple(e for e in OFA_EXPAND_RATIOS if e <= largest_expand),
             "depths": tuple(d for d in OFA_DEPTHS if d <= max_depth)}
    for width in (1.0, 1.2):  # OFA's published supernets, recorded as such
        preset = SupernetConfig.imagenet(width)
        if (preset.stem_width, preset.first_block_width, preset.stage_widths, preset.final_expand_width,
                preset.feature_mix_width, preset.stage_se, preset.kernel_sizes, preset.expand_ratios,
                preset.depths) == (shape["stem_channels"], shape["first_block_channels"], shape["stage_channels"],
                                   final_expand, feature_mix, shape["stage_se"], shape["kernel_sizes"],
                                   shape["expand_ratios"], shape["depths"]):
            return preset, classes, int(in_channels)
    try:
        config = SupernetConfig(**shape)
    except ValueError as exc:
        raise CheckpointError(f"not an OFA MobileNetV3 state dict: {exc}") from None
    if (config.stem_width, config.first_block_width, config.stage_widths) != (
            shape["stem_channels"], shape["first_block_channels"], shape["stage_channels"]):
        raise CheckpointError(f"not an OFA MobileNetV3 state dict: widths {list(shape['stage_channels'])} are not "
                              "multiples of 8")
    return config, classes, int(in_channels)


def to_ofa_state_dict(supernet: MobileNetV3Supernet) -> dict[str, torch.Tensor]:
    """Our supernet's weights under OFA's key names (the layout ``OFAMobileNetV3.state_dict()`` has)."""
    out = {}
    for key, value in supernet.state_dict().items():
        name = ofa_key(key, supernet.config.max_depth)
        if name.startswith("blocks.") and not name.startswith("blocks.0."):  # dynamic layers wrap once more
            name = re.sub(r"\.(conv|bn)\.(weight|bias|running_mean|running_var|num_batches_tracked)$",
                          r".\1.\1.\2", name)
        out[name] = value
    return out
