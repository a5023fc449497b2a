"""Exceptions that nsganet turns into one-line messages instead of tracebacks."""

from __future__ import annotations


class NsganetError(Exception):
    """A problem with the user's input or set-up: reported as one line, exit code 2."""


class InvalidArchitecture(NsganetError):
    """An architecture string or genome that the search space cannot decode."""


class ConfigError(NsganetError):
    """A configuration value that is missing, of the wrong type, or unknown."""
