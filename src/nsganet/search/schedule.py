"""How the search loop hands out evaluations: the schedules ``nsganet search --schedule`` chooses from.

``generational``: the strategy proposes a batch, the batch is evaluated, the
loop waits for its slowest evaluation, then tells the strategy. ``async``:
whenever a worker is free it evaluates a new architecture at once, proposed
by a strategy that learns one result at a time (``Strategy.supports_async``).
"""

from __future__ import annotations

GENERATIONAL = "generational"
ASYNC = "async"
#: Every schedule, the default first.
SCHEDULES = (GENERATIONAL, ASYNC)
