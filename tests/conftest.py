"""Fixtures every test shares: the real material in shared/, isolated user folders, tiny models."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
STARTER_NAME = "lite-model_aiy_vision_classifier_birds_V1_3.tflite"


def _shared_root() -> Path:
    return Path(os.environ.get("BIRDCAM_SHARED") or REPO.parent / "shared")


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """shared/ (real photos and the starter model). Missing: a failure under CI, a skip elsewhere."""
    root = _shared_root()
    if not (root / "models" / "aiy_birds_v1" / STARTER_NAME).is_file():
        message = f"shared data not found at {root} (set BIRDCAM_SHARED to its folder)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return root


@pytest.fixture(scope="session")
def starter_model(shared_dir: Path) -> Path:
    """The AIY birds_V1 starter model (labels.txt beside it)."""
    return shared_dir / "models" / "aiy_birds_v1" / STARTER_NAME


@pytest.fixture(autouse=True)
def isolated_user_dirs(tmp_path_factory, monkeypatch) -> Path:
    """Points the cache, data and models folders at a temporary place: tests never touch the user's."""
    home = tmp_path_factory.mktemp("user")
    for variable, sub in (("BIRDCAM_CACHE_DIR", "cache"), ("BIRDCAM_DATA_DIR", "data"), ("BIRDCAM_MODELS_DIR", "models")):
        (home / sub).mkdir()
        monkeypatch.setenv(variable, str(home / sub))
    monkeypatch.delenv("BIRDCAM_MODEL", raising=False)
    return home
