"""The sub-commands of ``nsganet``, one module each, registered where they are defined.

Modules stay cheap to import (no torch at module level): the whole parser is
built for every invocation. Importing this package registers the built-in
commands, in the order ``nsganet --help`` lists them.
"""

from __future__ import annotations

from nsganet.commands import (  # noqa: F401  (each module registers its command)
    compare,
    costs,
    draw,
    evaluate,
    listing,
    lut,
    proxy_study,
    report,
    search,
    select,
    supernet,
    train,
)
from nsganet.commands.base import COMMANDS, Command, register

__all__ = ["COMMANDS", "Command", "register"]
