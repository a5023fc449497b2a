"""``nsganet lut``: build and show per-layer latency look-up tables for the mobilenetv3 space."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from nsganet.commands import int_list, nonnegative_int, positive_float, positive_int
from nsganet.config import LATENCY_BACKENDS
from nsganet.errors import NsganetError


def add_parser(commands: Any) -> None:
    p = commands.add_parser(
        "lut", help="per-layer latency look-up tables (mobilenetv3 latency objective)",
        description="Latency look-up tables: every distinct layer of a mobilenetv3 supernet's networks timed on "
                    "this machine, so that a search predicts a network's latency as the sum of its layers "
                    "(nsganet search --objectives error,latency --lut FILE).")
    sub = p.add_subparsers(dest="lut_command", required=True, parser_class=type(p))
    b = sub.add_parser(
        "build", help="time every layer setting of a supernet shape on this machine",
        description="Build a look-up table for the supernet shape of --supernet FILE, or of a preset. Time it "
                    "on the machine (and with the back-end, batch size and thread count) the networks will run "
                    "on, on a quiet machine: every layer and a few whole networks (--calibration) are timed.",
        epilog="examples:\n"
               "  nsganet lut build --supernet runs/supernet-digits/supernet.pt --out lut.json\n"
               "  nsganet lut build --preset small --image-size 16 --backend onnxruntime --out lut-ort.json\n"
               "  nsganet lut build --preset imagenet --resolutions 192,224 --repeats 10 --out lut-in.json",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    source = b.add_mutually_exclusive_group()
    source.add_argument("--supernet", metavar="FILE",
                        help="supernet file ('nsganet supernet train'): its shape, classes and input channels")
    source.add_argument("--preset", choices=("small", "imagenet"),
                        help="supernet shape preset (default small: the one 'nsganet search --space mobilenetv3' "
                             "trains on the embedded digits)")
    b.add_argument("--image-size", type=positive_int, metavar="PX",
                   help="image size of the small preset (default 16, as for the 8-px digits)")
    b.add_argument("--width-mult", type=positive_float, metavar="W",
                   help="width multiplier of the preset (default 0.5 small, 1.0 imagenet)")
    b.add_argument("--num-classes", type=positive_int, metavar="N",
                   help="classifier outputs of a preset (default 10 small, 1000 imagenet)")
    b.add_argument("--in-channels", type=positive_int, metavar="C",
                   help="input channels of a preset (default 1 small, as the digits; 3 imagenet)")
    b.add_argument("--backend", choices=LATENCY_BACKENDS, default="torch", help="engine to time with (default torch)")
    b.add_argument("--batch", type=positive_int, default=1, metavar="N", help="batch size (default 1)")
    b.add_argument("--threads", type=positive_int, default=1, metavar="N", help="threads (default 1)")
    b.add_argument("--repeats", type=positive_int, metavar="N", help="timed runs per layer (default 20)")
    b.add_argument("--warmup", type=nonnegative_int, metavar="N", help="untimed runs first (default 5)")
    b.add_argument("--resolutions", type=int_list(1, what="resolution"), metavar="R1,R2",
                   help="only these input resolutions of the space (default all)")
    b.add_argument("--calibration", type=nonnegative_int, metavar="N",
                   help="whole networks timed to fit the constant overhead (default 8)")
    b.add_argument("--seed", type=nonnegative_int, default=0, metavar="N", help="random seed (default 0)")
    b.add_argument("--out", metavar="FILE", default="lut.json", help="table file to write (default lut.json)")
    b.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    s = sub.add_parser("show", help="summarise a look-up table",
                       description="Print what a table was built for, where, and its largest entries.")
    s.add_argument("file", metavar="FILE", help="table file")
    s.add_argument("--arch", metavar="STRING", help="also predict this architecture's latency, layer by layer")


def _shape(args: argparse.Namespace) -> tuple[Any, int, int]:
    """The supernet config, classes and input channels the table is for."""
    from nsganet.spaces.mobilenetv3 import SupernetConfig

    if args.supernet is not None:
        given = [f"--{n.replace('_', '-')}" for n in ("image_size", "width_mult", "num_classes", "in_channels")
                 if getattr(args, n) is not None]
        if given:
            raise NsganetError(f"{given[0]} shapes a preset; --supernet FILE fixes the shape")
        from nsganet.supernet.files import config_of, load_supernet

        _, meta = load_supernet(args.supernet)
        return config_of(meta), int(meta["num_classes"]), int(meta["in_channels"])
    if (args.preset or "small") == "imagenet":
        if args.image_size is not None:
            raise NsganetError("--image-size shapes the small preset; the imagenet one has resolutions 192..256")
        return (SupernetConfig.imagenet(args.width_mult or 1.0), args.num_classes or 1000, args.in_channels or 3)
    try:
        config = SupernetConfig.small(args.image_size or 16, width_mult=args.width_mult or 0.5)
    except ValueError as exc:
        raise NsganetError(str(exc)) from None
    return config, args.num_classes or 10, args.in_channels or 1


def _build(args: argparse.Namespace) -> int:
    from nsganet.costs.latency import DEFAULT_REPEATS, DEFAULT_WARMUP
    from nsganet.costs.lut import DEFAULT_CALIBRATION, build_table, layer_settings

    config, classes, channels = _shape(args)
    repeats = args.repeats or DEFAULT_REPEATS
    warmup = DEFAULT_WARMUP if args.warmup is None else args.warmup
    calibration = DEFAULT_CALIBRATION if args.calibration is None else args.calibration
    n = len(layer_settings(config, args.resolutions, classes, channels))
    if not args.quiet:
        print(f"timing {n} layer settings ({args.backend}, batch {args.batch}, {args.threads} thread(s), "
              f"{repeats} runs each) and {calibration} whole networks")
    table = build_table(config, classes, channels, backend=args.backend, batch_size=args.batch, repeats=repeats,
                        warmup=warmup, threads=args.threads, resolutions=args.resolutions,
                        calibration=calibration, seed=args.seed, progress=not args.quiet)
    path = table.save(args.out)
    print(f"look-up table of {len(table.entries)} layer settings written to {path}; overhead "
          f"{table.overhead_ms:.4f} ms fitted on {len(table.calibration)} networks")
    print(f"search with it: nsganet search --space mobilenetv3 --strategy nsganetv2 --objectives error,latency,flops "
          f"--lut {path} --latency-backend {table.backend} --latency-batch {table.batch_size}"
          + (f" --supernet {args.supernet}" if args.supernet else ""))
    return 0


def _show(args: argparse.Namespace) -> int:
    from nsganet.costs.lut import LatencyTable

    table = LatencyTable.load(args.file)
    cfg = table.config
    device = table.device
    print(f"{Path(args.file)}: {len(table.entries)} layer settings of the mobilenetv3 supernet "
          f"(width {cfg.width_mult:g}, stages {list(cfg.stage_widths)}, resolutions "
          f"{', '.join(map(str, table.resolutions))}), {table.num_classes} classes, {table.in_channels} channel(s)")
    print(f"measured with {table.backend}, batch {table.batch_size}, {table.threads} thread(s), {table.repeats} runs "
          f"after {table.warmup} on {device.get('cpu', '?')} ({device.get('platform', '?')}; torch "
          f"{device.get('torch', '?')}, onnxruntime {device.get('onnxruntime', '?')})")
    print(f"per-call overhead {table.call_overhead_ms:.4f} ms, fitted constant overhead {table.overhead_ms:.4f} ms")
    for row in table.calibration:
        predicted = row["layer_sum_ms"] + table.overhead_ms
        print(f"  calibration {row['measured_ms']:8.4f} ms measured, {predicted:8.4f} predicted  {row['arch']}")
    top = sorted(table.entries.items(), key=lambda kv: -kv[1]["median_ms"])[:5]
    print("slowest layers (median ms):")
    for key, entry in top:
        print(f"  {entry['median_ms']:8.4f}  {key}")
    lo, hi = table.space.smallest(), table.space.largest()
    lo[table.space.layout.resolution_var] = table.config.resolutions.index(table.resolutions[0])
    hi[table.space.layout.resolution_var] = table.config.resolutions.index(table.resolutions[-1])
    print(f"predicted latency: smallest network {table.predict(lo):.4f} ms, largest {table.predict(hi):.4f} ms")
    if args.arch:
        genome = table.space.from_string(args.arch)
        for key, ms in table.layer_latencies(genome):
            print(f"  {ms:8.4f}  {key}")
        print(f"{args.arch}: {table.predict(genome):.4f} ms predicted")
    return 0


def run(args: argparse.Namespace) -> int:
    if args.lut_command == "build":
        return _build(args)
    return _show(args)
