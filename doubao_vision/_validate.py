"""Validators: every check of user input raises :class:`InvalidRequestError` naming the field.

attrs validators (``validator=...``) and plain checks for constructor
arguments share one wording: ``<field> must be <requirement>, got <value>``.
``InvalidRequestError`` is a ``ValueError``, so ``except ValueError`` still works.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

import attrs

from ._exceptions import InvalidRequestError

__all__ = [
    "at_least",
    "check_at_least",
    "check_base_url",
    "in_range",
    "invalid",
    "one_of",
    "optional_bool",
    "positive_or_none",
    "typed_mapping",
]


def invalid(name: str, requirement: str, value: Any) -> InvalidRequestError:
    """The error for ``name`` not being ``requirement``."""
    return InvalidRequestError(f"{name} must be {requirement}, got {value!r}")


def _field(instance: object, attribute: attrs.Attribute[Any]) -> str:
    """``Timeout.read``-style for config classes; the bare name for request fields."""
    owner = type(instance).__name__
    return f"{owner}.{attribute.name}" if owner in _QUALIFIED else attribute.name


# Config values are named with their class (``Timeout.read``); request fields are
# named as the API names them (``temperature``).
_QUALIFIED = frozenset({"Timeout", "Limits", "RetryPolicy"})


def one_of(allowed: Collection[str]) -> Any:
    """An attrs validator: ``None`` or one of ``allowed``."""
    choices = sorted(allowed)

    def check(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
        if value is not None and value not in allowed:
            raise InvalidRequestError(
                f"{_field(instance, attribute)} must be one of {choices}, got {value!r}"
            )

    return check


def in_range(low: float, high: float, *, integer: bool = False) -> Any:
    """An attrs validator: ``None`` or a number (an int if ``integer``) in ``[low, high]``."""
    kinds: tuple[type, ...] = (int,) if integer else (int, float)
    kind = "an integer" if integer else "a number"

    def check(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
        if value is None:
            return
        number: Any = value
        if isinstance(value, bool) or not isinstance(value, kinds) or not low <= number <= high:
            raise invalid(_field(instance, attribute), f"{kind} in [{low}, {high}]", value)

    return check


def at_least(minimum: float) -> Any:
    """An attrs validator: a number ``>= minimum``."""

    def check(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < minimum:
            raise invalid(_field(instance, attribute), f">= {minimum}", value)

    return check


def positive_or_none(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    """An attrs validator: seconds ``> 0``, or ``None`` for no limit."""
    if value is not None and (
        isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0
    ):
        raise invalid(_field(instance, attribute), "> 0 seconds or None", value)


def optional_bool(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    """An attrs validator: ``True``, ``False`` or ``None``."""
    if value is not None and not isinstance(value, bool):
        raise invalid(_field(instance, attribute), "True, False or None", value)


def check_at_least(name: str, value: Any, minimum: int) -> None:
    """A constructor argument that must be an integer ``>= minimum``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise invalid(name, f"an integer >= {minimum}", value)


def check_base_url(url: str) -> str:
    """An ``http(s)://host[...]`` base URL without a trailing slash; refused at once
    otherwise (a URL without a scheme would fail only after every retry)."""
    from urllib.parse import urlsplit

    text = url.strip().rstrip("/")
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise invalid("base_url", "an http:// or https:// URL such as 'https://api.302.ai/v1'", url)
    return text


def typed_mapping(name: str, allowed: Collection[str], value: Any) -> dict[str, Any] | None:
    """A ``{"type": ...}`` mapping (a bare str is shorthand for one) whose type is allowed."""
    if value is None:
        return None
    if isinstance(value, str):
        value = {"type": value}
    if not isinstance(value, Mapping) or value.get("type") not in allowed:
        kinds = "|".join(f'"{kind}"' for kind in sorted(allowed))
        raise invalid(name, f'a {{"type": {kinds}}} mapping', value)
    return dict(value)
