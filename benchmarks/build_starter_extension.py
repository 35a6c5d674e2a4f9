"""Builds the starter model's shipped files from shared/birds525-refs: its negative bank
(birdcam/models/extensions/negatives.json + .f16: corners of the first reference photo of each species that the
starter puts on background) and then its extension (kaggle525.json + .rows: the 525 Kaggle species from both
reference photos, fitted with that bank).

    .venv/bin/python benchmarks/build_starter_extension.py [--shared ../shared] [--check]

Deterministic: the same photos and starter give the same bytes. --check builds into a scratch folder and compares
with the shipped files instead of replacing them (exit 1 when they differ).
"""

from __future__ import annotations

import argparse
import filecmp
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
STARTER = "models/aiy_birds_v1/lite-model_aiy_vision_classifier_birds_V1_3.tflite"


def build(shared: Path, folder: Path, cache: Path | None) -> list[Path]:
    """Writes negatives.json/.f16 and kaggle525.json/.rows into `folder`; returns the four files."""
    from birdcam.models.features import FeatureReader
    from birdcam.training.extend import build_starter_extension
    from birdcam.training.negatives import NegativeBank, background_corners, save_bank

    starter = shared / STARTER
    labels = starter.parent / "labels.txt"
    refs = shared / "birds525-refs"
    photos = [refs / "valid" / species / "1.jpg" for species in sorted(p.name for p in (refs / "valid").iterdir())]
    started = time.perf_counter()
    with FeatureReader(starter, labels_path=labels, cache=cache) as reader:
        corners = background_corners(reader, photos, reader.classifier.background_index)
        bank = NegativeBank(reader.fingerprint, corners)
    negatives = folder / "negatives.json"
    save_bank(bank, negatives, "corners of shared/birds525-refs valid/*/1.jpg (Kaggle BIRDS 525, CC0) on background")
    print(f"negative bank: {len(corners)} corners of {len(photos)} photos in {time.perf_counter() - started:.1f} s")
    manifest = folder / "kaggle525.json"
    started = time.perf_counter()
    result = build_starter_extension(starter, labels, refs, manifest, cache=cache, negatives=(negatives,))
    print(
        f"extension: {len(result.added)} species added, {len(result.refined)} refined, from {result.photos} photos "
        f"in {time.perf_counter() - started:.1f} s"
    )
    return [negatives, negatives.with_suffix(".f16"), manifest, manifest.with_suffix(".rows")]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=Path(os.environ.get("BIRDCAM_SHARED", REPO.parent / "shared")))
    parser.add_argument("--cache", type=Path, help="feature cache (default: the user cache)")
    parser.add_argument("--check", action="store_true", help="compare a fresh build with the shipped files")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(REPO))
    from birdcam.models.shipped import SHIPPED_EXTENSION

    shipped = SHIPPED_EXTENSION.parent
    if not args.check:
        files = build(args.shared, shipped, args.cache)
        print(", ".join(f"{path.name} {path.stat().st_size:,} bytes" for path in files))
        return 0
    with tempfile.TemporaryDirectory(prefix="starter-extension-") as scratch:
        files = build(args.shared, Path(scratch), args.cache)
        differ = [path.name for path in files if not filecmp.cmp(path, shipped / path.name, shallow=False)]
    print(f"differ from the shipped files: {', '.join(differ)}" if differ else "the same bytes as the shipped files")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
