"""The app's commands: the window (no command), `live`, `sightings`. Placeholder until the app lands."""

from __future__ import annotations

import argparse


def add_window_options(parser: argparse.ArgumentParser) -> None:
    """Adds the options of the window (`birdcam` with no command)."""


def run_window(args: argparse.Namespace) -> int:
    """Opens the window."""
    raise NotImplementedError


def register(commands) -> None:
    """Adds `live` and `sightings`."""
