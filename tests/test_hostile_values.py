"""Hostile values where a one-line check is not enough: what must not happen besides the message.

NaN and infinities are refused by every float option and config key before a
run directory exists; sizes are refused before anything is allocated (the
networks are only ever counted on torch's meta device); paths with bytes that
are not UTF-8 work. ``tests/test_bad_input.py`` holds the one-line messages.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import sys
from pathlib import Path

import pytest
import torch
from conftest import METRIC, NB201, run_cli
from test_bad_input import MICRO_ARCH, NB201_ARCH, run_in_process, save_state_dict, write_net_json, write_yaml

import nsganet.spaces.base as space_base
from nsganet.config import FIELDS, SearchConfig
from nsganet.costs.model import CostModel
from nsganet.data.dataset import ImageDataset, class_count
from nsganet.deploy.netfile import NetSpec
from nsganet.errors import ConfigError, NsganetError
from nsganet.spaces import get_space
from nsganet.utils.checks import CHANNELS, MAX_CLASSES, POSITIVE, coerce_numeric_options, machine_memory
from nsganet.utils.onnx import export_onnx, io_mismatch

FLOAT_KEYS = [name for name, f in FIELDS.items() if str(f.type).startswith("float") and f.metadata["bound"]]
NOT_UTF8 = os.fsdecode(b"out-\xff")  # how Python hands over a path with a byte that is not UTF-8


# ------------------------------------------------------------------------------------------- finite numbers


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
@pytest.mark.parametrize("key", FLOAT_KEYS)
def test_every_float_config_key_refuses_nan_and_infinities_naming_the_key(key, value):
    with pytest.raises(ConfigError, match=f"^{key} must be a finite number"):
        SearchConfig.from_dict({key: value, **({"executor": "ray"} if key.endswith("per_eval") else {})})


def test_a_nan_learning_rate_in_yaml_is_refused_before_a_run_directory_exists(tmp_path):
    out = tmp_path / "run"
    config = write_yaml(tmp_path / "nan.yaml", "lr: .nan\nbudget: 2\npop_size: 2\n")
    code, err = run_in_process(["search", "--config", str(config), "-q", "--out", str(out)])
    assert (code, err) == (2, "nsganet: error: lr must be a finite number, got nan\n")
    assert not out.exists()


def _typed_actions() -> list[tuple[str, argparse.Action]]:
    """Every option of every sub-command that parses its value (not a plain string)."""
    from nsganet.cli import build_parser

    found = []
    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    pending = list(commands.choices.items())
    while pending:
        name, sub = pending.pop()
        for action in sub._actions:
            if isinstance(action, argparse._SubParsersAction):
                pending += [(f"{name} {n}", p) for n, p in action.choices.items()]
            elif action.type not in (None, str) and action.option_strings:
                found.append((f"{name} {action.option_strings[-1]}", action))
    return found


@pytest.mark.parametrize("text", ["nan", "inf", "-inf", "NaN", "Infinity"])
def test_no_command_line_option_takes_nan_or_infinities(text):
    accepted = []
    for name, action in _typed_actions():
        try:
            value = action.type(text)
        except (argparse.ArgumentTypeError, ValueError, TypeError):
            continue
        numbers = value if isinstance(value, list) else [value]
        if any(isinstance(v, float) and not math.isfinite(v) for v in numbers):
            accepted.append(name)
    assert not accepted


def test_strategy_and_predictor_options_refuse_nan_and_infinities():
    @dataclasses.dataclass
    class Options:
        rate: float = 0.5

    for value in (math.nan, math.inf):
        with pytest.raises(ConfigError, match=r"^demo option rate must be a finite number"):
            coerce_numeric_options(Options(rate=value), "demo")


def test_a_bound_refuses_what_is_not_a_finite_number_of_its_kind():
    for value, problem in ((math.nan, "a finite number"), (math.inf, "a finite number"), (True, "an integer"),
                           ("8", "an integer"), (2.5, "an integer"), (5000, "from 1 to 4096")):
        with pytest.raises(ConfigError, match=f"^channels must be {problem}"):
            CHANNELS.check("channels", value)
    CHANNELS.check("channels", 4096)
    POSITIVE.check("lr", 3)  # an integer is a number


# ------------------------------------------------------------------------------------- sizes, before allocation


@pytest.fixture
def small_machine(monkeypatch):
    """This machine, with 1 GiB of memory."""
    monkeypatch.setattr(space_base, "machine_memory", lambda: 1 << 30)


def _built_on(monkeypatch, space) -> list[str]:
    """The device of every network ``space`` builds from now on."""
    devices: list[str] = []
    build = type(space).build

    def spy(self, *args, **kwargs):
        model = build(self, *args, **kwargs)
        devices.append(next(model.parameters()).device.type)
        return model

    monkeypatch.setattr(type(space), "build", spy)
    return devices


def test_a_proxy_too_wide_for_memory_is_refused_by_name_and_never_allocated(small_machine, monkeypatch):
    space = get_space("micro")
    devices = _built_on(monkeypatch, space)
    with pytest.raises(NsganetError, match=r"^the largest micro network at channels 512, layers 1 for 10 classes of "
                                           r"1x8x8 images would have [\d,]+ parameters \([\d.]+ GiB to train on one "
                                           r"image\), more than this machine's 1.0 GiB of memory: lower --channels "
                                           r"or --layers$"):
        CostModel(space, num_classes=10, input_size=8, in_channels=1, build_options={"channels": 512, "layers": 1})
    assert devices == ["meta"]


def test_counting_a_network_leaves_the_random_numbers_as_they_were():
    space = get_space("micro")
    torch.manual_seed(0)
    expected = torch.rand(4)
    torch.manual_seed(0)
    size = space.footprint(space.largest(), **space.proxy_options(None, None))
    assert torch.equal(torch.rand(4), expected)
    model = space.build(space.largest(), **space.proxy_options(None, None))
    assert size is not None and size.params == sum(p.numel() for p in model.parameters())


def test_a_net_json_network_too_large_is_refused_before_it_is_built(small_machine, monkeypatch, tmp_path):
    folder = write_net_json(tmp_path, {"space": "micro", "arch": MICRO_ARCH, "build_options": {"channels": 2048}})
    spec = NetSpec.from_dict(json.loads((folder / "net.json").read_text()))
    devices = _built_on(monkeypatch, get_space("micro"))
    with pytest.raises(NsganetError, match=r"^the micro network of 10 classes of 1x8x8 images .* more than this "
                                           r"machine's 1.0 GiB"):
        spec.build()
    assert devices == ["meta"]


def test_build_options_within_their_bounds_build_as_before():
    space = get_space("micro")
    assert space.check_build_options({"channels": 4096, "layers": 64, "stem": "imagenet"}) == \
        {"channels": 4096, "layers": 64, "stem": "imagenet"}
    with pytest.raises(ConfigError, match=r"^micro build option channel_increment must be from 0 to 4096"):
        space.check_build_options({"channel_increment": 10**6})
    with pytest.raises(ConfigError, match=r"^macro build option channels must be from 1 to 4096, got 5000"):
        get_space("macro").check_build_options({"channels": [16, 32, 5000]})


def test_machine_memory_honours_an_address_space_limit(monkeypatch):
    import resource

    monkeypatch.setattr(resource, "getrlimit", lambda which: (1 << 30, resource.RLIM_INFINITY))
    assert machine_memory() <= 1 << 30


def test_labels_beyond_the_class_bound_are_refused_by_value_before_any_allocation_by_label():
    labels = torch.tensor([0, 1, MAX_CLASSES, 1])
    with pytest.raises(NsganetError, match=f"^label {MAX_CLASSES} in y.npz \\(image 2\\) is beyond the 100,000 "):
        class_count(labels, "y.npz")
    assert class_count(torch.tensor([0, 3, 1]), "y.npz") == 4
    with pytest.raises(NsganetError, match=r"^big: 100,001 classes; nsganet takes at most 100,000"):
        ImageDataset("big", torch.zeros(2, 1, 2, 2, dtype=torch.uint8), torch.tensor([0, 1]), MAX_CLASSES + 1)


# ------------------------------------------------------------------------------------------------- ONNX files


def test_an_onnx_file_of_the_network_itself_fits(tmp_path):
    import onnxruntime as ort

    space = get_space("nb201")
    model = space.build(space.from_string(NB201_ARCH), num_classes=10, input_size=8, in_channels=1,
                        **space.proxy_options(None, None))
    path = export_onnx(model, tmp_path / "net.onnx", torch.zeros(1, 1, 8, 8))
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert io_mismatch(session, (1, 8, 8), 10) == ""
    assert io_mismatch(session, (3, 8, 8), 10) == "it takes 'input' [N, 1, 8, 8]; the network takes 'input' " \
                                                  "[N, 3, 8, 8]"


# ----------------------------------------------------------------------------------- paths that are not UTF-8


def test_an_onnx_file_is_written_to_a_path_that_is_not_utf8(tmp_path):
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 2))
    path = export_onnx(model, tmp_path / f"{NOT_UTF8}.onnx", torch.zeros(1, 1, 2, 2))
    assert path.is_file() and path.stat().st_size > 0


def _strict_cli(*args: str, cwd: Path):
    """``nsganet ARGS`` whose standard output is strict UTF-8, as on a UTF-8 terminal (not the C locale)."""
    return run_cli(*args, cwd=cwd, env={"PYTHONIOENCODING": "utf-8", "LC_ALL": "C.UTF-8"})


def _digits_net(tmp_path: Path) -> Path:
    """A digits nb201 network folder with weights (net.json, net.pt)."""
    (tmp_path / "net").mkdir()
    folder = write_net_json(tmp_path / "net", {"build_options": {"channels": 8, "cells_per_stage": 1}})
    save_state_dict(folder / "net.pt", "nb201", NB201_ARCH)
    return folder


@pytest.mark.parametrize("command", ["evaluate", "train"])
def test_evaluate_and_train_write_into_a_folder_named_with_bytes_that_are_not_utf8(command, tmp_path):
    net = _digits_net(tmp_path)
    extra = ["--eps", "none", "--corruptions", "none"] if command == "evaluate" else ["--epochs", "1", "-q"]
    out = tmp_path / NOT_UTF8
    result = _strict_cli(command, str(net), "--out", str(out), *extra, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr and "out-?" in result.stdout
    assert (out / ("evaluation.json" if command == "evaluate" else "net.onnx")).is_file()


@pytest.mark.parametrize("command", ["select", "report", "search"])
def test_select_report_and_search_write_into_a_folder_named_with_bytes_that_are_not_utf8(command, tmp_path,
                                                                                         nb201_table):
    run = tmp_path / ("run" if command != "search" else NOT_UTF8)
    search = [*NB201, "--table", str(nb201_table), "--metric", METRIC, "--budget", "5", "--out", str(run)]
    if command != "search":
        assert _strict_cli(*search, "-q", cwd=tmp_path).returncode == 0
        args = [command, str(run), "--out", str(tmp_path / NOT_UTF8)] + (["-n", "1"] if command == "select" else [])
        result = _strict_cli(*args, cwd=tmp_path)
    else:
        result = _strict_cli(*search, cwd=tmp_path)
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    assert (tmp_path / NOT_UTF8).is_dir()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q", *sys.argv[1:]]))
