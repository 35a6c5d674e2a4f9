"""The checks an options dataclass runs in __post_init__: one OptionsError line naming the field and its range."""

from __future__ import annotations

from birdcam.errors import OptionsError


def at_least(options: object, field: str, low: float) -> None:
    """`options.<field>` must be `low` or more (NaN is not)."""
    value = getattr(options, field)
    if not value >= low:
        raise OptionsError(f"{type(options).__name__}.{field} must be at least {low:g}, not {value!r}")


def above(options: object, field: str, low: float) -> None:
    """`options.<field>` must be more than `low` (NaN is not)."""
    value = getattr(options, field)
    if not value > low:
        raise OptionsError(f"{type(options).__name__}.{field} must be more than {low:g}, not {value!r}")


def between(options: object, field: str, low: float, high: float) -> None:
    """`options.<field>` must lie in [low, high] (NaN does not)."""
    value = getattr(options, field)
    if not low <= value <= high:
        raise OptionsError(f"{type(options).__name__}.{field} must be between {low:g} and {high:g}, not {value!r}")
