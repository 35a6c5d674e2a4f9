"""`birdcam train`, `evaluate`, `compare`. Placeholder until the trainer lands."""

from __future__ import annotations


def register(commands) -> None:
    """Adds `train`, `evaluate` and `compare`."""
