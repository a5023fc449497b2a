"""The search: the study loop and its events, the problem and its objectives, the run store and directory.

:class:`~nsganet.search.study.Study` runs a strategy against a
:class:`~nsganet.search.problem.Problem` (a space, an evaluator, named
objectives), records every evaluation in a :class:`~nsganet.search.store.RunStore`
and announces what happens to its callbacks (:mod:`nsganet.search.callbacks`).
:mod:`nsganet.search.rundir` owns the run directory's layout and reads runs back.
"""
