"""Helpers every layer shares, one of each: atomic files, seeds, devices, option checks, SQLite stores, plotting."""
