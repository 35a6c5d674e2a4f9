"""Builds the starter model's shipped extension (birdcam/models/extensions/kaggle525.json and .rows) from the two
reference photos of each of the Kaggle set's 525 species in shared/birds525-refs.

    .venv/bin/python benchmarks/build_starter_extension.py [--shared ../shared]

Deterministic: the same photos and starter give the same bytes (tests/training/test_extend.py checks it).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
STARTER = "models/aiy_birds_v1/lite-model_aiy_vision_classifier_birds_V1_3.tflite"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=Path(os.environ.get("BIRDCAM_SHARED", REPO.parent / "shared")))
    args = parser.parse_args(argv)
    sys.path.insert(0, str(REPO))
    from birdcam.models.shipped import SHIPPED_EXTENSION
    from birdcam.training.extend import build_starter_extension

    starter = args.shared / STARTER
    started = time.perf_counter()
    result = build_starter_extension(
        starter, starter.parent / "labels.txt", args.shared / "birds525-refs", SHIPPED_EXTENSION
    )
    print(
        f"{SHIPPED_EXTENSION}: {len(result.added)} species added, {len(result.refined)} refined, from "
        f"{result.photos} photos in {time.perf_counter() - started:.1f} s; "
        f"{SHIPPED_EXTENSION.stat().st_size + SHIPPED_EXTENSION.with_suffix('.rows').stat().st_size:,} bytes"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
