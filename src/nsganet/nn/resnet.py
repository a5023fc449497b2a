"""A small hand-designed baseline: the CIFAR-style ResNet of He et al. (2016), Sec. 4.2.

A 3x3 stem, then ``stages`` stages of ``blocks`` basic blocks (two 3x3
convolutions with batch norm and a residual connection), the width doubling
and the resolution halving at each stage after the first, global average
pooling and a linear classifier. ``blocks=1, width=16`` is ResNet-8;
``blocks=3`` is ResNet-20 (depth 6n + 2). Shortcuts that change shape are a
strided 1x1 convolution with batch norm (option B). Sized by ``width`` and
``blocks`` it makes a baseline of about the FLOPs of a searched network,
trained with the same recipe (:func:`nsganet.train.recipe.fit`).
"""

from __future__ import annotations

from torch import Tensor, nn


class BasicBlock(nn.Module):
    """conv3x3-BN-ReLU-conv3x3-BN plus the (projected) input, then ReLU."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                                          nn.BatchNorm2d(out_channels))

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + self.shortcut(x))


class ResNet(nn.Module):
    """CIFAR-style ResNet: ``stages`` stages of ``blocks`` basic blocks, ``width`` channels doubling per stage."""

    def __init__(self, num_classes: int = 10, in_channels: int = 3, width: int = 16, blocks: int = 1,
                 stages: int = 3) -> None:
        super().__init__()
        if num_classes < 1 or in_channels < 1 or width < 1 or blocks < 1 or stages < 1:
            raise ValueError("ResNet needs positive num_classes, in_channels, width, blocks and stages")
        self.stem = nn.Sequential(nn.Conv2d(in_channels, width, 3, padding=1, bias=False), nn.BatchNorm2d(width),
                                  nn.ReLU(inplace=True))
        layers: list[nn.Module] = []
        channels = width
        for stage in range(stages):
            out_channels = width * 2 ** stage
            for block in range(blocks):
                stride = 2 if stage > 0 and block == 0 else 1
                layers.append(BasicBlock(channels, out_channels, stride))
                channels = out_channels
        self.layers = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(channels, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    @property
    def depth(self) -> int:
        """Weighted layers on the main path: 2 per block, the stem and the classifier."""
        return 2 * len(self.layers) + 2

    def forward(self, x: Tensor) -> Tensor:
        x = self.layers(self.stem(x))
        return self.classifier(self.pool(x).flatten(1))
