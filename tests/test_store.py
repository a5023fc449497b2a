import sqlite3

import pytest

from nsganet.errors import NsganetError
from nsganet.search.store import RunStore


def test_evaluations_move_from_running_to_finished(tmp_path):
    path = tmp_path / "run.sqlite"
    with RunStore(path) as store:
        store.start(0, "a", (0, 1), 0)
        store.start(1, "b", (1, 1), 0)
        assert store.count() == 0
        store.finish(0, {"error": 5.0, "flops": 1.5}, None, 0.1)
        store.finish(1, None, "ValueError: boom", 0.2)
        store.start(2, "c", (2, 1), 1)  # left running by a crash
    with RunStore(path) as store:
        rows = store.evaluations()
        assert [(e.arch, e.status) for e in rows] == [("a", "ok"), ("b", "failed")]
        assert rows[0].objectives == {"error": 5.0, "flops": 1.5}
        assert rows[1].reason == "ValueError: boom" and rows[1].objectives == {}
        assert store.finished("a").seq == 0 and store.finished("c") is None
        assert store.discard_running() == 1
        assert store.evaluations(finished_only=False)[-1].arch == "b"
        assert [e.arch for e in store.evaluations(max_generation=0)] == ["a", "b"]


def test_generation_state_and_meta_round_trip(tmp_path):
    with RunStore(tmp_path / "run.sqlite") as store:
        assert store.last_generation() is None
        store.set_meta("config", {"budget": 3, "objectives": ["error", "flops"]})
        store.save_generation(0, 10, {"rng": {"state": 2**100}, "population": [[1, 2]]}, {"rho": 1.0})
        store.save_generation(1, 20, {"rng": {"state": 5}, "population": [[3, 4]]}, {"rho": 0.7})
        assert store.get_meta("config")["objectives"] == ["error", "flops"]
        generation, state = store.last_generation()
        assert generation == 1 and state["population"] == [[3, 4]]
        assert [g["rho"] for g in store.generation_info()] == [1.0, 0.7]
        assert store.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_a_file_that_is_not_a_store_is_a_clear_error(tmp_path):
    path = tmp_path / "run.sqlite"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(NsganetError, match="not a usable SQLite database"):
        RunStore(path)


def test_status_values_are_constrained(tmp_path):
    with RunStore(tmp_path / "run.sqlite") as store, pytest.raises(sqlite3.IntegrityError):
        store.conn.execute("INSERT INTO evaluations (seq, arch, genome, generation, status) "
                           "VALUES (0, 'x', '[]', 0, 'done')")
