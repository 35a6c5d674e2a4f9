"""Which model runs, and why: --model > $BIRDCAM_MODEL > newest trained model > cached starter > download."""

from __future__ import annotations

import hashlib
import http.client
import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from birdcam import paths
from birdcam.errors import ModelError
from birdcam.fileio import atomic_path

Progress = Callable[[int, int | None], None]
"""Called with (bytes so far, total bytes or None) while a download runs."""


@dataclass(frozen=True)
class RemoteFile:
    """A file birdcam may download, pinned by its SHA-256."""

    filename: str
    """Name it gets in the cache."""
    urls: tuple[str, ...]
    """Where to fetch it, tried in order."""
    sha256: str
    """Hex digest the download must match."""


@dataclass(frozen=True)
class StarterModel:
    """The model birdcam runs before the user has trained one."""

    model: RemoteFile
    """The .tflite file."""
    labels: RemoteFile
    """`Scientific (Common)` labels aligned with the outputs."""
    folder: str = "aiy_birds_v1"
    """Sub-folder of the cache it lives in."""

    def path(self, cache: Path | None = None) -> Path:
        return (cache or paths.cache_dir()) / self.folder / self.model.filename

    def labels_path(self, cache: Path | None = None) -> Path:
        return (cache or paths.cache_dir()) / self.folder / self.labels.filename


AIY_BIRDS_V1 = StarterModel(
    model=RemoteFile(
        filename="lite-model_aiy_vision_classifier_birds_V1_3.tflite",
        urls=(
            "https://storage.googleapis.com/tfhub-lite-models/google/lite-model/aiy/vision/classifier/birds_V1/3.tflite",
            "https://tfhub.dev/google/lite-model/aiy/vision/classifier/birds_V1/3?lite-format=tflite",
        ),
        sha256="95f59df4cff9053355abcd0b6e5e7e740f6eae19ed8cded32e2c3e8068195093",
    ),
    labels=RemoteFile(
        filename="labels.txt",
        urls=("https://raw.githubusercontent.com/google-coral/test_data/master/inat_bird_labels.txt",),
        sha256="a16108dfe3f8daff015b87a97ab6a17e717b9b1bccd719f6d8f747746d7b9277",
    ),
)


def starter_model(environ: Mapping[str, str] = os.environ) -> StarterModel:
    """The starter model; `$BIRDCAM_STARTER_MIRROR` (a folder URL holding both files) is tried first.

    A mirror cannot change what is installed: the SHA-256 of each file still decides.
    """
    mirror = environ.get("BIRDCAM_STARTER_MIRROR", "").rstrip("/")
    if not mirror:
        return AIY_BIRDS_V1

    def mirrored(remote: RemoteFile) -> RemoteFile:
        return RemoteFile(remote.filename, (f"{mirror}/{remote.filename}", *remote.urls), remote.sha256)

    return StarterModel(mirrored(AIY_BIRDS_V1.model), mirrored(AIY_BIRDS_V1.labels), AIY_BIRDS_V1.folder)


@dataclass(frozen=True)
class ResolvedModel:
    """The model that will run and how it was chosen."""

    path: Path
    """The .tflite file."""
    labels_path: Path | None
    """A label file to use instead of the engine's own search (the starter's labels), or None."""
    origin: str
    """Short tag: "--model", "BIRDCAM_MODEL", "trained", "starter", "starter (downloaded)"."""
    reason: str
    """One sentence for `birdcam models` and the window's status."""


def newest_trained_model(folder: Path | None = None) -> Path | None:
    """The most recently written .tflite in models/ (what `birdcam train` exported last)."""
    folder = folder or paths.models_dir()
    try:
        candidates = [p for p in folder.glob("*.tflite") if p.is_file()]
    except OSError:
        return None
    return max(candidates, key=lambda p: p.stat().st_mtime, default=None)


def resolve_model(
    explicit: str | os.PathLike | None = None,
    *,
    download: bool | None = None,
    progress: Progress | None = None,
    environ: Mapping[str, str] = os.environ,
    starter: StarterModel | None = None,
) -> ResolvedModel:
    """Chooses the model to run. Raises ModelError, with what to do, when none can be had.

    `download` None: download the starter when it is needed, unless `$BIRDCAM_OFFLINE` is set.
    """
    if download is None:
        download = not environ.get("BIRDCAM_OFFLINE")
    starter = starter or starter_model(environ)
    if explicit:
        path = Path(explicit).expanduser()
        if path.is_dir():
            raise ModelError(f"--model {path} is a folder, not a model file; give the .tflite file{_models_in(path)}.")
        if not path.is_file():
            raise ModelError(f"model file not found: {path}. Check the --model path.")
        return ResolvedModel(path, None, "--model", f"given with --model: {path}")
    from_env = environ.get("BIRDCAM_MODEL")
    if from_env:
        path = Path(from_env).expanduser()
        if path.is_dir():
            raise ModelError(f"BIRDCAM_MODEL points to the folder {path}, not a model file; set it to the .tflite file{_models_in(path)}, or unset it.")
        if not path.is_file():
            raise ModelError(f"BIRDCAM_MODEL points to {path}, which does not exist. Fix or unset it.")
        return ResolvedModel(path, None, "BIRDCAM_MODEL", f"set by BIRDCAM_MODEL: {path}")
    trained = newest_trained_model()
    if trained is not None:
        return ResolvedModel(trained, None, "trained", f"newest model exported by `birdcam train` into {trained.parent}")
    model_path, labels_path = starter.path(), starter.labels_path()
    labels = labels_path if labels_path.is_file() else None
    if model_path.is_file():
        return ResolvedModel(model_path, labels, "starter", f"starter model (AIY birds_V1) from the cache {model_path.parent}")
    if not download:
        raise ModelError(
            f"no model yet: the starter model is not in {model_path.parent} and downloading is off "
            "(BIRDCAM_OFFLINE). Pass --model PATH, or run once online."
        )
    fetch_starter(starter, progress=progress)
    labels = labels_path if labels_path.is_file() else None
    return ResolvedModel(model_path, labels, "starter (downloaded)", f"starter model (AIY birds_V1), downloaded to {model_path.parent}")


def _models_in(folder: Path) -> str:
    """", e.g. FOLDER/x.tflite" when the folder holds a model, for the message about a folder given as a model."""
    try:
        found = sorted(folder.glob("*.tflite"))
    except OSError:
        return ""
    return f", e.g. {found[0]}" if found else ""


def fetch_starter(starter: StarterModel = AIY_BIRDS_V1, *, progress: Progress | None = None) -> Path:
    """Downloads the starter model and its labels into the cache.

    The labels are best effort: without them the engine falls back to the scientific names embedded
    in the model file.
    """
    model_path = starter.path()
    try:
        download(starter.model, model_path, progress=progress)
    except ModelError as error:
        raise ModelError(
            f"{error} Connect to the internet and retry, pass --model PATH, or save "
            f"{starter.model.filename} (SHA-256 {starter.model.sha256[:12]}...) into {model_path.parent}."
        ) from None
    try:
        download(starter.labels, starter.labels_path())
    except ModelError:
        pass
    return model_path


def download(remote: RemoteFile, destination: Path, *, progress: Progress | None = None, timeout: float = 30.0) -> Path:
    """Fetches a file to a temporary name beside `destination`, checks its SHA-256, then renames it.

    Each URL is tried in turn; a partial or wrong file never takes the destination's name.
    """
    destination.parent.mkdir(parents=True, exist_ok=True)
    failures = []
    for url in remote.urls:
        try:
            _download_one(url, remote.sha256, destination, progress, timeout)
            return destination
        except ModelError as error:
            failures.append(str(error))
    raise ModelError(f"could not download {remote.filename}: {'; '.join(dict.fromkeys(failures))}.")


def _download_one(url: str, sha256: str, destination: Path, progress: Progress | None, timeout: float) -> None:
    """Errors name the host, not the whole URL: short enough for one line (`birdcam models` shows the URL)."""
    host = urllib.parse.urlsplit(url).netloc or url
    digest = hashlib.sha256()
    with atomic_path(destination) as temporary, open(temporary, "wb") as out:
        try:
            request = urllib.request.Request(url, headers={"User-Agent": "birdcam"})
            with urllib.request.urlopen(request, timeout=timeout) as response:
                length = response.headers.get("Content-Length")
                total = int(length) if length and length.isdigit() else None
                received = 0
                while chunk := response.read(1 << 16):
                    out.write(chunk)
                    digest.update(chunk)
                    received += len(chunk)
                    if progress is not None:
                        progress(received, total)
        except urllib.error.HTTPError as error:
            raise ModelError(f"{host} answered HTTP {error.code}") from None
        except (urllib.error.URLError, OSError, http.client.HTTPException) as error:
            reason = getattr(error, "reason", None) or error
            raise ModelError(f"{host} could not be reached ({reason})") from None
        if total is not None and received != total:
            raise ModelError(f"{host} sent {received} of {total} bytes (connection cut)")
        if digest.hexdigest() != sha256:
            raise ModelError(f"{host} sent a file whose SHA-256 {digest.hexdigest()[:12]}... is not the expected {sha256[:12]}...")
