"""Which model runs, and the real download code against a local HTTP server on 127.0.0.1."""

from __future__ import annotations

import dataclasses
import hashlib
import http.server
import os
import socket
import threading
import time
from pathlib import Path

import pytest

from birdcam import paths
from birdcam.errors import ModelError
from birdcam.models.store import RemoteFile, StarterModel, download, resolve_model


@pytest.fixture(autouse=True)
def default_detector(monkeypatch):
    """These tests are about choosing the detector: none is set by the environment."""
    monkeypatch.delenv("BIRDCAM_DETECTOR", raising=False)


class _Handler(http.server.BaseHTTPRequestHandler):
    """Serves `files` ({path: bytes}); `/truncated/...` promises the whole body and sends half."""

    files: dict[str, bytes] = {}

    def do_GET(self):  # noqa: N802 - http.server's name
        truncated = self.path.startswith("/truncated/")
        body = self.files.get(self.path.removeprefix("/truncated"))
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body[: len(body) // 2] if truncated else body)
        if truncated:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)

    def log_message(self, *args):
        pass


@pytest.fixture
def server(starter_model):
    """A local HTTP server holding the starter model and its labels; yields its base URL."""
    labels = (starter_model.parent / "labels.txt").read_bytes()
    _Handler.files = {"/model.tflite": starter_model.read_bytes(), "/labels.txt": labels}
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()
    thread.join(1)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _starter(base: str, model_sha: str, labels_sha: str, model_url: str = "/model.tflite") -> StarterModel:
    return StarterModel(
        model=RemoteFile("starter.tflite", (base + model_url,), model_sha),
        labels=RemoteFile("labels.txt", (base + "/labels.txt",), labels_sha),
    )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_download_verifies_and_lands_the_starter(server, starter_model, monkeypatch):
    monkeypatch.setenv("BIRDCAM_PLAIN_STARTER", "1")  # the download itself; tests/models/test_shipped.py extends it
    starter = _starter(server, _sha(starter_model), _sha(starter_model.parent / "labels.txt"))
    seen = []
    resolved = resolve_model(download=True, progress=lambda done, total: seen.append((done, total)), starter=starter)
    assert resolved.origin == "starter (downloaded)"
    assert resolved.path == paths.cache_dir() / "aiy_birds_v1" / "starter.tflite"
    assert _sha(resolved.path) == _sha(starter_model)
    assert (
        resolved.labels_path is not None
        and resolved.labels_path.read_bytes() == (starter_model.parent / "labels.txt").read_bytes()
    )
    size = starter_model.stat().st_size
    assert seen[-1] == (size, size) and len(seen) > 10
    assert [p.name for p in resolved.path.parent.iterdir() if p.name.startswith(".")] == []
    # Second time: from the cache, no download.
    _Handler.files = {}
    again = resolve_model(starter=starter)
    assert again.origin == "starter" and again.path == resolved.path


def test_wrong_checksum_leaves_nothing_behind(server, starter_model):
    starter = _starter(server, "0" * 64, _sha(starter_model.parent / "labels.txt"))
    with pytest.raises(ModelError) as error:
        resolve_model(download=True, starter=starter)
    message = str(error.value)
    assert "SHA-256" in message and "--model" in message
    folder = paths.cache_dir() / "aiy_birds_v1"
    assert not folder.exists() or list(folder.iterdir()) == []


def test_truncated_body_is_refused(server, starter_model):
    remote = RemoteFile("cut.tflite", (server + "/truncated/model.tflite",), _sha(starter_model))
    target = paths.cache_dir() / "cut.tflite"
    with pytest.raises(ModelError, match="connection cut"):
        download(remote, target, timeout=5)
    assert not target.exists()
    assert list(target.parent.glob(".*")) == []


def test_server_down_says_what_to_do(starter_model):
    base = f"http://127.0.0.1:{_free_port()}"
    starter = _starter(base, _sha(starter_model), "0" * 64)
    start = time.monotonic()
    with pytest.raises(ModelError) as error:
        resolve_model(download=True, starter=starter)
    assert time.monotonic() - start < 10
    message = str(error.value)
    assert "could not be reached" in message
    assert "--model" in message and str(paths.cache_dir() / "aiy_birds_v1") in message


def test_second_url_is_tried_when_the_first_fails(server, starter_model):
    dead = f"http://127.0.0.1:{_free_port()}/model.tflite"
    remote = RemoteFile("m.tflite", (dead, server + "/model.tflite"), _sha(starter_model))
    assert _sha(download(remote, paths.cache_dir() / "m.tflite")) == _sha(starter_model)


def test_missing_labels_do_not_block_the_model(server, starter_model):
    starter = StarterModel(
        model=RemoteFile("starter.tflite", (server + "/model.tflite",), _sha(starter_model)),
        labels=RemoteFile("labels.txt", (server + "/gone.txt",), "0" * 64),
    )
    resolved = resolve_model(download=True, starter=starter)
    assert resolved.path.is_file() and resolved.labels_path is None


def test_resolution_order(tmp_path, monkeypatch, starter_model):
    starter = _starter("http://127.0.0.1:9", "0" * 64, "0" * 64)
    with pytest.raises(ModelError, match="downloading is off"):
        resolve_model(download=False, starter=starter)
    cached = starter.path()
    cached.parent.mkdir(parents=True)
    cached.write_bytes(starter_model.read_bytes())
    assert resolve_model(download=False, starter=starter).origin == "starter"

    trained_dir = paths.models_dir()
    older, newer = trained_dir / "older.tflite", trained_dir / "newer.tflite"
    older.write_bytes(b"x")
    newer.write_bytes(b"x")
    os.utime(older, (time.time() - 100, time.time() - 100))
    chosen = resolve_model(download=True, starter=starter)
    assert chosen.origin == "trained" and chosen.path == newer

    from_env = tmp_path / "env.tflite"
    from_env.write_bytes(b"x")
    monkeypatch.setenv("BIRDCAM_MODEL", str(from_env))
    assert resolve_model(starter=starter).path == from_env
    assert resolve_model(str(older), starter=starter).origin == "--model"

    monkeypatch.setenv("BIRDCAM_MODEL", str(tmp_path / "gone.tflite"))
    with pytest.raises(ModelError, match="BIRDCAM_MODEL"):
        resolve_model(download=True, starter=starter)
    with pytest.raises(ModelError, match="not found"):
        resolve_model(str(tmp_path / "nope.tflite"), starter=starter)


def test_offline_setting_and_mirror(server, starter_model, monkeypatch):
    from birdcam.models.store import AIY_BIRDS_V1
    from birdcam.models.store import starter_model as default_starter

    with pytest.raises(ModelError, match="downloading is off"):
        resolve_model()  # BIRDCAM_OFFLINE is set for every test
    monkeypatch.delenv("BIRDCAM_OFFLINE")
    monkeypatch.setenv("BIRDCAM_PLAIN_STARTER", "1")
    monkeypatch.setenv("BIRDCAM_STARTER_MIRROR", server + "/")
    _Handler.files = {
        f"/{AIY_BIRDS_V1.model.filename}": starter_model.read_bytes(),
        "/labels.txt": (starter_model.parent / "labels.txt").read_bytes(),
    }
    assert default_starter().model.urls[0] == f"{server}/{AIY_BIRDS_V1.model.filename}"
    resolved = resolve_model()
    assert resolved.origin == "starter (downloaded)" and _sha(resolved.path) == AIY_BIRDS_V1.model.sha256
    assert resolved.labels_path is not None and _sha(resolved.labels_path) == AIY_BIRDS_V1.labels.sha256


# -- the detector ------------------------------------------------------------------------------


@pytest.fixture
def yolox_files(shared_dir) -> dict[str, bytes]:
    """What the local server offers: the shared YOLOX-nano and its labels."""
    folder = shared_dir / "models" / "yolox_nano"
    return {
        "/yolox.tflite": (folder / "yolox_nano_float16_quantize.tflite").read_bytes(),
        "/coco_classes.txt": (folder / "coco_classes.txt").read_bytes(),
    }


def _detector_starter(base: str, files: dict[str, bytes], model_sha: str | None = None) -> StarterModel:
    """The real starter detector's record, its files fetched from `base`."""
    from birdcam.models.store import STARTER_DETECTOR

    return dataclasses.replace(
        STARTER_DETECTOR,
        model=RemoteFile(
            "yolox.tflite", (base + "/yolox.tflite",), model_sha or hashlib.sha256(files["/yolox.tflite"]).hexdigest()
        ),
        labels=RemoteFile(
            "coco_classes.txt", (base + "/coco_classes.txt",), hashlib.sha256(files["/coco_classes.txt"]).hexdigest()
        ),
    )


def test_the_pinned_starter_detector_is_the_shared_one(shared_dir):
    from birdcam.models.store import STARTER_DETECTOR

    folder = shared_dir / "models" / "yolox_nano"
    assert _sha(folder / "yolox_nano_float16_quantize.tflite") == STARTER_DETECTOR.model.sha256
    assert _sha(folder / "coco_classes.txt") == STARTER_DETECTOR.labels.sha256
    pinned = "https://raw.githubusercontent.com/Kazuhito00/YOLOX-ONNX-TFLite-Sample/3d4f1119d0694200671c08069ecb847aa0d8495a/"
    assert STARTER_DETECTOR.model.urls == (pinned + "model/yolox_nano_float16_quantize.tflite",)
    assert STARTER_DETECTOR.labels.urls == (pinned + "coco_classes.txt",)
    assert STARTER_DETECTOR.path() == paths.cache_dir() / "yolox_nano" / "yolox_nano_float16_quantize.tflite"


def test_detector_download_verifies_and_lands_a_working_detector(server, yolox_files):
    from birdcam.models.detector import Detector
    from birdcam.models.store import resolve_detector

    _Handler.files = dict(yolox_files)
    starter = _detector_starter(server, yolox_files)
    seen = []
    resolved = resolve_detector(download=True, progress=lambda done, total: seen.append((done, total)), starter=starter)
    assert resolved.origin == "starter (downloaded)" and "YOLOX-nano" in resolved.reason
    assert resolved.path == paths.cache_dir() / "yolox_nano" / "yolox.tflite"
    assert resolved.path.read_bytes() == yolox_files["/yolox.tflite"]
    assert resolved.labels_path is not None and resolved.labels_path.read_bytes() == yolox_files["/coco_classes.txt"]
    size = len(yolox_files["/yolox.tflite"])
    assert seen[-1] == (size, size) and len(seen) > 5
    with Detector.from_path(resolved.path, labels_path=resolved.labels_path) as detector:
        assert detector.kind == "yolox" and detector.bird_classes == (14,)
    _Handler.files = {}
    again = resolve_detector(starter=starter)
    assert again.origin == "starter" and again.path == resolved.path


def test_detector_with_a_wrong_checksum_leaves_nothing_and_says_what_to_do(server, yolox_files):
    from birdcam.models.store import resolve_detector

    _Handler.files = dict(yolox_files)
    with pytest.raises(ModelError) as error:
        resolve_detector(download=True, starter=_detector_starter(server, yolox_files, model_sha="0" * 64))
    message = str(error.value)
    assert (
        "SHA-256" in message and "--detector PATH" in message and "--detector none" in message and "\n" not in message
    )
    folder = paths.cache_dir() / "yolox_nano"
    assert not folder.exists() or list(folder.iterdir()) == []


def test_detector_offline_or_unreachable_is_one_line_saying_what_to_do(yolox_files):
    from birdcam.models.store import STARTER_DETECTOR, resolve_detector

    with pytest.raises(ModelError) as error:
        resolve_detector()  # BIRDCAM_OFFLINE is set for every test
    message = str(error.value)
    assert "downloading is off" in message and "--detector PATH" in message and "--detector none" in message
    assert STARTER_DETECTOR.model.filename in message and str(paths.cache_dir() / "yolox_nano") in message
    assert "\n" not in message
    down = _detector_starter(f"http://127.0.0.1:{_free_port()}", yolox_files)
    with pytest.raises(ModelError, match="could not be reached.*--detector none"):
        resolve_detector(download=True, starter=down)


def test_detector_resolution_order(tmp_path, monkeypatch, yolox_files):
    from birdcam.models.store import resolve_detector

    starter = _detector_starter("http://127.0.0.1:9", yolox_files)
    cached = starter.path()
    cached.parent.mkdir(parents=True)
    cached.write_bytes(yolox_files["/yolox.tflite"])
    assert resolve_detector(download=False, starter=starter).origin == "starter"
    from_env, given = tmp_path / "env.tflite", tmp_path / "given.tflite"
    from_env.write_bytes(b"x")
    given.write_bytes(b"x")
    monkeypatch.setenv("BIRDCAM_DETECTOR", str(from_env))
    assert resolve_detector(starter=starter).path == from_env
    assert resolve_detector(starter=starter).origin == "BIRDCAM_DETECTOR"
    assert resolve_detector(given, starter=starter).origin == "--detector"
    assert resolve_detector("none", starter=starter) is None
    assert resolve_detector(Path("NONE"), starter=starter) is None
    monkeypatch.setenv("BIRDCAM_DETECTOR", "none")
    assert resolve_detector(starter=starter) is None
    assert resolve_detector(str(given), starter=starter).path == given
    monkeypatch.setenv("BIRDCAM_DETECTOR", str(tmp_path / "gone.tflite"))
    with pytest.raises(ModelError, match="BIRDCAM_DETECTOR"):
        resolve_detector(starter=starter)
    with pytest.raises(ModelError, match="detector file not found.*--detector none"):
        resolve_detector(str(tmp_path / "nope.tflite"), starter=starter)


def test_detector_mirror_with_the_real_pinned_checksums(server, shared_dir, monkeypatch):
    from birdcam.models.store import STARTER_DETECTOR, resolve_detector, starter_detector

    folder = shared_dir / "models" / "yolox_nano"
    _Handler.files = {
        f"/{STARTER_DETECTOR.model.filename}": (folder / STARTER_DETECTOR.model.filename).read_bytes(),
        f"/{STARTER_DETECTOR.labels.filename}": (folder / STARTER_DETECTOR.labels.filename).read_bytes(),
    }
    monkeypatch.delenv("BIRDCAM_OFFLINE")
    monkeypatch.setenv("BIRDCAM_STARTER_MIRROR", server)
    assert starter_detector().model.urls[0] == f"{server}/{STARTER_DETECTOR.model.filename}"
    resolved = resolve_detector()
    assert resolved.origin == "starter (downloaded)" and resolved.path == STARTER_DETECTOR.path()
    assert _sha(resolved.path) == STARTER_DETECTOR.model.sha256
    assert resolved.labels_path is not None and _sha(resolved.labels_path) == STARTER_DETECTOR.labels.sha256


def test_partial_files_of_killed_downloads_are_removed_by_the_next_one(server, starter_model):
    """A download killed hard (SIGKILL) leaves its temporary file; the next download of that file clears it."""
    import subprocess
    import sys

    target = paths.cache_dir() / "aiy_birds_v1" / "starter.tflite"
    target.parent.mkdir(parents=True)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    leftover = target.with_name(f".{target.name}.{dead.stdout.strip()}.partial")
    leftover.write_bytes(b"half a model")
    running = target.with_name(f".{target.name}.1.partial")  # pid 1 runs: another download may own it
    running.write_bytes(b"someone else's download")
    remote = RemoteFile("starter.tflite", (server + "/starter.tflite",), _sha(starter_model))
    _Handler.files = {"/starter.tflite": starter_model.read_bytes()}
    download(remote, target, timeout=5)
    assert target.read_bytes() == starter_model.read_bytes()
    assert not leftover.exists() and running.exists()
