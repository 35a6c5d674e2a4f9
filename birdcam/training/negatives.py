"""Pictures without a bird, as a model's classifier layer sees them: what a taught species must not take for itself.

`birdcam train --extend` caps the bias of every new row so that on each of these its probability stays
under a small limit (see `extend.capped_biases`). Two kinds:

- plain scenes drawn here (walls, sky, darkness, foliage-like noise, wood-like stripes, gradients), for
  any model;
- for the starter model's backbone, a shipped bank (`birdcam/models/extensions/negatives.json` and
  `.f16`): the features of corners of the Kaggle reference photos (CC0) that the starter itself puts on
  background, so real textures (water, branches, sky, ground) without a bird. Built by
  benchmarks/build_starter_extension.py; applied only to a model with the same backbone fingerprint.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from birdcam.errors import ModelError
from birdcam.models.features import FeatureReader
from birdcam.models.image import read_image
from birdcam.util.fileio import write_atomically, write_text_atomically

SHIPPED_NEGATIVES = Path(__file__).resolve().parent.parent / "models" / "extensions" / "negatives.json"
"""The manifest of the starter backbone's negative bank."""
CORNER_FRACTION = 0.35
"""Side of a corner crop, as a fraction of the photo's short side."""
MIN_BACKGROUND = 0.5
"""A corner enters the bank when the model puts at least this much probability on background."""
SCENE_SIZE = 224


def plain_scenes(seed: int = 0) -> list[np.ndarray]:
    """BGR pictures of nothing: walls of several colours, sky, darkness, foliage-like noise, wood-like stripes and
    gradients. Deterministic for a seed."""
    rng = np.random.default_rng(seed)
    size = (SCENE_SIZE, SCENE_SIZE)
    pictures = [
        np.full((*size, 3), bgr, np.uint8)
        for bgr in ((128, 128, 128), (235, 235, 230), (235, 190, 140), (20, 20, 20), (60, 90, 140), (200, 220, 240))
    ]
    for scale, tint in ((6, (60, 160, 70)), (3, (50, 120, 90)), (12, (90, 140, 150))):
        leaves = cv2.GaussianBlur(rng.uniform(0, 1, (*size, 3)).astype(np.float32), (0, 0), scale)
        leaves = (leaves - leaves.min()) / (np.ptp(leaves) + 1e-6)
        pictures.append((leaves * np.array(tint) + 15).clip(0, 255).astype(np.uint8))
    for period, colour in ((4.0, (40, 70, 110)), (9.0, (70, 90, 120))):
        stripes = (np.sin(np.arange(SCENE_SIZE) / period + rng.uniform(0, 3, (SCENE_SIZE, 1))) + 1) / 2
        pictures.append((stripes[..., None] * np.array(colour) + np.array([30, 60, 100])).astype(np.uint8))
    ramp = np.linspace(0, 1, SCENE_SIZE)[None, :, None] * np.ones((SCENE_SIZE, 1, 1))
    pictures.append((ramp * np.array([200, 120, 40]) + 30).astype(np.uint8))
    pictures.append((ramp.transpose(1, 0, 2) * np.array([40, 150, 210]) + 20).astype(np.uint8))
    return pictures


def corner_crops(image: np.ndarray, fraction: float = CORNER_FRACTION) -> list[np.ndarray]:
    """The four corner squares of a photo, each `fraction` of its short side."""
    height, width = image.shape[:2]
    side = max(1, round(min(height, width) * fraction))
    return [image[y : y + side, x : x + side] for y in (0, height - side) for x in (0, width - side)]


def background_corners(reader: FeatureReader, photos: Iterable[Path], background_index: int) -> np.ndarray:
    """float32 [n, features]: the corners of the photos that the reader's model puts on background (probability at
    least MIN_BACKGROUND), in photo order."""
    weights, bias = reader.model.layer_arrays(reader.layer)
    kept = []
    for path in photos:
        for crop in corner_crops(read_image(path)):
            feature = reader.picture(crop)
            logits = weights @ feature + bias
            probabilities = np.exp(logits - logits.max())
            if probabilities[background_index] / probabilities.sum() >= MIN_BACKGROUND:
                kept.append(feature)
    return np.asarray(kept, np.float32).reshape(-1, reader.feature_size)


@dataclass(frozen=True)
class NegativeBank:
    """Features of bird-free pictures for one backbone."""

    fingerprint: str
    """The backbone fingerprint (FeatureReader.fingerprint) the features belong to."""
    features: np.ndarray
    """float32 [n, features]."""


def save_bank(bank: NegativeBank, manifest: Path, source: str) -> None:
    """Writes `<name>.json` and `<name>.f16` (float16, little-endian), deterministic for the same features."""
    data = bank.features.astype("<f2").tobytes()
    rows = manifest.with_suffix(".f16")
    write_atomically(rows, data)
    document = {
        "fingerprint": bank.fingerprint,
        "rows": rows.name,
        "rows_sha256": hashlib.sha256(data).hexdigest(),
        "count": int(bank.features.shape[0]),
        "features": int(bank.features.shape[1]),
        "source": source,
    }
    write_text_atomically(manifest, json.dumps(document, indent=1) + "\n")


def load_bank(manifest: Path) -> NegativeBank:
    """Reads a saved bank; ModelError when a file is missing, damaged or not the one the manifest names."""
    try:
        document = json.loads(Path(manifest).read_text(encoding="utf-8"))
        data = (Path(manifest).parent / document["rows"]).read_bytes()
        if hashlib.sha256(data).hexdigest() != document["rows_sha256"]:
            raise ModelError(f"{document['rows']} does not match the checksum in {Path(manifest).name}")
        features = np.frombuffer(data, "<f2").astype(np.float32).reshape(int(document["count"]), -1)
        return NegativeBank(str(document["fingerprint"]), features)
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ModelError(f"cannot read the negative bank {manifest} ({error}); reinstall birdcam") from None


def negative_features(reader: FeatureReader, manifests: Sequence[Path] = (SHIPPED_NEGATIVES,)) -> np.ndarray:
    """float32 [n, features]: the plain scenes through the reader's model, and every bank made for its backbone. A
    damaged bank is left out (the scenes still count)."""
    found = [np.stack([reader.picture(scene) for scene in plain_scenes()])]
    for manifest in manifests:
        if not Path(manifest).is_file():
            continue
        try:
            bank = load_bank(manifest)
        except ModelError:
            continue
        if bank.fingerprint == reader.fingerprint and bank.features.shape[1] == reader.feature_size:
            found.append(bank.features)
    return np.concatenate(found).astype(np.float32)
