"""Importing OFA / NSGANetV2 YAML latency tables (``nsganet lut import``) and predicting with them."""

import dataclasses
import json
import math
import zlib

import numpy as np
import pytest
import yaml

import nsganet
from nsganet.cli import main
from nsganet.costs.lut import LatencyTable
from nsganet.costs.model import CostModel, LatencyModel
from nsganet.errors import NsganetError
from nsganet.spaces.mobilenetv3 import MobileNetV3Space, SupernetConfig

#: OFA's ImageNet w1.0 space (1000 classes, RGB): what the tables describe.
SPACE = MobileNetV3Space.preset("imagenet")
SMALLEST = "r224 | k3e3 k3e3 | k3e3 k3e3 | k3e3 k3e3 | k3e3 k3e3 | k3e3 k3e3"
#: The smallest w1.0 network at 224 px, layer by layer, spelled as NSGANetV2's data/i7-8700K_lut.yaml spells
#: its keys, with made-up means.
HAND_NSGANETV2 = (
    ("first_conv-input:224x224x3-output:112x112x16", 0.183),
    ("MBConv-input:112x112x16-output:112x112x16-expand:1-kernel:3-stride:1-idskip:1-se:0", 0.612),
    ("MBConv-input:112x112x16-output:56x56x24-expand:3-kernel:3-stride:2-idskip:0-se:0", 0.701),
    ("MBConv-input:56x56x24-output:56x56x24-expand:3-kernel:3-stride:1-idskip:1-se:0", 0.455),
    ("MBConv-input:56x56x24-output:28x28x40-expand:3-kernel:3-stride:2-idskip:0-se:1", 0.402),
    ("MBConv-input:28x28x40-output:28x28x40-expand:3-kernel:3-stride:1-idskip:1-se:1", 0.333),
    ("MBConv-input:28x28x40-output:14x14x80-expand:3-kernel:3-stride:2-idskip:0-se:0", 0.298),
    ("MBConv-input:14x14x80-output:14x14x80-expand:3-kernel:3-stride:1-idskip:1-se:0", 0.367),
    ("MBConv-input:14x14x80-output:14x14x112-expand:3-kernel:3-stride:1-idskip:0-se:1", 0.421),
    ("MBConv-input:14x14x112-output:14x14x112-expand:3-kernel:3-stride:1-idskip:1-se:1", 0.512),
    ("MBConv-input:14x14x112-output:7x7x160-expand:3-kernel:3-stride:2-idskip:0-se:1", 0.389),
    ("MBConv-input:7x7x160-output:7x7x160-expand:3-kernel:3-stride:1-idskip:1-se:1", 0.444),
    ("final_expand_layer-input:7x7x160-output:7x7x960", 0.174),
    ("feature_mix_layer-input:1x1x960-output:1x1x1280", 0.261),
    ("classifier-input:1280-output:1000", 0.0295),
)
#: The same network in OFA's own spelling (expanded width instead of ratio, h-swish flag, pooling apart).
HAND_OFA = (
    ("Conv-input:224x224x3-output:112x112x16", 0.21),
    ("expanded_conv-input:112x112x16-output:112x112x16-expand:16-kernel:3-stride:1-idskip:1-se:0-hs:0", 0.52),
    ("expanded_conv-input:112x112x16-output:56x56x24-expand:48-kernel:3-stride:2-idskip:0-se:0-hs:0", 0.73),
    ("expanded_conv-input:56x56x24-output:56x56x24-expand:72-kernel:3-stride:1-idskip:1-se:0-hs:0", 0.44),
    ("expanded_conv-input:56x56x24-output:28x28x40-expand:72-kernel:3-stride:2-idskip:0-se:1-hs:0", 0.41),
    ("expanded_conv-input:28x28x40-output:28x28x40-expand:120-kernel:3-stride:1-idskip:1-se:1-hs:0", 0.35),
    ("expanded_conv-input:28x28x40-output:14x14x80-expand:120-kernel:3-stride:2-idskip:0-se:0-hs:1", 0.31),
    ("expanded_conv-input:14x14x80-output:14x14x80-expand:240-kernel:3-stride:1-idskip:1-se:0-hs:1", 0.37),
    ("expanded_conv-input:14x14x80-output:14x14x112-expand:240-kernel:3-stride:1-idskip:0-se:1-hs:1", 0.43),
    ("expanded_conv-input:14x14x112-output:14x14x112-expand:336-kernel:3-stride:1-idskip:1-se:1-hs:1", 0.50),
    ("expanded_conv-input:14x14x112-output:7x7x160-expand:336-kernel:3-stride:2-idskip:0-se:1-hs:1", 0.38),
    ("expanded_conv-input:7x7x160-output:7x7x160-expand:480-kernel:3-stride:1-idskip:1-se:1-hs:1", 0.45),
    ("Conv_1-input:7x7x160-output:7x7x960", 0.17),
    ("AvgPool2D-input:7x7x960-output:1x1x960", 0.02),
    ("Conv_2-input:1x1x960-output:1x1x1280", 0.26),
    ("Logits-input:1x1x1280-output:1000", 0.03),
)
#: Networks whose every layer the generated file holds (two resolutions, kernels and expansions mixed).
ARCHS = ("r192 | k5e4 k7e6 | k3e6 k5e3 k7e4 | k7e3 k3e4 k5e6 k3e3 | k5e6 k5e4 | k7e6 k3e3 k5e4",
         "r224 | k7e6 k7e6 k7e6 k7e6 | k7e6 k7e6 k7e6 k7e6 | k7e6 k7e6 k7e6 k7e6 | k7e6 k7e6 k7e6 k7e6 | "
         "k7e6 k7e6 k7e6 k7e6",
         "r192 | k3e3 k3e3 | k3e3 k3e3 | k3e3 k3e3 | k3e3 k3e3 | k3e3 k3e3")


def nsganetv2_keys(layer):
    """The keys NSGANetV2's look_up_latency reads for one layer of nsganet's walk (spelled here, independently)."""
    size, cin, cout = layer.size, layer.in_channels, layer.out_channels
    if layer.kind == "stem":
        return [f"first_conv-input:{size}x{size}x{cin}-output:{size // 2}x{size // 2}x{cout}"]
    if layer.kind == "mbconv":
        assert layer.mid_channels % cin == 0
        expand = layer.mid_channels // cin if layer.expand else 1
        out = math.ceil(size / layer.stride)
        skip = int(layer.stride == 1 and cin == cout)
        return [f"MBConv-input:{size}x{size}x{cin}-output:{out}x{out}x{cout}-expand:{expand}-kernel:{layer.kernel}"
                f"-stride:{layer.stride}-idskip:{skip}-se:{int(layer.se)}"]
    if layer.kind == "final_expand":
        return [f"final_expand_layer-input:{size}x{size}x{cin}-output:{size}x{size}x{cout}"]
    return [f"feature_mix_layer-input:1x1x{cin}-output:1x1x{cout}", f"classifier-input:{cout}-output:{layer.classes}"]


def made_up_mean(key):
    return 0.05 + zlib.crc32(key.encode()) % 997 / 1000


def yaml_text(pairs):
    """Entries written as the original files are: ``key:`` then indented ``mean`` and ``var``."""
    return "".join(f"{key}:\n  mean: {mean!r}\n  var: 1.5e-07\n" for key, mean in pairs)


def keys_of(arch, space=SPACE):
    return [k for layer in space.layers(space.from_string(arch), 1000, 3) for k in nsganetv2_keys(layer)]


@pytest.fixture(scope="module")
def means():
    """Made-up means of every key the ARCHS need, and of the hand-written keys."""
    table = {key: made_up_mean(key) for arch in ARCHS for key in keys_of(arch)}
    table.update(HAND_NSGANETV2)  # the hand-written values win where the generated keys overlap
    return table


@pytest.fixture(scope="module")
def imported(tmp_path_factory, means):
    """The hand-written file and a generated one (keys from nsganet's layer walk), imported through the CLI."""
    folder = tmp_path_factory.mktemp("lut-import")
    hand = dict(HAND_NSGANETV2)
    (folder / "hand.yaml").write_text(yaml_text(HAND_NSGANETV2))
    (folder / "walk.yaml").write_text(yaml_text((k, m) for k, m in means.items() if k not in hand))
    out = folder / "tables" / "lut.json"
    assert main(["lut", "import", str(folder / "hand.yaml"), str(folder / "walk.yaml"), "--device", "i7-8700K",
                 "--out", str(out)]) == 0
    return out


def run(args, capsys):
    code = main(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# -- (a) predictions are the sums of the entries --------------------------------------------------------------
def test_hand_written_network_predicts_the_sum_of_its_entries(imported):
    table = LatencyTable.load(imported)
    expected = 0.183 + 0.612 + 0.701 + 0.455 + 0.402 + 0.333 + 0.298 + 0.367 + 0.421 + 0.512 + 0.389 + 0.444 \
        + 0.174 + 0.261 + 0.0295
    assert table.predict(SPACE.from_string(SMALLEST)) == pytest.approx(expected, rel=1e-12)
    layers = table.layer_latencies(SPACE.from_string(SMALLEST))
    assert [ms for _, ms in layers[:2]] == pytest.approx([0.183, 0.612])
    assert layers[-1] == ("head 960>1280 r7 c1000", pytest.approx(0.261 + 0.0295))  # feature mix and classifier


def test_generated_networks_predict_the_sum_of_their_entries_layer_by_layer(imported, means):
    table = LatencyTable.load(imported)
    for arch in ARCHS:
        genome = SPACE.from_string(arch)
        expected = sum(means[key] for key in keys_of(arch))
        assert table.predict(genome) == pytest.approx(expected, rel=1e-12), arch
        for layer, (key, ms) in zip(SPACE.layers(genome, 1000, 3), table.layer_latencies(genome)):
            assert key == layer.key and ms == pytest.approx(sum(means[k] for k in nsganetv2_keys(layer)))
    small, large = (table.predict(SPACE.from_string(a)) for a in (ARCHS[2], ARCHS[1]))
    assert small < large


def test_the_imported_file_records_its_origin_and_shape(imported, means):
    raw = json.loads(imported.read_text())
    assert raw["version"] == 3 and raw["statistic"] == "mean" and raw["space"] == "mobilenetv3"
    assert raw["space_options"]["config"] == json.loads(json.dumps(dataclasses.asdict(SPACE.config)))
    assert (raw["num_classes"], raw["in_channels"], raw["backend"], raw["batch_size"]) == (1000, 3, "torch", 1)
    assert (raw["call_overhead_ms"], raw["overhead_ms"], raw["threads"], raw["repeats"]) == (0.0, 0.0, None, None)
    assert raw["device"] == {"cpu": "i7-8700K"}
    info = raw["imported"]
    assert info["format"] == "nsganetv2" and [f["path"].rsplit("/", 1)[1] for f in info["files"]] == \
        ["hand.yaml", "walk.yaml"]
    assert all(len(f["sha256"]) == 64 for f in info["files"])
    assert info["entries_read"] == len(means) == info["entries_used"] and info["entries_unused"] == 0
    stem = raw["entries"]["stem 3>16 r224 k3 s2"]
    assert stem["sources"] == {"first_conv-input:224x224x3-output:112x112x16": 0.183}
    assert stem["mean_ms"] == 0.183 and stem["std_ms"] == pytest.approx(math.sqrt(1.5e-07))
    assert raw["missing"]["stem 3>16 r200 k3 s2"] == ["first_conv-input:200x200x3-output:100x100x16"]
    assert set(raw["entries"]).isdisjoint(raw["missing"])


def test_ofa_spelling_predicts_the_sum_of_its_entries(tmp_path, capsys):
    """OFA's tables come one file per resolution, each with the resolution-free head layers: the first file's win."""
    (tmp_path / "224_lookup_table.yaml").write_text(yaml_text(HAND_OFA))
    (tmp_path / "192_lookup_table.yaml").write_text(yaml_text([
        ("Conv-input:192x192x3-output:96x96x16", 0.15), ("Conv_2-input:1x1x960-output:1x1x1280", 9.0),
        ("Logits-input:1x1x1280-output:1000", 9.0)]))
    out = tmp_path / "ofa.json"
    code, stdout, _ = run(["lut", "import", str(tmp_path / "224_lookup_table.yaml"),
                           str(tmp_path / "192_lookup_table.yaml"), "--out", str(out)], capsys)
    assert code == 0 and "ofa spelling" in stdout
    expected = 0.21 + 0.52 + 0.73 + 0.44 + 0.41 + 0.35 + 0.31 + 0.37 + 0.43 + 0.50 + 0.38 + 0.45 + 0.17 \
        + 0.02 + 0.26 + 0.03
    table = LatencyTable.load(out)
    assert table.predict(SPACE.from_string(SMALLEST)) == pytest.approx(expected, rel=1e-12)
    assert table.entries["stem 3>16 r192 k3 s2"]["mean_ms"] == 0.15
    assert table.imported["duplicates"] == 2 and table.imported["entries_read"] == len(HAND_OFA) + 1
    assert table.complete_resolutions() == ()  # one network's layers: no resolution is complete


def test_entries_of_other_widths_and_resolutions_are_left_out_and_extend_the_resolutions(tmp_path, capsys):
    wide = MobileNetV3Space.preset("imagenet", width_mult=1.2)
    pairs = [*HAND_NSGANETV2, *((k, 0.5) for k in keys_of("r224 | k3e3 k3e3 | k3e3 k3e3 | k3e3 k3e3 | k3e3 k3e3 | "
                                                           "k3e3 k3e3", wide))]
    low = MobileNetV3Space(SupernetConfig.large(128))  # resolutions 96..128: 96 is outside the imagenet preset
    pairs += [(k, 0.25) for k in keys_of("r96 | k3e3 k3e3 | k3e3 k3e3 | k3e3 k3e3 | k3e3 k3e3 | k3e3 k3e3", low)
              if k not in dict(pairs)]
    (tmp_path / "both.yaml").write_text(yaml_text(pairs))
    code, _, _ = run(["lut", "import", str(tmp_path / "both.yaml"), "--out", str(tmp_path / "w10.json")], capsys)
    assert code == 0
    table = LatencyTable.load(tmp_path / "w10.json")
    assert table.resolutions == (96, *SPACE.resolutions)
    assert table.imported["entries_unused"] == 15  # the w1.2 network's layers
    assert table.predict(table.space.from_string(SMALLEST)) == pytest.approx(sum(m for _, m in HAND_NSGANETV2))
    low_genome = table.space.from_string(SMALLEST.replace("r224", "r96"))
    assert table.predict(low_genome) == pytest.approx(0.25 * 13 + 0.261 + 0.0295)  # the head is the hand-written one
    code, _, _ = run(["lut", "import", str(tmp_path / "both.yaml"), "--width-mult", "1.2", "--out",
                      str(tmp_path / "w12.json")], capsys)
    assert code == 0
    wide_table = LatencyTable.load(tmp_path / "w12.json")
    assert wide_table.space.config.width_mult == 1.2
    assert wide_table.predict(wide.from_string(SMALLEST)) == pytest.approx(0.5 * 15)
    assert wide_table.imported["entries_unused"] == len(pairs) - 15


# -- (b) missing settings -------------------------------------------------------------------------------------
def test_a_network_with_a_missing_setting_is_refused_naming_it(imported, capsys):
    table = LatencyTable.load(imported)
    arch = "r224 | k7e4 k3e3 | k3e3 k3e3 | k3e3 k3e3 | k3e3 k3e3 | k3e3 k3e3"
    needed = "MBConv-input:112x112x16-output:56x56x24-expand:4-kernel:7-stride:2-idskip:0-se:0"
    with pytest.raises(NsganetError, match="has no entry for 1 layer setting") as error:
        table.predict(SPACE.from_string(arch))
    assert "'mbconv 16>24 r112 m64 k7 s2 relu'" in str(error.value) and needed in str(error.value)
    assert "hand.yaml" in str(error.value) and "\n" not in str(error.value)
    code, stdout, stderr = run(["lut", "show", str(imported), "--arch", arch], capsys)
    assert code == 2 and stdout == "" and len(stderr.strip().splitlines()) == 1 and needed in stderr
    code, _, stderr = run(["lut", "show", str(imported), "--arch", SMALLEST.replace("r224", "r200")], capsys)
    assert code == 2 and "first_conv-input:200x200x3-output:100x100x16" in stderr and "and 9 more" in stderr


def test_a_search_space_the_table_does_not_cover_is_refused_up_front(imported):
    table = LatencyTable.load(imported)
    with pytest.raises(NsganetError, match=r"of the space searched: .* a search would stop"):
        CostModel(SPACE, num_classes=1000, in_channels=3, latency=LatencyModel(table=table))
    with pytest.raises(NsganetError, match=r"imported for another .*width_mult 1.0 \(table\) vs 0.5"):
        table.check(MobileNetV3Space.preset("imagenet", width_mult=0.5), 1000, 3)
    with pytest.raises(NsganetError, match=r"num_classes 1000 \(table\) vs 10"):
        table.check(SPACE, 10, 3)


def test_a_shape_the_files_do_not_have_is_refused_naming_what_they_have(tmp_path, capsys):
    (tmp_path / "hand.yaml").write_text(yaml_text(HAND_NSGANETV2))
    out = ["--out", str(tmp_path / "lut.json")]
    code, _, stderr = run(["lut", "import", str(tmp_path / "hand.yaml"), "--width-mult", "1.2", *out], capsys)
    assert code == 2 and len(stderr.strip().splitlines()) == 1
    assert "no first convolution" in stderr and "'first_conv-input:128x128x3-output:64x64x24'" in stderr
    assert "it has e.g. 'first_conv-input:224x224x3-output:112x112x16'" in stderr
    code, _, stderr = run(["lut", "import", str(tmp_path / "hand.yaml"), "--num-classes", "10", *out], capsys)
    assert code == 2 and "no head" in stderr and "'classifier-input:1280-output:10'" in stderr
    assert not (tmp_path / "lut.json").exists()


# -- (c) malformed files ---------------------------------------------------------------------------------------
GOOD = yaml_text(HAND_NSGANETV2)
MALFORMED = {
    "not-yaml.yaml": ("MBConv-input:1x1x1: [unclosed\n", "is not valid YAML"),
    "list.yaml": ("- mean: 0.1\n- mean: 0.2\n", "is a list, not a mapping of layer keys"),
    "scalar.yaml": ("just some text\n", "is a str, not a mapping"),
    "empty.yaml": ("", "is empty"),
    "bad-key.yaml": (GOOD + "MBConv-input:112x112x16-output:56x56x24-expand:3-kernel:5:\n  mean: 0.1\n",
                     "entry 'MBConv-input:112x112x16-output:56x56x24-expand:3-kernel:5' is not a MBConv key as "
                     "the nsganetv2 format spells them"),
    "proxyless.yaml": ("expanded_conv-input:112x112x16-output:56x56x24-expand:3-kernel:5-stride:2-idskip:0:\n"
                       "  mean: 0.1\n", "a ProxylessNAS key"),
    "unknown-kind.yaml": (GOOD + "Pooling-input:7x7x960-output:1x1x960:\n  mean: 0.1\n",
                          "entry 'Pooling-input:7x7x960-output:1x1x960' is of layer kind 'Pooling'"),
    "no-mean.yaml": (GOOD + "classifier-input:1280-output:10:\n  var: 0.1\n",
                     "entry 'classifier-input:1280-output:10' has no mean"),
    "text-mean.yaml": (GOOD + "classifier-input:1280-output:10:\n  mean: fast\n",
                       "has mean 'fast', not a non-negative number"),
    "negative-mean.yaml": (GOOD + "classifier-input:1280-output:10:\n  mean: -0.5\n", "has mean -0.5"),
    "bad-var.yaml": (GOOD + "classifier-input:1280-output:10:\n  mean: 0.5\n  var: [1]\n", "has var [1]"),
    "plain-value.yaml": (GOOD + "classifier-input:1280-output:10: 0.5\n", "is a float, not {mean: ms"),
    "number-key.yaml": (GOOD + "12:\n  mean: 0.5\n", "entry 12 is not a layer key"),
    "mixed.yaml": (GOOD + "Conv_2-input:1x1x960-output:1x1x1280:\n  mean: 0.5\n",
                   "mix the nsganetv2 spelling"),
    "binary.yaml": (b"\xff\xfe\x00\x01", "not a text file"),
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_files_are_one_line_errors(tmp_path, capsys, name):
    content, message = MALFORMED[name]
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    code, _, stderr = run(["lut", "import", str(path), "--out", str(tmp_path / "lut.json")], capsys)
    assert code == 2
    assert len(stderr.strip().splitlines()) == 1 and message in stderr and str(path) in stderr
    assert not (tmp_path / "lut.json").exists()


def test_a_missing_file_is_a_one_line_error_and_unknown_kinds_can_be_skipped(tmp_path, capsys, caplog):
    code, _, stderr = run(["lut", "import", str(tmp_path / "absent.yaml"), "--out", str(tmp_path / "x.json")],
                          capsys)
    assert code == 2 and "cannot read latency table" in stderr and len(stderr.strip().splitlines()) == 1
    path = tmp_path / "extra.yaml"
    path.write_text(MALFORMED["unknown-kind.yaml"][0])
    code, _, _ = run(["lut", "import", str(path), "--skip-unknown", "--out", str(tmp_path / "lut.json")], capsys)
    assert code == 0 and "left out 1 entries of unknown layer kinds: Pooling (1)" in caplog.text
    table = LatencyTable.load(tmp_path / "lut.json")
    assert table.imported["entries_skipped"] == {"Pooling": 1}
    assert table.predict(SPACE.from_string(SMALLEST)) == pytest.approx(sum(m for _, m in HAND_NSGANETV2))


def test_a_damaged_imported_table_is_a_one_line_error(imported, tmp_path):
    raw = json.loads(imported.read_text())
    next(iter(raw["entries"].values()))["mean_ms"] = "slow"
    (tmp_path / "typed.json").write_text(json.dumps(raw))
    with pytest.raises(NsganetError, match="lacks non-negative mean_ms"):
        LatencyTable.load(tmp_path / "typed.json")
    raw = json.loads(imported.read_text())
    raw["missing"].pop(next(iter(raw["missing"])))
    (tmp_path / "short.json").write_text(json.dumps(raw))
    with pytest.raises(NsganetError, match=r"lacks 1 layer setting.*re-import it"):
        LatencyTable.load(tmp_path / "short.json")


# -- (d) lut show ----------------------------------------------------------------------------------------------
def test_show_prints_the_prediction_layer_by_layer(imported, capsys, means):
    code, stdout, _ = run(["lut", "show", str(imported), "--arch", ARCHS[0]], capsys)
    assert code == 0
    assert "hand.yaml, " in stdout and "(nsganetv2 spelling)" in stdout and "on i7-8700K" in stdout
    assert "complete at resolutions (none) of 128..256 (step 4)" in stdout
    expected = sum(means[key] for key in keys_of(ARCHS[0]))
    assert f"{ARCHS[0]}: {expected:.4f} ms predicted" in stdout
    assert "= feature_mix_layer-input:1x1x960-output:1x1x1280 + classifier-input:1280-output:1000" in stdout
    code, stdout, _ = run(["lut", "show", str(imported), "--arch", SMALLEST], capsys)
    assert code == 0 and f"{sum(m for _, m in HAND_NSGANETV2):.4f} ms predicted" in stdout


# -- (e) a search with an imported table ------------------------------------------------------------------------
def test_an_imported_table_drives_a_search(tmp_path, capsys):
    """A complete table for two resolutions serves a space of those resolutions (which it adopts)."""
    searched = MobileNetV3Space(dataclasses.replace(SupernetConfig.imagenet(), resolutions=(192, 224)))
    settings = searched.layer_settings(searched.resolutions, 1000, 3)
    means = {key: made_up_mean(key) for layer in settings for key in nsganetv2_keys(layer)}
    (tmp_path / "lut.yaml").write_text(yaml.safe_dump({k: {"mean": m, "var": 0.0} for k, m in means.items()}))
    lut = tmp_path / "lut.json"
    assert run(["lut", "import", str(tmp_path / "lut.yaml"), "--out", str(lut)], capsys)[0] == 0

    def evaluate(arch):  # a stand-in error, falling with the network's size
        return {"error": 1.0 / (1.0 + float(np.sum(arch.genome)))}

    result = nsganet.search(searched, evaluator=evaluate, objectives="error,flops,latency", strategy="nsga2",
                            budget=8, pop_size=4, out=tmp_path / "run", lut=str(lut), num_classes=1000,
                            in_channels=3, progress=False, plots=False)
    assert len(result.evaluations) == 8 and result.front
    for evaluation in result.evaluations:
        layers = searched.layers(searched.from_string(evaluation.arch), 1000, 3)
        expected = sum(means[key] for layer in layers for key in nsganetv2_keys(layer))
        assert evaluation.objectives["latency"] == pytest.approx(expected, rel=1e-9)
