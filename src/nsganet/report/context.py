"""What a run's numbers mean: the configuration as the run resolved it, the units of each objective, its run time.

A run's ``config.yaml`` keeps ``null`` for what the search filled in (the
dataset, the proxy network's width and depth, the network's shape); the
report shows the values the run really used, resolved the way the search
resolves them (:func:`nsganet.search.rundir.network_options`, the dataset's
shape, :meth:`SearchConfig.network_shape`), and says what each objective
measures: which split an error is on, which network and input size the
FLOPs are counted at.
"""

from __future__ import annotations

import inspect
import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nsganet.config import FIELDS, default_text, default_values
from nsganet.errors import NsganetError
from nsganet.report.plots import axis_label
from nsganet.report.run_data import RunData
from nsganet.search.objectives import get_objective
from nsganet.search.rundir import network_options
from nsganet.spaces import SupernetSpace

logger = logging.getLogger(__name__)

SHAPE_KEYS = ("num_classes", "input_size", "in_channels")


@dataclass
class DataInfo:
    """The dataset a run trained on, as far as it can be read here (``error`` says why not)."""

    name: str
    train_images: int | None = None
    valid_images: int | None = None
    valid_text: str = ""
    shape: dict[str, int] = field(default_factory=dict)
    error: str | None = None


@dataclass
class RunContext:
    """The run's resolved settings and what its objectives measure."""

    scored_by: str
    network: str
    shape: dict[str, int]
    build_options: dict[str, Any]
    data: DataInfo | None
    meanings: dict[str, str]
    labels: dict[str, str]
    config_rows: list[tuple[str, str, str]]


def _exported_spec(data: RunData) -> dict[str, Any] | None:
    """The ``net.json`` of one exported network of the run (it records the data and the network's shape)."""
    for folder in data.exported.values():
        try:
            spec = json.loads((folder / "net.json").read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            continue
        if isinstance(spec, dict) and all(isinstance(spec.get(k), int) for k in SHAPE_KEYS):
            return spec
    return None


def _data_info(data: RunData) -> DataInfo:
    """The training data's size and shape, read from the dataset (an exported net.json gives the shape too)."""
    config = data.config
    info = DataInfo(config.dataset_name)
    spec = _exported_spec(data)
    if spec is not None:
        info.shape = {k: spec[k] for k in SHAPE_KEYS}
    try:
        from nsganet.data import open_dataset

        splits = open_dataset(config.dataset_name, config.data, config.image_size)
        train = splits.get("train")
        valid = splits.get("valid") if splits.has("valid") else None
    except Exception as exc:  # a dataset that is not (or no longer) readable here: say so, keep the rest
        info.error = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        return info
    if not info.shape:
        size = config.image_size or train.image_size
        info.shape = {"num_classes": int(train.num_classes), "input_size": int(size),
                      "in_channels": int(train.channels)}
    if config.official_valid and valid is not None:
        info.train_images = len(train)
        info.valid_images = min(len(valid), config.vld_size or len(valid))
        info.valid_text = "the dataset's own validation split" + (
            f" ({config.vld_size} of its images)" if config.vld_size else "")
        return info
    total = len(train) + (len(valid) if valid is not None else 0)
    held = config.vld_size if config.vld_size is not None else round(config.valid_fraction * total)
    info.train_images, info.valid_images = total - held, held
    info.valid_text = (f"{config.vld_size} images held out of the training split" if config.vld_size is not None
                       else f"{config.valid_fraction:.0%} of the training split held out, stratified by class")
    return info


def _build_defaults(data: RunData) -> dict[str, Any]:
    """The keyword defaults of the space's network builder (what an option left unset means)."""
    if data.space is None:
        return {}
    parameters = inspect.signature(data.space.build).parameters
    return {name: p.default for name, p in parameters.items() if p.default is not inspect.Parameter.empty}


def _network_text(data: RunData, options: dict[str, Any], shape: dict[str, int]) -> str:
    space = data.config.space
    settings = ", ".join(f"{k} {v}" for k, v in options.items())
    kind = "subnet of the supernet" if isinstance(data.space, SupernetSpace) else (
        "proxy network" if data.record.trains else "network")
    size = shape.get("input_size")
    where = ("at each architecture's own input resolution (the network resizes its input)"
             if data.space is not None and data.space.resizes_input else f"at {size}x{size} px" if size else "")
    return (f"the {space} {kind}" + (f" ({settings})" if settings else "")
            + (f" {where}" if where else "")
            + (f", {shape['in_channels']} input channel(s), {shape['num_classes']} classes" if shape else ""))


def _scored_by(data: RunData, info: DataInfo | None) -> str:
    config = data.config
    if data.custom_evaluator:
        return f"evaluator {data.custom_evaluator}"
    if config.uses_table:
        return f"table {Path(config.table or '').name} (column {config.metric})"
    valid = f"{info.valid_images} validation images" if info and info.valid_images else "validation images"
    if isinstance(data.space, SupernetSpace):
        return f"weight inheritance from a supernet, {valid} of {config.dataset_name}"
    return f"proxy training, {config.epochs} epoch(s) on {config.dataset_name}, {valid}"


def _meanings(data: RunData, info: DataInfo | None, network: str) -> dict[str, str]:
    """One sentence per objective: what it measures, on which data or network, in which unit."""
    config = data.config
    split = (f"the search-validation split ({info.valid_images} {info.name} images: {info.valid_text})"
             if info and info.valid_images else f"the search-validation split of {config.dataset_name}")
    out = {}
    for name in data.objectives:
        if name == "error":
            if data.custom_evaluator:
                text = f"error (%) as evaluator {data.custom_evaluator} returned it"
            elif config.uses_table:
                text = f"100 - column {config.metric} of table {Path(config.table or '').name}, in %"
            elif isinstance(data.space, SupernetSpace):
                text = (f"validation error in % of each subnet with weights inherited from the supernet "
                        f"(batch norm recalibrated), on {split}")
            else:
                text = f"validation error in % of {network}, trained {config.epochs} epoch(s), on {split}"
        elif name == "flops":
            text = f"millions of multiply-accumulates of one forward pass of {network}"
        elif name == "params":
            text = f"millions of learnable parameters of {network}"
        elif name == "latency":
            text = (f"milliseconds per batch of {config.latency_batch}, predicted from look-up table "
                    f"{Path(config.lut).name}" if config.lut else
                    f"milliseconds per batch of {config.latency_batch} of {network}, measured with "
                    f"{config.latency_backend} on the machine that ran the search")
        elif name == "robustness":
            eps = ", ".join(map(str, config.fgsm_eps)) if config.fgsm_eps else "the default strengths"
            text = f"100 - normalised FGSM accuracy area in % (eps {eps}), on {split}"
        else:
            objective = get_objective(name)
            text = objective.description if objective else f"as evaluator {data.custom_evaluator or '?'} returned it"
        out[name] = text
    return out


def _default_meaning(name: str) -> str:
    text = default_text(name).strip()
    return text.removeprefix("(default").removesuffix(")").lstrip(": ").strip() if text else ""


def _config_rows(data: RunData, info: DataInfo | None, options: dict[str, Any], shape: dict[str, int],
                 defaults: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(key, value as used, where it came from) for every recorded key: ``null``\\ s resolved."""
    config, raw = data.config, data.raw_config
    trains = data.record.trains
    knobs = data.space.proxy_knobs if data.space is not None else (None, None)
    rows, standard = [], default_values()
    for key, value in raw.items():
        unused = _unused(key, data)
        if unused:
            rows.append((key, "—" if value is None else _text(value), f"not used: {unused}"))
            continue
        note = "default" if key in standard and value == standard[key] else ""
        resolved = getattr(config, key, value) if key in FIELDS else value
        if resolved is not None:
            if resolved != value:
                note = "resolved by the run"
            rows.append((key, _text(resolved), note or "set"))
            continue
        rows.append((key, *_resolve_null(key, data, info, options, shape, defaults, knobs, trains)))
    return rows


#: Keys that only matter when architectures are trained on a dataset, and those only of supernet spaces.
TRAINING_KEYS = ("dataset", "data", "image_size", "data_mode", "official_valid", "valid_fraction", "epochs",
                 "fidelity_eta", "fidelity_min_epochs", "batch_size", "lr", "train_images", "cutout", "vld_size",
                 "supernet", "supernet_epochs", "finetune_epochs")
SUPERNET_KEYS = ("supernet", "supernet_epochs", "finetune_epochs")


def _unused(key: str, data: RunData) -> str:
    """Why ``key`` played no part in this run ("" when it did)."""
    config = data.config
    if key in TRAINING_KEYS and not data.record.trains:
        return f"scored by evaluator {data.custom_evaluator}" if data.custom_evaluator else "scored by a table"
    if key in ("table", "metric") and not config.uses_table:
        return "scored by training" if data.record.trains else "scored by an evaluator"
    if key in SUPERNET_KEYS and data.space is not None and not isinstance(data.space, SupernetSpace):
        return f"the {config.space} space has no supernet"
    if key == "fidelity_min_epochs" and config.fidelity_eta is None:
        return "multi-fidelity is off"
    if key == "fgsm_eps" and "robustness" not in data.objectives:
        return "robustness is not an objective"
    if key in ("lut", "latency_backend", "latency_batch") and "latency" not in data.objectives:
        return "latency is not an objective"
    return ""


def _resolve_null(key: str, data: RunData, info: DataInfo | None, options: dict[str, Any], shape: dict[str, int],
                  defaults: dict[str, Any], knobs: tuple[str | None, str | None], trains: bool) -> tuple[str, str]:
    """The value a ``null`` key stood for in this run, and where it came from."""
    config = data.config
    unused = "not used"
    if key == "dataset":
        return config.dataset_name, "default"
    if key == "data":
        return "embedded", "default: the dataset is embedded"
    if key == "image_size":
        return (f"{shape['input_size']}", "as stored in the dataset") if shape else ("as stored", "default")
    if key in ("channels", "layers"):
        knob = knobs[0 if key == "channels" else 1]
        if knob is None:
            return "—", f"{unused}: the {config.space} space has no proxy {'width' if key == 'channels' else 'depth'}"
        if knob in options:
            return str(options[knob]), f"{config.space} proxy default ({knob})" if trains else f"build option {knob}"
        if knob in defaults:
            return str(defaults[knob]), f"the {config.space} network's default ({knob})"
    if key in SHAPE_KEYS:
        if shape:
            return str(shape[key]), "from the dataset" if trains else "default"
        return "unknown", info.error if info and info.error else "the dataset is not readable here"
    if key == "vld_size" and info and info.valid_images:
        return str(info.valid_images), info.valid_text
    if key == "train_images" and info and info.train_images:
        return f"all ({info.train_images})", "default: every search-train image"
    if key == "supernet" and isinstance(data.space, SupernetSpace):
        return str(data.record.supernet_file()), "trained by the run"
    if key == "lut":
        return "—", "latency measured on each network"
    meaning = _default_meaning(key)
    return (meaning or "—"), "default"


def _text(value: Any) -> str:
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, float) and math.isfinite(value):
        return f"{value:g}"
    return str(value)


def resolve(data: RunData) -> RunContext:
    """The run's settings as it used them and the meaning of its objectives."""
    config = data.config
    trains = data.record.trains
    info = _data_info(data) if trains else None
    shape = (info.shape if info else {}) if trains else config.network_shape()
    options: dict[str, Any] = {}
    defaults = _build_defaults(data)
    if data.space is not None:
        try:
            options = network_options(config, data.space, trains)
        except NsganetError as exc:
            logger.warning("cannot resolve the build options of %s: %s", data.path, exc)
        for knob in data.space.proxy_knobs:
            if knob is not None and knob not in options and knob in defaults:
                options[knob] = defaults[knob]
    network = _network_text(data, options, shape)
    return RunContext(scored_by=_scored_by(data, info), network=network, shape=shape, build_options=options,
                      data=info, meanings=_meanings(data, info, network),
                      labels={name: axis_label(name) for name in data.objectives},
                      config_rows=_config_rows(data, info, options, shape, defaults))
