"""``nsganet evaluate NET``: test accuracy of an exported network, under common corruptions and FGSM attacks."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from nsganet.commands.args import add_data_arguments, add_device_arguments, int_list, nonnegative_int, positive_int
from nsganet.commands.base import Command, register
from nsganet.errors import NsganetError
from nsganet.robustness import DEFAULT_EPS
from nsganet.utils.checks import float_list
from nsganet.utils.files import atomic_write

EVAL_DIR = "eval"


def eps_list(text: str) -> list[float]:
    """An argparse type for FGSM strengths: comma-separated non-negative numbers, or ``none``."""
    return [] if text.strip() == "none" else float_list(text)


def _test_data(spec: Any, args: argparse.Namespace) -> tuple[Any, dict[str, Any]]:
    """The test split to evaluate on and a description of where it came from."""
    test, record = spec.load_data(args.dataset, args.data, args.image_size, split="test", mode=args.data_mode)
    if test is None:
        where = record["name"] if record["data"] is None else f"{record['name']} at {record['data']}"
        raise NsganetError(f"dataset {where} has no test split; evaluate needs held-out test images "
                           "(a numpy file with x_test, y_test, or a folder with val/ or test/)")
    if args.images is not None and args.images < len(test):
        import torch

        test = test.subset(torch.arange(args.images))
    return test, {**record, "split": "test", "images": len(test)}


def _onnx_session(folder: Path, spec: Any) -> tuple[Path, Any]:
    """NET/net.onnx and an ONNX Runtime session of it, refused unless it takes and returns what the network does."""
    from nsganet.deploy.netfile import ONNX_FILE
    from nsganet.utils.onnx import io_mismatch

    path = folder / ONNX_FILE
    if not path.is_file():
        raise NsganetError(f"{path} is missing; export it again (nsganet select) or leave out --onnx")
    try:
        import onnxruntime as ort

        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types for unreadable files
        raise NsganetError(f"cannot load {path} with ONNX Runtime: {str(exc).splitlines()[0][:200]}") from None
    mismatch = io_mismatch(session, (spec.in_channels, spec.input_size, spec.input_size), spec.num_classes)
    if mismatch:
        raise NsganetError(f"{path} is not the network of net.json: {mismatch}; export it again (nsganet select, "
                           "nsganet train) or leave out --onnx")
    return path, session


def _onnx_check(path: Path, session: Any, test: Any, spec: Any, model: Any, batch_size: int) -> dict[str, Any]:
    """Clean accuracy of NET/net.onnx under ONNX Runtime, and how often it agrees with the PyTorch network."""
    import numpy as np
    import torch

    from nsganet.robustness.fgsm import Normalized
    from nsganet.utils.onnx import INPUT_NAME

    net = Normalized(model.cpu(), spec.mean, spec.std).eval()  # ONNX Runtime runs on the CPU here
    correct = agree = 0
    for start in range(0, len(test), batch_size):
        x = test.read(slice(start, start + batch_size)).to(torch.float32) / 255.0
        normalised = ((x - net.mean) / net.std).numpy()
        onnx_pred = np.asarray(session.run(None, {INPUT_NAME: normalised})[0]).argmax(axis=1)
        with torch.no_grad():
            torch_pred = net(x).argmax(dim=1).numpy()
        correct += int((onnx_pred == test.labels[start:start + batch_size].numpy()).sum())
        agree += int((onnx_pred == torch_pred).sum())
    return {"file": str(path), "clean_accuracy": 100.0 * correct / len(test),
            "agreement_with_torch": 100.0 * agree / len(test)}


def _table(report: Any, eps_text: list[str]) -> list[str]:
    """The report as aligned text lines."""
    lines = [f"{'clean accuracy':<18}{report.clean_accuracy:7.2f} %  ({report.images} test images of "
             f"{report.dataset}, chance {report.chance:.1f} %)"]
    if report.corruptions:
        severities = list(next(iter(report.corruptions.values())))
        header = f"{'corruption':<18}{'mean':>7}" + "".join(f"{'s' + str(s):>7}" for s in severities)
        lines += ["", header, "-" * len(header)]
        for name, by_severity in report.corruptions.items():
            lines.append(f"{name:<18}{report.corruption_mean(name):7.2f}"
                         + "".join(f"{by_severity[s]:7.2f}" for s in severities))
        lines.append("-" * len(header))
        lines.append(f"{'mean':<18}{report.mean_corruption_accuracy:7.2f}"
                     + "".join(f"{report.severity_means[s]:7.2f}" for s in severities))
    if report.fgsm_eps:
        width = max(7, *(len(e) + 1 for e in eps_text))
        lines += ["", f"{'FGSM eps':<18}" + "".join(f"{e:>{width}}" for e in eps_text),
                  f"{'accuracy':<18}" + "".join(f"{a:>{width}.2f}" for a in report.fgsm_accuracy)]
        area = report.robustness_area
        if area is not None:
            lines.append(f"{'robustness area':<18}{area:7.2f} / 100  (normalised area above chance under "
                         f"accuracy vs eps; objective 'robustness' = {100 - area:.2f})")
    return lines


@register
class Evaluate(Command):
    name = "evaluate"

    def add_parser(self, subparsers: Any) -> argparse.ArgumentParser:

        p = subparsers.add_parser(
            "evaluate", help="test accuracy of an exported network, under common corruptions and FGSM attacks",
            description="Evaluate an exported network (a folder with net.json and net.pt, from 'nsganet select' or "
                        "'nsganet train', or NSGANetV2's net.config with net.init or net.inherited) on the TEST "
                        "split of its data: clean accuracy; accuracy under common "
                        "corruptions (noise, blur, weather, digital; CIFAR-10-C style) at severities 1-5; accuracy "
                        "under FGSM attacks of strength eps (pixel scale 0..1) and the normalised area under that "
                        "curve (NSGANetV1 supplement, Fig. 21: 100 = no accuracy lost, 0 = chance). Writes "
                        "evaluation.json, corruptions.png and fgsm.png to NET/eval.",
            epilog="examples:\n"
                   "  nsganet evaluate runs/demo/selected/arch-00012/train\n"
                   "  nsganet evaluate NET --corruptions gaussian_noise,contrast --severities 1,3,5 --eps 0,0.05,0.1\n"
                   "  nsganet evaluate NET --corruptions none --onnx   # clean accuracy, checked with ONNX Runtime\n"
                   "  nsganet evaluate NET --weights NET/train/best.pt --images 1000\n"
                   "corruptions: gaussian_noise shot_noise impulse_noise speckle_noise gaussian_blur defocus_blur\n"
                   "             motion_blur fog brightness contrast saturate (colour only) pixelate jpeg_compression",
            formatter_class=argparse.RawDescriptionHelpFormatter)
        p.add_argument("net", metavar="NET", help="exported network folder (with net.json)")
        p.add_argument("--weights", metavar="FILE", help="state_dict to load instead of NET/net.pt")
        add_data_arguments(p, default_text="the network's, from net.json, else the embedded digits")
        p.add_argument("--images", type=positive_int, metavar="N", help="evaluate the first N test images only")
        p.add_argument("--corruptions", default="all", metavar="all|none|A,B",
                       help="corruptions to apply (default all that fit the channel count)")
        p.add_argument("--severities", type=int_list(1, 5, "severity"), default=[1, 2, 3, 4, 5], metavar="S1,S2",
                       help="corruption severities, 1..5 (default all)")
        p.add_argument("--eps", type=eps_list, metavar="E1,E2|none",
                       help="FGSM strengths, pixel scale 0..1 (default the NSGANetV1 supplement's "
                            f"{','.join(map(str, DEFAULT_EPS))})")
        p.add_argument("--batch-size", type=positive_int, default=256, metavar="N",
                       help="batch size (default %(default)s)")
        p.add_argument("--seed", type=nonnegative_int, default=0, metavar="N",
                       help="seed of the corruption noise (default %(default)s)")
        p.add_argument("--out", metavar="DIR", help=f"output folder (default NET/{EVAL_DIR})")
        add_device_arguments(p)
        p.add_argument("--onnx", action="store_true",
                       help="cross-check clean accuracy with ONNX Runtime on NET/net.onnx")
        return p

    def run(self, args: argparse.Namespace) -> int:
        from nsganet.deploy.netfile import SPEC_FILE, WEIGHTS_FILE

        folder = Path(args.net)
        folder = folder.parent if folder.name == SPEC_FILE else folder
        if not folder.is_dir():
            raise NsganetError(f"network folder {folder} does not exist (export networks with 'nsganet select')")
        if args.weights is not None and not Path(args.weights).is_file():
            raise NsganetError(f"weights file {args.weights} does not exist")

        import torch

        from nsganet.deploy.netfile import open_net
        from nsganet.robustness.corruptions import corruption_names
        from nsganet.robustness.evaluate import evaluate_network
        from nsganet.robustness.plots import evaluation_title, plot_corruptions, plot_fgsm

        corruption_names(None, args.corruptions)  # unknown names fail before anything is loaded
        torch.manual_seed(args.seed)  # only matters for a network without weights
        net = open_net(folder)  # read once: another tool's files are converted on reading
        spec, model = net.spec, net.build(args.weights)
        weights = args.weights if args.weights is not None else (str(net.weights) if net.has_weights else None)
        if args.onnx and args.weights is not None:
            raise NsganetError("--onnx checks NET/net.onnx, which holds NET/net.pt's weights, not --weights")
        if args.onnx and (weights is None or net.weights != folder / WEIGHTS_FILE):
            raise NsganetError(f"--onnx needs trained weights in {folder / WEIGHTS_FILE} (net.onnx holds the same)")
        onnx = _onnx_session(folder, spec) if args.onnx else None  # a file of another network fails here, first
        test, data = _test_data(spec, args)
        names = corruption_names(test.channels, args.corruptions)
        eps = list(DEFAULT_EPS) if args.eps is None else args.eps
        out = Path(args.out) if args.out is not None else folder / EVAL_DIR
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise NsganetError(f"cannot create {out}: {exc.strerror or exc}") from None
        if weights is None:  # warned only once the input is known to be good: an error stays the only line
            print(f"nsganet: warning: {folder} has no {WEIGHTS_FILE}: evaluating untrained weights "
                  "(train it with 'nsganet train', or give --weights FILE)", file=sys.stderr)

        def progress(line: str) -> None:
            print(f"  {line}", file=sys.stderr, flush=True)

        report = evaluate_network(model, test, spec.mean, spec.std, corruptions=names, severities=args.severities,
                                  eps=eps, batch_size=args.batch_size, seed=args.seed, progress=progress,
                                  device=args.device, amp=args.amp)
        result: dict[str, Any] = {"net": str(folder), "space": spec.space, "arch": spec.arch, "weights": weights,
                                  "data": data, **report.to_dict()}
        if onnx is not None:
            result["onnx"] = _onnx_check(*onnx, test, spec, model, args.batch_size)
        atomic_write(out / "evaluation.json", json.dumps(result, indent=1) + "\n")
        title = evaluation_title(folder, spec.space, data["name"], report.images)
        if report.corruptions:
            plot_corruptions(report, out / "corruptions.png", title)
        if report.fgsm_eps:
            plot_fgsm(report, out / "fgsm.png", title)

        print(f"network  {folder} ({spec.space}, weights {weights or 'untrained'})")
        for line in _table(report, [f"{e:g}" for e in eps]):
            print(line)
        if args.onnx:
            check = result["onnx"]
            print(f"onnx runtime clean accuracy {check['clean_accuracy']:.2f} %, predictions agree with torch on "
                  f"{check['agreement_with_torch']:.2f} % of images")
        print(f"wrote {out / 'evaluation.json'}" + (", corruptions.png" if report.corruptions else "")
              + (", fgsm.png" if report.fgsm_eps else "") + f" in {report.seconds:.1f} s")
        return 0
