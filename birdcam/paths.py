"""Where birdcam keeps models, its cache and its data. Environment variables override each (tests use them)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

APP_NAME = "birdcam"
_CHECKOUT = Path(__file__).resolve().parent.parent


def _platform_dir(kind: str) -> Path:
    home = Path.home()
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or str(home / "AppData" / "Local")
        return Path(base) / APP_NAME / ("Cache" if kind == "cache" else "Data")
    if sys.platform == "darwin":
        sub = "Caches" if kind == "cache" else "Application Support"
        return home / "Library" / sub / APP_NAME
    variable, fallback = {
        "cache": ("XDG_CACHE_HOME", home / ".cache"),
        "data": ("XDG_DATA_HOME", home / ".local" / "share"),
    }[kind]
    return Path(os.environ.get(variable) or fallback) / APP_NAME


def cache_dir() -> Path:
    """Downloads (the starter model). `$BIRDCAM_CACHE_DIR` overrides."""
    return Path(os.environ.get("BIRDCAM_CACHE_DIR") or _platform_dir("cache"))


def data_dir() -> Path:
    """The user's own data: sightings database and snapshots. `$BIRDCAM_DATA_DIR` overrides."""
    return Path(os.environ.get("BIRDCAM_DATA_DIR") or _platform_dir("data"))


def models_dir() -> Path:
    """Where `birdcam train` puts exported models: `$BIRDCAM_MODELS_DIR`, the checkout's `models/`, or
    data_dir()/models."""
    override = os.environ.get("BIRDCAM_MODELS_DIR")
    if override:
        return Path(override)
    if (_CHECKOUT / "pyproject.toml").is_file() and (_CHECKOUT / "models").is_dir():
        return _CHECKOUT / "models"
    return data_dir() / "models"
