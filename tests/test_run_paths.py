"""Names built from user data are path-safe, and commands write nothing outside their run directory."""

from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path

import pytest
from conftest import METRIC, run_cli

import nsganet
from nsganet.config import SearchConfig
from nsganet.spaces.nb201 import NB201Space
from nsganet.strategies.random_search import RandomSearch
from nsganet.utils.files import MAX_NAME, safe_name

# -- safe_name ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("text, expected", [
    ("nb201-table-nsga2-seed0", "nb201-table-nsga2-seed0"),
    ("../../etc", "---..-etc"),
    ("..", "--"),
    (".", "-"),
    (".hidden", "-hidden"),
    ("/abs/path", "-abs-path"),
    ("a/b\\c", "a-b-c"),
    ("nul\x00byte", "nul-byte"),
    ("café ünï", "caf---n-"),
    ("tab\tnew\nline", "tab-new-line"),
    ("", "unnamed"),
    (7, "7"),
])
def test_safe_name_maps_unsafe_characters_and_dots(text, expected):
    assert safe_name(text) == expected


@pytest.mark.parametrize("text", ["../../etc", "/abs", "a/../../b", "..", ".", "", "\x00", "ü/..", "x" * 1000,
                                  "C:\\Windows", "~root", "-rf"])
def test_safe_name_is_one_component_inside_its_folder(text, tmp_path):
    name = safe_name(text)
    assert name and len(name) <= MAX_NAME
    assert not name.startswith(".") and name not in (".", "..")
    assert re.fullmatch(r"[A-Za-z0-9._-]+", name)
    path = tmp_path / name
    assert path.parent == tmp_path and path.resolve().parent == tmp_path.resolve()
    assert safe_name(name) == name  # idempotent


def test_safe_name_fallback():
    assert safe_name("", fallback="run") == "run"


def test_default_run_directory_is_one_folder_under_runs():
    config = SearchConfig(space="../../etc", strategy="/abs/strategy", dataset="a/../b", seed=3)
    out = Path(config.default_out())
    assert out.parts[0] == "runs" and len(out.parts) == 2
    assert out.name == "---..-etc-a-..-b--abs-strategy-seed3"
    assert SearchConfig(space="nb201", strategy="nsga2").default_out() == "runs/nb201-digits-nsga2-seed0"


# -- the Python API with user-named objects -----------------------------------------------------------------


class EscapingSpace(NB201Space):
    """NAS-Bench-201 under a name that climbs out of the working directory."""

    name = "../../../escape/space"


@dataclasses.dataclass
class EscapingStrategy(RandomSearch):
    name = "/tmp/absolute"


def _files(root: Path) -> set[str]:
    """Every file and folder under ``root``, as paths relative to it."""
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def test_api_run_of_user_named_space_and_strategy_stays_in_runs(tmp_path, monkeypatch):
    work = tmp_path / "a" / "b" / "work"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)

    def evaluate(arch):
        return {"error": float(sum(arch.genome)), "ops": float(len(set(arch.genome)))}

    result = nsganet.search(EscapingSpace(), evaluate, ["error", "ops"], EscapingStrategy(pop_size=4), budget=8,
                            progress=False)
    assert len(result.evaluations) == 8
    expected = work / "runs" / "---..-..-escape-space-digits--tmp-absolute-seed0"
    assert (expected / "evaluations.csv").is_file()
    outside = {f for f in _files(tmp_path) if not f.startswith("a/b/work/runs/")}
    assert outside == {"a", "a/b", "a/b/work", "a/b/work/runs"}
    assert os.listdir(work / "runs") == [expected.name]


# -- the CLI in a fresh working directory and home ----------------------------------------------------------


@pytest.fixture
def isolated(tmp_path):
    """A fresh working directory, home and temporary folder, and matplotlib's config folder set aside.

    XDG cache and config folders point into the home so that any cache a library writes there is seen.
    """
    dirs = {name: tmp_path / name for name in ("work", "home", "tmp", "mpl")}
    for d in dirs.values():
        d.mkdir()
    env = {"HOME": str(dirs["home"]), "TMPDIR": str(dirs["tmp"]), "MPLCONFIGDIR": str(dirs["mpl"]),
           "XDG_CACHE_HOME": str(dirs["home"] / ".cache"), "XDG_CONFIG_HOME": str(dirs["home"] / ".config")}
    return dirs, env


def _run(dirs, env, *args):
    result = run_cli(*args, cwd=dirs["work"], env=env)
    assert result.returncode == 0, result.stderr
    return result


@pytest.mark.slow
def test_search_select_and_report_write_only_inside_the_run(isolated, nb201_table):
    dirs, env = isolated
    _run(dirs, env, "search", "--space", "nb201", "--table", str(nb201_table), "--metric", METRIC, "--budget", "20",
         "--pop-size", "10", "-q", "--out", "run")
    work = dirs["work"]
    assert os.listdir(work) == ["run"]
    assert _files(dirs["home"]) == set() and _files(dirs["tmp"]) == set()
    searched = _files(work)

    _run(dirs, env, "select", "run", "-n", "2")
    selected = _files(work) - searched
    assert all(f.startswith("run/selected") for f in selected)
    assert "run/selected/selection.csv" in selected
    assert len({f for f in selected if re.fullmatch(r"run/selected/arch-\d{5}/net\.json", f)}) == 2

    _run(dirs, env, "report", "run")
    reported = _files(work) - searched - selected
    assert "run/report/index.html" in reported and all(f.startswith("run/report") for f in reported)
    assert (searched | selected) <= _files(work)  # nothing removed either
    assert os.listdir(work) == ["run"]
    assert _files(dirs["home"]) == set() and _files(dirs["tmp"]) == set()
