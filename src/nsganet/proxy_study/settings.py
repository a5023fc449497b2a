"""A proxy study's settings: the one grammar that names them, the defaults studied, and what a setting builds.

A setting says how each architecture is scored: trained from scratch
(``c<channels>-l<layers>-e<epochs>[-i<images>][-r<px>][-x<k>]``) or by weight
inheritance from a supernet (``inherit[-s<epochs>][-f<epochs>]``). ``x<k>``
trains the same setting again with another seed (replicate ``k``): its rank
correlation with the setting without it is the noise ceiling, the best any
setting can rank against that one.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Any

from nsganet.errors import ConfigError
from nsganet.spaces import SearchSpace, SupernetSpace
from nsganet.utils.checks import CHANNELS, IMAGE_SIZE, LAYERS, NONNEGATIVE_INT, POSITIVE_INT, Bound

#: The one grammar of a setting, as error messages and help state it.
GRAMMAR = ("c<channels>-l<layers>-e<epochs>[-i<images>][-r<px>][-x<replicate>] (each part optional), or "
           "inherit[-s<supernet epochs>][-f<fine-tune epochs>]")
_TRAIN_PARTS: dict[str, tuple[str, Bound]] = {
    "c": ("channels", CHANNELS), "l": ("layers", LAYERS), "e": ("epochs", POSITIVE_INT),
    "i": ("images", POSITIVE_INT), "r": ("size", IMAGE_SIZE), "x": ("replicate", POSITIVE_INT)}
_INHERIT_PARTS: dict[str, tuple[str, Bound]] = {"s": ("supernet_epochs", POSITIVE_INT),
                                                 "f": ("finetune", NONNEGATIVE_INT)}
_PART = re.compile(r"([a-z])([0-9]{1,9})")
INHERIT = "inherit"


@dataclass(frozen=True)
class Setting:
    """How each architecture is scored: trained from scratch (``train``) or by weight inheritance (``inherit``).

    ``train``: ``channels`` and ``layers`` size the network (the space's
    width and depth knobs; None: the full network's), ``epochs`` of training
    on ``images`` search-train images (None: all) at ``size`` px (None: the
    study's image size); ``replicate`` k > 0 trains it again with another
    seed (network initialisation, batch order, image subset). ``inherit``: weights from a supernet trained
    ``supernet_epochs`` in the study folder (None: the given supernet file as
    it is), batch norm recalibrated, fine-tuned ``finetune`` epochs first.
    """

    kind: str = "train"
    channels: int | None = None
    layers: int | None = None
    epochs: int | None = None
    images: int | None = None
    size: int | None = None
    replicate: int | None = None
    supernet_epochs: int | None = None
    finetune: int = 0

    @property
    def inherits(self) -> bool:
        return self.kind == INHERIT

    @property
    def name(self) -> str:
        """The canonical text of the setting, in the grammar :func:`parse_setting` reads."""
        if self.inherits:
            parts = [INHERIT, *([f"s{self.supernet_epochs}"] if self.supernet_epochs else []),
                     *([f"f{self.finetune}"] if self.finetune else [])]
        else:
            parts = [f"{letter}{getattr(self, name)}" for letter, (name, _) in _TRAIN_PARTS.items()
                     if getattr(self, name) is not None]
        return "-".join(parts)

    @property
    def label(self) -> str:
        """The setting in words for tables: its name, or what an inheritance setting does."""
        if not self.inherits:
            return self.name if self.replicate is None else (
                f"{dataclasses.replace(self, replicate=None).name} (seed {self.replicate + 1})")
        source = f"supernet {self.supernet_epochs} ep" if self.supernet_epochs else "given supernet"
        return f"inherit ({source})" + (f" + finetune {self.finetune} ep" if self.finetune else "")

    def resolved(self, space: SearchSpace, default_epochs: int) -> Setting:
        """This setting for ``space``: missing width and depth are the space's proxy defaults, missing epochs
        ``default_epochs``; a knob the space lacks, or inheritance in a space without a supernet, is an error."""
        if self.inherits:
            if not isinstance(space, SupernetSpace):
                raise ConfigError(f"setting {self.name}: the {space.name} space has no supernet to inherit "
                                  "weights from")
            return self
        values: dict[str, Any] = {}
        for name, knob, default in zip(("channels", "layers"), space.proxy_knobs, space.proxy_defaults):
            given = getattr(self, name)
            if knob is None and given is not None:
                what = "width" if name == "channels" else "depth"
                raise ConfigError(f"setting {self.name}: {space.name} networks have no {what} knob; leave out "
                                  f"{name[0]}{given}")
            values[name] = given if given is not None else default if knob is not None else None
        return dataclasses.replace(self, epochs=self.epochs or default_epochs, **values)


def parse_setting(text: str) -> Setting:
    """A setting from its text (see :data:`GRAMMAR`): ``c8-l1-e5``, ``e2-i300``, ``c16-l2-e10-r14``,
    ``inherit-s2``, ``inherit-s6-f1``. Numbers are checked against the bounds of
    :mod:`nsganet.utils.checks`; anything else is a one-line :class:`ConfigError`."""
    raw = str(text).strip().lower()
    parts = raw.split("-")
    if not raw or not all(parts):
        raise ConfigError(f"setting {text!r} has an empty part; write {GRAMMAR}")
    inherit = parts[0] == INHERIT
    table = _INHERIT_PARTS if inherit else _TRAIN_PARTS
    values: dict[str, int] = {}
    for part in parts[1:] if inherit else parts:
        match = _PART.fullmatch(part)
        if match is None or match.group(1) not in table:
            raise ConfigError(f"setting {text!r}: {part!r} is not a part of {GRAMMAR}")
        name, bound = table[match.group(1)]
        if name in values:
            raise ConfigError(f"setting {text!r} gives the {name} twice")
        value = int(match.group(2))
        bound.check(f"setting {text!r}: {name}", value)
        values[name] = value
    return Setting(kind=INHERIT if inherit else "train", **values)


def search_defaults() -> dict[str, Any]:
    """The search's defaults a study starts from: proxy ``epochs``, ``batch_size``, ``lr``, ``valid_fraction``."""
    from nsganet.config import default_values

    values = default_values()
    return {key: values[key] for key in ("epochs", "batch_size", "lr", "valid_fraction")}


def default_reference(space: SearchSpace, epochs: int | None = None) -> Setting:
    """The default reference: V1's search proxy (Table I: Chinit 32, N = 4 cells, 36 epochs, on 32-px
    CIFAR) scaled to what the embedded 8-px digits afford on a CPU: twice the search default's width, depth
    and epochs (``c16-l2-e10`` for micro and nb201, ``c32-e10`` for macro, ``e10`` without knobs)."""
    epochs = epochs or search_defaults()["epochs"]
    width, depth = (2 * d if knob is not None and d is not None else None
                    for knob, d in zip(space.proxy_knobs, space.proxy_defaults))
    return Setting(channels=width, layers=depth, epochs=2 * epochs)


def default_settings(space: SearchSpace, train_images: int, epochs: int | None = None) -> list[Setting]:
    """The cheaper settings studied by default: the search's own proxy, then fewer epochs, a quarter of the
    images and half the channels (a supernet space: the search's proxy alone, besides its inheritance rows)."""
    epochs = epochs or search_defaults()["epochs"]
    width, depth = (d if knob is not None else None for knob, d in zip(space.proxy_knobs, space.proxy_defaults))
    search = Setting(channels=width, layers=depth, epochs=epochs)
    if isinstance(space, SupernetSpace):
        return [search]
    settings = [search, dataclasses.replace(search, epochs=max(1, epochs // 2)),
                dataclasses.replace(search, images=max(1, train_images // 4))]
    if width is not None and width >= 2:
        settings.append(dataclasses.replace(search, channels=width // 2))
    return settings


def build_options(space: SearchSpace, setting: Setting) -> dict[str, Any]:
    """The build options of a from-scratch setting's networks: its width and depth on the space's knobs."""
    return space.proxy_options(setting.channels, setting.layers, use_defaults=False)


def supernet_key(setting: Setting) -> str:
    """Which supernet an inheritance setting uses: ``s<epochs>`` (trained in the study folder) or ``given``."""
    return f"s{setting.supernet_epochs}" if setting.supernet_epochs else "given"


__all__ = ["GRAMMAR", "INHERIT", "Setting", "build_options", "default_reference", "default_settings",
           "parse_setting", "search_defaults", "supernet_key"]
