"""Latency measurement (PyTorch, ONNX Runtime), per-layer look-up tables and searches with a latency objective."""

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import METRIC, run_cli

from nsganet.cli import main
from nsganet.costs.latency import measure_latency, onnx_session
from nsganet.costs.lut import LatencyTable, build_table
from nsganet.costs.model import CostModel, LatencyModel
from nsganet.errors import NsganetError
from nsganet.nn.mobilenetv3 import MobileNetV3
from nsganet.spaces import get_space
from nsganet.spaces.mobilenetv3 import MobileNetV3Space, SupernetConfig
from nsganet.spaces.mobilenetv3_layers import network_layers

#: A tiny supernet shape (8 to 40 channels) at one of its resolutions: a table builds in about a second.
TINY = SupernetConfig.small(16, width_mult=0.25)
SPACE = MobileNetV3Space(TINY)
RESOLUTION = TINY.resolutions[0]


def tiny_net(genome=None, in_channels=1):
    space = MobileNetV3Space(TINY)
    genome = space.smallest() if genome is None else genome
    return MobileNetV3.from_config(TINY, space.to_config(genome), in_channels=in_channels)


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    """A torch table of TINY at one resolution, written to a file."""
    built = build_table(SPACE, num_classes=10, in_channels=1, resolutions=[RESOLUTION], repeats=4, warmup=1,
                        calibration=3)
    built.save(tmp_path_factory.mktemp("lut") / "lut.json")
    return built


def genome_at(space, genome, resolution=RESOLUTION):
    return space.encoding.canonical(space.with_resolution(genome, resolution))


# -- measurement ---------------------------------------------------------------------------------
@pytest.mark.parametrize("backend", ["torch", "onnxruntime"])
def test_measure_latency_honours_repeats_and_restores_the_thread_count(backend):
    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        result = measure_latency(tiny_net(), (1, RESOLUTION, RESOLUTION), backend, batch_size=2, warmup=1,
                                 repeats=7, threads=1)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(previous)
    assert len(result.samples_ms) == 7 and all(s > 0 for s in result.samples_ms)
    assert min(result.samples_ms) <= result.median_ms <= max(result.samples_ms)
    assert result.mean_ms == pytest.approx(np.mean(result.samples_ms)) and result.std_ms >= 0
    assert (result.backend, result.batch_size, result.threads) == (backend, 2, 1)


def test_onnx_runtime_computes_what_torch_computes():
    torch.manual_seed(0)
    space = MobileNetV3Space(TINY)
    model = tiny_net(space.largest(), in_channels=3).eval()
    x = torch.randn(3, 3, 16, 16)
    session = onnx_session(model, x[:1], threads=1)
    got = session.run(None, {"input": x.numpy()})[0]
    with torch.no_grad():
        expected = model(x).numpy()
    assert got.shape == (3, 10)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)


def test_bad_measurement_settings_are_one_line_errors():
    with pytest.raises(NsganetError, match="backend must be one of"):
        measure_latency(tiny_net(), (1, 12, 12), backend="tvm")
    with pytest.raises(NsganetError, match="repeats >= 1"):
        measure_latency(tiny_net(), (1, 12, 12), repeats=0)


# -- look-up tables ------------------------------------------------------------------------------
def test_layer_walk_matches_the_network_and_the_enumeration_covers_every_subnet():
    space = MobileNetV3Space(TINY)
    rng = np.random.default_rng(0)
    keys = {s.key for s in SPACE.layer_settings(SPACE.resolutions, 10, 1)}
    for genome in space.sample(rng, 20):
        arch = space.to_config(genome)
        layers = network_layers(TINY, arch, 10, 1)
        model = MobileNetV3.from_config(TINY, arch, in_channels=1)
        assert len(layers) == 1 + len(model.blocks) + 2  # stem, blocks (first one included), final expand, head
        assert [(b.spec.in_channels, b.spec.out_channels, b.spec.kernel_size, b.spec.stride, b.spec.mid_channels)
                for b in model.blocks] == [(s.in_channels, s.out_channels, s.kernel, s.stride, s.mid_channels)
                                           for s in layers[1:-2]]
        assert {s.key for s in layers} <= keys
    for resolution in TINY.resolutions:  # the feature-map sizes the walk assumes are the network's (odd ones too)
        arch = space.to_config(genome_at(space, space.largest(), resolution))
        model = MobileNetV3.from_config(TINY, arch, in_channels=1).eval()
        sizes = []
        with torch.no_grad():
            x = model.stem(torch.zeros(1, 1, resolution, resolution))
            for block in model.blocks:
                sizes.append(x.shape[-1])
                x = block(x)
        assert sizes == [s.size for s in network_layers(TINY, arch, 10, 1)[1:-2]]
        assert network_layers(TINY, arch, 10, 1)[-1].size == x.shape[-1]


def test_one_channel_networks_run_in_the_contiguous_layout_and_the_table_knows():
    assert SPACE.channels_last(3, 1) and not SPACE.channels_last(1, 1)


def test_table_round_trips_and_predicts_the_sum_of_its_entries(table):
    loaded = LatencyTable.load(table.source)
    raw = json.loads(Path(table.source).read_text())
    assert raw["space"] == "mobilenetv3" and raw["space_options"]["config"]["width_mult"] == 0.25
    assert raw["backend"] == "torch" and raw["batch_size"] == 1
    assert raw["device"]["torch"] == torch.__version__ and raw["device"]["threads"] == 1
    assert len(raw["entries"]) == len(SPACE.layer_settings((RESOLUTION,), 10, 1))
    assert all(e["count"] == 4 and e["median_ms"] > 0 and e["std_ms"] >= 0 for e in raw["entries"].values())
    assert len(raw["calibration"]) == 3
    space = MobileNetV3Space(TINY)
    for genome in space.sample(np.random.default_rng(1), 5):
        genome = genome_at(space, genome)
        keys = [layer.key for layer in loaded.layers(genome)]
        expected = sum(raw["entries"][k]["median_ms"] - raw["call_overhead_ms"] for k in keys) \
            + raw["call_overhead_ms"] + raw["overhead_ms"]
        assert loaded.predict(genome) == pytest.approx(expected, rel=1e-12)
        assert loaded.predict(genome) == pytest.approx(table.predict(genome), rel=1e-12)


def test_predictions_grow_from_the_smallest_to_the_largest_network(table):
    space = MobileNetV3Space(TINY)
    small, large = genome_at(space, space.smallest()), genome_at(space, space.largest())
    assert table.layer_sum(large) > 1.5 * table.layer_sum(small)  # twice the layers, wider and larger kernels
    assert table.predict(large) > table.predict(small)  # (measured times are not compared: machines are noisy)


def test_a_resolution_outside_the_table_is_refused(table):
    space = MobileNetV3Space(TINY)
    with pytest.raises(NsganetError, match="covers resolutions 12, not 16"):
        table.predict(genome_at(space, space.smallest(), 16))


def test_onnx_runtime_tables_build_and_predict():
    built = build_table(SPACE, in_channels=1, backend="onnxruntime", resolutions=[RESOLUTION], repeats=2, warmup=1,
                        calibration=1)
    assert built.backend == "onnxruntime" and built.predict(genome_at(built.space, built.space.largest())) > 0


def test_a_table_for_another_supernet_or_shape_is_refused(table):
    with pytest.raises(NsganetError, match=r"width_mult 0.25 \(table\) vs 0.5"):
        table.check(MobileNetV3Space(SupernetConfig.small(16)), 10, 1)
    with pytest.raises(NsganetError, match=r"num_classes 10 \(table\) vs 100"):
        CostModel(MobileNetV3Space(TINY), num_classes=100, in_channels=1, latency=LatencyModel(table=table))
    with pytest.raises(NsganetError, match="predicts mobilenetv3 latency; the space is 'nb201'"):
        CostModel(get_space("nb201"), latency=LatencyModel(table=table))
    with pytest.raises(NsganetError, match="--latency-backend torch"):
        LatencyModel(backend="onnxruntime", table=table)


def test_corrupt_or_foreign_table_files_are_one_line_errors(tmp_path, table):
    cases = {"broken.json": ("{not json", "not valid JSON"),
             "list.json": ("[]", "not an nsganet latency look-up table"),
             "binary.json": (b"\xff\xfe\x00", "cannot read look-up table")}
    raw = json.loads(Path(table.source).read_text())
    raw["entries"].pop(next(iter(raw["entries"])))
    cases["short.json"] = (json.dumps(raw), "lacks 1 layer setting")
    raw = json.loads(Path(table.source).read_text())
    next(iter(raw["entries"].values()))["median_ms"] = "fast"
    cases["typed.json"] = (json.dumps(raw), "lacks non-negative median_ms")
    for name, (content, message) in cases.items():
        path = tmp_path / name
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
        with pytest.raises(NsganetError, match=message) as error:
            LatencyTable.load(path)
        assert "\n" not in str(error.value)
    with pytest.raises(NsganetError, match="cannot read look-up table"):
        LatencyTable.load(tmp_path / "missing.json")


# -- the latency objective ------------------------------------------------------------------------
def test_cost_model_measures_latency_only_when_asked(table):
    space = get_space("nb201")
    genome = space.smallest()
    plain = CostModel(space).measure(genome)
    assert set(plain) == {"flops", "params"}
    timed = CostModel(space, latency=LatencyModel(repeats=3, warmup=1))
    values = timed.measure(genome)
    assert values["latency"] > 0 and values["flops"] == plain["flops"]
    assert timed.measure(genome) == values  # cached: one measurement per architecture
    mbv3 = MobileNetV3Space(TINY)
    predicted = CostModel(mbv3, in_channels=1, latency=LatencyModel(table=table))
    g = genome_at(mbv3, mbv3.largest())
    assert predicted.measure(g)["latency"] == table.predict(g)
    measured = CostModel(mbv3, in_channels=1, latency=LatencyModel(backend="onnxruntime", repeats=3, warmup=1))
    assert measured.measure(g)["latency"] > 0 and measured.measure(g)["flops"] == predicted.measure(g)["flops"]


def test_lut_options_need_the_latency_objective_and_the_mobilenetv3_space(tmp_path, nb201_table, table, capsys):
    base = ["search", "--space", "nb201", "--table", str(nb201_table), "--metric", METRIC, "--strategy", "random",
            "--budget", "2", "-q"]
    assert main([*base, "--lut", table.source, "--out", str(tmp_path / "a")]) == 2
    assert "add latency to --objectives" in capsys.readouterr().err
    assert main([*base, "--objectives", "error,latency", "--lut", table.source, "--out", str(tmp_path / "b")]) == 2
    assert "predicts mobilenetv3 latency; the space is 'nb201'" in capsys.readouterr().err
    assert not (tmp_path / "a").exists()


def test_a_mismatching_table_is_refused_before_the_run_directory_is_made(tmp_path, table, capsys):
    from nsganet.supernet.files import TrainedSupernet

    space = MobileNetV3Space(SupernetConfig.small(16, width_mult=0.35))
    TrainedSupernet(space, space.new_supernet(10, 1), 10, 1, [0.5], [0.25], "digits").save(tmp_path / "s.pt")
    out = tmp_path / "run"
    args = ["search", "--space", "mobilenetv3", "--strategy", "nsganetv2", "--supernet", str(tmp_path / "s.pt"),
            "--objectives", "error,latency", "--lut", table.source, "--budget", "4", "--out", str(out), "-q"]
    assert main(args) == 2
    assert "width_mult 0.25 (table) vs 0.35" in capsys.readouterr().err
    assert main([*args, "--latency-backend", "onnxruntime"]) == 2
    assert "--latency-backend torch" in capsys.readouterr().err
    assert not out.exists()


def test_three_objective_table_search_measures_latency(tmp_path, nb201_table, capsys):
    out = tmp_path / "run"
    code = main(["search", "--space", "nb201", "--table", str(nb201_table), "--metric", METRIC,
                 "--objectives", "error,flops,latency", "--strategy", "nsga2", "--pop-size", "4", "--budget", "8",
                 "--out", str(out), "-q"])
    assert code == 0, capsys.readouterr().err
    with (out / "front.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert rows and {"error", "flops", "latency"} <= set(rows[0])
    assert all(float(r["latency"]) > 0 for r in rows)
    with (out / "evaluations.csv").open(newline="") as handle:
        assert len(list(csv.DictReader(handle))) == 8
    assert (out / "front.png").stat().st_size > 0 and (out / "hypervolume.png").exists()
    assert "latency" in (out / "config.yaml").read_text()


@pytest.mark.slow
def test_three_objective_nsganetv2_search_predicts_latency_from_a_lut(tmp_path, capsys):
    from nsganet.data import load_dataset
    from nsganet.supernet.files import fit_supernet
    from nsganet.supernet.settings import SupernetTrainSettings
    from nsganet.supernet.training import SUPERNET_FILE

    train, _ = load_dataset("digits")
    subset = train.subset(torch.randperm(len(train), generator=torch.Generator().manual_seed(0))[:160])
    fit_supernet(subset, tmp_path / "supernet", SupernetTrainSettings(epochs=1, batch_size=32, n_random=0),
                 SPACE, seed=0, progress=False)
    supernet = tmp_path / "supernet" / SUPERNET_FILE
    lut = tmp_path / "lut.json"
    assert main(["lut", "build", "--supernet", str(supernet), "--repeats", "3", "--warmup", "1", "--calibration",
                 "2", "--out", str(lut), "-q"]) == 0
    out = tmp_path / "run"
    code = main(["search", "--space", "mobilenetv3", "--strategy", "nsganetv2", "--supernet", str(supernet),
                 "--objectives", "error,latency,flops", "--lut", str(lut), "--budget", "12", "--vld-size", "200",
                 "--pop-size", "10", "-S", "n_doe=6", "-S", "n_candidates=3", "-S", "generations=2",
                 "-S", "predictor=rbf", "--out", str(out), "-q"])
    assert code == 0, capsys.readouterr().err
    table = LatencyTable.load(lut)
    space = table.space
    with (out / "evaluations.csv").open(newline="") as handle:
        evaluated = list(csv.DictReader(handle))
    assert len(evaluated) == 12
    for row in evaluated:  # the latency objective is the table's prediction, exactly
        assert float(row["latency"]) == pytest.approx(table.predict(space.from_string(row["arch"])), rel=1e-9)
    with (out / "front.csv").open(newline="") as handle:
        assert {"error", "latency", "flops"} <= set(next(csv.DictReader(handle)))
    assert (out / "front.png").exists() and (out / "hypervolume.png").exists()


# -- the command line ------------------------------------------------------------------------------
def test_cli_builds_and_shows_a_table(tmp_path):
    out = tmp_path / "lut.json"
    built = run_cli("lut", "build", "--preset", "small", "--width-mult", "0.25", "--resolutions", "12",
                    "--repeats", "2", "--warmup", "0", "--calibration", "1", "--out", str(out), "-q")
    assert built.returncode == 0, built.stderr
    assert "written to" in built.stdout
    table = LatencyTable.load(out)
    assert table.space.config == TINY and table.resolutions == (12,) and table.in_channels == 1
    shown = run_cli("lut", "show", str(out), "--arch", "r12 | k3e3 k3e3 | k3e3 k3e3 | k3e3 k3e3 | k3e3 k3e3 | "
                    "k3e3 k3e3")
    assert shown.returncode == 0, shown.stderr
    assert "ms predicted" in shown.stdout and "measured with torch" in shown.stdout
    bad = run_cli("lut", "build", "--resolutions", "13", "--out", str(tmp_path / "x.json"), "-q")
    assert bad.returncode == 2 and "13 is not one of the space's resolutions" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1
    (tmp_path / "bad.json").write_text("{")
    corrupt = run_cli("lut", "show", str(tmp_path / "bad.json"))
    assert corrupt.returncode == 2 and len(corrupt.stderr.strip().splitlines()) == 1
