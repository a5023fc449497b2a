"""Planning a proxy study: a study's options resolved into a :class:`~nsganet.proxy_study.config.StudyPlan`.

A new study opens its data, shapes the space for it and parses, completes and
checks every setting; a recorded one is read back from its store as it was
started.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from nsganet.errors import ConfigError, NsganetError
from nsganet.proxy_study.config import StudyConfig, StudyPlan
from nsganet.proxy_study.outputs import STORE_FILE
from nsganet.proxy_study.settings import (
    INHERIT,
    Setting,
    build_options,
    default_reference,
    default_settings,
    parse_setting,
    search_defaults,
)
from nsganet.proxy_study.store import StudyStore, corrupt
from nsganet.proxy_study.tasks import load_search_split
from nsganet.spaces import SPACES, SearchSpace, SupernetSpace, get_space
from nsganet.utils.checks import IMAGE_SIZE, NONNEGATIVE_INT, OPEN_UNIT, POSITIVE_INT, Bound
from nsganet.utils.lock import FolderLock

#: Architectures a study samples by default (V1's study used 100 on GPUs).
DEFAULT_ARCHS = 20


def plan_study(space: str | SearchSpace = "micro", settings: Sequence[str | Setting] | None = None,
               reference: str | Setting | None = None, *, dataset: str | None = None,
               data: str | Path | None = None, image_size: int | None = None, archs: int = DEFAULT_ARCHS,
               seed: int = 0, batch_size: int | None = None, lr: float | None = None, vld_size: int | None = None,
               valid_fraction: float | None = None, supernet: str | Path | None = None,
               supernet_epochs: Sequence[int] | None = None, finetune_epochs: int | None = None,
               width_mult: float | None = None, data_mode: str = "auto") -> StudyPlan:
    """Resolve a study's options into a :class:`StudyPlan`: the data is opened (its size and image count shape
    the defaults), the space shaped for it, every setting parsed, completed and checked.

    Without ``settings`` the defaults are studied (:func:`default_settings`);
    without ``reference`` :func:`default_reference`. In a supernet space
    ``supernet_epochs`` add ``inherit-s<N>`` rows (by default, with no
    settings given, the search's supernet epochs), a given ``supernet`` file
    an ``inherit`` row, and ``finetune_epochs`` an ``inherit…-f<N>`` row for
    the longest supernet.
    """
    from nsganet.config import DEFAULT_SUPERNET_EPOCHS
    from nsganet.data.formats import DEFAULT_DATASET

    defaults = search_defaults()
    batch_size = defaults["batch_size"] if batch_size is None else batch_size
    lr = defaults["lr"] if lr is None else lr
    valid_fraction = defaults["valid_fraction"] if valid_fraction is None else valid_fraction
    for name, value, bound in (("archs", archs, POSITIVE_INT), ("seed", seed, NONNEGATIVE_INT),
                               ("batch_size", batch_size, POSITIVE_INT), ("lr", lr, Bound(0, low_open=True)),
                               ("vld_size", vld_size, POSITIVE_INT), ("valid_fraction", valid_fraction, OPEN_UNIT),
                               ("image_size", image_size, IMAGE_SIZE), ("finetune_epochs", finetune_epochs,
                                                                        POSITIVE_INT),
                               ("width_mult", width_mult, Bound(0, low_open=True))):
        bound.check(name, value)
    for value in supernet_epochs or ():
        POSITIVE_INT.check("supernet_epochs", value)
    config = StudyConfig(space="", space_options={}, dataset=dataset or DEFAULT_DATASET,
                         data=None if data is None else str(Path(data).expanduser().resolve()),
                         image_size=image_size, valid_fraction=float(valid_fraction), vld_size=vld_size, seed=seed,
                         archs=archs, reference="", settings=[], batch_size=batch_size, lr=float(lr),
                         supernet=None if supernet is None else str(Path(supernet).expanduser().resolve()))
    split = load_search_split(config, image_size, data_mode)
    _, train_set, _ = split
    space_obj = _study_space(space, config.supernet, width_mult, train_set.image_size)
    inherits = isinstance(space_obj, SupernetSpace)
    if not inherits:
        for option, value in (("--supernet", supernet), ("--supernet-epochs", supernet_epochs),
                              ("--finetune-epochs", finetune_epochs)):
            if value is not None:
                raise ConfigError(f"{option} applies to weight inheritance, in a supernet space "
                                  f"({', '.join(supernet_spaces())}); the {space_obj.name} space has none")

    parsed = [parse_setting(s) if isinstance(s, str) else s for s in settings or ()]
    if not parsed:
        parsed = default_settings(space_obj, len(train_set), defaults["epochs"])
        if inherits and supernet_epochs is None and config.supernet is None:
            supernet_epochs = [DEFAULT_SUPERNET_EPOCHS]
    if inherits:
        rows = [Setting(kind=INHERIT, supernet_epochs=n) for n in sorted(set(supernet_epochs or ()))]
        if config.supernet is not None:
            rows.insert(0, Setting(kind=INHERIT))
        if finetune_epochs:
            longest = max(supernet_epochs) if supernet_epochs else None
            rows.append(Setting(kind=INHERIT, supernet_epochs=longest, finetune=finetune_epochs))
        parsed += rows
    ref = parse_setting(reference) if isinstance(reference, str) else reference or default_reference(space_obj)
    if ref.inherits:
        raise ConfigError(f"the reference {ref.name} must train from scratch (c<channels>-l<layers>-e<epochs>...)")
    ref = ref.resolved(space_obj, defaults["epochs"])
    resolved: list[Setting] = [ref]
    for s in parsed:
        s = s.resolved(space_obj, defaults["epochs"])
        if s.name not in {r.name for r in resolved}:
            resolved.append(s)
    if len(resolved) < 2:
        raise ConfigError(f"give at least one setting other than the reference {ref.name}")
    for s in resolved:
        _check_setting(s, space_obj, config, train_set)
    config.space, config.space_options = space_obj.name, space_obj.options
    config.reference, config.settings = ref.name, [s.name for s in resolved[1:]]
    config.space_options = json.loads(json.dumps(config.space_options))
    return StudyPlan(config, space_obj, resolved, split)


def supernet_spaces() -> list[str]:
    """The registered spaces whose architectures are subnets of a supernet."""
    return [name for name, cls in SPACES.items() if issubclass(cls, SupernetSpace)]


def _study_space(space: str | SearchSpace, supernet: str | None, width_mult: float | None,
                 image_size: int) -> SearchSpace:
    """The space a study samples: a given object as it is; a supernet space shaped by the given supernet file,
    else for the data's image size (and ``width_mult``); any other space by its name."""
    if isinstance(space, SearchSpace):
        if width_mult is not None:
            raise ConfigError("--width-mult shapes a supernet space made here; the given space keeps its shape")
        return space
    cls = SPACES.get(space)
    if not issubclass(cls, SupernetSpace):
        if width_mult is not None:
            raise ConfigError(f"--width-mult shapes a supernet space; the {space} space has none")
        return get_space(space)
    if supernet is not None:
        from nsganet.supernet.files import read_supernet_space

        if width_mult is not None:
            raise ConfigError("--width-mult shapes a new supernet; --supernet keeps the given one's")
        found = read_supernet_space(supernet)
        if found.name != space:
            raise ConfigError(f"supernet {supernet} holds the {found.name} space, not {space}")
        return found
    options = {} if width_mult is None else {"width_mult": width_mult}
    try:
        return get_space(space).for_images(image_size, **options)  # type: ignore[attr-defined]
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"the {space} space cannot be shaped for {image_size}-px images: {exc}") from None


def _check_setting(setting: Setting, space: SearchSpace, config: StudyConfig, train_set: Any) -> None:
    """A setting the data and the machine afford: a supernet to inherit from, images the split has, and
    networks that fit in memory."""
    if setting.inherits:
        if setting.supernet_epochs is None and config.supernet is None:
            raise ConfigError(f"setting {setting.name} inherits from a given supernet: give --supernet FILE, or "
                              "train one in the study folder with inherit-s<epochs>")
        return
    if setting.images is not None and setting.images > len(train_set):
        raise ConfigError(f"setting {setting.name}: the search-train split has {len(train_set)} images, fewer "
                          f"than {setting.images}")
    space.check_size(space.largest(), f"the largest {space.name} network of setting {setting.name}",
                     ": lower its channels or layers", num_classes=train_set.num_classes,
                     input_size=setting.size or train_set.image_size, in_channels=train_set.channels,
                     **build_options(space, setting))


def plan_recorded(out: str | Path) -> StudyPlan:
    """The plan of the study recorded in folder ``out`` (to continue it as it was started)."""
    out = Path(out)
    path = out / STORE_FILE
    if not path.is_file():
        raise NsganetError(f"nothing to resume in {out}: it holds no proxy study ({STORE_FILE})")
    lock = FolderLock(out, "nsganet proxy-study", label="study folder").acquire()
    try:
        with StudyStore(path) as store:
            config = StudyConfig.from_dict(store.get_meta("config"), path)
    finally:
        lock.release()
    space = get_space(config.space, **config.space_options)
    settings = [parse_setting(n) for n in config.names]
    for s in settings:
        if s.inherits and not isinstance(space, SupernetSpace):
            raise corrupt(path, f"its setting {s.name} inherits weights in the {space.name} space")
    return StudyPlan(config, space, settings)


__all__ = ["DEFAULT_ARCHS", "plan_recorded", "plan_study", "supernet_spaces"]
