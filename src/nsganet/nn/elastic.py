"""Elastic (dynamic) layers of a once-for-all supernet: weights sliced to the active width and kernel.

Each layer owns the weights of its largest configuration and computes with a
slice of them: the first channels (after :meth:`DynamicMBConv.sort_channels`,
the most important ones) and, for depthwise convolutions, a transformed centre
crop of the largest kernel. The semantics follow OFA's ``dynamic_op`` module
exactly (same slicing, same kernel transform, same squeeze-excite width), so
its checkpoints load by renaming keys (:mod:`nsganet.nn.ofa_weights`). Activations and pooling
are those of the static network (:mod:`nsganet.nn.mobilenetv3`).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from nsganet.nn.mobilenetv3 import HSigmoid, global_pool, make_activation
from nsganet.nn.mobilenetv3_shape import middle_channels, se_channels

# -- dynamic operations -------------------------------------------------------------------------


class DynamicConv2d(nn.Module):
    """Pointwise (1x1) convolution using the first ``out_channels`` filters over the input's channels."""

    def __init__(self, max_in_channels: int, max_out_channels: int) -> None:
        super().__init__()
        self.max_in_channels = max_in_channels
        self.max_out_channels = max_out_channels
        self.weight = nn.Parameter(torch.empty(max_out_channels, max_in_channels, 1, 1))
        nn.init.kaiming_uniform_(self.weight, a=5 ** 0.5)  # nn.Conv2d's default

    def active_weight(self, out_channels: int, in_channels: int) -> torch.Tensor:
        return self.weight[:out_channels, :in_channels]

    def forward(self, x: torch.Tensor, out_channels: int | None = None) -> torch.Tensor:
        out_channels = self.max_out_channels if out_channels is None else out_channels
        return F.conv2d(x, self.active_weight(out_channels, x.shape[1]).contiguous())


class DynamicSeparableConv2d(nn.Module):
    """Depthwise convolution with an elastic kernel size.

    The weight is that of the largest kernel. A smaller kernel is obtained step
    by step (7 -> 5 -> 3): the centre crop of the previous kernel, flattened,
    goes through a learned ``k^2 x k^2`` matrix shared by all channels
    (parameters ``7to5_matrix``, ``5to3_matrix``, initialised to the identity,
    so that at initialisation a small kernel is the centre crop of the large one).
    """

    def __init__(self, max_channels: int, kernel_sizes: Sequence[int], stride: int = 1) -> None:
        super().__init__()
        self.max_channels = max_channels
        self.kernel_sizes = tuple(sorted(set(kernel_sizes)))
        self.max_kernel_size = self.kernel_sizes[-1]
        self.stride = stride
        self.weight = nn.Parameter(torch.empty(max_channels, 1, self.max_kernel_size, self.max_kernel_size))
        nn.init.kaiming_uniform_(self.weight, a=5 ** 0.5)
        for small, large in zip(self.kernel_sizes[:-1], self.kernel_sizes[1:]):
            self.register_parameter(self.matrix_name(large, small), nn.Parameter(torch.eye(small * small)))

    @staticmethod
    def matrix_name(large: int, small: int) -> str:
        return f"{large}to{small}_matrix"

    def active_filter(self, channels: int, kernel_size: int) -> torch.Tensor:
        """The ``(channels, 1, k, k)`` filter of the active configuration."""
        if kernel_size not in self.kernel_sizes:
            raise ValueError(f"kernel size {kernel_size} is not one of {self.kernel_sizes}")
        filters = self.weight[:channels]
        for i in range(len(self.kernel_sizes) - 1, 0, -1):
            large, small = self.kernel_sizes[i], self.kernel_sizes[i - 1]
            if large <= kernel_size:
                break
            start = large // 2 - small // 2
            crop = filters[:, :, start:start + small, start:start + small].contiguous()
            flat = F.linear(crop.view(-1, small * small), getattr(self, self.matrix_name(large, small)))
            filters = flat.view(channels, 1, small, small)
        return filters

    def forward(self, x: torch.Tensor, kernel_size: int | None = None) -> torch.Tensor:
        kernel_size = self.max_kernel_size if kernel_size is None else kernel_size
        channels = x.shape[1]
        filters = self.active_filter(channels, kernel_size).contiguous()
        return F.conv2d(x, filters, None, self.stride, kernel_size // 2, 1, channels)


class DynamicBatchNorm2d(nn.BatchNorm2d):
    """Batch norm over the first channels of its statistics and affine parameters.

    With all channels it is a plain :class:`~torch.nn.BatchNorm2d`; with fewer
    it normalises with slices (views, so training updates the running
    statistics of the active channels in place). Momentum ``None`` means a
    cumulative average, as for :class:`~torch.nn.BatchNorm2d`.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        channels = x.shape[1]
        if channels == self.num_features:
            return super().forward(x)
        factor = 0.0
        if self.training and self.track_running_stats:
            self.num_batches_tracked.add_(1)
            factor = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
        use_batch_stats = self.training or not self.track_running_stats
        mean = self.running_mean[:channels] if self.running_mean is not None else None
        var = self.running_var[:channels] if self.running_var is not None else None
        weight = self.weight[:channels] if self.weight is not None else None
        bias = self.bias[:channels] if self.bias is not None else None
        return F.batch_norm(x, mean, var, weight, bias, use_batch_stats, factor, self.eps)


class DynamicSE(nn.Module):
    """Squeeze-and-excitation over the input's channels, with ``se_channels(channels)`` hidden units.

    Parameters are stored as 1x1 convolution weights (``reduce``, ``expand``)
    sized for the widest input and sliced to the active one.
    """

    def __init__(self, max_channels: int) -> None:
        super().__init__()
        self.max_channels = max_channels
        hidden = se_channels(max_channels)
        self.reduce = nn.Conv2d(max_channels, hidden, 1, bias=True)
        self.expand = nn.Conv2d(hidden, max_channels, 1, bias=True)
        self.act = nn.ReLU()
        self.gate = HSigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        channels = x.shape[1]
        hidden = se_channels(channels)
        y = global_pool(x)
        y = F.conv2d(y, self.reduce.weight[:hidden, :channels].contiguous(), self.reduce.bias[:hidden])
        y = self.act(y)
        y = F.conv2d(y, self.expand.weight[:channels, :hidden].contiguous(), self.expand.bias[:channels])
        return x * self.gate(y)


class DynamicLinear(nn.Module):
    """Linear layer over the first input features, producing the first ``out_features`` outputs."""

    def __init__(self, max_in_features: int, max_out_features: int, bias: bool = True) -> None:
        super().__init__()
        self.linear = nn.Linear(max_in_features, max_out_features, bias=bias)
        self.max_out_features = max_out_features

    def forward(self, x: torch.Tensor, out_features: int | None = None) -> torch.Tensor:
        out_features = self.max_out_features if out_features is None else out_features
        weight = self.linear.weight[:out_features, :x.shape[1]].contiguous()
        bias = self.linear.bias[:out_features] if self.linear.bias is not None else None
        return F.linear(x, weight, bias)


# -- the elastic block --------------------------------------------------------------------------


def _permute_bn(bn: nn.BatchNorm2d, index: torch.Tensor) -> None:
    for tensor in (bn.weight, bn.bias, bn.running_mean, bn.running_var):
        if tensor is not None:
            tensor.data = tensor.data.index_select(0, index)


class DynamicMBConv(nn.Module):
    """Inverted-bottleneck layer with elastic kernel size and expansion ratio (OFA's ``DynamicMBConvLayer``).

    1x1 expansion to ``middle_channels(in, expand)`` channels, BN, activation;
    depthwise ``k x k`` (stride), BN, activation; optional squeeze-excite; 1x1
    projection, BN; plus the input when stride is 1 and widths agree. The
    active choice is :attr:`active_kernel_size` and :attr:`active_expand_ratio`.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_sizes: Sequence[int],
                 expand_ratios: Sequence[float], stride: int, act: str, se: bool) -> None:
        super().__init__()
        self.in_channels, self.out_channels, self.stride = in_channels, out_channels, stride
        self.kernel_sizes = tuple(sorted(kernel_sizes))
        self.expand_ratios = tuple(sorted(expand_ratios))
        self.act_name, self.use_se = act, se
        self.residual = stride == 1 and in_channels == out_channels
        mid = middle_channels(in_channels, self.expand_ratios[-1])
        self.expand = DynamicConv2d(in_channels, mid)
        self.expand_bn = DynamicBatchNorm2d(mid)
        self.expand_act = make_activation(act)
        self.depthwise = DynamicSeparableConv2d(mid, self.kernel_sizes, stride)
        self.depthwise_bn = DynamicBatchNorm2d(mid)
        self.depthwise_act = make_activation(act)
        self.se = DynamicSE(mid) if se else None
        self.project = DynamicConv2d(mid, out_channels)
        self.project_bn = DynamicBatchNorm2d(out_channels)
        self.active_kernel_size = self.kernel_sizes[-1]
        self.active_expand_ratio = self.expand_ratios[-1]

    @property
    def active_mid_channels(self) -> int:
        return middle_channels(self.in_channels, self.active_expand_ratio)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.expand_act(self.expand_bn(self.expand(x, self.active_mid_channels)))
        h = self.depthwise_act(self.depthwise_bn(self.depthwise(h, self.active_kernel_size)))
        if self.se is not None:
            h = self.se(h)
        h = self.project_bn(self.project(h, self.out_channels))
        return h + x if self.residual else h

    @torch.no_grad()
    def sort_channels(self) -> torch.Tensor:
        """Reorder the expanded channels by importance (OFA's ``re_organize_middle_weights``).

        Importance is the L1 norm of each expanded channel's projection
        weights; the expansion, depthwise, batch-norm and squeeze-excite weights
        are permuted consistently (and the squeeze-excite hidden units by the
        L1 norm of their expand weights), so the widest configuration computes
        the same function while narrower ones keep the most important channels.
        Returns the permutation applied.
        """
        importance = self.project.weight.abs().sum(dim=(0, 2, 3))
        index = torch.sort(importance, descending=True).indices
        self.project.weight.data = self.project.weight.data.index_select(1, index)
        self.depthwise.weight.data = self.depthwise.weight.data.index_select(0, index)
        _permute_bn(self.depthwise_bn, index)
        if self.se is not None:
            self.se.expand.weight.data = self.se.expand.weight.data.index_select(0, index)
            self.se.expand.bias.data = self.se.expand.bias.data.index_select(0, index)
            self.se.reduce.weight.data = self.se.reduce.weight.data.index_select(1, index)
            se_index = torch.sort(self.se.expand.weight.abs().sum(dim=(0, 2, 3)), descending=True).indices
            self.se.expand.weight.data = self.se.expand.weight.data.index_select(1, se_index)
            self.se.reduce.weight.data = self.se.reduce.weight.data.index_select(0, se_index)
            self.se.reduce.bias.data = self.se.reduce.bias.data.index_select(0, se_index)
        self.expand.weight.data = self.expand.weight.data.index_select(0, index)
        _permute_bn(self.expand_bn, index)
        return index
