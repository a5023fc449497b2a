"""A Ray cluster of several nodes on this machine (``ray start`` on loopback), for the tests and the demo."""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

RAY = str(Path(sys.executable).with_name("ray"))
#: One token for every cluster this process starts: a process that joined one cluster keeps the token it read.
TOKEN = secrets.token_hex(32)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ray(*args: str, env: dict[str, str]) -> None:
    result = subprocess.run([RAY, *args], capture_output=True, text=True, env=env, timeout=180)
    if result.returncode != 0:
        raise RuntimeError(f"ray {' '.join(args)} failed:\n{result.stdout[-2000:]}{result.stderr[-2000:]}")


@contextlib.contextmanager
def local_cluster(nodes: int = 2, cpus_per_node: int = 1, pythonpath: str | None = None) -> Iterator[str]:
    """Start a head and ``nodes - 1`` worker nodes; yield the head's address; stop them all afterwards.

    The cluster uses token authentication with this process's token, which
    its environment carries while the cluster runs (so that drivers started
    from here, and this process itself, can join it).
    """
    port = free_port()
    auth = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": TOKEN}
    saved = {k: os.environ.get(k) for k in auth}
    os.environ.update(auth)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE", "RAY_USAGE_STATS_ENABLED": "0"}
    if pythonpath:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (pythonpath, os.environ.get("PYTHONPATH")) if p)
    common = ["--node-ip-address", "127.0.0.1", "--num-cpus", str(cpus_per_node),
              "--object-store-memory", str(100 * 2**20), "--disable-usage-stats"]
    address = f"127.0.0.1:{port}"
    try:
        _ray("start", "--head", "--port", str(port), "--include-dashboard", "false", *common, env=env)
        for _ in range(nodes - 1):
            _ray("start", "--address", address, *common, env=env)
        yield address
    finally:
        subprocess.run([RAY, "stop", "--force"], capture_output=True, env=env, timeout=120)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def evaluating_workers() -> list[int]:
    """Pids of Ray worker processes busy with an evaluation (Ray names them after the task)."""
    ps = subprocess.run(["ps", "-ww", "-eo", "pid=,args="], capture_output=True, text=True).stdout
    return [int(line.split(None, 1)[0]) for line in ps.splitlines() if "ray::_evaluate_task" in line]


def store_counts(store: Path) -> dict[str, int]:
    """Evaluations of a run store by status, after checking the store's integrity."""
    with sqlite3.connect(store) as conn:
        if conn.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
            raise RuntimeError(f"{store} failed the integrity check")
        return dict(conn.execute("SELECT status, COUNT(*) FROM evaluations GROUP BY status").fetchall())
