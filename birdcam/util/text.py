"""Wording shared by every message: counts with the right number."""

from __future__ import annotations


def counted(count: int, singular: str, plural: str | None = None) -> str:
    """ "1 visit", "2 visits", "0 visits"; `plural` for words that do not just take an s."""
    return f"{count} {singular if count == 1 else plural or singular + 's'}"
