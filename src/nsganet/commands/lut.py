"""``nsganet lut``: build, import and show per-layer latency look-up tables of layer-wise spaces (mobilenetv3)."""

from __future__ import annotations

import argparse
from itertools import pairwise
from pathlib import Path
from typing import Any

from nsganet.commands.args import (
    image_size_arg,
    in_channels_arg,
    int_list,
    nonnegative_int,
    num_classes_arg,
    positive_float,
    positive_int,
)
from nsganet.commands.base import Command, register
from nsganet.costs.latency import BACKENDS, DEFAULT_REPEATS, DEFAULT_WARMUP
from nsganet.costs.lut import DEFAULT_CALIBRATION, build_table, check_resolutions
from nsganet.errors import NsganetError


def layerwise_spaces() -> list[str]:
    """The registered spaces whose networks are chains of layers a table can time."""
    from nsganet.spaces import SPACES, LayerwiseSpace

    return [name for name, cls in SPACES.items() if issubclass(cls, LayerwiseSpace)]


def _shape(args: argparse.Namespace) -> tuple[Any, int, int]:
    """The space (its shape), classes and input channels the table is for."""
    from nsganet.spaces import SPACES

    if args.supernet is not None:
        given = [f"--{n.replace('_', '-')}" for n in ("image_size", "width_mult", "num_classes", "in_channels")
                 if getattr(args, n) is not None]
        if given:
            raise NsganetError(f"{given[0]} shapes a preset; --supernet FILE fixes the shape")
        from nsganet.supernet.files import load_supernet

        supernet = load_supernet(args.supernet)
        return supernet.space, supernet.num_classes, supernet.in_channels
    cls = SPACES.get(args.space)
    preset = args.preset or next(iter(cls.presets), "")
    if preset not in cls.presets:
        raise NsganetError(f"the {args.space} space has no preset {preset!r}; presets: "
                           f"{', '.join(cls.presets) or 'none'} (or give --supernet FILE)")
    classes, channels = cls.presets[preset]
    space = cls.preset(preset, args.image_size, args.width_mult)
    return space, args.num_classes or classes, args.in_channels or channels


def _build(args: argparse.Namespace) -> int:
    space, classes, channels = _shape(args)
    repeats = args.repeats or DEFAULT_REPEATS
    warmup = DEFAULT_WARMUP if args.warmup is None else args.warmup
    calibration = DEFAULT_CALIBRATION if args.calibration is None else args.calibration
    n = len(space.layer_settings(check_resolutions(space, args.resolutions), classes, channels))
    if not args.quiet:
        print(f"timing {n} layer settings ({args.backend}, batch {args.batch}, {args.threads} thread(s), "
              f"{repeats} runs each) and {calibration} whole networks")
    table = build_table(space, classes, channels, backend=args.backend, batch_size=args.batch, repeats=repeats,
                        warmup=warmup, threads=args.threads, resolutions=args.resolutions,
                        calibration=calibration, seed=args.seed, progress=not args.quiet)
    path = table.save(args.out)
    print(f"look-up table of {len(table.entries)} layer settings written to {path}; overhead "
          f"{table.overhead_ms:.4f} ms fitted on {len(table.calibration)} networks")
    print(f"search with it: nsganet search --space {space.name} --strategy nsganetv2 --objectives "
          f"error,latency,flops --lut {path} --latency-backend {table.backend} --latency-batch {table.batch_size}"
          + (f" --supernet {args.supernet}" if args.supernet else ""))
    return 0


def _import(args: argparse.Namespace) -> int:
    from nsganet.costs.lut_import import import_table

    space, classes, channels = _shape(args)
    table = import_table(args.files, space, classes, channels, backend=args.backend, batch_size=args.batch,
                         device=args.device, skip_unknown=args.skip_unknown)
    path = table.save(args.out)
    info = table.imported
    print(f"imported {info['entries_used']} of the {info['entries_read']} entries of {', '.join(args.files)} "
          f"({info['format']} spelling) into {path}: {len(table.entries)} of the {info['layer_settings']} layer "
          f"settings of the {table.space.name} space ({_describe(table.space.options)}), {classes} classes, "
          f"{channels} channel(s)")
    _print_coverage(table)
    print(f"search with it: nsganet search --space {table.space.name} --strategy nsganetv2 --objectives "
          f"error,latency,flops --lut {path} --latency-backend {table.backend} --latency-batch {table.batch_size}"
          + (f" --supernet {args.supernet}" if args.supernet else ""))
    return 0


def _print_coverage(table: Any) -> None:
    """Where an imported table predicts: its complete resolutions and what it lacks."""
    complete = table.complete_resolutions()
    print(f"complete at resolutions {_spans(complete) or '(none)'}"
          + (f" of {_spans(table.resolutions)}" if complete != table.resolutions else ""))
    if table.missing:
        key, needed = next(iter(table.missing.items()))
        print(f"{len(table.missing)} layer settings missing, e.g. {key!r} (needs {', '.join(map(repr, needed))}): "
              "networks using one are not predicted")


def _spans(values: tuple[int, ...]) -> str:
    """Sorted integers briefly: ``128..256 (step 4)`` when evenly spaced, else listed."""
    steps = {b - a for a, b in pairwise(values)}
    if len(values) > 2 and len(steps) == 1:
        return f"{values[0]}..{values[-1]} (step {steps.pop()})"
    return ", ".join(map(str, values))


def _show(args: argparse.Namespace) -> int:
    from nsganet.costs.lut import LatencyTable

    table = LatencyTable.load(args.file)
    space, device = table.space, table.device
    arch = None
    if args.arch:  # an architecture the table cannot predict is refused before anything is printed
        genome = space.from_string(args.arch)
        arch = (table.layer_latencies(genome), table.predict(genome))
    print(f"{Path(args.file)}: {len(table.entries)} layer settings of the {space.name} space "
          f"({_describe(space.options)}; resolutions {_spans(table.resolutions)}), "
          f"{table.num_classes} classes, {table.in_channels} channel(s)")
    if table.imported:
        info = table.imported
        print(f"imported from {', '.join(table.imported_files())} ({info['format']} spelling): "
              f"{info['entries_used']} of {info['entries_read']} entries used; recorded as {table.backend}, "
              f"batch {table.batch_size}, on {device.get('cpu', 'an unrecorded device')}")
        print("prediction: the sum of the layers' recorded means (no overhead)")
        _print_coverage(table)
    else:
        print(f"measured with {table.backend}, batch {table.batch_size}, {table.threads} thread(s), {table.repeats} "
              f"runs after {table.warmup} on {device.get('cpu', '?')} ({device.get('platform', '?')}; torch "
              f"{device.get('torch', '?')}, onnxruntime {device.get('onnxruntime', '?')})")
        print(f"per-call overhead {table.call_overhead_ms:.4f} ms, fitted constant overhead "
              f"{table.overhead_ms:.4f} ms")
    for row in table.calibration:
        predicted = row["layer_sum_ms"] + table.overhead_ms
        print(f"  calibration {row['measured_ms']:8.4f} ms measured, {predicted:8.4f} predicted  {row['arch']}")
    print(f"slowest layers ({table.statistic} ms):")
    shown: set[tuple[str, ...]] = set()
    for key, entry in sorted(table.entries.items(), key=lambda kv: -table.entry_ms(kv[1])):
        sources = tuple(entry.get("sources", (key,)))  # an imported head is the same entries at every size
        if sources not in shown and len(shown) < 5:
            shown.add(sources)
            print(f"  {table.entry_ms(entry):8.4f}  {key}")
    complete = table.complete_resolutions()
    if complete:
        lo = space.with_resolution(space.smallest(), complete[0])
        hi = space.with_resolution(space.largest(), complete[-1])
        print(f"predicted latency: smallest network {table.predict(lo):.4f} ms, largest {table.predict(hi):.4f} ms")
    if arch is not None:
        layers, predicted = arch
        for key, ms in layers:
            sources = table.entries[key].get("sources")
            print(f"  {ms:8.4f}  {key}" + (f"  = {' + '.join(sources)}" if sources else ""))
        print(f"{args.arch}: {predicted:.4f} ms predicted")
    return 0


def _describe(options: dict[str, Any]) -> str:
    """A space's options in brief: the scalar settings of its shape."""
    shape = options.get("config", options) if isinstance(options.get("config"), dict) else options
    scalars = [f"{k} {v}" for k, v in shape.items() if isinstance(v, (int, float, str))][:4]
    return ", ".join(scalars) or "default shape"


@register
class Lut(Command):
    name = "lut"

    def add_parser(self, subparsers: Any) -> argparse.ArgumentParser:
        p = subparsers.add_parser(
            "lut", help="per-layer latency look-up tables (latency objective of layer-wise spaces)",
            description="Latency look-up tables: every distinct layer of a layer-wise space's networks (mobilenetv3) "
                        "timed on this machine (or imported from OFA's and NSGANetV2's tables), so that a search "
                        "predicts a network's latency as the sum of its layers (nsganet search --objectives "
                        "error,latency --lut FILE).")
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
        spaces = layerwise_spaces()
        b.add_argument("--space", choices=spaces, default=spaces[0], help=f"search space (default {spaces[0]})")
        source = b.add_mutually_exclusive_group()
        source.add_argument("--supernet", metavar="FILE",
                            help="supernet file ('nsganet supernet train'): its space, shape, classes and channels")
        source.add_argument("--preset", metavar="NAME",
                            help="shape preset of the space; mobilenetv3: small (the default: the one 'nsganet "
                                 "search --space mobilenetv3' trains on the embedded digits) or imagenet")
        b.add_argument("--image-size", type=image_size_arg, metavar="PX",
                       help="image size of the presets that take one (default: the preset's)")
        b.add_argument("--width-mult", type=positive_float, metavar="W",
                       help="width multiplier of the preset (default: the preset's)")
        b.add_argument("--num-classes", type=num_classes_arg, metavar="N",
                       help="classifier outputs of a preset (default: the preset's)")
        b.add_argument("--in-channels", type=in_channels_arg, metavar="C",
                       help="input channels of a preset (default: the preset's)")
        b.add_argument("--backend", choices=BACKENDS, default=BACKENDS[0],
                       help=f"engine to time with (default {BACKENDS[0]})")
        b.add_argument("--batch", type=positive_int, default=1, metavar="N", help="batch size (default %(default)s)")
        b.add_argument("--threads", type=positive_int, default=1, metavar="N", help="threads (default %(default)s)")
        b.add_argument("--repeats", type=positive_int, metavar="N",
                       help=f"timed runs per layer (default {DEFAULT_REPEATS})")
        b.add_argument("--warmup", type=nonnegative_int, metavar="N",
                       help=f"untimed runs first (default {DEFAULT_WARMUP})")
        b.add_argument("--resolutions", type=int_list(1, what="resolution"), metavar="R1,R2",
                       help="only these input resolutions of the space (default all)")
        b.add_argument("--calibration", type=nonnegative_int, metavar="N",
                       help=f"whole networks timed to fit the constant overhead (default {DEFAULT_CALIBRATION})")
        b.add_argument("--seed", type=nonnegative_int, default=0, metavar="N", help="random seed (default %(default)s)")
        b.add_argument("--out", metavar="FILE", default="lut.json", help="table file to write (default %(default)s)")
        b.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
        i = sub.add_parser(
            "import", help="convert OFA or NSGANetV2 YAML latency tables into an nsganet table",
            description="Import per-layer latency tables of once-for-all MobileNetV3 networks in OFA's or "
                        "NSGANetV2's YAML format ({mean: ms, var: ...} under keys such as MBConv-input:112x112x16-"
                        "output:56x56x24-expand:3-kernel:5-stride:2-idskip:0-se:0) for the ImageNet shape (OFA's "
                        "w1.0 supernet, 1000 classes, RGB; --width-mult 1.2 for w1.2) or a --supernet FILE. A network "
                        "is predicted as the sum of its layers' means; networks with a layer the files lack are "
                        "refused, naming the entry needed. Entries of other widths, classes or resolutions are left "
                        "out; keys of unknown layer kinds are errors (or left out with --skip-unknown).",
            epilog="examples:\n"
                   "  nsganet lut import data/i7-8700K_lut.yaml --device i7-8700K --out lut-i7.json\n"
                   "  nsganet lut import data/i7-8700K_lut.yaml --width-mult 1.2 --out lut-i7-w12.json\n"
                   "  nsganet lut import note10/160_lookup_table.yaml note10/224_lookup_table.yaml --out lut.json",
            formatter_class=argparse.RawDescriptionHelpFormatter)
        i.set_defaults(space="mobilenetv3", preset="imagenet", image_size=None)
        i.add_argument("files", nargs="+", metavar="FILE.yaml",
                       help="YAML table(s) of one format (OFA's come one file per resolution)")
        shape = i.add_mutually_exclusive_group()
        shape.add_argument("--supernet", metavar="FILE",
                           help="supernet file (nsganet's or OFA's checkpoint) whose shape the table is for "
                                "(default: the imagenet preset)")
        shape.add_argument("--width-mult", type=positive_float, metavar="W",
                           help="width multiplier of the imagenet preset (default 1.0; OFA also has 1.2)")
        i.add_argument("--num-classes", type=num_classes_arg, metavar="N", help="classifier outputs (default 1000)")
        i.add_argument("--in-channels", type=in_channels_arg, metavar="C", help="input channels (default 3)")
        i.add_argument("--backend", choices=BACKENDS, default=BACKENDS[0],
                       help=f"engine the table stands for (the files do not say; a search's --latency-backend must "
                            f"match; default {BACKENDS[0]})")
        i.add_argument("--batch", type=positive_int, default=1, metavar="N",
                       help="batch size the table stands for (a search's --latency-batch must match; default "
                            "%(default)s)")
        i.add_argument("--device", metavar="NAME", help="where the table was measured, for the record (e.g. i7-8700K)")
        i.add_argument("--skip-unknown", action="store_true",
                       help="leave out (with a warning) entries of layer kinds nsganet does not know instead of "
                            "refusing the file")
        i.add_argument("--out", metavar="FILE", default="lut.json", help="table file to write (default %(default)s)")
        s = sub.add_parser("show", help="summarise a look-up table",
                           description="Print what a table was built for (or imported from), where, and its largest "
                                       "entries.")
        s.add_argument("file", metavar="FILE", help="table file")
        s.add_argument("--arch", metavar="STRING", help="also predict this architecture's latency, layer by layer")
        return p

    def run(self, args: argparse.Namespace) -> int:
        if args.lut_command == "build":
            return _build(args)
        if args.lut_command == "import":
            return _import(args)
        return _show(args)
