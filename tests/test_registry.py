"""The one registry pattern: registration at the definition site, one-line errors, no silent replacement."""

import pytest

from nsganet.errors import ConfigError
from nsganet.registry import Registry


def test_entries_register_where_they_are_defined_and_are_found_by_name():
    things = Registry("thing")

    @things.register()
    class Named:
        name = "named"

    @things.register("explicit")
    def explicit():
        return 1

    things.add("value", 42)
    assert things.get("named") is Named and things.get("explicit") is explicit and things.get("value") == 42
    assert things.names() == ["named", "explicit", "value"] and "value" in things and len(things) == 3
    assert Registry("thing", sort=True).names() == []


def test_unknown_names_are_one_line_errors_listing_the_known_ones():
    things = Registry("strategy", "strategies", sort=True)
    things.add("b", 1)
    things.add("a", 2)
    with pytest.raises(ConfigError, match=r"^unknown strategy 'c'; known strategies: a, b$"):
        things.get("c")
    with pytest.raises(ConfigError, match="unknown strategy"):
        things.get(["not", "hashable"])


def test_a_name_is_not_replaced_silently():
    things = Registry("thing")
    things.add("x", 1)
    things.add("x", 1)  # the same entry again (a module imported twice) is fine
    with pytest.raises(ValueError, match="registered already"):
        things.add("x", 2)
    things.add("x", 2, replace=True)
    assert things.get("x") == 2 and things.remove("x") == 2 and "x" not in things
    with pytest.raises(ValueError, match="non-empty name"):
        things.add("", 3)
