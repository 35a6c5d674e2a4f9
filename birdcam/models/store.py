"""Which model and detector run, and why.

Classifier: --model > $BIRDCAM_MODEL > newest trained model > cached starter > download.
Detector: --detector (or "none") > $BIRDCAM_DETECTOR > cached starter detector > download.
"""

from __future__ import annotations

import dataclasses
import hashlib
import http.client
import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from birdcam import paths
from birdcam.errors import ModelError
from birdcam.models.shipped import extend_starter
from birdcam.util.fileio import atomic_path, remove_stale_partials
from birdcam.util.progress import DownloadProgress


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
    """A model birdcam downloads itself when the user has given none: the starter classifier or detector."""

    model: RemoteFile
    """The .tflite file."""
    labels: RemoteFile
    """Its labels (`Scientific (Common)` for the classifier, class names for the detector)."""
    folder: str = "aiy_birds_v1"
    """Sub-folder of the cache it lives in."""
    kind: str = "model"
    """"model" (the classifier) or "detector": the command-line option that replaces it is `--{kind}`."""
    title: str = "AIY birds_V1"
    """Its name in messages."""
    instead: str = ""
    """A last piece of advice when it cannot be had (the detector: run without one)."""

    def path(self, cache: Path | None = None) -> Path:
        return (cache or paths.cache_dir()) / self.folder / self.model.filename

    def labels_path(self, cache: Path | None = None) -> Path:
        return (cache or paths.cache_dir()) / self.folder / self.labels.filename

    @property
    def option(self) -> str:
        return f"--{self.kind}"

    @property
    def description(self) -> str:
        """E.g. "starter model (AIY birds_V1)"."""
        return f"starter {self.kind} ({self.title})"


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

_YOLOX_SAMPLE = (
    "https://raw.githubusercontent.com/Kazuhito00/YOLOX-ONNX-TFLite-Sample/3d4f1119d0694200671c08069ecb847aa0d8495a"
)
STARTER_DETECTOR = StarterModel(
    model=RemoteFile(
        filename="yolox_nano_float16_quantize.tflite",
        urls=(f"{_YOLOX_SAMPLE}/model/yolox_nano_float16_quantize.tflite",),
        sha256="6518faf758f5827fb8412c38d2240b7722027c299596518e1f94e678af1e6e29",
    ),
    labels=RemoteFile(
        filename="coco_classes.txt",
        urls=(f"{_YOLOX_SAMPLE}/coco_classes.txt",),
        sha256="634a1132eb33f8091d60f2c346ababe8b905ae08387037aed883953b7329af84",
    ),
    folder="yolox_nano",
    kind="detector",
    title="YOLOX-nano",
    instead="Or pass --detector none for whole-frame mode.",
)
"""Megvii's YOLOX-nano (COCO, Apache-2.0) as float16 TFLite, from Kazuhito00/YOLOX-ONNX-TFLite-Sample at a pinned
commit."""
WHOLE_FRAME_DETECTOR = "none"
"""What `--detector` / `$BIRDCAM_DETECTOR` say for no detector: the whole-frame pass only."""


def starter_model(environ: Mapping[str, str] = os.environ) -> StarterModel:
    """The starter classifier; `$BIRDCAM_STARTER_MIRROR` (a folder URL holding the starter files) is tried first."""
    return _mirrored(AIY_BIRDS_V1, environ)


def starter_detector(environ: Mapping[str, str] = os.environ) -> StarterModel:
    """The starter detector, with `$BIRDCAM_STARTER_MIRROR` tried first like the classifier's."""
    return _mirrored(STARTER_DETECTOR, environ)


def _mirrored(starter: StarterModel, environ: Mapping[str, str]) -> StarterModel:
    """A mirror cannot change what is installed: the SHA-256 of each file still decides."""
    mirror = environ.get("BIRDCAM_STARTER_MIRROR", "").rstrip("/")
    if not mirror:
        return starter

    def mirrored(remote: RemoteFile) -> RemoteFile:
        return RemoteFile(remote.filename, (f"{mirror}/{remote.filename}", *remote.urls), remote.sha256)

    return dataclasses.replace(starter, model=mirrored(starter.model), labels=mirrored(starter.labels))


@dataclass(frozen=True)
class ResolvedModel:
    """The model that will run and how it was chosen."""

    path: Path
    """The .tflite file."""
    labels_path: Path | None
    """A label file to use instead of the engine's own search (the starter's labels), or None."""
    origin: str
    """Short tag: "--model" / "--detector", "BIRDCAM_MODEL" / "BIRDCAM_DETECTOR", "trained", "starter",
    "starter (downloaded)"."""
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
    progress: DownloadProgress | None = None,
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
            raise ModelError(
                f"BIRDCAM_MODEL points to the folder {path}, not a model file; "
                f"set it to the .tflite file{_models_in(path)}, or unset it."
            )
        if not path.is_file():
            raise ModelError(f"BIRDCAM_MODEL points to {path}, which does not exist. Fix or unset it.")
        return ResolvedModel(path, None, "BIRDCAM_MODEL", f"set by BIRDCAM_MODEL: {path}")
    trained = newest_trained_model()
    if trained is not None:
        return ResolvedModel(
            trained, None, "trained", f"newest model exported by `birdcam train` into {trained.parent}"
        )
    return extend_starter(_cached_or_downloaded(starter, download, progress), environ)


def resolve_detector(
    explicit: str | os.PathLike | None = None,
    *,
    download: bool | None = None,
    progress: DownloadProgress | None = None,
    environ: Mapping[str, str] = os.environ,
    starter: StarterModel | None = None,
) -> ResolvedModel | None:
    """Chooses the detector: --detector > $BIRDCAM_DETECTOR > cached starter detector > its download.

    None when "none" is asked for (whole-frame mode). Raises ModelError, with what to do, when no
    detector can be had; the app then runs in whole-frame mode. `download` as for resolve_model.
    """
    if download is None:
        download = not environ.get("BIRDCAM_OFFLINE")
    starter = starter or starter_detector(environ)
    for given, origin, fix in (
        (explicit, "--detector", "Check the --detector path"),
        (environ.get("BIRDCAM_DETECTOR"), "BIRDCAM_DETECTOR", "Fix or unset BIRDCAM_DETECTOR"),
    ):
        if given is None or not str(given).strip():
            continue
        if str(given).strip().lower() == WHOLE_FRAME_DETECTOR:
            return None
        path = Path(given).expanduser()
        if not path.exists():
            raise ModelError(
                f"detector file not found: {path} ({origin}). {fix}, or pass --detector none for whole-frame mode."
            )
        return ResolvedModel(
            path, None, origin, f"{'given with' if origin.startswith('--') else 'set by'} {origin}: {path}"
        )
    return _cached_or_downloaded(starter, download, progress)


def _cached_or_downloaded(starter: StarterModel, download: bool, progress: DownloadProgress | None) -> ResolvedModel:
    """The starter from the cache, else downloaded into it; ModelError saying what to do when neither works."""
    model_path, labels_path = starter.path(), starter.labels_path()
    if model_path.is_file():
        labels = labels_path if labels_path.is_file() else None
        return ResolvedModel(model_path, labels, "starter", f"{starter.description} from the cache {model_path.parent}")
    if not download:
        advice = f"Pass {starter.option} PATH, save {starter.model.filename} into that folder, or run once online."
        raise ModelError(
            f"no {starter.kind} yet: the {starter.description} is not in {model_path.parent} and downloading is off "
            f"(BIRDCAM_OFFLINE). {advice} {starter.instead}".rstrip()
        )
    fetch_starter(starter, progress=progress)
    labels = labels_path if labels_path.is_file() else None
    return ResolvedModel(
        model_path, labels, "starter (downloaded)", f"{starter.description}, downloaded to {model_path.parent}"
    )


def _models_in(folder: Path) -> str:
    """ ", e.g. FOLDER/x.tflite" when the folder holds a model, for the message about a folder given as a model."""
    try:
        found = sorted(folder.glob("*.tflite"))
    except OSError:
        return ""
    return f", e.g. {found[0]}" if found else ""


def fetch_starter(starter: StarterModel = AIY_BIRDS_V1, *, progress: DownloadProgress | None = None) -> Path:
    """Downloads a starter model and its labels into the cache.

    The labels are best effort: without them the classifier falls back to the scientific names
    embedded in its model file, the detector to COCO's class names.
    """
    model_path = starter.path()
    try:
        download(starter.model, model_path, progress=progress)
    except ModelError as error:
        raise ModelError(
            f"{error} Connect to the internet and retry, pass {starter.option} PATH, or save "
            f"{starter.model.filename} (SHA-256 {starter.model.sha256[:12]}...) into {model_path.parent}. "
            f"{starter.instead}".rstrip()
        ) from None
    try:
        download(starter.labels, starter.labels_path())
    except ModelError:
        pass
    return model_path


def download(
    remote: RemoteFile, destination: Path, *, progress: DownloadProgress | None = None, timeout: float = 30.0
) -> Path:
    """Fetches a file to a temporary name beside `destination`, checks its SHA-256, then renames it.

    Each URL is tried in turn; a partial or wrong file never takes the destination's name. Partial files
    of earlier downloads whose process was killed are removed first.
    """
    destination.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_partials(destination)
    failures = []
    for url in remote.urls:
        try:
            _download_one(url, remote.sha256, destination, progress, timeout)
            return destination
        except ModelError as error:
            failures.append(str(error))
    raise ModelError(f"could not download {remote.filename}: {'; '.join(dict.fromkeys(failures))}.")


def _download_one(url: str, sha256: str, destination: Path, progress: DownloadProgress | None, timeout: float) -> None:
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
            raise ModelError(
                f"{host} sent a file whose SHA-256 {digest.hexdigest()[:12]}... is not the expected {sha256[:12]}..."
            )
