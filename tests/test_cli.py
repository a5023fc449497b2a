"""The command line: a real search, config files, and one-line errors with exit code 2."""

import csv
import sqlite3

import yaml
from conftest import METRIC, NB201, run_cli

ARCH = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"


def search_args(table, out, *extra):
    return (*NB201, "--table", str(table), "--metric", METRIC, "--budget", "30", "--pop-size", "10",
            "--seed", "2", "--out", str(out), "-q", *extra)


def test_search_writes_the_run_directory_and_prints_the_front(tmp_path, nb201_table):
    result = run_cli(*search_args(nb201_table, tmp_path / "run", "--objectives", "error,params"))
    assert result.returncode == 0, result.stderr
    assert "non-dominated front" in result.stdout and "params" in result.stdout
    with open(tmp_path / "run" / "evaluations.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 30 and list(rows[0]) == ["arch", "error", "params", "status", "generation"]
    assert all(0.07 < float(r["params"]) < 1.54 for r in rows)


def test_dumped_config_reruns_the_same_search(tmp_path, nb201_table):
    assert run_cli(*search_args(nb201_table, tmp_path / "a")).returncode == 0
    config = yaml.safe_load((tmp_path / "a" / "config.yaml").read_text())
    assert config["budget"] == 30 and config["objectives"] == ["error", "flops"] and "out" not in config
    rerun = run_cli("search", "--config", str(tmp_path / "a" / "config.yaml"), "--out", str(tmp_path / "b"), "-q")
    assert rerun.returncode == 0, rerun.stderr
    assert (tmp_path / "a" / "evaluations.csv").read_text() == (tmp_path / "b" / "evaluations.csv").read_text()


def test_config_file_keys_and_command_line_overrides(tmp_path, nb201_table):
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump({"space": "nb201", "table": str(nb201_table), "metric": METRIC,
                                      "strategy": "random",
                                      "budget": 12, "pop_size": 4, "strategy_params": {}}))
    result = run_cli("search", "--config", str(config), "--budget", "8", "--out", str(tmp_path / "r"), "-q")
    assert result.returncode == 0, result.stderr
    assert yaml.safe_load((tmp_path / "r" / "config.yaml").read_text())["budget"] == 8
    assert len((tmp_path / "r" / "evaluations.csv").read_text().splitlines()) == 9


def test_help_documents_every_option():
    result = run_cli("search", "--help")
    assert result.returncode == 0
    for option in ("--config", "--space", "--strategy", "--objectives", "--budget", "--seed", "--pop-size",
                   "--table", "--metric", "--num-classes", "--input-size", "--out", "--resume", "--quiet",
                   "--strategy-param", "--supernet", "--supernet-epochs", "--vld-size", "--finetune-epochs",
                   "--fgsm-eps", "--latency-backend", "--latency-batch", "--lut"):
        assert option in result.stdout


def test_costs_command_prints_the_published_ranges():
    result = run_cli("costs", "--input-size", "16", "--num-classes", "120")
    assert result.returncode == 0
    assert "flops 1.9533-55.0374" in result.stdout
    result = run_cli("costs", "--arch", ARCH)
    assert result.returncode == 0 and "MFLOPs" in result.stdout


def test_reusing_or_changing_a_run_is_refused_and_the_store_stays_intact(tmp_path, nb201_table):
    out = tmp_path / "run"
    assert run_cli(*search_args(nb201_table, out)).returncode == 0
    again = run_cli(*search_args(nb201_table, out))
    assert again.returncode == 2 and "already holds a run" in again.stderr
    changed = run_cli(*search_args(nb201_table, out, "--resume", "--objectives", "error,params"))
    assert changed.returncode == 2 and "config differs in objectives" in changed.stderr
    with sqlite3.connect(out / "run.sqlite") as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("SELECT COUNT(*) FROM evaluations").fetchone()[0] == 30


def test_unwritable_output_directory(tmp_path, nb201_table):
    result = run_cli(*search_args(nb201_table, "/proc/nsganet-run"))  # not writable, even for root
    assert result.returncode == 2 and "cannot write to run directory" in result.stderr
