"""NSGANetV2's re-training recipes: PIL's operations on tensors, RandAugment, AutoAugment, random erasing, the
pixel-space pipeline, RMSpropTF and the schedules, MobileNetV3's drop-path, recipe settings and `--recipe`."""

from __future__ import annotations

import copy
import json
import math

import numpy as np
import pytest
import torch
from PIL import Image, ImageEnhance, ImageOps
from test_retrain import fit_stopped_after_first_epoch, micro_model, micro_spec, mobilenet_folder, states_equal
from test_streaming import write_image_folder

from nsganet.cli import main
from nsganet.data import BatchLoader, load_split, make_loader
from nsganet.data import pixel_ops as ops
from nsganet.data.augment import Augmentation
from nsganet.data.policies import (
    AUTOAUGMENT_FILL,
    CIFAR10_POLICY,
    RAND_OPS,
    AutoAugment,
    RandAugment,
    RandAugmentDraws,
    RandomErasing,
    RecipeAugmentation,
    autoaugment_argument,
    parse_rand_augment,
    policy_named,
    rand_argument,
)
from nsganet.deploy.netfile import read_spec, write_net
from nsganet.errors import NsganetError
from nsganet.nn.mobilenetv3 import MBConv
from nsganet.train.checkpoint import CHECKPOINT_FILE, load_checkpoint
from nsganet.train.loop import cosine_lr
from nsganet.train.optim import LRSchedule, RMSpropTF, decay_groups, make_optimizer
from nsganet.train.recipe import RetrainSettings, fit
from nsganet.train.settings import CROPS, ERASE_MODES, IMAGENET_LR_PER_256, RECIPES


@pytest.fixture(autouse=True)
def _one_thread(one_thread):
    """Small networks: one thread is fastest, and the same thread count keeps runs bit-identical."""


def rgb_images(n: int = 4, h: int = 9, w: int = 11, seed: int = 0, low: int = 0, high: int = 256) -> np.ndarray:
    return np.random.default_rng(seed).integers(low, high, (n, h, w, 3), dtype=np.uint8)


def as_batch(images: np.ndarray) -> torch.Tensor:
    """N×H×W×C (or N×H×W) uint8 -> N×C×H×W [0, 1] floats."""
    t = torch.from_numpy(images)
    t = t.unsqueeze(-1) if t.dim() == 3 else t
    return t.permute(0, 3, 1, 2).float() / 255.0


def as_levels(x: torch.Tensor) -> np.ndarray:
    """N×C×H×W [0, 1] -> N×H×W×C integer levels (N×H×W for one channel)."""
    v = (x * 255).round().to(torch.int64).permute(0, 2, 3, 1).numpy()
    return v[..., 0] if v.shape[-1] == 1 else v


def pil_results(images: np.ndarray, op) -> np.ndarray:
    return np.stack([np.asarray(op(Image.fromarray(a))) for a in images]).astype(np.int64)


def uniform_draws(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# -- PIL's operations on tensors ------------------------------------------------------------------------------------

FILL = (124, 116, 104)  # timm's img_mean for ImageNet's mean

PIL_CASES = {
    "invert": (ImageOps.invert, ops.invert),
    "posterize 3 bits": (lambda im: ImageOps.posterize(im, 3), lambda x: ops.posterize(x, 3)),
    "solarize at 100": (lambda im: ImageOps.solarize(im, 100), lambda x: ops.solarize(x, 100)),
    "solarize_add 60": (lambda im: im.point([min(255, i + 60) if i < 128 else i for i in range(256)] * 3),
                        lambda x: ops.solarize_add(x, 60)),
    "autocontrast": (ImageOps.autocontrast, ops.auto_contrast),
    "equalize": (ImageOps.equalize, ops.equalize),
    "color 1.72": (lambda im: ImageEnhance.Color(im).enhance(1.72), lambda x: ops.color(x, 1.72)),
    "color 0.3": (lambda im: ImageEnhance.Color(im).enhance(0.3), lambda x: ops.color(x, 0.3)),
    "contrast 1.72": (lambda im: ImageEnhance.Contrast(im).enhance(1.72), lambda x: ops.contrast(x, 1.72)),
    "contrast 0.4": (lambda im: ImageEnhance.Contrast(im).enhance(0.4), lambda x: ops.contrast(x, 0.4)),
    "brightness 1.3": (lambda im: ImageEnhance.Brightness(im).enhance(1.3), lambda x: ops.brightness(x, 1.3)),
    "sharpness 1.9": (lambda im: ImageEnhance.Sharpness(im).enhance(1.9), lambda x: ops.sharpness(x, 1.9)),
    "sharpness 0.1": (lambda im: ImageEnhance.Sharpness(im).enhance(0.1), lambda x: ops.sharpness(x, 0.1)),
    "rotate 27 nearest": (lambda im: im.rotate(27, resample=Image.NEAREST, fillcolor=FILL),
                          lambda x: ops.rotate(x, 27, tuple(f / 255 for f in FILL), "nearest")),
    "rotate -13 bilinear": (lambda im: im.rotate(-13, resample=Image.BILINEAR, fillcolor=FILL),
                            lambda x: ops.rotate(x, -13, tuple(f / 255 for f in FILL), "bilinear")),
    "rotate -13 bicubic": (lambda im: im.rotate(-13, resample=Image.BICUBIC, fillcolor=FILL),
                           lambda x: ops.rotate(x, -13, tuple(f / 255 for f in FILL), "bicubic")),
    "shear_x 0.27 nearest": (lambda im: im.transform(im.size, Image.AFFINE, (1, 0.27, 0, 0, 1, 0), Image.NEAREST,
                                                     fillcolor=(128,) * 3),
                             lambda x: ops.shear_x(x, 0.27, 128 / 255, "nearest")),
    "shear_x -0.27 bilinear": (lambda im: im.transform(im.size, Image.AFFINE, (1, -0.27, 0, 0, 1, 0),
                                                       Image.BILINEAR, fillcolor=(128,) * 3),
                               lambda x: ops.shear_x(x, -0.27, 128 / 255, "bilinear")),
    "shear_y 0.2 bicubic": (lambda im: im.transform(im.size, Image.AFFINE, (1, 0, 0, 0.2, 1, 0), Image.BICUBIC,
                                                    fillcolor=(128,) * 3),
                            lambda x: ops.shear_y(x, 0.2, 128 / 255, "bicubic")),
    "translate_x -2.6 nearest": (lambda im: im.transform(im.size, Image.AFFINE, (1, 0, -2.6, 0, 1, 0),
                                                         fillcolor=(128,) * 3),
                                 lambda x: ops.translate_x(x, -2.6, 128 / 255, "nearest")),
    "translate_y 2.6 bilinear": (lambda im: im.transform(im.size, Image.AFFINE, (1, 0, 0, 0, 1, 2.6), Image.BILINEAR,
                                                         fillcolor=(128,) * 3),
                                 lambda x: ops.translate_y(x, 2.6, 128 / 255, "bilinear")),
}


@pytest.mark.parametrize("case", PIL_CASES)
def test_operations_give_pil_results_on_8bit_rgb_images(case):
    pil_op, tensor_op = PIL_CASES[case]
    images = np.concatenate([rgb_images(3), rgb_images(1, seed=1, low=40, high=120)])  # one of narrow range
    got = tensor_op(as_batch(images))
    assert got.shape == (4, 3, 9, 11) and got.dtype == torch.float32
    assert np.array_equal(as_levels(got), pil_results(images, pil_op))


@pytest.mark.parametrize("case", ["equalize", "autocontrast", "contrast 0.4", "color 0.3", "sharpness 1.9"])
def test_operations_give_pil_results_on_grey_images(case):
    pil_op, tensor_op = PIL_CASES[case]
    images = np.random.default_rng(2).integers(0, 256, (3, 7, 8), dtype=np.uint8)
    images[2] = images[2] // 4 + 100  # a narrow range
    assert np.array_equal(as_levels(tensor_op(as_batch(images))), pil_results(images, pil_op))


def test_operations_do_what_they_say_on_crafted_images():
    x = as_batch(rgb_images(2, 8, 8))
    assert torch.equal(ops.rotate(x, 90.0, 0.5, "nearest"), torch.rot90(x, 1, dims=(2, 3)))  # counter-clockwise
    moved = ops.translate_x(x, 3.0, 0.25, "nearest")  # the image moves 3 px left, grey enters on the right
    assert torch.equal(moved[..., :5], x[..., 3:]) and bool((moved[..., 5:] == 64 / 255).all())
    v = as_levels(ops.posterize(x, 4))
    assert (v % 16 == 0).all()
    sol = as_levels(ops.solarize(x, 128))
    raw = as_levels(x)
    assert np.array_equal(sol, np.where(raw < 128, raw, 255 - raw))
    narrow = as_batch(rgb_images(1, 8, 8, low=50, high=101))
    stretched = as_levels(ops.auto_contrast(narrow))
    assert stretched.min(axis=(0, 1, 2)).tolist() == [0, 0, 0]
    assert (stretched.max(axis=(0, 1, 2)) >= 254).all()  # PIL truncates hi * scale + offset: 254 or 255
    few = rgb_images(2, 32, 32, low=100, high=110)
    flat = as_levels(ops.equalize(as_batch(few)))
    assert flat.min() <= 25 and flat.max() >= 230  # ten levels spread over the range
    assert np.array_equal(flat, pil_results(few, ImageOps.equalize))
    assert ops.brightness(x, 0.0).abs().max() == 0  # black
    assert ops.contrast(x, 0.0).flatten(1).std(dim=1).max() == 0  # one flat grey per image
    grey = ops.color(x, 0.0)
    assert torch.equal(grey[:, 0], grey[:, 1]) and torch.equal(grey[:, 1], grey[:, 2])
    assert torch.equal(ops.sharpness(x, 1.0), x) and torch.equal(ops.color(x, 1.0), x)


def test_per_image_arguments_apply_to_their_own_image():
    x = as_batch(rgb_images(3))
    factors = torch.tensor([0.2, 1.0, 1.8])
    together = ops.contrast(x, factors)
    alone = torch.cat([ops.contrast(x[i:i + 1], float(f)) for i, f in enumerate(factors)])
    assert torch.equal(together, alone)
    degrees = torch.tensor([5.0, -20.0, 30.0])
    modes = torch.tensor([True, False, True])
    together = ops.rotate(x, degrees, 0.5, modes)
    alone = torch.cat([ops.rotate(x[i:i + 1], float(d), 0.5, "bicubic" if m else "bilinear")
                       for i, (d, m) in enumerate(zip(degrees, modes))])
    assert torch.equal(together, alone)


# -- RandAugment -------------------------------------------------------------------------------------------------

def test_rand_augment_magnitudes_map_to_timm_ranges():
    m9, plus = torch.tensor([9.0]), torch.tensor([False])
    expected = {"Rotate": 27.0, "ShearX": 0.27, "ShearY": 0.27, "TranslateXRel": 0.405, "TranslateYRel": 0.405,
                "Color": 1.72, "Contrast": 1.72, "Brightness": 1.72, "Sharpness": 1.72, "Posterize": 3.0,
                "Solarize": 230.0, "SolarizeAdd": 99.0, "AutoContrast": 0.0, "Equalize": 0.0, "Invert": 0.0}
    assert set(expected) == set(RAND_OPS) and len(RAND_OPS) == 15
    for name, value in expected.items():
        assert float(rand_argument(name, m9, plus)) == pytest.approx(value), name
    for name in ("Rotate", "ShearX", "TranslateYRel"):  # signed ones flip with negate
        assert float(rand_argument(name, m9, torch.tensor([True]))) == pytest.approx(-expected[name])
    assert float(rand_argument("Color", m9, torch.tensor([True]))) == pytest.approx(1.72)  # enhance: no sign
    m10 = torch.tensor([10.0])
    assert float(rand_argument("Rotate", m10, plus)) == 30.0 and float(rand_argument("Posterize", m10, plus)) == 4
    assert float(rand_argument("Solarize", m10, plus)) == 256.0
    assert float(rand_argument("Color", m10, plus)) == pytest.approx(1.9)


def test_rand_augment_strings_parse_as_timm():
    ra = parse_rand_augment("rand-m9-mstd0.5")
    assert (ra.magnitude, ra.magnitude_std, ra.num_layers, ra.prob, ra.magnitude_max) == (9.0, 0.5, 2, 0.5, 10.0)
    ra = parse_rand_augment("rand-n3-m7-mstd101-mmax12")
    assert (ra.magnitude, ra.num_layers, ra.magnitude_max) == (7.0, 3, 12.0) and math.isinf(ra.magnitude_std)
    assert parse_rand_augment("rand").magnitude == 10.0
    for bad, message in (("rand-m9-inc1", "unknown RandAugment section 'inc1'"), ("augmix-m3", "starts with 'rand'"),
                         ("rand-n0", "positive integer"), ("rand-mx", "unknown RandAugment section")):
        with pytest.raises(NsganetError, match=message) as info:
            parse_rand_augment(bad)
        assert "\n" not in str(info.value)
    assert policy_named("rand-m9-mstd0.5", fill=(0.2,)).fill == (0.2,)
    with pytest.raises(NsganetError, match="unknown augmentation policy 'v0'"):
        policy_named("v0")


def test_rand_augment_draws_follow_their_distributions():
    ra = RandAugment()
    d = ra.draw(20000, uniform_draws(0))
    assert d.op.shape == (20000, 2) and d.magnitude.dtype == torch.float64
    frequencies = torch.bincount(d.op.flatten(), minlength=15).double() / d.op.numel()
    assert (frequencies - 1 / 15).abs().max() < 0.01  # uniform over the 15 operations
    assert abs(d.applies.double().mean() - 0.5) < 0.01  # each applies with probability 0.5
    assert abs(d.magnitude.mean() - 9.0) < 0.01 and abs(d.magnitude.std() - 0.5) < 0.01  # N(9, 0.5)
    assert d.magnitude.min() >= 0 and d.magnitude.max() <= 10  # clipped to the magnitude scale
    assert abs(d.negate.double().mean() - 0.5) < 0.01 and abs(d.bicubic.double().mean() - 0.5) < 0.01
    strong = RandAugment(magnitude=9.8, magnitude_std=1.0).draw(20000, uniform_draws(1))
    assert strong.magnitude.max() == 10.0 and (strong.magnitude == 10.0).double().mean() > 0.3
    uniform = RandAugment(magnitude=9, magnitude_std=math.inf).draw(20000, uniform_draws(2))
    assert uniform.magnitude.min() < 0.05 and uniform.magnitude.max() > 8.95
    assert abs(uniform.magnitude.mean() - 4.5) < 0.1


def test_rand_augment_applies_exactly_the_drawn_operations():
    x = as_batch(rgb_images(4, 12, 12))
    ra = RandAugment(fill=(0.4, 0.5, 0.6))

    def draws(op: str, applies: bool, magnitude: float = 9.0, negate: bool = False, bicubic: bool = False):
        n = len(x)
        first = torch.full((n, 1), RAND_OPS.index(op))
        return RandAugmentDraws(torch.cat([first, first], 1), torch.tensor([[applies, False]] * n),
                                torch.full((n, 2), magnitude, dtype=torch.float64), torch.full((n, 2), negate),
                                torch.full((n, 2), bicubic))

    assert torch.equal(ra.apply(x, draws("Invert", True)), ops.invert(x))
    assert torch.equal(ra.apply(x, draws("Invert", False)), x)  # a layer that does not apply changes nothing
    rotated = ra.apply(x, draws("Rotate", True, magnitude=10.0, negate=True, bicubic=True))
    assert torch.equal(rotated, ops.rotate(x, -30.0, (0.4, 0.5, 0.6), "bicubic"))
    moved = ra.apply(x, draws("TranslateXRel", True, magnitude=5.0))  # 0.225 of 12 px = 2.7 px to the left
    assert torch.equal(moved, ops.translate_x(x, 0.225 * 12, (0.4, 0.5, 0.6), "bilinear"))
    assert torch.equal(ra.apply(x, draws("Posterize", True, magnitude=7.0)), ops.posterize(x, 2))


def test_rand_augment_is_reproducible_and_shards_make_up_the_batch():
    x = as_batch(rgb_images(16, 10, 10))
    ra = RandAugment(fill=(0.5, 0.5, 0.5))
    a = ra.apply(x, ra.draw(16, uniform_draws(7)))
    assert torch.equal(a, ra.apply(x, ra.draw(16, uniform_draws(7))))
    assert not torch.equal(a, ra.apply(x, ra.draw(16, uniform_draws(8))))
    assert not torch.equal(a, x) and a.shape == x.shape and a.dtype == torch.float32
    assert torch.equal(a, ops.quantized(a)) and a.min() >= 0 and a.max() <= 1  # 8-bit levels in [0, 1]
    draws = ra.draw(16, uniform_draws(7))
    assert torch.equal(ra.apply(x[1::2], draws.rows(slice(1, None, 2))), a[1::2])


# -- AutoAugment's CIFAR-10 policy -------------------------------------------------------------------------------

def test_cifar10_policy_is_the_published_table():
    assert len(CIFAR10_POLICY) == 25 and all(len(sub) == 2 for sub in CIFAR10_POLICY)
    assert CIFAR10_POLICY[0] == (("Invert", 0.1, 7), ("Contrast", 0.2, 6))
    assert CIFAR10_POLICY[21] == (("TranslateY", 0.9, 9), ("TranslateY", 0.7, 9))
    assert CIFAR10_POLICY[24] == (("TranslateY", 0.7, 9), ("AutoContrast", 0.9, 1))
    names = {name for sub in CIFAR10_POLICY for name, _, _ in sub}
    assert names == {"Invert", "Contrast", "Rotate", "TranslateX", "TranslateY", "Sharpness", "ShearY",
                     "AutoContrast", "Equalize", "Posterize", "Color", "Brightness", "Solarize"}
    assert all(0 <= p <= 1 and 0 <= m <= 9 for sub in CIFAR10_POLICY for _, p, m in sub)
    assert AutoAugment().fill == AUTOAUGMENT_FILL == (128 / 255,)


def test_cifar10_magnitude_indices_map_to_the_policy_ranges():
    index = torch.arange(10)
    plus, minus = torch.zeros(10, dtype=torch.bool), torch.ones(10, dtype=torch.bool)
    assert autoaugment_argument("Posterize", index, plus, 32, 32).tolist() == [8, 8, 7, 7, 6, 6, 5, 5, 4, 4]
    solarize = autoaugment_argument("Solarize", index, plus, 32, 32)
    assert solarize[0] == 256 and solarize[9] == 0 and solarize[4] == pytest.approx(256 * 5 / 9)
    assert autoaugment_argument("TranslateX", index, plus, 32, 24)[9] == pytest.approx(150 / 331 * 32)
    assert autoaugment_argument("TranslateY", index, minus, 32, 24)[9] == pytest.approx(-150 / 331 * 24)
    assert autoaugment_argument("ShearY", index, minus, 32, 32)[9] == pytest.approx(-0.3)
    assert autoaugment_argument("Rotate", index, minus, 32, 32)[9] == pytest.approx(30)  # never negated
    assert autoaugment_argument("Color", index, minus, 32, 32)[9] == pytest.approx(0.1)
    assert autoaugment_argument("Brightness", index, plus, 32, 32)[3] == pytest.approx(1.3)


def test_autoaugment_draws_sub_policies_uniformly_and_respects_probabilities():
    d = AutoAugment().draw(25000, uniform_draws(0))
    counts = torch.bincount(d.policy, minlength=25).double() / 25000
    assert (counts - 1 / 25).abs().max() < 0.006
    x = as_batch(rgb_images(1, 4, 4)).expand(4000, 3, 4, 4)
    policy = AutoAugment(policy=((("Invert", 0.3, 0), ("Solarize", 0.0, 9)),))  # solarize never applies
    out = policy.apply(x, policy.draw(4000, uniform_draws(1)))
    inverted = (out == ops.invert(x)).flatten(1).all(dim=1)
    unchanged = (out == x).flatten(1).all(dim=1)
    assert bool((inverted ^ unchanged).all()) and abs(inverted.double().mean() - 0.3) < 0.025


def test_the_cifar10_policy_augments_reproducibly_in_8bit_levels():
    x = as_batch(rgb_images(32, 16, 16))
    policy = AutoAugment()
    a = policy.apply(x, policy.draw(32, uniform_draws(3)))
    assert a.shape == x.shape and torch.equal(a, ops.quantized(a)) and a.min() >= 0 and a.max() <= 1
    assert torch.equal(a, policy.apply(x, policy.draw(32, uniform_draws(3))))
    changed = (a != x).flatten(1).any(dim=1).double().mean()
    assert 0.5 < changed < 1.0  # most images change, some sub-policies leave an image alone


# -- random erasing ----------------------------------------------------------------------------------------------

def test_random_erasing_probability_and_boxes_follow_timm():
    erasing = RandomErasing(prob=0.2, mode="pixel")
    d = erasing.draw(20000, 16, 16, uniform_draws(0))
    assert abs(d.erase.double().mean() - 0.2) < 0.01  # boxes almost always fit at these areas
    area = (d.height * d.width).double()[d.erase] / 256
    assert area.min() >= 4 / 256 and area.max() <= (1 / 3) * 1.2  # sides rounded: 5.1 px^2 can give 1 x 4
    aspect = (d.height.double() / d.width.double())[d.erase]
    assert aspect.min() >= 0.3 * 0.6 and aspect.max() <= (1 / 0.3) / 0.6
    assert bool((d.top >= 0).all() and (d.top + d.height <= 16).all() and (d.left + d.width <= 16).all())
    assert bool((d.width < 16).all() and (d.height < 16).all())  # timm: strictly smaller than the image


@pytest.mark.parametrize("mode", ERASE_MODES)
def test_random_erasing_fills_its_box_and_nothing_else(mode):
    x = torch.full((400, 3, 12, 12), 7.0)
    erasing = RandomErasing(prob=1.0, mode=mode)
    draws = erasing.draw(400, 12, 12, uniform_draws(1))
    out = erasing.apply(x, draws)
    box = torch.zeros_like(x, dtype=torch.bool)
    for i in range(400):
        t, lft, h, w = (int(v[i]) for v in (draws.top, draws.left, draws.height, draws.width))
        box[i, :, t:t + h, lft:lft + w] = bool(draws.erase[i])
    assert bool((out[~box] == 7.0).all()) and draws.erase.all()
    values = out[box]
    if mode == "const":
        assert bool((values == 0).all())
    elif mode == "pixel":  # normal noise per pixel
        assert abs(values.mean()) < 0.02 and abs(values.std() - 1) < 0.02
    else:  # one normal colour per box and channel
        for i in range(5):
            patch = out[i][box[i]].view(3, -1)
            assert bool((patch == patch[:, :1]).all())
    again = erasing.apply(x, erasing.draw(400, 12, 12, uniform_draws(1)))
    assert torch.equal(out, again)
    assert torch.equal(erasing.apply(x[5:9], draws.rows(slice(5, 9))), out[5:9])
    with pytest.raises(NsganetError, match="random erasing mode"):
        RandomErasing(mode="noise")


# -- the pixel-space pipeline and the loaders --------------------------------------------------------------------

def test_resized_crop_boxes_and_images():
    # torchvision's RandomResizedCrop, simulated with Python's random over 100,000 images: mean area 0.4893
    top, left, h, w = ops.crop_boxes(20000, 32, 32, uniform_draws(0))
    area = (h * w).double() / 1024
    ratio = w.double() / h.double()
    assert area.min() >= 0.08 * 0.85 and area.max() <= 1.0 and area.mean() == pytest.approx(0.489, abs=0.01)
    assert ratio.min() >= 0.75 * 0.8 and ratio.max() <= (4 / 3) / 0.8
    assert bool((top + h <= 32).all() and (left + w <= 32).all() and (top >= 0).all())
    x = as_batch(rgb_images(2, 8, 8))
    whole = ops.resized_crop(x, torch.zeros(2, dtype=torch.long), torch.zeros(2, dtype=torch.long),
                             torch.full((2,), 8), torch.full((2,), 8), torch.tensor([True, False]))
    assert torch.equal(whole, x)  # the whole image resized to itself
    quarter = ops.resized_crop(x, torch.tensor([0, 4]), torch.tensor([0, 4]), torch.full((2,), 4),
                               torch.full((2,), 4), torch.tensor([False, False]))
    corners = (x[:1, :, :4, :4], x[1:, :, 4:, 4:])  # image 0's top-left quarter, image 1's bottom-right one
    for i, corner in enumerate(corners):  # each 2x upscaled, bilinear, to 8-bit levels
        upscaled = torch.nn.functional.interpolate(corner, size=(8, 8), mode="bilinear", align_corners=False)
        assert torch.equal(quarter[i:i + 1], ops.quantized(upscaled))
    assert torch.equal(quarter, ops.quantized(quarter))


def test_pixel_pipeline_through_the_batch_loader_normalises_correctly(digits):
    train, _ = digits
    mean, std = [0.3], [0.2]
    plain = next(iter(BatchLoader(train, 64, mean, std, shuffle=False)))[0]
    nothing = RecipeAugmentation(crop="pad", crop_padding=0)  # pixel space, nothing random
    x = next(iter(BatchLoader(train, 64, mean, std, shuffle=False, augmentation=nothing)))[0]
    assert x.shape == plain.shape and x.dtype == torch.float32 and torch.allclose(x, plain, atol=1e-5)
    black = RecipeAugmentation(crop="pad", crop_padding=0, cutout=4, fill=(0.0,))
    holes = next(iter(BatchLoader(train, 64, mean, std, shuffle=False, augmentation=black, seed=1)))[0]
    changed = ~torch.isclose(holes, plain, atol=1e-5)
    assert changed.any() and torch.allclose(holes[changed], torch.tensor((0.0 - 0.3) / 0.2))  # black pixels
    filled = RecipeAugmentation(crop="pad", crop_padding=2, fill=(0.3,))  # the mean: 0 after normalising
    padded = next(iter(BatchLoader(train, 64, mean, std, shuffle=False, augmentation=filled, seed=1)))[0]
    assert (padded.abs() < 1e-6).any()


@pytest.mark.parametrize("mode", ["memory", "stream"])
@pytest.mark.parametrize("recipe", ["imagenet", "cifar"])
def test_shards_of_the_recipe_pipelines_make_up_the_global_batch(tmp_path_factory, mode, recipe):
    folder = write_image_folder(tmp_path_factory.mktemp("images"), per_class=6)
    data = load_split("folder", folder, "train", mode=mode)
    mean, std = [0.5] * 3, [0.25] * 3
    augmentation = RetrainSettings.for_recipe(recipe, erase_prob=0.5).augmentation(data, mean=mean)
    assert isinstance(augmentation, RecipeAugmentation)

    def loader(shard):
        return make_loader(data, 6, mean, std, shuffle=True, augmentation=augmentation, seed=1, drop_last=True,
                           workers=0, shard=shard)

    whole, rank0, rank1 = (list(loader(s)) for s in ((0, 1), (0, 2), (1, 2)))
    assert len(whole) == 3
    for (x, y), (x0, y0), (x1, y1) in zip(whole, rank0, rank1):
        assert torch.allclose(x[0::2], x0) and torch.allclose(x[1::2], x1)
        assert torch.equal(y[0::2], y0) and torch.equal(y[1::2], y1)
    plain = list(make_loader(data, 6, mean, std, shuffle=True, seed=1, drop_last=True, workers=0))
    assert not torch.allclose(whole[0][0], plain[0][0])  # augmented
    assert [torch.equal(a[1], b[1]) for a, b in zip(whole, plain)] == [True] * 3  # the same images


def test_recipe_augmentations_are_built_from_the_settings(digits):
    train, _ = digits
    assert CROPS == ("pad", "resized") and ERASE_MODES == ("const", "rand", "pixel")
    v1 = RetrainSettings().augmentation(train)
    assert type(v1) is Augmentation and v1 == Augmentation(crop_padding=1, flip=False, cutout=4)
    cifar = RetrainSettings.for_recipe("cifar").augmentation(train, mean=[0.3])
    assert isinstance(cifar.policy, AutoAugment) and cifar.fill == (0.0,) and cifar.cutout == 4
    assert cifar.crop == "pad" and cifar.crop_padding == 1 and cifar.erasing is None
    imagenet = RetrainSettings.for_recipe("imagenet").augmentation(train, mean=[0.485])
    assert imagenet.crop == "resized" and imagenet.cutout == 0
    assert isinstance(imagenet.policy, RandAugment) and imagenet.policy.fill == (124 / 255,)  # timm's img_mean
    assert imagenet.erasing == RandomErasing(prob=0.2, mode="pixel")


# -- the optimiser and the schedules -----------------------------------------------------------------------------

@pytest.mark.parametrize("momentum", [0.9, 0.0])
def test_rmsprop_tf_follows_its_formulas_step_by_step(momentum):
    p = torch.nn.Parameter(torch.tensor([0.5, -1.0, 2.0], dtype=torch.float64))
    opt = RMSpropTF([p], lr=0.02, alpha=0.9, eps=1e-3, weight_decay=0.1, momentum=momentum)
    grads = [torch.tensor([0.3, -0.2, 0.0]), torch.tensor([-1.0, 0.5, 0.1]), torch.tensor([0.2, 0.2, -0.4])]
    w, s, b = p.detach().clone(), torch.ones(3, dtype=torch.float64), torch.zeros(3, dtype=torch.float64)
    for g in grads:
        p.grad = g.double().clone()
        opt.step()
        g = g.double() + 0.1 * w  # coupled weight decay
        s = s + 0.1 * (g * g - s)  # mean square from 1
        if momentum:
            b = momentum * b + 0.02 * g / torch.sqrt(s + 1e-3)  # lr inside the buffer, eps inside the root
            w = w - b
        else:
            w = w - 0.02 * g / torch.sqrt(s + 1e-3)
        assert torch.allclose(p.detach(), w, rtol=0, atol=1e-15)
    assert opt.state[p]["step"] == 3 and torch.allclose(opt.state[p]["square_avg"], s, atol=1e-15)
    first = 0.02 * 0.35 / math.sqrt(0.9 + 0.1 * 0.35 ** 2 + 1e-3)  # step 1 of parameter 0: g = 0.3 + 0.1 * 0.5
    fresh = torch.nn.Parameter(torch.tensor([0.5], dtype=torch.float64))
    one = RMSpropTF([fresh], lr=0.02, alpha=0.9, eps=1e-3, weight_decay=0.1, momentum=momentum)
    fresh.grad = torch.tensor([0.3], dtype=torch.float64)
    one.step()
    assert float(fresh.detach()) == pytest.approx(0.5 - first, abs=1e-15)


def test_weight_decay_groups_skip_biases_and_batch_norm():
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.Flatten(),
                                torch.nn.Linear(4, 2))
    plain, decayed = decay_groups(model, 1e-5)
    assert plain["weight_decay"] == 0 and decayed["weight_decay"] == 1e-5
    assert [tuple(p.shape) for p in decayed["params"]] == [(4, 1, 3, 3), (2, 4)]
    assert len(plain["params"]) == 4  # conv bias, BN weight and bias, linear bias
    imagenet = make_optimizer(model, RetrainSettings.for_recipe("imagenet"))
    assert isinstance(imagenet, RMSpropTF) and [g["weight_decay"] for g in imagenet.param_groups] == [0.0, 1e-5]
    group = imagenet.param_groups[1]
    assert (group["lr"], group["eps"], group["alpha"], group["momentum"]) == (0.024, 1e-3, 0.9, 0.9)
    v1 = make_optimizer(model, RetrainSettings())
    assert type(v1) is torch.optim.SGD and len(v1.param_groups) == 1
    assert {k: v1.param_groups[0][k] for k in ("lr", "momentum", "weight_decay", "nesterov")} == {
        "lr": 0.025, "momentum": 0.9, "weight_decay": 5e-4, "nesterov": False}


def test_schedules_give_timm_and_torch_rates():
    step = LRSchedule("step", 0.024, 450, 10, decay_epochs=2.4, decay_rate=0.97, warmup_epochs=3, warmup_lr=1e-6)
    warm = [1e-6 + e * (0.024 - 1e-6) / 3 for e in range(3)]
    assert [step.epoch_lr(e) for e in range(3)] == pytest.approx(warm, rel=1e-15)
    assert step.epoch_lr(3) == pytest.approx(0.024 * 0.97)  # 3 // 2.4 = 1: the decay counts the warm-up
    assert step.epoch_lr(4) == pytest.approx(0.024 * 0.97) and step.epoch_lr(5) == pytest.approx(0.024 * 0.97 ** 2)
    assert step.epoch_lr(449) == pytest.approx(0.024 * 0.97 ** 187)
    assert not step.per_step and step.lr(29) == step.epoch_lr(2) and step.lr(30) == step.epoch_lr(3)
    cosine_epoch = LRSchedule("cosine-epoch", 0.01, 150, 10)
    assert [cosine_epoch.lr(10 * e + 7) for e in (0, 75, 149)] == pytest.approx(
        [0.01, 0.005, 0.5 * 0.01 * (1 + math.cos(math.pi * 149 / 150))])
    cosine = LRSchedule("cosine", 0.025, 30, 10)
    assert cosine.per_step and all(cosine.lr(s) == cosine_lr(0.025, s, 300) for s in (0, 1, 17, 299))


# -- MobileNetV3's drop-path and dropout --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def mobilenet(tmp_path_factory):
    folder, subnet = mobilenet_folder(tmp_path_factory.mktemp("mobilenet"))
    return folder, subnet


def test_mobilenet_drop_path_scales_by_block_and_leaves_eval_alone(mobilenet):
    _, subnet = mobilenet
    model = copy.deepcopy(subnet)
    n = len(model.blocks)
    x = torch.randn(6, 1, 8, 8)
    with torch.no_grad():
        before = model.eval()(x)
        model.drop_path_prob = 0.4
        assert model.drop_path_prob == 0.4
        assert [b.drop_prob for b in model.blocks] == pytest.approx([0.4 * i / n for i in range(n)])
        assert torch.equal(model(x), before)  # eval mode: no drop-path, bit for bit
        model.drop_path_prob = 0.0
        model.dropout.p = 0.0  # the classifier's dropout draws too
        model.train()
        torch.manual_seed(0)
        a = model(x)
        torch.manual_seed(1)
        assert torch.equal(model(x), a)  # rate 0 in training: no random draws, nothing dropped
    assert not any(k.endswith("drop_prob") for k in model.state_dict())


def test_mbconv_drop_path_drops_whole_samples_of_the_residual_branch(mobilenet):
    _, subnet = mobilenet
    block = next(b for b in subnet.blocks if b.residual)
    block = copy.deepcopy(block).train()
    x = torch.randn(200, block.spec.in_channels, 4, 4)
    with torch.no_grad():
        branch = block(x) - x  # drop_prob 0: the branch plus the input
        block.drop_prob = 0.5
        torch.manual_seed(3)
        out = block(x)
    dropped = (out == x).flatten(1).all(dim=1)
    kept = torch.isclose(out, x + 2 * branch, atol=1e-5).flatten(1).all(dim=1)
    assert bool((dropped ^ kept).all()) and 0.35 < dropped.double().mean() < 0.65  # kept ones scaled by 1 / 0.5
    plain = next(b for b in subnet.blocks if not b.residual)
    plain = copy.deepcopy(plain).train()
    plain.drop_prob = 0.9
    assert isinstance(plain, MBConv)
    z = torch.randn(4, plain.spec.in_channels, 8, 8)
    with torch.no_grad():
        torch.manual_seed(0)
        first = plain(z)
        torch.manual_seed(0)
        plain.drop_prob = 0.0
        assert torch.equal(plain(z), first)  # no residual: nothing to drop


# -- recipe settings ---------------------------------------------------------------------------------------------

def test_recipes_hold_the_published_settings():
    assert RetrainSettings.for_recipe("v1") == RetrainSettings.defaults() == RetrainSettings()
    assert RetrainSettings.for_recipe("v1", True) == RetrainSettings.defaults(True)
    imagenet = RetrainSettings.for_recipe("imagenet")
    assert (imagenet.recipe, imagenet.epochs, imagenet.batch_size, imagenet.lr) == ("imagenet", 450, 1024, 0.024)
    assert (imagenet.optimizer, imagenet.opt_eps, imagenet.rms_decay, imagenet.momentum) == ("rmsproptf", 1e-3, 0.9,
                                                                                             0.9)
    assert (imagenet.weight_decay, imagenet.decay_bias_bn, imagenet.grad_clip) == (1e-5, False, None)
    assert (imagenet.schedule, imagenet.decay_epochs, imagenet.decay_rate) == ("step", 2.4, 0.97)
    assert (imagenet.warmup_epochs, imagenet.warmup_lr) == (3, 1e-6)
    assert (imagenet.auto_augment, imagenet.erase_prob, imagenet.erase_mode, imagenet.crop) == (
        "rand-m9-mstd0.5", 0.2, "pixel", "resized")
    assert (imagenet.dropout, imagenet.drop_path, imagenet.drop_path_schedule) == (0.2, 0.2, "constant")
    assert (imagenet.ema_decay, imagenet.ema_warmup, imagenet.label_smoothing) == (0.9999, False, 0.1)
    assert (imagenet.distill, imagenet.temperature, imagenet.auxiliary) == (1.0, 1.0, False)
    assert RetrainSettings.for_recipe("imagenet", batch_size=256).lr == pytest.approx(IMAGENET_LR_PER_256)
    assert RetrainSettings.for_recipe("imagenet", batch_size=256, lr=0.1).lr == 0.1
    assert RetrainSettings.for_recipe("imagenet", finetune=True) == imagenet
    cifar = RetrainSettings.for_recipe("cifar")
    assert (cifar.epochs, cifar.batch_size, cifar.lr, cifar.momentum, cifar.weight_decay, cifar.grad_clip) == (
        150, 96, 0.01, 0.9, 4e-5, 5.0)
    assert (cifar.optimizer, cifar.schedule, cifar.auto_augment, cifar.fill, cifar.cutout) == (
        "sgd", "cosine-epoch", "cifar10", "black", None)
    assert (cifar.dropout, cifar.drop_path, cifar.drop_path_schedule, cifar.ema_decay, cifar.distill) == (
        0.2, 0.2, "constant", None, 0.0)
    assert set(RECIPES) == {"v1", "imagenet", "cifar"}


@pytest.mark.parametrize(("call", "message"), [
    (lambda: RetrainSettings.for_recipe("darts"), "unknown recipe 'darts'; choose from v1, imagenet, cifar"),
    (lambda: RetrainSettings.for_recipe("cifar", warmup=3), "unknown re-training setting 'warmup'"),
    (lambda: RetrainSettings.for_recipe("cifar", recipe="v1"), "cannot record recipe='v1'"),
    (lambda: RetrainSettings(schedule="linear"), "schedule must be one of cosine, cosine-epoch, step"),
    (lambda: RetrainSettings(optimizer="adam"), "optimizer must be one of sgd, rmsproptf"),
    (lambda: RetrainSettings(warmup_epochs=2), "warmup_epochs must be 0 with the per-step cosine"),
    (lambda: RetrainSettings(auto_augment="rand-m9-x"), "unknown RandAugment section 'x'"),
    (lambda: RetrainSettings(auto_augment="imagenet"), "unknown augmentation policy 'imagenet'"),
    (lambda: RetrainSettings(erase_prob=1.5), "erase_prob must be in"),
    (lambda: RetrainSettings(dropout=1.0), "dropout must be in"),
    (lambda: RetrainSettings(decay_rate=0.0), "decay_rate must be in"),
    (lambda: RetrainSettings.for_recipe("imagenet", batch_size=0), "batch_size must be a positive integer"),
])
def test_bad_recipe_settings_are_one_line_errors(call, message):
    with pytest.raises(NsganetError, match=message) as info:
        call()
    assert "\n" not in str(info.value)


# -- training with the recipes -----------------------------------------------------------------------------------

def test_imagenet_recipe_trains_and_resumes_to_bit_identical_weights(tmp_path, digits, mobilenet):
    """RMSpropTF, step decay after warm-up, RandAugment, erasing, dropout, drop-path, EMA: stop, resume, compare."""
    train, valid = digits
    _, subnet = mobilenet
    settings = RetrainSettings.for_recipe("imagenet", epochs=3, batch_size=64, distill=0.0, warmup_epochs=1)
    rates = []
    model = copy.deepcopy(subnet)

    def spy(module, args):  # a hook gets the module it runs on (the EMA's copy has it too)
        if module.training:
            rates.append((module.drop_path_prob, module.dropout.p))

    model.register_forward_pre_hook(spy)
    reference = fit(model, train, valid, settings, tmp_path / "reference", seed=4, progress=False)
    assert set(rates) == {(0.2, 0.2)}  # constant drop-path and the recipe's dropout from the first epoch
    lr = 0.006 * 64 / 256
    assert reference.history["lr"] == pytest.approx([1e-6, lr * 0.97 ** 0, lr * 0.97 ** 0])  # epochs 1, 2 // 2.4 = 0
    checkpoint = load_checkpoint(tmp_path / "reference" / CHECKPOINT_FILE)
    assert checkpoint["settings"]["recipe"] == "imagenet" and checkpoint["settings"]["optimizer"] == "rmsproptf"
    assert checkpoint["optimizer"]["param_groups"][1]["weight_decay"] == 1e-5
    assert checkpoint["ema_updates"] == 3 * 3
    assert not states_equal(reference.model.state_dict(), subnet.state_dict())

    fit_stopped_after_first_epoch(copy.deepcopy(subnet), train, valid, settings, tmp_path / "resumed", seed=4)
    resumed_model = copy.deepcopy(subnet)
    resumed = fit(resumed_model, train, valid, settings, tmp_path / "resumed", seed=4, resume=True, progress=False)
    assert states_equal(resumed_model.state_dict(), reference.model.state_dict())
    assert states_equal(resumed.best_state, reference.best_state)
    assert resumed.history["train_loss"] == reference.history["train_loss"]
    with pytest.raises(NsganetError, match=r"started with setting lr=0\.0015, now 0\.01"):
        fit(copy.deepcopy(subnet), train, valid, RetrainSettings.for_recipe("cifar", epochs=3, batch_size=64),
            tmp_path / "resumed", seed=4, resume=True, progress=False)


def test_cifar_recipe_trains_with_a_per_epoch_cosine(tmp_path, digits):
    train, valid = digits
    settings = RetrainSettings.for_recipe("cifar", epochs=3, batch_size=64)
    model = micro_model(auxiliary=False)
    result = fit(model, train, valid, settings, tmp_path, seed=1, progress=False)
    assert result.history["lr"] == pytest.approx([cosine_lr(0.01, e, 3) for e in range(3)])
    assert model.drop_path_prob == 0.2  # constant
    assert result.history["train_loss"][-1] < result.history["train_loss"][0]


def test_cli_trains_with_a_recipe_and_records_its_settings(tmp_path, capsys):
    folder = write_net(tmp_path / "net", micro_spec(), onnx=False)
    args = ["train", str(folder), "--recipe", "cifar", "--epochs", "1", "--train-images", "64", "--batch-size", "32",
            "-q", "--no-onnx"]
    assert main([*args, "--sched", "step", "--warmup-epochs", "1", "--aa", "rand-m5-mstd0.5", "--grad-clip", "none",
                 "--dropout", "none", "--no-decay-bias-bn", "--reprob", "0.25", "--remode", "rand", "--fill", "mean",
                 "--auxiliary"]) == 0
    assert "trained from scratch: 1 epoch" in capsys.readouterr().out
    settings = json.loads((folder / "train" / "train.json").read_text())["settings"]
    assert settings["recipe"] == "cifar" and settings["lr"] == 0.01 and settings["epochs"] == 1
    assert (settings["schedule"], settings["warmup_epochs"], settings["auto_augment"]) == ("step", 1, "rand-m5-mstd0.5")
    assert (settings["grad_clip"], settings["dropout"], settings["decay_bias_bn"]) == (None, None, False)
    assert (settings["erase_prob"], settings["erase_mode"], settings["fill"], settings["auxiliary"]) == (
        0.25, "rand", "mean", True)
    assert load_checkpoint(folder / "train" / CHECKPOINT_FILE)["settings"] == settings
    assert read_spec(folder / "train").source["trained"]["epochs"] == 1


def test_cli_recipe_errors_are_one_line(tmp_path, capsys):
    folder = write_net(tmp_path / "net", micro_spec(), onnx=False)

    def error(*args: str) -> str:
        assert main(["train", str(folder), "-q", "--no-onnx", *args]) == 2
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0, err
        return err

    assert "names none" in error("--recipe", "imagenet", "--epochs", "1")  # distillation needs a supernet
    assert "unknown augmentation policy 'autumn'" in error("--aa", "autumn")
    assert "warmup_epochs must be 0 with the per-step cosine" in error("--warmup-epochs", "2")
    assert "contradict" in error("--auxiliary", "--no-auxiliary")
    with pytest.raises(SystemExit) as exit_info:
        main(["train", str(folder), "--recipe", "darts"])
    assert exit_info.value.code == 2 and "invalid choice: 'darts'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["train", str(folder), "--opt-eps", "-1"])
    assert not (folder / "train" / CHECKPOINT_FILE).exists()
