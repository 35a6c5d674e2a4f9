"""What a classifier's own classifier layer sees of a photo: its feature vector, read with LiteRT, cached by content.

The model is run with the classifier layer's input as a second output (see `tflite_edit`), on the
input the app's engine would give it (the same fitting and normalization, `Classifier.preprocess`).
Each photo yields a few views (the photo, its mirror image, a closer look), and their features are
cached per model backbone under the hash of the photo's bytes, so a photo is computed once whatever
its name or folder.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from birdcam import paths
from birdcam.errors import ModelError, SourceError, first_line
from birdcam.models.classifier import Classifier
from birdcam.models.image import read_image
from birdcam.models.tflite_edit import ClassifierLayer, TFLiteModel
from birdcam.util.fileio import atomic_path
from birdcam.util.native import stderr_silenced

VIEWS = ("photo", "mirrored", "closer", "closer mirrored")
"""Views of a photo of a bird: the photo, mirrored, and its central 80 % (and mirrored), as the camera may frame it."""
_CACHE_VERSION = "3"  # bump when the views, their computation or the file format change: old entries are then not read


@dataclass(frozen=True)
class PhotoFeatures:
    """The feature vectors of one photo's views."""

    path: Path
    """The photo."""
    digest: str
    """SHA-256 of its bytes (the cache key)."""
    features: np.ndarray
    """float32 [len(VIEWS), feature size], in the order of VIEWS."""

    def view(self, name: str) -> np.ndarray:
        return self.features[VIEWS.index(name)]


class FeatureReader:
    """Reads the classifier layer's input for photos. Not thread-safe; use as a context manager.

    LiteRT runs only for photos whose features are not cached yet: with a warm cache, reading a thousand
    photos is hashing them and reading a small file each.
    """

    def __init__(
        self,
        model_path: Path,
        *,
        num_threads: int = 2,
        cache: Path | None = None,
        labels_path=None,
        model: TFLiteModel | None = None,
    ):
        """`model`: the file at `model_path` already parsed (it is parsed once otherwise)."""
        self.model_path = Path(model_path)
        self.model = model or TFLiteModel.from_path(self.model_path)
        self.layer: ClassifierLayer = self.model.classifier_layer()
        self.classifier = Classifier.from_path(
            self.model_path, num_threads=num_threads, top_k=1, labels_path=labels_path
        )
        """The model as the app runs it: its labels, card and input fitting."""
        self.fingerprint = self.model.backbone_fingerprint(self.layer).hex()[:24]
        self.cache = (cache or paths.cache_dir() / "features") / self.fingerprint
        self.num_threads = max(1, num_threads)
        self._interpreter: Any = None  # made on the first photo the cache does not hold
        self._input: dict = {}
        self._features: dict = {}

    def __enter__(self) -> FeatureReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.classifier.close()
        self._interpreter = None

    def _feature_interpreter(self):
        """LiteRT on the model with the classifier layer's input as a second output, batch 1."""
        from ai_edge_litert.interpreter import Interpreter

        with stderr_silenced():
            try:
                interpreter = Interpreter(
                    model_content=self.model.with_feature_output(self.layer), num_threads=self.num_threads
                )
                interpreter.allocate_tensors()
            except (RuntimeError, ValueError) as error:
                raise ModelError(
                    f"LiteRT cannot read the features of {self.model_path.name}: {first_line(error)}."
                ) from None
        self._input = interpreter.get_input_details()[0]
        if int(self._input["shape"][0]) != 1:
            interpreter.resize_tensor_input(self._input["index"], [1, *self._input["shape"][1:]])
            interpreter.allocate_tensors()
        self._features = interpreter.get_output_details()[-1]
        return interpreter

    @property
    def feature_size(self) -> int:
        return self.layer.feature_size

    def photo(self, path: Path) -> PhotoFeatures:
        """The features of a photo's views, from the cache when its bytes were seen before; SourceError when the
        file is not an image."""
        path = Path(path)
        try:
            content = path.read_bytes()
        except OSError as error:
            raise SourceError(f"cannot read {path}: {error.strerror}") from None
        digest = hashlib.sha256(content).hexdigest()
        cached = self._cache_file(digest)
        shape = (len(VIEWS), self.feature_size)
        try:
            stored = np.fromfile(cached, "<f2")
        except (OSError, ValueError):
            stored = None
        if stored is not None and stored.size == shape[0] * shape[1]:
            return PhotoFeatures(path, digest, stored.reshape(shape).astype(np.float32))
        image = read_image(path)
        features = np.stack([self.image(view) for view in view_images(image)]).astype("<f2")
        _write_cached(cached, features)
        return PhotoFeatures(path, digest, features.astype(np.float32))

    def picture(self, image_bgr: np.ndarray) -> np.ndarray:
        """The feature vector of one BGR image as it is (no other views), cached by its pixels."""
        digest = hashlib.sha256(f"{image_bgr.shape}".encode() + np.ascontiguousarray(image_bgr).tobytes()).hexdigest()
        cached = self._cache_file(digest).with_suffix(".picture.f16")
        try:
            stored = np.fromfile(cached, "<f2")
        except (OSError, ValueError):
            stored = None
        if stored is not None and stored.size == self.feature_size:
            return stored.astype(np.float32)
        feature = self.image(image_bgr).astype("<f2")
        _write_cached(cached, feature)
        return feature.astype(np.float32)

    def image(self, image_bgr: np.ndarray) -> np.ndarray:
        """The feature vector of one BGR image, fitted to the input as the app fits frames."""
        if self._interpreter is None:
            self._interpreter = self._feature_interpreter()
        self._interpreter.set_tensor(self._input["index"], self.classifier.preprocess(image_bgr))
        self._interpreter.invoke()
        return _dequantized(self._interpreter.get_tensor(self._features["index"]), self._features).reshape(-1)

    def _cache_file(self, digest: str) -> Path:
        return self.cache / f"v{_CACHE_VERSION}" / digest[:2] / f"{digest}.f16"


def _write_cached(path: Path, values: np.ndarray) -> None:
    try:
        with atomic_path(path) as temporary:
            values.tofile(temporary)
    except OSError:
        pass  # a full or read-only cache costs time next run, nothing else


def view_images(image: np.ndarray) -> list[np.ndarray]:
    """The views of VIEWS, in order: square crops of the image's centre."""
    height, width = image.shape[:2]
    side = min(height, width)
    y0, x0 = (height - side) // 2, (width - side) // 2
    square = image[y0 : y0 + side, x0 : x0 + side]
    inner = max(1, round(side * 0.8))
    margin = (side - inner) // 2
    closer = square[margin : margin + inner, margin : margin + inner]
    return [square, cv2.flip(square, 1), closer, cv2.flip(closer, 1)]


def _dequantized(values: np.ndarray, details: dict) -> np.ndarray:
    scale, zero = details.get("quantization", (0.0, 0))
    values = values.astype(np.float32)
    return (values - zero) * scale if scale else values


__all__ = ["FeatureReader", "PhotoFeatures", "VIEWS", "view_images"]
