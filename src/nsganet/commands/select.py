"""``nsganet select RUN``: pick architectures from a run's front and export each to its own folder."""

from __future__ import annotations

import argparse
from typing import Any

from nsganet.commands.args import key_value, positive_int
from nsganet.commands.base import Command, register


@register
class Select(Command):
    name = "select"

    def add_parser(self, subparsers: Any) -> argparse.ArgumentParser:
        p = subparsers.add_parser(
            "select", help="pick architectures from a run's front by preference or trade-off and export them",
            description="Pick K architectures of a run's non-dominated front and export each to RUN/selected/arch-N/ "
                        "(a folder holding it already is left as it is, or refused if exported with other settings) "
                        "(net.json: space, architecture, build settings; net.pt: weights inherited from the run's "
                        "supernet, runs of supernet spaces such as mobilenetv3 only; net.onnx). With --prefer, the K "
                        "nearest to a reference point by the achievement scalarizing function (objectives normalised "
                        "over the front; those left out count at their best value); without, the K of highest "
                        "trade-off (knees). Picking two or more always includes the most accurate architecture.",
            epilog="examples:\n"
                   "  nsganet select runs/demo -n 3\n"
                   "  nsganet select runs/demo -n 2 --prefer error=1.5,flops=0.6\n"
                   "  nsganet select runs/demo -n 1 --channels 16 --layers 2   # export a larger network to re-train\n"
                   "  nsganet select runs/demo -n 1 --channels 48 --layers 4 -B stem=imagenet  # V1 ImageNet",
            formatter_class=argparse.RawDescriptionHelpFormatter)
        p.add_argument("run", metavar="RUN", help="run directory of 'nsganet search'")
        p.add_argument("-n", type=positive_int, default=3, metavar="K",
                       help="architectures to select (default %(default)s)")
        p.add_argument("--prefer", metavar="NAME=VALUE,...",
                       help="reference point in objective units, e.g. error=1.5,flops=5")
        p.add_argument("--out", metavar="DIR", help="folder for the exported networks (default RUN/selected)")
        p.add_argument("--channels", type=positive_int, metavar="C",
                       help="width of the exported networks (default: as searched)")
        p.add_argument("--layers", type=positive_int, metavar="N",
                       help="cells per stage of the exported networks (default: as searched)")
        p.add_argument("-B", "--build-option", action="append", type=key_value, metavar="KEY=VALUE",
                       dest="build_option",
                       help="an option of the exported networks (repeatable), e.g. -B stem=imagenet: micro networks "
                            "with V1's ImageNet stem (default: as searched)")
        p.add_argument("--no-onnx", action="store_true", help="do not write net.onnx")
        p.add_argument("--force", action="store_true",
                       help="replace a folder that holds the architecture exported with other settings (by default "
                            "refused, naming them; one with the same settings is left as it is)")
        return p

    def run(self, args: argparse.Namespace) -> int:
        from nsganet.deploy.select import export_selection

        selected = export_selection(args.run, n=args.n, prefer=args.prefer, out=args.out, channels=args.channels,
                                    layers=args.layers, onnx=not args.no_onnx,
                                    build_options=dict(args.build_option or []), force=args.force)
        objectives = list(selected[0].evaluation.objectives)
        score = "asf" if args.prefer else "trade-off"
        header = ["rank", "#", *objectives, score, "folder"]
        rows = [[str(s.rank), str(s.evaluation.seq), *(f"{s.evaluation.objectives[o]:.4g}" for o in objectives),
                 f"{s.score:.4g}", str(s.folder)] for s in selected]
        widths = [max(len(r[c]) for r in [header, *rows]) for c in range(len(header))]
        for row in [header, *rows]:
            cells = (cell.rjust(w) if i < len(row) - 1 else cell for i, (cell, w) in enumerate(zip(row, widths)))
            print("  ".join(cells))
        for s in selected:
            note = {"unchanged": " (unchanged: exported with these settings already)",
                    "replaced": " (replaced: --force)"}.get(s.status, "")
            print(f"  {s.folder.name}{note}: {s.evaluation.arch}")
        print(f"next: nsganet train {selected[0].folder}    then: nsganet evaluate {selected[0].folder}/train")
        return 0
