"""Settings of supernet training (torch-free, so the command line can state their defaults)."""

from __future__ import annotations

import dataclasses

from nsganet.errors import NsganetError
from nsganet.utils.checks import NONNEGATIVE_INT
from nsganet.utils.device import AMP_MODES


@dataclasses.dataclass(frozen=True)
class SupernetTrainSettings:
    """Optimisation of a supernet: SGD with Nesterov momentum, cosine schedule, sandwich rule."""

    epochs: int = dataclasses.field(default=10, metadata={"help": "epochs", "metavar": "N"})
    lr: float = dataclasses.field(default=0.05, metadata={"help": "initial learning rate", "metavar": "LR"})
    batch_size: int = dataclasses.field(default=64, metadata={"help": "batch size", "metavar": "N"})
    momentum: float = 0.9
    weight_decay: float = 3e-5
    n_random: int = dataclasses.field(
        default=2, metadata={"help": "random subnets per step besides the largest and smallest", "metavar": "N",
                             "bound": NONNEGATIVE_INT})
    kd_temperature: float = 1.0
    grad_clip: float | None = 5.0
    crop_padding: int | None = None
    amp: str = "auto"  # mixed precision (nsganet.utils.device.AMP_MODES): off on the CPU unless asked for

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1 or self.n_random < 0 or self.lr <= 0:
            raise NsganetError("supernet training needs epochs >= 1, batch_size >= 1, n_random >= 0 and lr > 0")
        if self.amp not in AMP_MODES:
            raise NsganetError(f"amp must be one of {', '.join(AMP_MODES)}, got {self.amp!r}")
