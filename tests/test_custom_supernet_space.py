"""A user's own weight-sharing space (tests/slim_space.py, outside nsganet) goes through search, select/export, report.

Nothing in nsganet names it: the search trains its supernet with the sandwich
rule and scores subnets by weight inheritance because it is a
:class:`~nsganet.spaces.SupernetSpace`; ``select`` exports its subnets with
inherited weights; the report finds its shape in the supernet file.
"""

import json

import pytest
import torch
from slim_space import SlimSpace

import nsganet
from nsganet.deploy.netfile import load_net
from nsganet.report.build import write_report
from nsganet.spaces import SPACES


@pytest.fixture
def slim_registered():
    """The space registered by name for the length of a test (as a user's code would at import)."""
    SPACES.add(SlimSpace.name, SlimSpace)
    try:
        yield
    finally:
        SPACES.remove(SlimSpace.name)


def test_a_custom_supernet_space_is_searched_exported_and_reported(tmp_path, slim_registered):
    out = tmp_path / "run"
    result = nsganet.search("slim", strategy="nsganetv2", budget=7, seed=0, out=out, progress=False,
                            supernet_epochs=1, vld_size=100, train_images=None, batch_size=64, pop_size=6,
                            strategy_params={"n_doe": 4, "n_candidates": 3, "predictor": "rbf", "generations": 2})
    assert len(result.evaluations) == 7 and result.n_failed == 0
    trained_space = SlimSpace().for_images(8)
    assert all(trained_space.from_string(e.arch) is not None for e in result.evaluations)  # the trained shape's
    supernet_file = out / "supernet" / "supernet.pt"
    assert supernet_file.is_file()

    selected = nsganet.export_selection(out, n=2)
    assert len(selected) == min(2, len(result.front)) >= 1
    for s in selected:
        spec = json.loads((s.folder / "net.json").read_text())
        assert spec["space"] == "slim" and spec["space_options"] == trained_space.options
        assert (s.folder / "net.pt").is_file() and (s.folder / "net.onnx").is_file()
    # the exported weights are the supernet's: the exported network computes what the active subnet computes
    from nsganet.supernet.files import load_supernet

    supernet = load_supernet(supernet_file)
    spec, model = load_net(selected[0].folder)
    genome = spec.genome()
    trained_space.activate(supernet.module, genome)
    x = torch.rand(3, spec.in_channels, spec.input_size, spec.input_size)
    with torch.no_grad():
        assert torch.allclose(model(x), supernet.module.eval()(x), atol=1e-6)

    report = write_report(out)
    page = report.index.read_text()
    assert "weight inheritance from a supernet" in page
    assert "cannot draw its architectures" in page  # the space declares no drawing
    assert "do not decode" not in page  # its shape was found in the supernet file
    assert selected[0].folder.name in page
