"""The extension birdcam ships for its starter model: the Kaggle set's species (not its cartoon class), 300 new to it.

`extensions/kaggle525.json` and `.rows` hold the rows `birdcam train --extend` fitted on the two
reference photos of each species (the Kaggle set is CC0; built by benchmarks/build_starter_extension.py).
When the starter model is the one that runs, the store applies them once: both checksums are checked
(the starter .tflite and its labels against the ones the rows were fitted for, the rows against the
manifest), and the extended model is written beside the starter, in a folder of its own so that
the starter's labels.txt is not read as its labels. `$BIRDCAM_PLAIN_STARTER=1` runs the plain starter.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from birdcam.errors import BirdcamError, first_line
from birdcam.models.card import ModelCard
from birdcam.models.extension import extended_model, load_change
from birdcam.models.labels import read_labels
from birdcam.util.fileio import write_atomically

SHIPPED_EXTENSION = Path(__file__).resolve().parent / "extensions" / "kaggle525.json"
"""The manifest of the starter's shipped extension."""
PLAIN_STARTER_VARIABLE = "BIRDCAM_PLAIN_STARTER"
"""Set (to anything) to run the starter model without the shipped extension."""
FOLDER = "kaggle525"
"""Sub-folder of the starter's cache folder that holds the extended model."""


def extended_starter_path(starter_path: Path) -> Path:
    """Where the extended starter lives: `<starter folder>/kaggle525/<starter name>`."""
    return Path(starter_path).parent / FOLDER / Path(starter_path).name


def extend_starter(resolved: Any, environ: Mapping[str, str], manifest: Path = SHIPPED_EXTENSION) -> Any:
    """The resolved starter model (a store.ResolvedModel) with the shipped extension applied, built on first use.

    Falls back to the plain starter, saying why in `reason`, when the extension cannot be applied (a starter or
    label file with other bytes, a damaged extension, a full disk): the app never loses its model over it.
    """
    if environ.get(PLAIN_STARTER_VARIABLE) or not manifest.is_file():
        return resolved
    try:
        path, species = apply_extension(Path(resolved.path), resolved.labels_path, manifest)
    except (BirdcamError, OSError) as error:
        return dataclasses.replace(
            resolved, reason=f"{resolved.reason}; the Kaggle species extension was not applied ({first_line(error)})"
        )
    return dataclasses.replace(
        resolved,
        path=path,
        labels_path=None,
        reason=f"{resolved.reason}, extended with {species} species of the Kaggle set "
        f"({PLAIN_STARTER_VARIABLE}=1 for the plain starter)",
    )


def apply_extension(starter_path: Path, labels_path: Path | None, manifest: Path) -> tuple[Path, int]:
    """Writes (once) and returns the extended starter and how many species it adds; BirdcamError when the checksums
    do not match."""
    saved = load_change(manifest)
    out = extended_starter_path(starter_path)
    card = ModelCard.of_model(out) if out.is_file() else None
    digest = _sha256(manifest)
    if card is not None and card.extra.get("extension", {}).get("manifest_sha256") == digest:
        return out, len(saved.change.labels)
    if labels_path is None or not Path(labels_path).is_file():
        raise BirdcamError("the starter's labels.txt is missing; its common names are needed")
    if _sha256(starter_path) != saved.base_sha256:
        raise BirdcamError(f"{starter_path.name} is not the starter model the extension was fitted for")
    if _sha256(Path(labels_path)) != saved.base_labels_sha256:
        raise BirdcamError(f"{Path(labels_path).name} is not the starter's label file the extension was fitted for")
    labels = [label.text for label in read_labels(Path(labels_path))]
    content = extended_model(starter_path, labels, saved.change)
    extension = {
        "manifest": manifest.name,
        "manifest_sha256": digest,
        "base_model": starter_path.name,
        "base_sha256": saved.base_sha256,
        "added": len(saved.change.labels),
        "refined": len(saved.change.refined),
        "photos": "the two reference photos of each of the Kaggle set's 525 species (CC0)",
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    ModelCard(name=f"{starter_path.stem} + Kaggle 525", extra={"extension": extension}).write(out.with_suffix(".json"))
    write_atomically(out, content)
    return out, len(saved.change.labels)


def _sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()
