"""The twelve NSGANetV1 cell operations (Sec. III-A, supplement D) and the layers they need.

Every operation maps ``channels`` to ``channels`` at the same resolution, or at
half resolution when built with ``stride=2`` (operations on the inputs of a
Reduction cell, as in NASNet-style cells).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn


class ReLUConvBN(nn.Sequential):
    """ReLU, convolution without bias, batch norm."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int | tuple[int, int] = 1,
                 stride: int = 1, padding: int | tuple[int, int] = 0) -> None:
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, bias=False),
            nn.BatchNorm2d(out_channels),
        )


class FactorizedReduce(nn.Module):
    """Halve the resolution without losing pixels: two offset stride-2 1x1 convolutions, concatenated."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.relu = nn.ReLU(inplace=False)
        self.conv_a = nn.Conv2d(in_channels, out_channels // 2, 1, stride=2, bias=False)
        self.conv_b = nn.Conv2d(in_channels, out_channels - out_channels // 2, 1, stride=2, bias=False)
        self.bn = nn.BatchNorm2d(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(x)
        # the second path sees the image shifted by one pixel (zero-padded back to size)
        shifted = nn.functional.pad(x[:, :, 1:, 1:], (0, 1, 0, 1))
        return self.bn(torch.cat([self.conv_a(x), self.conv_b(shifted)], dim=1))


class SepConv(nn.Sequential):
    """Depthwise-separable convolution applied twice in series (supplement D)."""

    def __init__(self, channels: int, kernel_size: int, stride: int) -> None:
        padding = kernel_size // 2
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(channels, channels, kernel_size, stride, padding, groups=channels, bias=False),
            nn.Conv2d(channels, channels, 1, bias=False),
            nn.BatchNorm2d(channels),
            nn.ReLU(inplace=False),
            nn.Conv2d(channels, channels, kernel_size, 1, padding, groups=channels, bias=False),
            nn.Conv2d(channels, channels, 1, bias=False),
            nn.BatchNorm2d(channels),
        )


class DilConv(nn.Sequential):
    """Dilated (rate 2) depthwise convolution followed by a pointwise convolution."""

    def __init__(self, channels: int, kernel_size: int, stride: int, dilation: int = 2) -> None:
        padding = dilation * (kernel_size - 1) // 2
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(channels, channels, kernel_size, stride, padding, dilation, groups=channels, bias=False),
            nn.Conv2d(channels, channels, 1, bias=False),
            nn.BatchNorm2d(channels),
        )


class Conv7x1And1x7(nn.Sequential):
    """A 1x7 then a 7x1 convolution: a 7x7 receptive field at a fraction of the cost."""

    def __init__(self, channels: int, stride: int) -> None:
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(channels, channels, (1, 7), (1, stride), (0, 3), bias=False),
            nn.Conv2d(channels, channels, (7, 1), (stride, 1), (3, 0), bias=False),
            nn.BatchNorm2d(channels),
        )


class SqueezeExcitation(nn.Module):
    """Channel attention (Hu et al., 2018): rescale channels by a gate computed from their means."""

    def __init__(self, channels: int, reduction: int = 4) -> None:
        super().__init__()
        hidden = max(1, channels // reduction)
        self.fc1 = nn.Conv2d(channels, hidden, 1)
        self.fc2 = nn.Conv2d(hidden, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate = nn.functional.adaptive_avg_pool2d(x, 1)
        gate = torch.sigmoid(self.fc2(nn.functional.relu(self.fc1(gate))))
        return x * gate


class LocalBinaryConv(nn.Module):
    """Local binary convolution (Juefei-Xu et al., 2017).

    A fixed, sparse convolution with weights in {-1, 0, +1} (a buffer, not
    learned) followed by ReLU and a learned 1x1 convolution: most of the
    receptive field comes for free in parameters.
    """

    def __init__(self, channels: int, kernel_size: int, stride: int, sparsity: float = 0.5) -> None:
        super().__init__()
        self.stride, self.padding = stride, kernel_size // 2
        signs = torch.randint(0, 2, (channels, channels, kernel_size, kernel_size)) * 2 - 1
        mask = torch.rand(channels, channels, kernel_size, kernel_size) >= sparsity
        self.register_buffer("anchor", (signs * mask).float())
        self.norm_in = nn.BatchNorm2d(channels)
        self.pointwise = nn.Conv2d(channels, channels, 1, bias=False)
        self.norm_out = nn.BatchNorm2d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = nn.functional.conv2d(self.norm_in(x), self.anchor, stride=self.stride, padding=self.padding)
        return self.norm_out(self.pointwise(nn.functional.relu(x)))


def _identity(channels: int, stride: int) -> nn.Module:
    return nn.Identity() if stride == 1 else FactorizedReduce(channels, channels)


def _squeeze_excitation(channels: int, stride: int) -> nn.Module:
    se = SqueezeExcitation(channels)
    return se if stride == 1 else nn.Sequential(FactorizedReduce(channels, channels), se)


#: Operation builders ``(channels, stride) -> module``, in ascending order of complexity:
#: a genome's operation variable indexes this table, so neighbouring values are similar operations.
OPERATIONS: dict[str, Callable[[int, int], nn.Module]] = {
    "identity": _identity,
    "max_pool_3x3": lambda c, s: nn.MaxPool2d(3, stride=s, padding=1),
    "avg_pool_3x3": lambda c, s: nn.AvgPool2d(3, stride=s, padding=1, count_include_pad=False),
    "squeeze_excitation": _squeeze_excitation,
    "lbc_3x3": lambda c, s: LocalBinaryConv(c, 3, s),
    "lbc_5x5": lambda c, s: LocalBinaryConv(c, 5, s),
    "dil_conv_3x3": lambda c, s: DilConv(c, 3, s),
    "dil_conv_5x5": lambda c, s: DilConv(c, 5, s),
    "sep_conv_3x3": lambda c, s: SepConv(c, 3, s),
    "sep_conv_5x5": lambda c, s: SepConv(c, 5, s),
    "sep_conv_7x7": lambda c, s: SepConv(c, 7, s),
    "conv_7x1_1x7": lambda c, s: Conv7x1And1x7(c, s),
}
OPERATION_NAMES: tuple[str, ...] = tuple(OPERATIONS)


def make_operation(name: str, channels: int, stride: int = 1) -> nn.Module:
    """The module of one operation by name."""
    return OPERATIONS[name](channels, stride)
