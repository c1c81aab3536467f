from __future__ import annotations

import pytest

from serkit.core.options import call_with_options, parse_key_values
from serkit.core.registry import Registry


def test_registry_register_get_and_unknown_name_suggests():
    registry: Registry = Registry("widget")

    @registry.register()
    def spinner():
        return 1

    assert registry.get("SPINNER") is spinner
    assert registry.names() == ["spinner"]
    with pytest.raises(KeyError, match="Did you mean 'spinner'"):
        registry.get("spiner")
    with pytest.raises(ValueError, match="registered twice"):
        registry.register("spinner")(lambda: 2)


def _loader(
    root: str,
    *,
    subset: str = "all",
    limit: int = 3,
    strict: bool = False,
    sessions: tuple[str, ...] = (),
    rate: float | None = None,
):
    return root, subset, limit, strict, sessions, rate


def test_call_with_options_converts_by_annotation():
    result = call_with_options(
        _loader,
        "R",
        options=parse_key_values(["subset=improvised", "limit=7", "strict=yes", "sessions=1, 2", "rate=0.5"]),
    )
    assert result == ("R", "improvised", 7, True, ("1", "2"), 0.5)
    assert call_with_options(_loader, "R", options={"rate": "none"})[-1] is None


@pytest.mark.parametrize(
    "options, message",
    [
        ({"subsett": "x"}, "Did you mean 'subset'"),
        ({"limit": "many"}, "expected an integer"),
        ({"strict": "maybe"}, "expected true or false"),
    ],
)
def test_call_with_options_rejects_bad_keys_and_values(options, message):
    with pytest.raises(ValueError, match=message):
        call_with_options(_loader, "R", options=options)


def test_parse_key_values_rejects_missing_equals():
    with pytest.raises(ValueError, match="key=value"):
        parse_key_values(["subset"])
