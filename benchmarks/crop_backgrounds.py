"""What the test footage's backgrounds cost the classifier: one look at the same bird, at the same size, in the same
crop, on its own photo's background and cut along its outline onto a scene photo.

    .venv/bin/python benchmarks/crop_backgrounds.py [--shared ../shared] [--threads 2] [--limit N]

Each birds525-sample and birds525-refs photo of a species the starter model knows (and whose outline the
segmenter finds) is put in a 1280x720 frame of a random scene or not-bird photo, the bird 90, 150 and 240 px
along its longer side, in three ways:

  own       the whole photo scaled and pasted as a rectangle: the bird on its own background, as a feeder cam or
            a nature video shows it (the scene photo shows only where the crop reaches past the photo);
  cut       cut along its outline (tests/bird_scenes.py, as scene_quality.py's footage): the bird on a living
            room, a street or a market;
  grey      cut along its outline onto mid-grey: no background at all.

The classifier sees the scene pass's crop of each (a square 1.5x the bird's own box) once. Per way and size: the
share of birds whose best bird species is the right one, the share named right at the scene pass's first-look
score (EvidenceOptions.first_threshold, 0.8), the share given a wrong species at its floor (threshold, 0.7), and the
mean background score. The close-up
row is the photo itself, whole. Deterministic for a given set of photos.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO / "tests"), str(REPO)]

import bird_scenes  # noqa: E402

from birdcam.scene.evidence import EvidenceOptions  # noqa: E402

STARTER = Path("models/aiy_birds_v1/lite-model_aiy_vision_classifier_birds_V1_3.tflite")
SIZES = (90, 150, 240)
"""The bird's longer side in frame pixels."""
NAMING = EvidenceOptions()
"""The scene pass's naming: a first look names at `first_threshold`, the looks after down to `threshold`."""


class Tally:
    """Looks at birds in one way and size."""

    def __init__(self) -> None:
        self.looks = self.right = self.named = self.wrong = 0
        self.background = 0.0

    def add(self, right: bool, score: float, background: float) -> None:
        self.looks += 1
        self.right += right
        self.named += right and score >= NAMING.first_threshold
        self.wrong += not right and score >= NAMING.threshold
        self.background += background

    def row(self, title: str) -> str:
        n = max(1, self.looks)
        return (
            f"{title:14}{self.looks:6}{self.right / n:12.3f}{self.named / n:12.3f}{self.wrong / n:12.3f}"
            f"{self.background / n:12.3f}"
        )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=Path(os.environ.get("BIRDCAM_SHARED", REPO.parent / "shared")))
    parser.add_argument("--threads", type=int, default=2, help="LiteRT threads (2)")
    parser.add_argument("--limit", type=int, default=0, help="at most this many photos, drawn at random (0: all)")
    args = parser.parse_args(argv)

    from birdcam.models.classifier import Classifier
    from birdcam.models.labels import read_labels
    from birdcam.scene.naming import square_crop

    model = args.shared / STARTER
    labels = read_labels(model.parent / "labels.txt")
    names = {label.scientific_name.lower() for label in labels}
    outlines = bird_scenes.Outlines(args.shared)
    photos = [photo for photo in bird_scenes.all_photos(args.shared, names) if photo.known]
    rng = random.Random(0)
    rng.shuffle(photos)
    if args.limit:
        photos = photos[: args.limit]
    backgrounds = [bird_scenes.fill_frame(cv2.imread(str(path))) for path in bird_scenes.background_photos(args.shared)]
    tallies: dict[str, Tally] = {}

    with Classifier.from_path(model, num_threads=args.threads) as classifier:
        birds = np.ones(len(labels), bool)
        birds[classifier.background_index] = False

        def look(key: str, frame: np.ndarray, box, truth: str) -> None:
            roi = square_crop(box, 1.5, frame.shape) if box is not None else None
            probabilities = classifier.classify(frame, roi=roi).probabilities
            best = int(np.argmax(np.where(birds, probabilities, -1.0)))
            right = bird_scenes.names_match(labels[best].scientific_name.lower(), truth)
            tally = tallies.setdefault(key, Tally())
            tally.add(right, float(probabilities[best]), float(probabilities[classifier.background_index]))

        for photo in photos:
            mask = outlines.mask(photo.path)
            if mask is None:
                continue
            picture = cv2.imread(str(photo.path))
            look("close-up", picture, None, photo.scientific_name)
            ys, xs = np.nonzero(mask >= 128)
            left, top = xs.min(), ys.min()
            width, height = xs.max() + 1 - left, ys.max() + 1 - top
            for size in SIZES:
                background = backgrounds[rng.randrange(len(backgrounds))]
                x, y = rng.randrange(300, 900), rng.randrange(150, 450)
                scale = size / max(width, height)
                whole = cv2.resize(
                    picture,
                    (round(picture.shape[1] * scale), round(picture.shape[0] * scale)),
                    interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR,
                )
                own = background.copy()
                opaque = np.ones((*whole.shape[:2], 1), np.float32)
                bird_scenes.paste(own, whole, opaque, x - round(left * scale), y - round(top * scale))
                look(f"own {size}", own, (x, y, round(width * scale), round(height * scale)), photo.scientific_name)
                patch, alpha = bird_scenes.cut_outline(picture, mask, size)
                for key, base in (("cut", background), ("grey", np.full_like(background, 128))):
                    frame = base.copy()
                    box = bird_scenes.paste(frame, patch, alpha, x, y)
                    look(f"{key} {size}", frame, box, photo.scientific_name)

    print(
        f"{tallies['close-up'].looks} photos of species the starter model knows; one look each, a square crop 1.5x "
        "the bird's box"
    )
    named, wrong = f"named {NAMING.first_threshold:g}", f"wrong {NAMING.threshold:g}"
    print(f"{'':14}{'birds':>6}{'best right':>12}{named:>12}{wrong:>12}{'background':>12}")
    order = ["close-up", *(f"{key} {size}" for size in SIZES for key in ("own", "cut", "grey"))]
    for key in order:
        print(tallies[key].row(key))
    return 0


if __name__ == "__main__":
    sys.exit(main())
