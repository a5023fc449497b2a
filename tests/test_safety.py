"""No code runs from data: a static scan of the library for unsafe calls, and the loaders fed hostile files.

The scan parses every module of ``src/nsganet`` and flags the builtins that
run code from strings, unpickling (except the one restricted CIFAR unpickler),
``torch.load`` without ``weights_only=True``, ``yaml.load``, ``np.load`` that
may unpickle, and shell commands. It is itself tested on small snippets, so
that it demonstrably can fail.
"""

from __future__ import annotations

import ast
import os
import pickle
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pytest
import torch
from conftest import REPO
from torch import nn

from nsganet.data.readers import read_cifar10
from nsganet.deploy import netfile
from nsganet.errors import NsganetError
from nsganet.supernet.files import load_supernet
from nsganet.train.checkpoint import load_checkpoint

SRC = REPO / "src" / "nsganet"

#: Builtins that turn strings into running code.
CODE_BUILTINS = frozenset({"eval", "exec", "compile", "__import__"})
#: Modules whose mere import means unpickling-like loading of untrusted data.
FORBIDDEN_MODULES = frozenset({"marshal", "shelve", "dill", "cloudpickle", "joblib"})
#: Functions (by dotted name) that unpickle or run shell commands, whatever their arguments.
FORBIDDEN_CALLS = frozenset({
    "pickle.load", "pickle.loads", "pickle.Unpickler", "pickle._Unpickler", "pickle._load", "pickle._loads",
    "_pickle.load", "_pickle.loads", "_pickle.Unpickler", "pandas.read_pickle", "numpy.lib.format.read_array",
    "yaml.load", "yaml.load_all", "yaml.unsafe_load", "yaml.unsafe_load_all", "yaml.full_load",
    "yaml.full_load_all", "os.system", "os.popen", "os.execl", "os.execle", "os.execlp", "os.execlpe", "os.execv",
    "os.execve", "os.execvp", "os.execvpe", "os.spawnl", "os.spawnle", "os.spawnlp", "os.spawnlpe", "os.spawnv",
    "os.spawnve", "os.spawnvp", "os.spawnvpe", "pty.spawn", "builtins.eval", "builtins.exec", "builtins.compile",
    "builtins.__import__",
})
#: Functions that are safe only with a literal keyword argument.
REQUIRED_KEYWORDS = {"torch.load": ("weights_only", True), "numpy.load": ("allow_pickle", False)}
SUBPROCESS = "subprocess."


class Finding(NamedTuple):
    """One unsafe construct: its line and what it does."""

    line: int
    message: str


class _Scanner(ast.NodeVisitor):
    """Resolves imported names to dotted module paths and flags unsafe uses."""

    def __init__(self) -> None:
        self.aliases: dict[str, str] = {}  # local name -> dotted name it stands for
        self.shadowed: set[str] = set()  # names the module itself defines (a 'compile' function, say)
        self.findings: list[Finding] = []
        self.restricted_unpicklers: list[tuple[int, str]] = []
        self._call_funcs: set[int] = set()
        self._bases: set[int] = set()

    # -- names ---------------------------------------------------------------------------------------------
    def dotted(self, node: ast.AST) -> str | None:
        if isinstance(node, ast.Name):
            return self.aliases.get(node.id, node.id)
        if isinstance(node, ast.Attribute):
            base = self.dotted(node.value)
            return None if base is None else f"{base}.{node.attr}"
        return None

    def flag(self, node: ast.AST, message: str) -> None:
        self.findings.append(Finding(getattr(node, "lineno", 0), message))

    def prepare(self, tree: ast.Module) -> None:
        """Collect imports and definitions first, so that later uses resolve whatever the order.

        Methods do not count as definitions: a class's ``eval`` method leaves the builtin name alone.
        """
        methods = {id(item) for node in ast.walk(tree) if isinstance(node, ast.ClassDef) for item in node.body}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    root = alias.name.split(".")[0]
                    if root in FORBIDDEN_MODULES:
                        self.flag(node, f"imports {alias.name}")
                    if alias.asname:
                        self.aliases[alias.asname] = alias.name
                    # 'import a.b' binds 'a' only, which resolves to itself
            elif isinstance(node, ast.ImportFrom) and node.module is not None and node.level == 0:
                if node.module.split(".")[0] in FORBIDDEN_MODULES:
                    self.flag(node, f"imports from {node.module}")
                for alias in node.names:
                    if alias.name == "*":
                        self.flag(node, f"star import from {node.module}")
                        continue
                    self.aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and id(node) not in methods:
                self.shadowed.add(node.name)
            elif isinstance(node, ast.Call):
                self._call_funcs.add(id(node.func))
        for name in ("numpy", "np"):  # the usual alias resolves even where numpy comes in indirectly
            self.aliases.setdefault(name, "numpy")
        self.shadowed -= set(self.aliases)

    # -- visits --------------------------------------------------------------------------------------------
    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        """A subclass of ``pickle.Unpickler`` that overrides ``find_class`` is a restricted unpickler."""
        for base in node.bases:
            if self.dotted(base) in ("pickle.Unpickler", "_pickle.Unpickler"):
                self._bases.add(id(base))
                methods = {n.name for n in node.body if isinstance(n, ast.FunctionDef)}
                if "find_class" in methods:
                    self.restricted_unpicklers.append((node.lineno, node.name))
                else:
                    self.flag(node, f"class {node.name} subclasses pickle.Unpickler without restricting find_class")
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        name = self.dotted(node.func)
        if isinstance(node.func, ast.Name) and node.func.id in CODE_BUILTINS and node.func.id not in self.shadowed \
                and node.func.id not in self.aliases:
            self.flag(node, f"calls builtin {node.func.id}()")
        elif name in FORBIDDEN_CALLS:
            self.flag(node, f"calls {name}")
        elif name in REQUIRED_KEYWORDS:
            keyword, value = REQUIRED_KEYWORDS[name]
            given = {k.arg: k.value for k in node.keywords}
            literal = given.get(keyword)
            if None in given:
                self.flag(node, f"calls {name} with **kwargs (cannot check {keyword}={value})")
            elif not (isinstance(literal, ast.Constant) and literal.value is value):
                self.flag(node, f"calls {name} without {keyword}={value}")
        elif name is not None and name.startswith(SUBPROCESS):
            for k in node.keywords:
                if k.arg == "shell" and not (isinstance(k.value, ast.Constant) and k.value.value is False):
                    self.flag(node, f"calls {name} with shell={ast.unparse(k.value)}")
                elif k.arg is None:
                    self.flag(node, f"calls {name} with **kwargs (cannot check shell)")
        self.generic_visit(node)

    def _reference(self, node: ast.expr) -> None:
        """A dangerous function passed around instead of called escapes the argument checks."""
        if id(node) in self._call_funcs or id(node) in self._bases:
            return
        name = self.dotted(node)
        if isinstance(node, ast.Name) and node.id in CODE_BUILTINS and node.id not in self.shadowed \
                and node.id not in self.aliases and isinstance(node.ctx, ast.Load):
            self.flag(node, f"refers to builtin {node.id}")
        elif name in FORBIDDEN_CALLS or name in REQUIRED_KEYWORDS:
            self.flag(node, f"refers to {name}")

    def visit_Attribute(self, node: ast.Attribute) -> None:
        self._reference(node)
        self.generic_visit(node)

    def visit_Name(self, node: ast.Name) -> None:
        self._reference(node)


def scan_source(source: str) -> tuple[list[Finding], list[tuple[int, str]]]:
    """Unsafe constructs of a module's source, and its restricted unpickler classes ``(line, name)``."""
    tree = ast.parse(source)
    scanner = _Scanner()
    scanner.prepare(tree)
    scanner.visit(tree)
    return sorted(set(scanner.findings)), scanner.restricted_unpicklers


# -- the scan itself ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("snippet, fragment", [
    ("eval('1 + 1')", "builtin eval"),
    ("exec(code)", "builtin exec"),
    ("compile(src, 'f', 'exec')", "builtin compile"),
    ("__import__('os')", "builtin __import__"),
    ("import builtins\nbuiltins.eval('x')", "builtins.eval"),
    ("f = eval", "refers to builtin eval"),
    ("import pickle\npickle.load(handle)", "pickle.load"),
    ("import pickle\npickle.loads(data)", "pickle.loads"),
    ("import pickle as p\np.Unpickler(handle).load()", "pickle.Unpickler"),
    ("from pickle import loads\nloads(data)", "pickle.loads"),
    ("from pickle import loads as safe\nsafe(data)", "pickle.loads"),
    ("import pickle\nclass U(pickle.Unpickler):\n    pass", "without restricting find_class"),
    ("import marshal", "imports marshal"),
    ("import shelve", "imports shelve"),
    ("import dill", "imports dill"),
    ("from cloudpickle import loads", "cloudpickle"),
    ("import torch\ntorch.load(path)", "torch.load without weights_only=True"),
    ("import torch\ntorch.load(path, weights_only=False)", "torch.load without weights_only=True"),
    ("import torch\ntorch.load(path, weights_only=flag)", "torch.load without weights_only=True"),
    ("import torch\ntorch.load(path, **options)", "**kwargs"),
    ("from torch import load\nload(path)", "torch.load without"),
    ("import torch\nreader = torch.load", "refers to torch.load"),
    ("import yaml\nyaml.load(text)", "yaml.load"),
    ("import yaml\nyaml.load(text, Loader=yaml.SafeLoader)", "yaml.load"),
    ("import yaml\nyaml.unsafe_load(text)", "yaml.unsafe_load"),
    ("import yaml\nyaml.full_load(text)", "yaml.full_load"),
    ("import numpy as np\nnp.load(path)", "numpy.load without allow_pickle=False"),
    ("import numpy as np\nnp.load(path, allow_pickle=True)", "numpy.load without allow_pickle=False"),
    ("import numpy\nnumpy.load(path, mmap_mode='r')", "numpy.load without allow_pickle=False"),
    ("import subprocess\nsubprocess.run(cmd, shell=True)", "shell=True"),
    ("from subprocess import Popen\nPopen(cmd, shell=flag)", "shell=flag"),
    ("import subprocess as sp\nsp.check_output(cmd, shell=1)", "shell=1"),
    ("import os\nos.system('ls')", "os.system"),
    ("import os\nos.popen('ls')", "os.popen"),
    ("from os import system\nsystem('ls')", "os.system"),
])
def test_scan_flags_each_forbidden_pattern(snippet, fragment):
    findings, _ = scan_source(snippet)
    assert findings, snippet
    assert any(fragment in message for _, message in findings), findings


CLEAN = '''
import pickle
import re
import subprocess
import sys

import numpy as np
import torch
import yaml


class Restricted(pickle.Unpickler):
    def find_class(self, module, name):
        raise pickle.UnpicklingError(f"{module}.{name}")


def compile_report(model: torch.nn.Module, path, text):
    model.eval()                      # a module's eval(), not the builtin
    pattern = re.compile(r"x+")      # re.compile, not the builtin
    state = torch.load(path, map_location="cpu", weights_only=True)
    array = np.load(path, allow_pickle=False)
    config = yaml.safe_load(text)
    blob = pickle.dumps({"a": 1})
    subprocess.run([sys.executable, "-c", "pass"], check=True, shell=False)
    subprocess.run([sys.executable, "-V"], capture_output=True)
    Restricted(path).load()
    return compile_report, pattern, state, array, config, blob
'''


def test_scan_passes_clean_code_and_finds_restricted_unpicklers():
    findings, restricted = scan_source(CLEAN)
    assert findings == []
    assert restricted == [(12, "Restricted")]


def test_scan_respects_local_definitions_named_like_builtins():
    assert scan_source("def compile(x):\n    return x\ncompile(1)")[0] == []
    assert scan_source("from re import compile\ncompile('x')")[0] == []


# -- the library -----------------------------------------------------------------------------------------------


def _modules() -> list[Path]:
    return sorted(SRC.rglob("*.py"))


def test_library_has_no_unsafe_loading_or_code_execution():
    assert len(_modules()) > 50
    problems, restricted = [], []
    for path in _modules():
        findings, classes = scan_source(path.read_text(encoding="utf-8"))
        rel = path.relative_to(SRC).as_posix()
        problems += [f"{rel}:{line}: {message}" for line, message in findings]
        restricted += [(rel, name) for _, name in classes]
    assert problems == []
    assert restricted == [("data/readers.py", "_RestrictedUnpickler")]


# -- the restricted CIFAR unpickler at work --------------------------------------------------------------------


class _Reduce:
    """Pickles as a call of ``function(*args)``: what a hostile data file would hold."""

    def __init__(self, function, *args) -> None:
        self.function, self.args = function, args

    def __reduce__(self):
        return self.function, self.args


def _system_touch(marker: Path) -> _Reduce:
    return _Reduce(os.system, f"touch '{marker}'")


def _open_for_writing(marker: Path) -> _Reduce:
    return _Reduce(open, str(marker), "w")


HOSTILE = {"os.system": _system_touch, "open": _open_for_writing}


def _write_cifar10(root: Path, data_batch_1: bytes | None = None, protocol: int = 4) -> Path:
    """A CIFAR-10 python-version folder of two images per batch, pickled by this Python with ``protocol``."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i, name in enumerate([*(f"data_batch_{b}" for b in range(1, 6)), "test_batch"]):
        content = {b"labels": [i % 10, (i + 1) % 10], b"data": rng.integers(0, 256, (2, 3072), dtype=np.uint8)}
        (folder / name).write_bytes(pickle.dumps(content, protocol=protocol))
    names = {b"label_names": [f"c{i}".encode() for i in range(10)]}
    (folder / "batches.meta").write_bytes(pickle.dumps(names, protocol=protocol))
    if data_batch_1 is not None:
        (folder / "data_batch_1").write_bytes(data_batch_1)
    return folder


def _one_line_error(function, *args, match: str = "") -> str:
    """Call ``function(*args)`` expecting a one-line NsganetError containing ``match``; return its message."""
    with pytest.raises(NsganetError) as info:
        function(*args)
    message = str(info.value)
    assert message and "\n" not in message and match in message, message
    return message


@pytest.mark.parametrize("protocol", [0, 2, 4, 5])
def test_real_cifar_batches_load(tmp_path, protocol):
    folder = _write_cifar10(tmp_path, protocol=protocol)
    train, test = read_cifar10(tmp_path)
    assert len(train) == 10 and len(test) == 2 and train.class_names[3] == "c3"
    expected = pickle.loads((folder / "data_batch_1").read_bytes())[b"data"].reshape(2, 3, 32, 32)
    assert np.array_equal(train.images[:2].numpy(), expected)


@pytest.mark.parametrize("hostile", sorted(HOSTILE))
@pytest.mark.parametrize("protocol", [2, 4])
def test_cifar_pickle_calling_a_global_is_refused(tmp_path, hostile, protocol):
    marker = tmp_path / "marker"
    payload = pickle.dumps({b"data": HOSTILE[hostile](marker), b"labels": [0]}, protocol=protocol)
    _write_cifar10(tmp_path / "data", payload)
    message = _one_line_error(read_cifar10, tmp_path / "data", match="refused")
    assert "data_batch_1" in message
    assert not marker.exists()


def _call_pickle(module: str, name: str, *args: str) -> bytes:
    """A protocol-2 pickle that calls ``module.name(*args)`` (string arguments): GLOBAL, a tuple, REDUCE."""
    strings = b"".join(b"X" + len(a).to_bytes(4, "little") + a.encode() for a in args)
    return b"\x80\x02c" + f"{module}\n{name}\n".encode() + b"(" + strings + b"tR."


@pytest.mark.parametrize("module, name", [("builtins", "eval"), ("numpy", "load"), ("subprocess", "Popen"),
                                          ("numpy.core.multiarray", "scalar"), ("torch", "load"), ("os", "system")])
def test_cifar_unpickler_allows_only_numpy_array_reconstruction(tmp_path, module, name):
    _write_cifar10(tmp_path, _call_pickle(module, name, "x"))
    assert f"{module}.{name}" in _one_line_error(read_cifar10, tmp_path, match="refused")


@pytest.mark.parametrize("encoding", ["rot13", "zlib", "utf-8"])
def test_cifar_unpickler_decodes_latin1_bytes_only(tmp_path, encoding):
    _write_cifar10(tmp_path, _call_pickle("_codecs", "encode", "x", encoding))
    assert encoding in _one_line_error(read_cifar10, tmp_path, match="refused")


# -- checkpoint loaders ------------------------------------------------------------------------------------------


class Custom:
    """An arbitrary class: harmless, but no weights file needs it."""

    def __init__(self) -> None:
        self.value = 1


def _hostile_checkpoint(path: Path, kind: str, marker: Path) -> Path:
    """A torch file whose pickle calls a global when loaded (or holds an object of a custom class)."""
    payload = Custom() if kind == "custom class" else HOSTILE[kind](marker)
    torch.save({"model": {"weight": torch.zeros(2)}, "format": "nsganet-supernet", "extra": payload}, path)
    return path


def _net_folder(tmp_path: Path, file: Path) -> Path:
    """An exported network folder whose ``net.pt`` is ``file``."""
    folder = tmp_path / "net"
    spec = netfile.NetSpec(space="nb201", arch="|none~0|+|none~0|none~1|+|none~0|none~1|none~2|", num_classes=2,
                           input_size=8, in_channels=1, mean=[0.5], std=[0.5],
                           build_options={"channels": 4, "cells_per_stage": 1})
    netfile.write_net(folder, spec, onnx=False)
    (folder / netfile.WEIGHTS_FILE).write_bytes(file.read_bytes())
    return folder


def _resume_retraining(tmp_path: Path, file: Path) -> None:
    """``retrain.fit(resume=True)`` on a folder whose checkpoint is ``file``."""
    from nsganet.data.dataset import ImageDataset
    from nsganet.train.checkpoint import CHECKPOINT_FILE
    from nsganet.train.recipe import RetrainSettings, fit

    out = tmp_path / "retrain"
    out.mkdir()
    (out / CHECKPOINT_FILE).write_bytes(file.read_bytes())
    data = ImageDataset("tiny", torch.zeros(4, 1, 8, 8, dtype=torch.uint8), torch.tensor([0, 1, 0, 1]), 2)
    fit(nn.Sequential(nn.Flatten(), nn.Linear(64, 2)), data, None, RetrainSettings(epochs=1, batch_size=2), out,
        mean=[0.5], std=[0.5], resume=True, progress=False)


def _resume_supernet_training(tmp_path: Path, file: Path) -> None:
    """``train_supernet(resume=True)`` on a folder whose checkpoint is ``file``."""
    from nsganet.supernet.settings import SupernetTrainSettings
    from nsganet.supernet.training import train_supernet
    from nsganet.train.checkpoint import CHECKPOINT_FILE

    out = tmp_path / "supernet"
    out.mkdir()
    (out / CHECKPOINT_FILE).write_bytes(file.read_bytes())
    from nsganet.spaces import get_space

    train_supernet(nn.Linear(2, 2), get_space("mobilenetv3"), lambda epoch, seed: [], SupernetTrainSettings(epochs=1),
                   out, progress=False)


def _load_ofa(tmp_path: Path, file: Path) -> None:
    from nsganet.nn.mobilenetv3_supernet import MobileNetV3Supernet
    from nsganet.nn.ofa_weights import load_ofa_checkpoint
    from nsganet.spaces.mobilenetv3 import SupernetConfig

    load_ofa_checkpoint(MobileNetV3Supernet(SupernetConfig.small(16, width_mult=0.35)), file)


#: Every function of nsganet that reads a torch file someone else may have written, as ``(tmp_path, file)``.
LOADERS = {
    "checkpoint.load_checkpoint": lambda tmp_path, file: load_checkpoint(file),
    "supernet.load_supernet": lambda tmp_path, file: load_supernet(file),
    "train_supernet resume": _resume_supernet_training,
    "retrain.fit resume": _resume_retraining,
    "netfile.load_weights": lambda tmp_path, file: netfile.load_weights(nn.Linear(2, 2), file),
    "netfile.load_net": lambda tmp_path, file: netfile.load_net(_net_folder(tmp_path, file)),
    "ofa_weights.load_ofa_checkpoint": _load_ofa,
}


def _calls(source: str, dotted: str) -> list[str]:
    """Names of the functions of ``source`` that call ``dotted`` (imported names resolved)."""
    tree = ast.parse(source)
    scanner = _Scanner()
    scanner.prepare(tree)
    return [function.name for function in ast.walk(tree) if isinstance(function, ast.FunctionDef)
            for node in ast.walk(function) if isinstance(node, ast.Call) and scanner.dotted(node.func) == dotted]


def test_every_torch_load_call_is_covered_by_a_loader_test():
    """The loaders tested below wrap every torch.load of the library: a new one must be added to LOADERS."""
    callers = sorted(f"{p.relative_to(SRC).as_posix()}:{name}" for p in _modules()
                     for name in _calls(p.read_text(encoding="utf-8"), "torch.load"))
    assert callers == ["deploy/netfile.py:load_weights", "nn/ofa_weights.py:read_ofa_checkpoint",
                       "train/checkpoint.py:load_checkpoint"]


@pytest.mark.parametrize("kind, named", [("os.system", "system"), ("open", "open"), ("custom class", "Custom")])
@pytest.mark.parametrize("loader", sorted(LOADERS))
def test_checkpoint_loaders_refuse_pickled_objects(tmp_path, loader, kind, named):
    marker = tmp_path / "marker"
    file = _hostile_checkpoint(tmp_path / "hostile.pt", kind, marker)
    message = _one_line_error(LOADERS[loader], tmp_path, file, match="refused: it holds pickled Python objects")
    assert named in message and str(tmp_path) in message and "\x1b" not in message  # names the file
    assert not marker.exists()


def test_checkpoint_loaders_still_read_plain_checkpoints(tmp_path):
    model = nn.Linear(2, 2)
    torch.save({"epoch": 3, "model": model.state_dict(), "history": {"loss": [1.0]}}, tmp_path / "ok.pt")
    state = load_checkpoint(tmp_path / "ok.pt")
    assert state["epoch"] == 3 and torch.equal(state["model"]["weight"], model.weight)
    torch.save(model.state_dict(), tmp_path / "weights.pt")
    other = nn.Linear(2, 2)
    netfile.load_weights(other, tmp_path / "weights.pt")
    assert torch.equal(other.weight, model.weight)
