"""Selection by preference and trade-off on constructed fronts, and ``nsganet select`` exports."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from conftest import METRIC, run_cli

from nsganet.deploy.netfile import NetSpec, load_net, read_spec, write_net
from nsganet.errors import NsganetError
from nsganet.moo.selection import achievement, parse_preference, select, tradeoff
from nsganet.spaces import get_space

# A convex 2-objective front with one pronounced knee at (0.1, 0.1).
KNEE_FRONT = np.array([[0.0, 1.0], [0.02, 0.6], [0.05, 0.3], [0.1, 0.1], [0.4, 0.06], [0.7, 0.03], [1.0, 0.0]])


def test_tradeoff_ranks_the_knee_first():
    mu = tradeoff(KNEE_FRONT)
    assert int(np.argmax(mu)) == 3
    chosen, scores = select(KNEE_FRONT, 2)
    assert chosen[0] == 3 and 0 in chosen  # the knee, and the most accurate (lowest first objective)
    assert scores[0] == pytest.approx(mu[3])


def test_tradeoff_by_hand_on_three_points():
    F = np.array([[0.0, 1.0], [0.5, 0.5], [1.0, 0.0]])
    # normalised already; middle point: to (0, 1) it gains 0.5, sacrifices 0.5 -> 1; same to (1, 0)
    # end point (0, 1): to (0.5, 0.5) sacrifices 0.5 and gains 0.5 -> 1; to (1, 0) 1/1 -> 1
    np.testing.assert_allclose(tradeoff(F), [1.0, 1.0, 1.0])
    F = np.array([[0.0, 1.0], [0.2, 0.2], [1.0, 0.0]])
    # middle: to (0,1) sacrifice 0.8 gain 0.2 -> 4; to (1,0) sacrifice 0.8 gain 0.2 -> 4
    assert tradeoff(F)[1] == pytest.approx(4.0)
    assert tradeoff(np.array([[1.0, 2.0], [1.0, 2.0]])).tolist() == [0.0, 0.0]  # duplicates: no trade-off


def test_preference_picks_the_points_nearest_to_the_reference():
    # reference near (0.45, 0.05) in objective units: (0.4, 0.06) is nearest by the ASF
    chosen, scores = select(KNEE_FRONT, 1, preference=np.array([0.45, 0.05]))
    assert chosen.tolist() == [4]
    chosen, scores = select(KNEE_FRONT, 3, preference=np.array([0.45, 0.05]))
    assert chosen[0] == 4 and 0 in chosen and np.all(np.diff(scores[:-1]) >= 0)
    # the ASF by hand: max over objectives of the normalised gap to the reference
    asf = achievement(KNEE_FRONT, np.array([0.45, 0.05]))
    assert asf[4] == pytest.approx(max(0.4 - 0.45, 0.06 - 0.05) + 1e-4 * ((0.4 - 0.45) + (0.06 - 0.05)))


def test_preference_on_other_units_is_normalised():
    # error in percent and flops in millions: a reference on the cheap end picks the cheap point
    F = np.array([[2.0, 900.0], [3.0, 300.0], [6.0, 50.0], [9.0, 10.0]])
    chosen, _ = select(F, 1, preference=np.array([9.0, 12.0]))
    assert chosen.tolist() == [3]
    chosen, _ = select(F, 2, preference=np.array([9.0, 12.0]))
    assert chosen.tolist() == [3, 0]  # the most accurate replaces the second pick


def test_three_objective_selection_returns_distinct_front_members():
    rng = np.random.default_rng(0)
    w = rng.dirichlet(np.ones(3), size=30)
    F = w / np.linalg.norm(w, axis=1, keepdims=True)  # points of a sphere-like front
    chosen, _ = select(F, 5)
    assert len(set(chosen.tolist())) == 5 and int(np.argmin(F[:, 0])) in chosen
    assert len(select(F[:2], 5)[0]) == 2  # asking for more than the front has gives the whole front


def test_preference_strings_are_checked():
    assert parse_preference("error=1.5, flops=5", ["error", "flops"]) == {"error": 1.5, "flops": 5.0}
    for bad in ("error", "=3", "latency=2", "error=x", "error=1,error=2", "error=inf"):
        with pytest.raises(NsganetError):
            parse_preference(bad, ["error", "flops"])
    with pytest.raises(NsganetError):
        select(np.array([[1.0, np.nan]]), 1)
    with pytest.raises(NsganetError):
        select(KNEE_FRONT, 0)


@pytest.fixture(scope="module")
def micro_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "micro"
    result = run_cli("search", "--budget", "6", "--pop-size", "6", "--epochs", "1", "--train-images", "64",
                     "--workers", "1", "--out", str(out), "-q")
    assert result.returncode == 0, result.stderr
    return out


def test_select_exports_networks_that_rebuild(micro_run, tmp_path):
    result = run_cli("select", str(micro_run), "-n", "2", "--out", str(tmp_path / "sel"), "--channels", "12")
    assert result.returncode == 0, result.stderr
    folders = sorted((tmp_path / "sel").glob("arch-*"))
    assert 1 <= len(folders) <= 2
    front = (micro_run / "front.csv").read_text().splitlines()[1:]
    front_archs = {row.rsplit(",", 3)[0].strip('"') for row in front}
    for folder in folders:
        spec = read_spec(folder)
        assert spec.arch in front_archs
        assert spec.build_options == {"channels": 12, "layers": 1}  # width overridden, depth as searched
        assert spec.in_channels == 1 and spec.input_size == 8 and spec.num_classes == 10
        assert spec.dataset["name"] == "digits" and 0 < spec.mean[0] < 1
        assert (folder / "net.onnx").exists() and not (folder / "net.pt").exists()
    selection = (tmp_path / "sel" / "selection.csv").read_text().splitlines()
    assert selection[0].startswith("rank,seq,error,flops,tradeoff") and len(selection) == len(folders) + 1


def test_exported_weights_and_onnx_reproduce_the_network(tmp_path):
    import onnxruntime as ort

    space = get_space("micro")
    genome = space.sample(np.random.default_rng(3), 1)[0]
    spec = NetSpec(space="micro", arch=space.to_string(genome), num_classes=10, input_size=8, in_channels=1,
                   mean=[0.3], std=[0.4], build_options={"channels": 8, "layers": 1})
    torch.manual_seed(0)
    model = spec.build().eval()
    write_net(tmp_path / "net", spec, model, weights=True)
    _, rebuilt = load_net(tmp_path / "net")
    x = torch.randn(5, 1, 8, 8)
    with torch.no_grad():
        expected = model(x)
        torch.testing.assert_close(rebuilt(x), expected, rtol=0, atol=0)
    session = ort.InferenceSession(str(tmp_path / "net" / "net.onnx"), providers=["CPUExecutionProvider"])
    onnx_out = session.run(None, {"input": x.numpy()})[0]
    np.testing.assert_allclose(onnx_out, expected.numpy(), rtol=1e-4, atol=1e-5)


@pytest.mark.slow
def test_mobilenetv3_selection_inherits_supernet_weights(tmp_path):
    supernet_dir = tmp_path / "supernet"
    trained = run_cli("supernet", "train", "--epochs", "1", "--width-mult", "0.25", "--out", str(supernet_dir),
                      "-q")
    assert trained.returncode == 0, trained.stderr
    run = tmp_path / "run"
    search = run_cli("search", "--space", "mobilenetv3", "--strategy", "random", "--supernet",
                     str(supernet_dir / "supernet.pt"), "--budget", "4", "--vld-size", "200", "--out", str(run), "-q")
    assert search.returncode == 0, search.stderr
    selected = run_cli("select", str(run), "-n", "1", "--prefer", "error=0")
    assert selected.returncode == 0, selected.stderr
    (folder,) = sorted((run / "selected").glob("arch-*"))
    spec, model = load_net(folder)
    assert (folder / "net.pt").exists() and spec.supernet is not None and spec.space_options["config"]
    # the exported weights score what the search recorded for this architecture
    from nsganet.data import BatchLoader
    from nsganet.deploy.select import read_run
    from nsganet.train.loop import accuracy

    _, _, valid = read_run(run).search_split()
    error = 100 - accuracy(model, BatchLoader(valid, 256, spec.mean, spec.std, shuffle=False), channels_last=False)
    assert error == pytest.approx(spec.source["objectives"]["error"], abs=1e-9)
    bad = run_cli("select", str(run), "--channels", "8")
    assert bad.returncode == 2 and "mobilenetv3" in bad.stderr


def test_select_bad_input_is_one_line(tmp_path, micro_run, nb201_table):
    cases = [
        (("select", str(tmp_path)), "not a run directory"),
        (("select", str(micro_run), "--prefer", "latency=3"), "not an objective"),
        (("select", str(micro_run), "--prefer", "error"), "NAME=VALUE"),
        (("select", str(micro_run), "-n", "0"), "at least 1"),
    ]
    for args, message in cases:
        result = run_cli(*args)
        assert result.returncode == 2 and message in result.stderr, (args, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1
    single = tmp_path / "single"
    started = run_cli("search", "--space", "nb201", "--table", str(nb201_table), "--metric", METRIC, "--budget", "1",
                      "--out", str(single), "-q")
    assert started.returncode == 0, started.stderr
    one = run_cli("select", str(single), "-n", "3", "--no-onnx")
    assert one.returncode == 0, one.stderr
    (folder,) = (single / "selected").glob("arch-*")  # a front of one gives one network
    assert read_spec(folder).mean == [0.0, 0.0, 0.0] and not (folder / "net.onnx").exists()


def test_net_files_are_validated(tmp_path):
    space = get_space("nb201")
    arch = space.to_string(space.smallest())
    good = {"format": "nsganet-net", "version": 1, "space": "nb201", "arch": arch, "num_classes": 10,
            "input_size": 32, "in_channels": 3, "mean": [0, 0, 0], "std": [1, 1, 1]}
    folder = tmp_path / "net"
    folder.mkdir()
    cases = [
        ({**good, "format": "other"}, "not an nsganet network"),
        ({**good, "version": 9}, "version 9"),
        ({**good, "extra": 1}, "unknown key 'extra'"),
        ({k: v for k, v in good.items() if k != "arch"}, "missing key 'arch'"),
        ({**good, "num_classes": 0}, "num_classes"),
        ({**good, "std": [1, 0, 1]}, "std must be positive"),
        ({**good, "mean": [0]}, "mean must be a list of 3"),
        ({**good, "arch": "__import__('os')"}, "nb201"),
        ({**good, "space": "nope"}, "unknown space"),
    ]
    for values, message in cases:
        (folder / "net.json").write_text(json.dumps(values))
        with pytest.raises(NsganetError, match=message.replace("(", r"\(")):
            read_spec(folder)
    (folder / "net.json").write_text("{not json")
    with pytest.raises(NsganetError, match="not valid JSON"):
        read_spec(folder)
    (folder / "net.json").write_text(json.dumps(good))
    torch.save({"weight": torch.zeros(3)}, folder / "net.pt")
    with pytest.raises(NsganetError, match="do not fit"):
        load_net(folder)
    (folder / "net.pt").write_bytes(b"garbage")
    with pytest.raises(NsganetError, match="cannot read weights"):
        load_net(folder)
    with pytest.raises(NsganetError, match="cannot read"):
        read_spec(tmp_path / "missing")
