"""The command line: a real search, config files, and one-line errors with exit code 2."""

import argparse
import csv
import json
import sqlite3

import yaml
from conftest import METRIC, NB201, cli_in_process, run_cli

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


# -- a command line without traps ---------------------------------------------------------------------------------


def one_line_error(code: int, err: str) -> str:
    """The one line of a refused command (exit code 2)."""
    assert code == 2 and len(err.splitlines()) == 1 and "Traceback" not in err, (code, err)
    return err.strip()


def test_version_and_a_bare_nsganet_list_the_commands():
    from importlib.metadata import version

    code, out, _ = cli_in_process("--version")
    assert code == 0 and out.strip() == f"nsganet {version('nsganet')}"
    bare = run_cli()
    assert bare.returncode == 2 and bare.stderr.startswith("usage: nsganet")
    lines = bare.stderr.splitlines()
    for name, help_start in (("search", "search a space"), ("costs", "print the FLOPs"), ("train", "re-train")):
        assert any(line.split()[:1] == [name] and help_start in line for line in lines), (name, bare.stderr)


def test_options_are_never_abbreviated_and_unknown_names_get_the_closest():
    from nsganet.cli import build_parser

    pending = [build_parser()]
    while pending:  # every parser and sub-parser
        parser = pending.pop()
        assert parser.allow_abbrev is False, parser.prog
        pending += [p for a in parser._actions if isinstance(a, argparse._SubParsersAction) for p in a.choices.values()]
    for argv, message in [
        (["search", "--epoch", "1"], "nsganet search: error: unrecognized argument --epoch (did you mean --epochs?)"),
        (["search", "--budjet", "3"], "nsganet search: error: unrecognized argument --budjet (did you mean --budget?)"),
        (["search", "--budjet=3"], "nsganet search: error: unrecognized argument --budjet (did you mean --budget?)"),
        (["search", "--space", "micor"],
         "nsganet search: error: argument --space: invalid choice: 'micor' (did you mean micro?)"),
        (["search", "--dataset", "cifar"],
         "nsganet search: error: argument --dataset: invalid choice: 'cifar' (did you mean cifar10?)"),
        (["serch"], "nsganet: error: argument COMMAND: invalid choice: 'serch' (did you mean search?)"),
        (["supernet", "train", "--epoch", "1"],
         "nsganet supernet train: error: unrecognized argument --epoch (did you mean --epochs?)"),
    ]:
        code, _, err = cli_in_process(*argv)
        assert one_line_error(code, err) == message
    code, _, err = cli_in_process("search", "--space", "darts")
    assert "invalid choice: 'darts' (choose from macro, micro," in one_line_error(code, err)


def test_strategy_options_are_checked_against_the_strategy(tmp_path, nb201_table):
    out = tmp_path / "run"
    for option, message in [
        ("name=random", "name is not a strategy option: set it with --strategy"),
        ("pop_size=30", "pop_size is not a strategy option: set it with --pop-size"),
        ("seed=3", "seed is not a strategy option: set it with --seed"),
        ("crossover_prb=0.5", "strategy nsganetv1 has no option 'crossover_prb' (did you mean crossover_prob?)"),
        ("uses_surrogate=true", "strategy nsganetv1 has no option 'uses_surrogate'; options: crossover_prob,"),
        ("bn_order=abc", "nsganetv1 option 'bn_order' must be int or null, got 'abc'"),
        ("mutation_prob=often", "nsganetv1 option mutation_prob must be a number, got 'often'"),
    ]:
        code, _, err = cli_in_process(*search_args(nb201_table, out, "-S", option))
        assert message in one_line_error(code, err), option
    assert not out.exists()
    code, _, err = cli_in_process(*search_args(nb201_table, out, "--strategy", "random", "-S", "top_k=3"))
    assert "strategy random has no option 'top_k' (it has none" in one_line_error(code, err)
    # a number YAML reads as a word is a number
    code, _, err = cli_in_process(*search_args(nb201_table, out, "-S", "mutation_prob=1e-2"))
    assert code == 0, err
    assert yaml.safe_load((out / "config.yaml").read_text())["strategy_params"] == {"mutation_prob": 0.01}


def test_the_population_size_has_one_default_that_list_help_and_run_agree_on(tmp_path, nb201_table):
    from nsganet.config import FIELDS
    from nsganet.strategies import get_strategy

    default = FIELDS["pop_size"].default
    assert all(get_strategy(name).pop_size == default for name in ("nsga2", "nsganetv1", "nsganetv2", "random"))
    code, listed, _ = cli_in_process("list")
    assert code == 0 and f"--pop-size architectures a batch, default {default}" in listed
    assert "pop_size=" not in listed
    code, helped, _ = cli_in_process("search", "--help")
    assert f"the V1 paper used 40 (default {default})" in " ".join(helped.split())
    out = tmp_path / "run"  # the default population: budget 2 x default is two generations
    code, ran, err = cli_in_process(*NB201, "--table", str(nb201_table), "--metric", METRIC, "--budget",
                                    str(2 * default), "--out", str(out), "-q")
    assert code == 0, err
    assert f"evaluated {2 * default} architectures (0 failed) in 2 generations" in ran


def recorded_costs(run) -> list[dict]:
    with open(run / "evaluations.csv", newline="") as handle:
        return [row for row in csv.DictReader(handle) if row["status"] == "ok"]


def test_costs_of_a_run_are_the_costs_it_recorded(tmp_path, nb201_table):
    table_run = tmp_path / "table"
    code, _, err = cli_in_process(*NB201, "--table", str(nb201_table), "--metric", METRIC, "--objectives",
                                  "error,flops", "--budget", "20", "--num-classes", "100", "--out", str(table_run),
                                  "-q")
    assert code == 0, err
    proxy_run = tmp_path / "proxy"  # micro on the embedded digits: 8 px, one channel, a proxy of width 4
    code, _, err = cli_in_process("search", "--objectives", "error,params,flops", "--budget", "2", "--pop-size", "2",
                                  "--epochs", "1", "--train-images", "32", "--channels", "4", "--workers", "1",
                                  "--out", str(proxy_run), "-q")
    assert code == 0, err
    for run in (table_run, proxy_run):
        for row in recorded_costs(run)[:2]:
            code, out, err = cli_in_process("costs", "--run", str(run), row["arch"])
            assert code == 0, err
            assert f": {row['flops']} MFLOPs, " in out, (out, row)
            assert "params" not in row or out.rstrip().endswith(f", {row['params']} M params"), (out, row)
    row = recorded_costs(proxy_run)[0]  # the same by hand: the run's shape, width and depth
    code, out, err = cli_in_process("costs", "--space", "micro", "--input-size", "8", "--in-channels", "1",
                                    "--channels", "4", "--layers", "1", "--arch", row["arch"])
    assert code == 0 and f"{row['flops']} MFLOPs, {row['params']} M params" in out, (out, err)
    code, out, _ = cli_in_process("costs", "--space", "micro", "--arch", row["arch"])
    assert f"{row['flops']} MFLOPs" not in out  # the full network on 32 px RGB images
    code, _, err = cli_in_process("costs", "--run", str(table_run), "--space", "micro")
    assert "the run" in one_line_error(code, err) and "searched the nb201 space" in err
    drawn = tmp_path / "cell.png"
    code, _, err = cli_in_process("draw", "--run", str(proxy_run), row["arch"], "--out", str(drawn))
    assert code == 0 and drawn.stat().st_size > 0, err


MOBILENET_SMALL = "r16 | k5e3 k5e3 k3e3 k3e3 | k5e6 k7e6 k5e4 k5e4 | k7e3 k3e4 k7e6 | k7e3 k7e6 | k3e3 k5e3"


def test_mobilenetv3_strings_of_every_preset_are_read(tmp_path):
    from nsganet.spaces.mobilenetv3 import MobileNetV3Space, SupernetConfig
    from nsganet.supernet.files import TrainedSupernet

    for arch, origin in ((MOBILENET_SMALL, "preset small"), (MOBILENET_SMALL.replace("r16", "r192"),
                                                              "preset imagenet"),
                         (MOBILENET_SMALL.replace("r16", "r28"), "32 px images")):
        code, out, err = cli_in_process("costs", "--space", "mobilenetv3", arch)
        assert code == 0 and f"; {origin}):" in out, (arch, out, err)
    code, _, err = cli_in_process("costs", "--space", "mobilenetv3", "--preset", "imagenet", MOBILENET_SMALL)
    assert "resolution 'r16' is not one of r128" in one_line_error(code, err)
    code, _, err = cli_in_process("costs", "--space", "mobilenetv3", MOBILENET_SMALL.replace("r16", "r999"))
    assert "read in each of: preset imagenet, preset small, 32 px images" in one_line_error(code, err)
    # a run on a supernet of a quarter width: only --run knows its width
    space = MobileNetV3Space(SupernetConfig.small(16, width_mult=0.25))
    TrainedSupernet(space, space.new_supernet(10, 1), 10, 1, [0.5], [0.25], "digits").save(tmp_path / "sn.pt")
    run = tmp_path / "run"
    code, _, err = cli_in_process("search", "--space", "mobilenetv3", "--supernet", str(tmp_path / "sn.pt"),
                                  "--strategy", "random", "--budget", "2", "--pop-size", "2", "--vld-size", "64",
                                  "--workers", "1", "--out", str(run), "-q")
    assert code == 0, err
    row = recorded_costs(run)[0]
    code, out, err = cli_in_process("costs", "--run", str(run), row["arch"])
    assert code == 0 and f"{row['flops']} MFLOPs" in out, (out, err)
    code, out, _ = cli_in_process("costs", "--space", "mobilenetv3", row["arch"])
    assert code == 0 and f"{row['flops']} MFLOPs" not in out  # the small preset's own width, 0.5


def test_select_never_replaces_an_exported_network_silently(tmp_path, nb201_table):
    run = tmp_path / "run"
    assert cli_in_process(*search_args(nb201_table, run))[0] == 0
    code, _, err = cli_in_process("select", str(run), "-n", "1", "--no-onnx", "--channels", "8")
    assert code == 0, err
    (folder,) = (run / "selected").glob("arch-*")
    (folder / "train").mkdir()  # as 'nsganet train' leaves it
    spec = (folder / "net.json").read_text()
    code, _, err = cli_in_process("select", str(run), "-n", "1", "--no-onnx")
    line = one_line_error(code, err)
    assert f"{folder} holds this network exported with build_options" in line and "--force" in line
    assert "(its train/ was trained from it)" in line and (folder / "net.json").read_text() == spec
    before = (folder / "net.json").stat().st_mtime_ns
    code, out, err = cli_in_process("select", str(run), "-n", "1", "--no-onnx", "--channels", "8")
    assert code == 0 and "unchanged" in out, err
    assert (folder / "net.json").stat().st_mtime_ns == before
    code, out, err = cli_in_process("select", str(run), "-n", "1", "--no-onnx", "--force")
    assert code == 0 and "replaced" in out, err
    assert json.loads((folder / "net.json").read_text())["build_options"] != json.loads(spec)["build_options"]


def test_train_lists_every_file_it_writes(tmp_path, nb201_table):
    run = tmp_path / "run"
    assert cli_in_process(*search_args(nb201_table, run))[0] == 0
    assert cli_in_process("select", str(run), "-n", "1", "--no-onnx", "--out", str(tmp_path / "sel"))[0] == 0
    (folder,) = (tmp_path / "sel").glob("arch-*")
    out = tmp_path / "trained"
    code, printed, err = cli_in_process("train", str(folder), "--out", str(out), "--dataset", "digits", "--epochs",
                                        "1", "--train-images", "32", "--no-onnx", "-q")
    assert code == 0, err
    (listing,) = [line for line in printed.splitlines() if line.startswith("written to")]
    files = sorted(f.name for f in out.iterdir() if not f.name.startswith("."))
    assert "checkpoint.pt" in files and "net.onnx" not in files
    assert [name.split(" (")[0] for name in listing.split(": ", 1)[1].split(", ")] == files
