"""Latency look-up tables of OFA and NSGANetV2 (YAML files) imported as nsganet tables of the mobilenetv3 space.

Both tools time each layer of the once-for-all MobileNetV3 networks and store
``{mean: ms, var: ms^2}`` under a key spelling the layer; a network's latency
is the sum of its layers' means. Two spellings (``FORMATS``) exist:

- ``nsganetv2`` (NSGANetV2's ``data/i7-8700K_lut.yaml``):
  ``first_conv-input:224x224x3-output:112x112x16``,
  ``MBConv-input:112x112x16-output:56x56x24-expand:3-kernel:5-stride:2-idskip:0-se:0``
  (``expand`` the expansion ratio, the fixed first block ``expand:1``; no
  activation), ``final_expand_layer-input:7x7x160-output:7x7x960`` (with the
  global pooling), ``feature_mix_layer-input:1x1x960-output:1x1x1280`` and
  ``classifier-input:1280-output:1000``;
- ``ofa`` (OFA's MobileNetV3 tables, one file per resolution):
  ``Conv-input:...``, ``expanded_conv-input:...-expand:<expanded width>-kernel:K-stride:S-idskip:I-se:E-hs:H``,
  ``Conv_1`` (final expansion), ``AvgPool2D``, ``Conv_2`` (feature mix) and
  ``Logits-input:1x1x1280-output:1000``.

:func:`import_table` goes the other way round from a parser: it walks every
layer setting of the space (:meth:`MobileNetV3Space.layer_settings`), spells the
source entries each needs (nsganet's ``head`` is the feature-mix layer and the
classifier, and in OFA's spelling the pooling too) and stores their summed
means. Settings whose entries the files lack go to the table's ``missing``
(what a prediction needing one names); entries no setting of the space needs
(other widths, classes or resolutions) are counted and left out. Every key
must be one of the format's layer kinds spelled exactly; a kind the format
does not have is an error unless ``skip_unknown`` (then a logged warning),
since leaving out a layer the source counted would under-predict silently.
"""

from __future__ import annotations

import hashlib
import logging
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from nsganet.costs.latency import BACKENDS
from nsganet.costs.lut import LatencyTable
from nsganet.errors import NsganetError
from nsganet.nn.mobilenetv3_shape import SupernetConfig, middle_channels
from nsganet.spaces.mobilenetv3 import MobileNetV3Space
from nsganet.spaces.mobilenetv3_layers import LayerSetting
from nsganet.utils.files import read_text

logger = logging.getLogger(__name__)

_HWC = r"\d+x\d+x\d+"
#: nsganet's layer kinds, named in messages.
LAYER_NAMES = {"stem": "first convolution", "mbconv": "MBConv block", "final_expand": "final expansion layer",
               "head": "head (feature mix and classifier)"}


@dataclass(frozen=True)
class SourceFormat:
    """One tool's spelling of layer keys: each kind's exact pattern (and its form, for messages) and how to
    spell the entries a layer setting of the space needs."""

    name: str
    patterns: dict[str, tuple[re.Pattern[str], str]]
    spell: Callable[[LayerSetting, SupernetConfig], list[str]]


@dataclass(frozen=True)
class SourceEntry:
    """One entry of a source file: its mean (and variance, when given) in milliseconds, and where it was read."""

    mean: float
    var: float | None
    path: str


def _hwc(size: int, channels: int) -> str:
    return f"{size}x{size}x{channels}"


def _out(layer: LayerSetting) -> int:
    return -(-layer.size // layer.stride)  # "same" padding: ceil(size / stride)


def _idskip(layer: LayerSetting) -> int:
    return int(layer.stride == 1 and layer.in_channels == layer.out_channels)


def _expand_ratio(layer: LayerSetting, config: SupernetConfig) -> str:
    """The expansion ratio an MBConv setting was made with, as NSGANetV2 prints it (``%d``; 1 without one)."""
    if not layer.expand:
        return "1"
    ratios = [e for e in config.expand_ratios if middle_channels(layer.in_channels, e) == layer.mid_channels]
    ratio = ratios[0] if ratios else layer.mid_channels / layer.in_channels
    return str(int(ratio)) if float(ratio).is_integer() else f"{ratio:g}"  # a fraction: no such key exists


def _spell_nsganetv2(layer: LayerSetting, config: SupernetConfig) -> list[str]:
    """The entries of NSGANetV2's table a layer needs (its ``look_up_latency``)."""
    cin, cout, size = layer.in_channels, layer.out_channels, layer.size
    if layer.kind == "stem":  # NSGANetV2 spells the output as resolution // 2 (the same for even resolutions)
        out = size // layer.stride
        return [f"first_conv-input:{_hwc(size, cin)}-output:{_hwc(out, cout)}"]
    if layer.kind == "mbconv":
        return [f"MBConv-input:{_hwc(size, cin)}-output:{_hwc(_out(layer), cout)}-expand:"
                f"{_expand_ratio(layer, config)}-kernel:{layer.kernel}-stride:{layer.stride}-idskip:{_idskip(layer)}"
                f"-se:{int(layer.se)}"]
    if layer.kind == "final_expand":
        return [f"final_expand_layer-input:{_hwc(size, cin)}-output:{_hwc(size, cout)}"]
    return [f"feature_mix_layer-input:{_hwc(1, cin)}-output:{_hwc(1, cout)}",
            f"classifier-input:{cout}-output:{layer.classes}"]


def _spell_ofa(layer: LayerSetting, config: SupernetConfig) -> list[str]:
    """The entries of OFA's MobileNetV3 table a layer needs (its ``MBv3LatencyTable``)."""
    cin, cout, size = layer.in_channels, layer.out_channels, layer.size
    if layer.kind == "stem":
        return [f"Conv-input:{_hwc(size, cin)}-output:{_hwc(_out(layer), cout)}"]
    if layer.kind == "mbconv":
        return [f"expanded_conv-input:{_hwc(size, cin)}-output:{_hwc(_out(layer), cout)}-expand:"
                f"{layer.mid_channels}-kernel:{layer.kernel}-stride:{layer.stride}-idskip:{_idskip(layer)}"
                f"-se:{int(layer.se)}-hs:{int(layer.act == 'h_swish')}"]
    if layer.kind == "final_expand":
        return [f"Conv_1-input:{_hwc(size, cin)}-output:{_hwc(size, cout)}"]
    return [f"AvgPool2D-input:{_hwc(size, cin)}-output:{_hwc(1, cin)}",
            f"Conv_2-input:{_hwc(1, cin)}-output:{_hwc(1, cout)}",
            f"Logits-input:{_hwc(1, cout)}-output:{layer.classes}"]


def _kind(name: str, pattern: str, form: str) -> tuple[str, tuple[re.Pattern[str], str]]:
    return name, (re.compile(f"{re.escape(name)}-{pattern}"), f"{name}-{form}")


_CONV, _CONV_FORM = f"input:{_HWC}-output:{_HWC}", "input:HxWxC-output:HxWxC"
FORMATS: dict[str, SourceFormat] = {
    "nsganetv2": SourceFormat("nsganetv2", dict([
        _kind("first_conv", _CONV, _CONV_FORM),
        _kind("MBConv", rf"{_CONV}-expand:\d+-kernel:\d+-stride:\d+-idskip:[01]-se:[01]",
              f"{_CONV_FORM}-expand:E-kernel:K-stride:S-idskip:0|1-se:0|1"),
        _kind("final_expand_layer", _CONV, _CONV_FORM),
        _kind("feature_mix_layer", _CONV, _CONV_FORM),
        _kind("classifier", r"input:\d+-output:\d+", "input:C-output:N"),
    ]), _spell_nsganetv2),
    "ofa": SourceFormat("ofa", dict([
        _kind("Conv", _CONV, _CONV_FORM),
        _kind("expanded_conv", rf"{_CONV}-expand:\d+-kernel:\d+-stride:\d+-idskip:[01]-se:[01]-hs:[01]",
              f"{_CONV_FORM}-expand:MID-kernel:K-stride:S-idskip:0|1-se:0|1-hs:0|1"),
        _kind("Conv_1", _CONV, _CONV_FORM),
        _kind("AvgPool2D", _CONV, _CONV_FORM),
        _kind("Conv_2", _CONV, _CONV_FORM),
        _kind("Logits", rf"input:{_HWC}-output:\d+", "input:1x1xC-output:N"),
    ]), _spell_ofa),
}
_FORMAT_OF = {kind: fmt for fmt in FORMATS.values() for kind in fmt.patterns}


def _short(key: Any) -> str:
    text = repr(key)
    return text if len(text) <= 120 else text[:117] + "..."


def key_kind(key: str) -> str:
    """The layer kind a key names: what precedes ``-input:`` (or its first ``-``)."""
    return key.split("-input:", 1)[0] if "-input:" in key else key.split("-", 1)[0]


def _ms(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value >= 0


def read_entries(path: str | Path) -> dict[str, SourceEntry]:
    """The entries of one YAML table, each checked to be ``{mean: ms[, var: ms^2]}`` (one-line errors)."""
    path = Path(path)
    text = read_text(path, "latency table")
    try:
        values = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or type(exc).__name__
        raise NsganetError(f"latency table {path} is not valid YAML ({problem}{where})") from None
    if values is None or values == {}:
        raise NsganetError(f"latency table {path} is empty")
    if not isinstance(values, dict):
        raise NsganetError(f"latency table {path} is a {type(values).__name__}, not a mapping of layer keys to "
                           "{mean: ms, var: ...}")
    entries = {}
    for key, value in values.items():
        if not isinstance(key, str):
            raise NsganetError(f"latency table {path}: entry {_short(key)} is not a layer key (a string)")
        if not isinstance(value, dict):
            raise NsganetError(f"latency table {path}: entry {_short(key)} is a {type(value).__name__}, not "
                               "{mean: ms, var: ...}")
        if "mean" not in value:
            raise NsganetError(f"latency table {path}: entry {_short(key)} has no mean")
        if not _ms(value["mean"]):
            raise NsganetError(f"latency table {path}: entry {_short(key)} has mean {_short(value['mean'])}, not a "
                               "non-negative number of milliseconds")
        var = value.get("var")
        if var is not None and not _ms(var):
            raise NsganetError(f"latency table {path}: entry {_short(key)} has var {_short(var)}, not a "
                               "non-negative number")
        entries[key] = SourceEntry(float(value["mean"]), None if var is None else float(var), str(path))
    return entries


def _source_format(entries: dict[str, SourceEntry], skip_unknown: bool,
                   paths: Sequence[str | Path]) -> tuple[SourceFormat, dict[str, int]]:
    """The one format all keys are spelled in; keys of kinds no format has are errors, or skipped (counted)."""
    chosen: dict[str, str] = {}  # format name -> an example key
    skipped: dict[str, int] = {}
    for key, entry in entries.items():
        kind = key_kind(key)
        fmt = _FORMAT_OF.get(kind)
        if fmt is None:
            if not skip_unknown:
                kinds = "; ".join(f"{f.name}: {', '.join(f.patterns)}" for f in FORMATS.values())
                raise NsganetError(f"latency table {entry.path}: entry {_short(key)} is of layer kind {kind[:40]!r}, "
                                   f"which nsganet does not know ({kinds}); give --skip-unknown to leave such "
                                   "entries out")
            skipped[kind] = skipped.get(kind, 0) + 1
            continue
        pattern, form = fmt.patterns[kind]
        if not pattern.fullmatch(key):
            hint = " (a ProxylessNAS key? nsganet imports MobileNetV3 tables)" if kind == "expanded_conv" \
                and "-se:" not in key else ""
            raise NsganetError(f"latency table {entry.path}: entry {_short(key)} is not a {kind} key as the "
                               f"{fmt.name} format spells them, {form}{hint}")
        chosen.setdefault(fmt.name, key)
    if len(chosen) > 1:
        (a, ka), (b, kb) = list(chosen.items())[:2]
        raise NsganetError(f"latency tables mix the {a} spelling ({_short(ka)} in {entries[ka].path}) and the {b} "
                           f"one ({_short(kb)} in {entries[kb].path}); import one tool's tables at a time")
    if not chosen:
        raise NsganetError(f"latency table {', '.join(map(str, paths))} has no entry of a layer kind nsganet knows "
                           f"(skipped: {', '.join(sorted(skipped)[:5])})")
    if skipped:
        logger.warning("left out %d entries of unknown layer kinds: %s", sum(skipped.values()),
                       ", ".join(f"{kind} ({n})" for kind, n in sorted(skipped.items())))
    return FORMATS[next(iter(chosen))], skipped


def _sha256(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def import_table(paths: Sequence[str | Path], space: MobileNetV3Space, num_classes: int = 1000,
                 in_channels: int = 3, backend: str = "torch", batch_size: int = 1, device: str | None = None,
                 skip_unknown: bool = False) -> LatencyTable:
    """An nsganet look-up table of ``space`` (networks of ``num_classes`` outputs, ``in_channels`` channels)
    from OFA or NSGANetV2 YAML tables.

    The table predicts a network as the sum of its layers' recorded means:
    no per-call or fitted overhead. Its space is ``space`` with, besides its
    own resolutions, every resolution the files have a first convolution of
    ``space``'s widths for; a search of a space of those widths whose layers
    the table all holds (another resolution list) adopts that space (see
    :meth:`LatencyTable.check`). The files do not say how they were timed:
    ``backend`` and ``batch_size`` (which a search's ``--latency-backend`` and
    ``--latency-batch`` must match) and ``device`` are recorded as given.
    Several files (OFA's, one per resolution) are merged; an entry in more
    than one keeps the first file's value.
    """
    if not isinstance(space, MobileNetV3Space):
        raise NsganetError(f"OFA and NSGANetV2 latency tables time mobilenetv3 networks, not "
                           f"{getattr(space, 'name', space)} ones")
    if backend not in BACKENDS or batch_size < 1:
        raise NsganetError(f"backend must be one of {', '.join(BACKENDS)} and the batch size 1 or more")
    if not paths:
        raise NsganetError("no latency table to import")
    records: dict[str, SourceEntry] = {}
    files, duplicates = [], 0
    for path in paths:
        entries = read_entries(path)
        duplicates += sum(key in records for key in entries)
        records.update({k: v for k, v in entries.items() if k not in records})
        files.append({"path": str(path), "sha256": _sha256(path), "entries": len(entries)})
    if duplicates:
        logger.info("%d entries appear in more than one file; the first file's values are used", duplicates)
    fmt, skipped = _source_format(records, skip_unknown, paths)
    space = _with_file_resolutions(space, fmt, records, in_channels)
    settings = space.layer_settings(space.resolutions, num_classes, in_channels)
    table_entries: dict[str, dict[str, Any]] = {}
    missing: dict[str, list[str]] = {}
    used: set[str] = set()
    for setting in settings:
        keys = fmt.spell(setting, space.config)
        absent = [k for k in keys if k not in records]
        if absent:
            missing[setting.key] = absent
            continue
        used.update(keys)
        entry = {**setting.to_dict(), "mean_ms": sum(records[k].mean for k in keys),
                 "sources": {k: records[k].mean for k in keys}}
        variances = [records[k].var for k in keys]
        if all(v is not None for v in variances):
            entry["std_ms"] = math.sqrt(sum(v for v in variances if v is not None))
        table_entries[setting.key] = entry
    _check_every_kind(settings, table_entries, missing, records, space, num_classes, in_channels, paths)
    unused = len(records) - len(used) - sum(skipped.values())
    if unused:
        logger.info("%d entries are of layers this space's networks do not have (other widths, classes or "
                    "resolutions): left out", unused)
    imported = {"format": fmt.name, "files": files, "entries_read": len(records), "entries_used": len(used),
                "entries_unused": unused, "entries_skipped": skipped, "duplicates": duplicates,
                "layer_settings": len(settings)}
    return LatencyTable(space, num_classes, in_channels, backend, batch_size, None, None, None,
                        tuple(space.resolutions), table_entries, device={"cpu": device} if device else {},
                        statistic="mean", imported=imported, missing=missing)


def _with_file_resolutions(space: MobileNetV3Space, fmt: SourceFormat, records: dict[str, SourceEntry],
                           in_channels: int) -> MobileNetV3Space:
    """``space`` with the resolutions the files time its first convolution at added to its own."""
    config = space.config
    found = set()
    for key in records:
        match = re.fullmatch(r"[A-Za-z_]+-input:(\d+)x(\d+)x(\d+)-output:.*", key)
        if match is None or int(match[1]) != int(match[2]) or int(match[3]) != in_channels or int(match[1]) < 1:
            continue
        resolution = int(match[1])
        stem = LayerSetting("stem", in_channels, config.stem_width, resolution, kernel=3, stride=config.stem_stride)
        if fmt.spell(stem, config)[0] == key:
            found.add(resolution)
    resolutions = tuple(sorted(found | set(config.resolutions)))
    if resolutions == tuple(config.resolutions):
        return space
    return MobileNetV3Space(replace(config, resolutions=resolutions))


def _check_every_kind(settings: list[LayerSetting], entries: dict[str, dict[str, Any]],
                      missing: dict[str, list[str]], records: dict[str, SourceEntry], space: MobileNetV3Space,
                      num_classes: int, in_channels: int, paths: Sequence[str | Path]) -> None:
    """Refuse files that hold no layer of some kind of the space: another width, class count or input channels."""
    for kind, name in LAYER_NAMES.items():
        if any(entry["kind"] == kind for entry in entries.values()):
            continue
        needed = next(missing[s.key][0] for s in settings if s.kind == kind)
        source_kind = key_kind(needed)
        example = next((k for k in records if key_kind(k) == source_kind), None)
        has = (f"; it has e.g. {_short(example)} (another width, class count or input channels? see --width-mult, "
               "--num-classes, --in-channels)" if example else f"; it has no {source_kind} entry at all")
        raise NsganetError(f"latency table {', '.join(map(str, paths))} has no {name} of the mobilenetv3 space of "
                           f"width {space.config.width_mult:g}, {num_classes} classes and {in_channels} input "
                           f"channel(s), e.g. no {_short(needed)}{has}")
