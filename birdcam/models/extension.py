"""New classes for a classifier's own layer, and the one TFLite file that carries them. No TensorFlow.

A `LayerChange` is what `birdcam train --extend` fits: rows appended to the classifier layer (one per
new species) and rows of species the model knew, refined. `extended_model` writes the model with
the change applied: same input and backbone, the old outputs in place (background included), the
new ones after them, and every label file of its appended zip one line per new class longer, the
one birdcam reads holding the whole label of each class.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from birdcam.errors import ModelError
from birdcam.models.labels import embedded_labels
from birdcam.models.tflite_edit import TFLiteModel
from birdcam.util.fileio import write_atomically, write_text_atomically


@dataclass(frozen=True)
class LayerChange:
    """Rows to append to a classifier layer and rows of it to replace."""

    labels: tuple[str, ...]
    """Labels of the new classes, "Genus species (Common Name)", in output order after the old ones."""
    weights: np.ndarray
    """float32 [len(labels), features]: their rows."""
    bias: np.ndarray
    """float32 [len(labels)]: their biases."""
    refined: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    """Indices of old classes whose row and bias are replaced."""
    refined_weights: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))
    """float32 [len(refined), features]: their new rows."""
    refined_bias: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    """float32 [len(refined)]: their new biases."""
    logit_range: tuple[float, float] = (0.0, 0.0)
    """Lowest and highest logit the layer must represent (a quantized output widens to it)."""

    def applied_to(self, weights: np.ndarray, bias: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The whole layer after the change, from the old one."""
        weights = np.asarray(weights, np.float32).copy()
        bias = np.asarray(bias, np.float32).copy()
        if len(self.refined):
            weights[self.refined] = self.refined_weights
            bias[self.refined] = self.refined_bias
        return (
            np.concatenate([weights, np.asarray(self.weights, np.float32)]),
            np.concatenate([bias, np.asarray(self.bias, np.float32)]),
        )


def extended_model(
    model_path: Path, old_labels: Sequence[str], change: LayerChange, model: TFLiteModel | None = None
) -> bytes:
    """The bytes of the model at `model_path` with `change` applied and its labels extended. `old_labels` are the
    texts of the labels the app reads for the model now (a sidecar's, with common names, or the embedded ones).
    `model`: the file already parsed (it is changed in place)."""
    model = model or TFLiteModel.from_path(model_path)
    layer = model.classifier_layer()
    if len(old_labels) != layer.classes:
        raise ModelError(f"{len(old_labels)} labels for the {layer.classes} classes of {Path(model_path).name}.")
    weights, bias = change.applied_to(*model.layer_arrays(layer))
    model.set_layer(layer, weights, bias, change.logit_range)
    embedded = embedded_labels(model_path)
    archive = extended_archive(model.archive, embedded[1] if embedded else None, list(old_labels), list(change.labels))
    return model.to_bytes(archive)


def extended_archive(
    archive: dict[str, bytes], preferred: str | None, old_labels: list[str], new_labels: list[str]
) -> dict[str, bytes]:
    """The appended files of an extended model: `preferred`, the label file birdcam reads, holds every label in full;
    every other label file with one line a class (TF Hub's id file) gets the new labels appended; other files stay as
    they were. A model without label files gets labels.txt."""
    classes = len(old_labels)
    files = {}
    for name, data in archive.items():
        lines = _lines(data) if name.lower().endswith(".txt") else None
        if name == preferred:
            files[name] = _text(old_labels + new_labels)
        elif lines is not None and len(lines) == classes:
            files[name] = _text(lines + new_labels)
        else:
            files[name] = data
    if preferred is None:
        files["labels.txt"] = _text(old_labels + new_labels)
    return files


def _lines(data: bytes) -> list[str] | None:
    try:
        return [line for line in data.decode("utf-8-sig").splitlines() if line.strip()]
    except UnicodeDecodeError:
        return None


def _text(lines: list[str]) -> bytes:
    return ("\n".join(lines) + "\n").encode("utf-8")


ROWS_SUFFIX = ".rows"
"""The binary half of a saved change: float16 rows, little-endian, new ones then refined ones."""


def save_change(change: LayerChange, manifest: Path, base_sha256: str, base_labels_sha256: str) -> None:
    """Writes a change as `<name>.json` (labels, indices, biases, checksums) and `<name>.rows` (the rows), both
    deterministic, so building it again from the same photos gives the same bytes."""
    rows = np.concatenate([change.weights, change.refined_weights.reshape(-1, change.weights.shape[1])])
    data = rows.astype("<f2").tobytes()
    rows_path = manifest.with_suffix(ROWS_SUFFIX)
    write_atomically(rows_path, data)
    document = {
        "base_sha256": base_sha256,
        "base_labels_sha256": base_labels_sha256,
        "rows": rows_path.name,
        "rows_sha256": hashlib.sha256(data).hexdigest(),
        "features": int(change.weights.shape[1]),
        "labels": list(change.labels),
        "bias": [round(float(b), 5) for b in change.bias],
        "refined": [int(i) for i in change.refined],
        "refined_bias": [round(float(b), 5) for b in change.refined_bias],
        "logit_range": [round(float(v), 4) for v in change.logit_range],
    }
    write_text_atomically(manifest, json.dumps(document, indent=1, ensure_ascii=False) + "\n")


@dataclass(frozen=True)
class SavedChange:
    """A change read from its files, with the checksums of the model and labels it was fitted for."""

    change: LayerChange
    base_sha256: str
    """SHA-256 of the .tflite it extends."""
    base_labels_sha256: str
    """SHA-256 of the label file whose labels it extends."""


def load_change(manifest: Path) -> SavedChange:
    """Reads a saved change; ModelError when a file is missing, damaged or not the one the manifest names."""
    manifest = Path(manifest)
    try:
        document = json.loads(manifest.read_text(encoding="utf-8"))
        data = (manifest.parent / document["rows"]).read_bytes()
        if hashlib.sha256(data).hexdigest() != document["rows_sha256"]:
            raise ModelError(f"{document['rows']} does not match the checksum in {manifest.name}; reinstall birdcam.")
        size = int(document["features"])
        new = len(document["labels"])
        rows = np.frombuffer(data, "<f2").astype(np.float32).reshape(-1, size)
        change = LayerChange(
            labels=tuple(document["labels"]),
            weights=rows[:new],
            bias=np.asarray(document["bias"], np.float32),
            refined=np.asarray(document["refined"], np.int64),
            refined_weights=rows[new:],
            refined_bias=np.asarray(document["refined_bias"], np.float32),
            logit_range=(float(document["logit_range"][0]), float(document["logit_range"][1])),
        )
        return SavedChange(change, document["base_sha256"], document["base_labels_sha256"])
    except (OSError, ValueError, KeyError, TypeError, IndexError) as error:
        raise ModelError(f"cannot read the model extension {manifest} ({error}); reinstall birdcam.") from None
