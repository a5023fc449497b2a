"""The same search run serially, in a local process pool and on a two-node Ray cluster (once with a worker killed).

A two-node Ray cluster (head plus one worker node, ``--cpus`` CPUs each) is
started on this machine with ``ray start`` on loopback. Then one NSGANetV1
search proxy-training on the embedded digits runs four times, each a real
``nsganet search`` process:

- ``local, 1 worker``: in-process evaluation (the reference);
- ``local, N workers``: the process pool, one worker per node CPU in total;
- ``ray``: ``--executor ray --ray-address HEAD`` on the cluster;
- ``ray, worker killed``: the same, with one Ray worker process SIGKILLed
  while it evaluates, once ``--kill-after`` evaluations are stored.

Printed per run: wall time and its ratio to the reference, the store's counts
by status (an evaluation whose worker died is retried, so every evaluation
must be accounted for), and whether ``evaluations.csv`` equals the
reference's. Needs Ray (``pip install 'nsganet[ray]'``).

    python benchmarks/ray_scaling.py                 # budget 60, 2 nodes x 1 CPU
    python benchmarks/ray_scaling.py --budget 100 --cpus 2
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from ray_cluster import evaluating_workers, local_cluster, store_counts

RESULTS = Path(__file__).resolve().parent / "results" / "ray"


def search_argv(args: argparse.Namespace, out: Path) -> list[str]:
    return [sys.executable, "-m", "nsganet", "search", "--epochs", "1", "--train-images", "320", "--channels", "8",
            "--budget", str(args.budget), "--pop-size", "10", "--seed", str(args.seed), "--out", str(out), "-q"]


def killer(store: Path, after: int, done: threading.Event, killed: list[int]) -> None:
    """SIGKILL one Ray worker busy with an evaluation once ``after`` evaluations are stored."""
    while not done.is_set() and not killed:
        busy = evaluating_workers()
        if busy and store.exists() and sum(store_counts(store).values()) >= after:
            os.kill(busy[0], signal.SIGKILL)
            killed.append(busy[0])
        time.sleep(0.05)


def run(argv: list[str], store: Path, kill_after: int | None = None) -> tuple[float, int]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONHASHSEED": "0"}
    done, killed = threading.Event(), []
    watcher = None
    if kill_after is not None:
        watcher = threading.Thread(target=killer, args=(store, kill_after, done, killed), daemon=True)
        watcher.start()
    started = time.perf_counter()
    result = subprocess.run(argv, capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - started
    done.set()
    if watcher is not None:
        watcher.join()
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed:\n{result.stderr[-3000:]}")
    return seconds, len(killed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--budget", type=int, default=60)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cpus", type=int, default=1, help="CPUs of each of the two Ray nodes")
    parser.add_argument("--kill-after", type=int, default=5, help="stored evaluations before the kill")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for old in args.out.glob("*/run.sqlite"):
        old.unlink()

    rows = []
    workers = 2 * args.cpus
    with local_cluster(nodes=2, cpus_per_node=args.cpus) as address:
        ray_opts = ["--executor", "ray", "--ray-address", address, "--cpus-per-eval", "1"]
        runs = [("local, 1 worker", "serial", ["--workers", "1"], None),
                (f"local, {workers} workers", "pool", ["--workers", str(workers)], None),
                ("ray, 2 nodes", "ray", ray_opts, None),
                ("ray, 2 nodes, worker killed", "ray-killed", ray_opts, args.kill_after)]
        for label, name, extra, kill_after in runs:
            out = args.out / name
            if out.exists():
                subprocess.run(["rm", "-rf", str(out)], check=True)
            seconds, kills = run([*search_argv(args, out), *extra], out / "run.sqlite", kill_after)
            rows.append((label, name, seconds, kills, store_counts(out / "run.sqlite")))
            print(f"{label}: {seconds:.1f} s", file=sys.stderr, flush=True)

    reference = (args.out / "serial" / "evaluations.csv").read_text()
    base = rows[0][2]
    lines = ["| run | wall s | vs 1 worker | workers killed | ok | failed | running | evaluations.csv = 1 worker's |",
             "|---|---|---|---|---|---|---|---|"]
    for label, name, seconds, kills, counts in rows:
        same = (args.out / name / "evaluations.csv").read_text() == reference
        lines.append(f"| {label} | {seconds:.1f} | {base / seconds:.2f}x | {kills} | {counts.get('ok', 0)} | "
                     f"{counts.get('failed', 0)} | {counts.get('running', 0)} | {'yes' if same else 'NO'} |")
    table = "\n".join(lines)
    (args.out / "summary.md").write_text(table + "\n")
    print(table)


if __name__ == "__main__":
    main()
