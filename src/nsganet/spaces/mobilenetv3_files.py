"""NSGANetV2's network files for ``mobilenetv3`` networks: ``net.subnet``, ``net.config``, ``net.inherited``.

Writing turns an architecture of the space (and its network, with weights)
into the three files NSGANetV2 exports. Reading finds, from a ``net.config``
alone, the supernet shape and the architecture it is a subnet of: the first
block and five stages of inverted-residual layers (a stage ends where the
width changes), their kernels, expansions and depths, the head's widths, the
dropout and batch-norm settings; a config that is not such a network is a
one-line error naming the entry. OFA's published widths (1.0, 1.2) are
recognised as :meth:`SupernetConfig.imagenet`; other widths give a
supernet shape of their own. The choices of the space are OFA's, extended by
whatever the config uses. Weights come from ``net.init`` (fine-tuned) or else
``net.inherited``; the input resolution from the config, else ``net.subnet``'s
``r``, else 224.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from nsganet.errors import NsganetError
from nsganet.nn.mobilenetv3_shape import OFA_RESOLUTIONS, SupernetConfig, middle_channels
from nsganet.utils.files import read_text

if TYPE_CHECKING:  # pragma: no cover
    from torch import nn

    from nsganet.nn.ofa_net_files import OfaNet
    from nsganet.spaces.base import ForeignNetwork

logger = logging.getLogger(__name__)

#: The input resolution of a config that records none (OFA's ImageNet default).
DEFAULT_RESOLUTION = 224
#: OFA's choices, which a space read from a config keeps besides the config's own.
OFA_KERNELS, OFA_EXPANDS, OFA_DEPTHS = (3, 5, 7), (3, 4, 6), (2, 3, 4)
#: ImageNet's normalisation, which OFA's networks (and NSGANetV2's) take.
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def _number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else float(value)


def write_files(space: Any, folder: Path, genome: np.ndarray, model: nn.Module,
                trained: bool = False) -> list[str]:
    """``net.subnet``, ``net.config`` and ``net.inherited`` (``net.init``, NSGANetV2's name for fine-tuned weights,
    when ``trained``) of the architecture ``genome`` of ``space`` (a ``MobileNetV3Space``), ``model`` its network."""
    from nsganet.nn.ofa_net_files import (
        CONFIG_FILE,
        INHERITED_FILE,
        INIT_FILE,
        SUBNET_FILE,
        net_config,
        to_ofa_state_dict,
    )
    from nsganet.utils.files import atomic_save, atomic_write

    arch = space.to_config(genome)
    subnet = {"ks": list(arch["kernel_sizes"]), "e": [_number(e) for e in arch["expand_ratios"]],
              "d": list(arch["depths"]), "r": int(arch["resolution"])}
    atomic_write(folder / SUBNET_FILE, json.dumps(subnet) + "\n")
    atomic_write(folder / CONFIG_FILE, json.dumps(net_config(model, [1, *arch["expand_ratios"]]), indent=4) + "\n")
    weights = INIT_FILE if trained else INHERITED_FILE
    atomic_save({"state_dict": to_ofa_state_dict(model)}, folder / weights)
    return [SUBNET_FILE, CONFIG_FILE, weights]


def _read_json(path: Path) -> Any:
    text = read_text(path)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise NsganetError(f"{path} is not valid JSON ({type(exc).__name__})") from None
    except RecursionError:
        raise NsganetError(f"{path} is nested too deeply to describe a network") from None


def _subnet_resolution(path: Path) -> int | None:
    """``r`` of a ``net.subnet`` file, when there is one."""
    if not path.is_file():
        return None
    values = _read_json(path)
    r = values.get("r") if isinstance(values, dict) else None
    if not isinstance(r, int) or isinstance(r, bool) or r < 1:
        raise NsganetError(f"{path} must be a mapping with a positive integer 'r' (the input resolution)")
    return r


def shape_of(net: OfaNet, resolution: int, where: str) -> tuple[SupernetConfig, str]:
    """The supernet shape a network of OFA's MobileNetV3 family is a subnet of, and its architecture string."""
    first, rest = net.layers[0], list(zip(net.layers[1:], net.expand_ratios[1:]))
    if first.expand or first.kernel_size != 3 or first.stride != 1 or first.act != "relu" or first.se:
        raise NsganetError(f"{where}: blocks[0] is not OFA's first block (3x3 depthwise, no expansion, stride 1, "
                           "ReLU, no squeeze-and-excitation)")
    stages: list[list[tuple[Any, float]]] = []
    for spec, ratio in rest:
        if not stages or spec.out_channels != stages[-1][-1][0].out_channels:
            stages.append([])
        stages[-1].append((spec, ratio))
    if not stages:
        raise NsganetError(f"{where}: the network has no layer after the first block")
    strides, acts, se = [], [], []
    for s, stage in enumerate(stages, start=1):
        specs = [spec for spec, _ in stage]
        if any(spec.stride != 1 for spec in specs[1:]) or len({(sp.act, sp.se) for sp in specs}) > 1:
            raise NsganetError(f"{where}: stage {s} mixes strides, activations or squeeze-and-excitation within "
                               "the stage, which OFA's MobileNetV3 does not")
        for spec, ratio in stage:
            if not spec.expand or middle_channels(spec.in_channels, ratio) != spec.mid_channels:
                raise NsganetError(f"{where}: a stage-{s} layer expands {spec.in_channels} channels by {ratio:g} to "
                                   f"{spec.mid_channels}; OFA's layers expand to "
                                   f"{middle_channels(spec.in_channels, ratio) if spec.expand else 'more'}")
        strides.append(specs[0].stride)
        acts.append(specs[0].act)
        se.append(specs[0].se)
    kernels = sorted({*OFA_KERNELS, *(spec.kernel_size for spec, _ in rest)})
    expands = sorted({*OFA_EXPANDS, *(_number(r) for _, r in rest)})
    depths = sorted({*OFA_DEPTHS, *(len(stage) for stage in stages)})
    widths = tuple(stage[0][0].out_channels for stage in stages)
    settings = {"stem_stride": net.stem_stride, "stage_strides": tuple(strides), "stage_acts": tuple(acts),
                "stage_se": tuple(se), "resolutions": tuple(sorted({*OFA_RESOLUTIONS, resolution})),
                "kernel_sizes": tuple(kernels), "expand_ratios": tuple(expands), "depths": tuple(depths),
                "dropout": net.dropout, "bn_momentum": net.bn_momentum, "bn_eps": net.bn_eps}
    given = (first.in_channels, first.out_channels, widths, net.final_expand_channels, net.feature_mix_channels)
    config = None
    for width in (1.0, 1.2):  # OFA's published supernets, recorded as such
        preset = dataclasses.replace(SupernetConfig.imagenet(width), **settings)
        if (preset.stem_width, preset.first_block_width, preset.stage_widths, preset.final_expand_width,
                preset.feature_mix_width) == given:
            config = preset
    if config is None:
        try:
            config = SupernetConfig(stem_channels=first.in_channels, first_block_channels=first.out_channels,
                                    stage_channels=widths, final_expand_channels=net.final_expand_channels,
                                    feature_mix_channels=net.feature_mix_channels, **settings)
        except ValueError as exc:
            raise NsganetError(f"{where}: not a network of OFA's MobileNetV3 family: {exc}") from None
        if (config.stem_width, config.first_block_width, config.stage_widths, config.final_expand_width,
                config.feature_mix_width) != given:
            raise NsganetError(f"{where}: widths {list(given[2])} are not multiples of 8, as OFA's are")
    parts = [f"r{resolution}"] + [" ".join(f"k{spec.kernel_size}e{_number(r):g}" for spec, r in stage)
                                  for stage in stages]
    return config, " | ".join(parts)


def read_files(cls: Any, folder: Path) -> ForeignNetwork:
    """The network NSGANetV2's files in ``folder`` describe (its ``net.config``; weights if there are any), in the
    space ``cls`` (:class:`~nsganet.spaces.mobilenetv3.MobileNetV3Space`) makes of its shape."""
    from nsganet.nn.ofa_net_files import (
        CONFIG_FILE,
        INHERITED_FILE,
        INIT_FILE,
        SUBNET_FILE,
        from_ofa_state_dict,
        parse_net_config,
    )
    from nsganet.nn.ofa_weights import read_ofa_checkpoint
    from nsganet.spaces.base import ForeignNetwork

    config_path = folder / CONFIG_FILE
    net = parse_net_config(_read_json(config_path), str(config_path))
    resolution = net.resolution or _subnet_resolution(folder / SUBNET_FILE) or DEFAULT_RESOLUTION
    if net.resolution is None and not (folder / SUBNET_FILE).is_file():
        logger.info("%s records no resolution (nor is there a %s): %d px", config_path, SUBNET_FILE, resolution)
    shape, arch = shape_of(net, resolution, str(config_path))
    space = cls(shape)
    genome = space.from_string(arch)
    files, state = [CONFIG_FILE], None
    for name in (INIT_FILE, INHERITED_FILE):
        path = folder / name
        if path.is_file():
            model = space.build(genome, num_classes=net.num_classes, input_size=resolution,
                                in_channels=net.in_channels)
            state = from_ofa_state_dict(read_ofa_checkpoint(path), model, str(path))
            files.append(name)
            break
    channels = net.in_channels
    mean, std = (list(IMAGENET_MEAN), list(IMAGENET_STD)) if channels == 3 else (
        [sum(IMAGENET_MEAN) / 3] * channels, [sum(IMAGENET_STD) / 3] * channels)
    return ForeignNetwork(space, genome, net.num_classes, resolution, channels, mean, std, state, files)
