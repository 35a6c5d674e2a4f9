"""Fixtures every test shares: the real material in shared/, isolated user folders, tiny models."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest
from media import read_image, write_video

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
    for variable, sub in (
        ("BIRDCAM_CACHE_DIR", "cache"),
        ("BIRDCAM_DATA_DIR", "data"),
        ("BIRDCAM_MODELS_DIR", "models"),
    ):
        (home / sub).mkdir()
        monkeypatch.setenv(variable, str(home / sub))
    monkeypatch.delenv("BIRDCAM_MODEL", raising=False)
    monkeypatch.delenv("BIRDCAM_STARTER_MIRROR", raising=False)
    monkeypatch.setenv("BIRDCAM_OFFLINE", "1")  # child processes too: no test reaches for the real starter URL
    # The default detector would be downloaded; tests that find birds with one name it (--detector, the
    # shared YOLOX-nano), the others name the whole frame.
    monkeypatch.setenv("BIRDCAM_DETECTOR", "none")
    return home


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch):
    """Fails a test that looks up any host but this machine: tests talk to 127.0.0.1 only."""
    real_getaddrinfo = socket.getaddrinfo

    def guarded(host, *args, **kwargs):
        if host not in (None, "localhost", "127.0.0.1", "::1", b"localhost", b"127.0.0.1"):
            raise AssertionError(f"a test tried to reach {host!r}; tests may only use 127.0.0.1")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", guarded)


@pytest.fixture(autouse=True)
def no_inference_process_left():
    """Fails a test that leaves an inference process running (closing must end them within a second)."""
    yield
    import time

    from birdcam.live.inference import child_pids

    deadline = time.monotonic() + 1.0
    while child_pids() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert child_pids() == [], "the test left an inference process running"


@pytest.fixture(scope="session")
def tiny(tmp_path_factory):
    """{name: path}: float32, dynamic-range, int8 and uint8 colour classifiers, plus logits and raw-pixel ones."""
    import tiny_models

    folder = tmp_path_factory.mktemp("tiny")
    built = {}
    for quantize in tiny_models.QUANTIZATIONS:
        path = tiny_models.build(folder / quantize / "model.tflite", quantize=quantize)
        built[quantize] = path
    built["logits"] = tiny_models.build(folder / "logits" / "model.tflite", quantize="none", softmax=False)
    built["raw"] = tiny_models.build(folder / "raw" / "model.tflite", quantize="none", normalization="raw")
    built["raw_int8"] = tiny_models.build(folder / "raw_int8" / "model.tflite", quantize="int8", normalization="raw")
    for name in ("raw", "raw_int8"):
        card = {"normalization": {"mean": [0, 0, 0], "std": [1, 1, 1]}, "threshold": 0.55}
        built[name].with_suffix(".json").write_text(json.dumps(card))
    return built


@pytest.fixture
def duck_video(shared_dir, tmp_path) -> Path:
    """2 s at 15 fps of the shared Mandarin Duck photo (the starter model names it at ~0.9)."""
    duck = read_image(shared_dir / "images" / "birds" / "mandarin_duck.jpg")
    return write_video(tmp_path / "duck.avi", [duck] * 30, fps=15)
