import numpy as np
import pytest

from nsganet.errors import NsganetError
from nsganet.evaluators import TableEvaluator
from nsganet.spaces import get_space

SPACE = get_space("nb201")
ARCH = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"
OTHER = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"


def write(tmp_path, text, name="t.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_error_is_100_minus_metric(tmp_path):
    path = write(tmp_path, f"arch,acc,other\n{ARCH},93.66,1\n{OTHER},10,2\n")
    evaluator = TableEvaluator(path, "acc", SPACE)
    assert evaluator(SPACE.architecture(SPACE.from_string(ARCH))) == {"error": pytest.approx(6.34)}


def test_shared_table_loads_completely(nb201_table):
    evaluator = TableEvaluator(nb201_table, "cifar10_test_acc_200ep", SPACE)
    assert len(evaluator.accuracy) == 15625
    assert 93.0 < evaluator(SPACE.architecture(SPACE.from_string(ARCH)))["error"] + 87 < 94.0


@pytest.mark.parametrize("text, fragment", [
    ("", "is empty"),
    ("arch,acc\n", "no rows"),
    ("name,acc\nx,1\n", "no 'arch' column"),
    (f"arch,top1\n{ARCH},93\n", "no column 'acc'"),
    (f"arch,acc\n{ARCH},ninety\n", "line 2: acc value 'ninety' is not a finite number"),
    (f"arch,acc\n{ARCH},nan\n", "not a finite number"),
    (f"arch,acc\n{ARCH}\n", "line 2: 1 fields"),
    ("arch,acc\n|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|,50\n", "line 2: nb201 edge"),
    (f"arch,acc\n{ARCH},50\n{ARCH},51\n", "line 3: architecture .* appears twice"),
])
def test_malformed_tables_are_one_line_errors(tmp_path, text, fragment):
    with pytest.raises(NsganetError, match=fragment) as info:
        TableEvaluator(write(tmp_path, text), "acc", SPACE)
    assert "\n" not in str(info.value)


def test_binary_and_missing_files(tmp_path):
    with pytest.raises(NsganetError, match="cannot read table"):
        TableEvaluator(tmp_path / "missing.csv", "acc", SPACE)
    path = tmp_path / "bin.csv"
    path.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(NsganetError):
        TableEvaluator(path, "acc", SPACE)


def test_architecture_missing_from_table_is_a_clear_error(tmp_path):
    evaluator = TableEvaluator(write(tmp_path, f"arch,acc\n{ARCH},93\n"), "acc", SPACE)
    with pytest.raises(NsganetError, match="is not in table"):
        evaluator(SPACE.architecture(np.zeros(6, dtype=np.int64)))
