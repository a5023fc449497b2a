"""A user's own weight-sharing space, written as a user would: SlimSpace, convolutions of chosen widths.

Batch-norm free (so several processes training shares of a batch compute
exactly what one process computes on the whole batch); ``tests`` use it as a
custom space and to check multi-process training.
"""

import itertools
import re

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from nsganet.errors import InvalidArchitecture
from nsganet.spaces import Encoding, SupernetSpace

LAYERS = 2


class SlimNet(nn.Module):
    """Two 3x3 convolutions of chosen widths, global pooling, a classifier: a subnet of :class:`SlimSupernet`."""

    def __init__(self, widths, num_classes, in_channels):
        super().__init__()
        channels = [in_channels, *widths]
        self.convs = nn.ModuleList(nn.Conv2d(a, b, 3, padding=1) for a, b in itertools.pairwise(channels))
        self.classifier = nn.Linear(widths[-1], num_classes)

    def forward(self, x):
        for conv in self.convs:
            x = F.relu(conv(x))
        return self.classifier(x.mean(dim=(2, 3)))


class SlimSupernet(SlimNet):
    """The widest network; a subnet uses the first channels of each layer (slimmable weight sharing)."""

    def __init__(self, max_widths, num_classes, in_channels):
        super().__init__(max_widths, num_classes, in_channels)
        self.active = list(max_widths)

    def forward(self, x):
        cin = x.shape[1]
        for conv, width in zip(self.convs, self.active):
            x = F.relu(F.conv2d(x, conv.weight[:width, :cin], conv.bias[:width], padding=1))
            cin = width
        return F.linear(x.mean(dim=(2, 3)), self.classifier.weight[:, :cin], self.classifier.bias)


class SlimSpace(SupernetSpace):
    """Each layer's width chosen from ``widths``; strings read ``w4-w12``."""

    name = "slim"

    def __init__(self, widths=(4, 8, 12)):
        self.widths = tuple(int(w) for w in widths)
        n = len(self.widths) - 1
        self.encoding = Encoding(lower=np.zeros(LAYERS, dtype=np.int64), upper=np.full(LAYERS, n, dtype=np.int64),
                                 units=tuple((i,) for i in range(LAYERS)))

    @property
    def options(self):
        return {"widths": list(self.widths)}

    def to_string(self, genome):
        return "-".join(f"w{self.widths[int(g)]}" for g in self.check(genome))

    def from_string(self, text):
        tokens = text.split("-")
        if len(tokens) != LAYERS or any(not re.fullmatch(r"w\d+", t) or int(t[1:]) not in self.widths
                                        for t in tokens):
            raise InvalidArchitecture(f"slim architecture {text!r} is not w<width>-w<width> with widths "
                                      f"{self.widths}")
        return np.asarray([self.widths.index(int(t[1:])) for t in tokens], dtype=np.int64)

    def build(self, genome, num_classes=10, input_size=32, in_channels=3, **options):
        return SlimNet([self.widths[int(g)] for g in self.check(genome)], num_classes, in_channels)

    # -- the capability
    def for_images(self, image_size, width_mult=None):
        return SlimSpace(tuple(2 * w for w in self.widths))  # another shape than the default: found via files

    def new_supernet(self, num_classes, in_channels):
        return SlimSupernet([self.widths[-1]] * LAYERS, num_classes, in_channels)

    def activate(self, supernet, genome):
        supernet.active = [self.widths[int(g)] for g in self.check(genome)]

    @torch.no_grad()
    def extract(self, supernet, genome):
        self.activate(supernet, genome)
        subnet = SlimNet(supernet.active, supernet.classifier.out_features, supernet.convs[0].in_channels)
        cin = subnet.convs[0].in_channels
        for small, large in zip(subnet.convs, supernet.convs):
            small.weight.copy_(large.weight[:small.out_channels, :cin])
            small.bias.copy_(large.bias[:small.out_channels])
            cin = small.out_channels
        subnet.classifier.weight.copy_(supernet.classifier.weight[:, :cin])
        subnet.classifier.bias.copy_(supernet.classifier.bias)
        return subnet.to(supernet.classifier.weight.device).train(supernet.training)
