"""Multi-objective tools: non-dominated fronts, quality indicators, picking architectures by preference.

Non-dominated sorting and hypervolume come from moocore. Everything here works
on objective matrices (rows: architectures, columns: minimised objectives) or
on records with ``status`` and ``objectives``; nothing knows of networks.
"""
