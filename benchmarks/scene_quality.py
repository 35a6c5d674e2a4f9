"""Scene quality: every bird in the frame, found, named and kept steady (issue 9's targets).

Footage is built from shared/ (tests/bird_scenes.py): the 25 birds525 species' photos cut out with a
feathered ellipse, 150-300 px tall, 1-3 per frame, drifting, on the bird-free real photos of
images/scenes/ and images/not-birds/ filled to 1280x720; 2-s shots at 30 fps, about a fifth of them
bird-free. The same frames go through these passes side by side:

  whole frame           birdcam before issue 9: the classifier on the centre crop, smoothed;
  detector, per frame   the detector on the whole frame, the classifier on each bird box (Frigate's way);
  + 4 tiles             the same with 4 overlapping full-resolution tiles searched as well, every frame;
  scene pass            birdcam's ScenePass with the detector;
  true boxes            the ceiling of naming: the classifier and the same per-bird evidence on each pasted
                        bird's own box (a perfect detector and tracker);
  boxable               the ceiling with this detector: the true boxes, but only of the birds the detector
                        boxes as a bird in a view of their own when they come in (a perfect tracker).

Per pass: birds named (of the (frame, bird) pairs: the right species, or "a bird this model does not
know" for the 5 species it does not know), frames with a bird named, wrong names per frame with birds,
bird-free frames clean (no bird shown at all), label changes per bird per shot, ms per frame.
A bird's truth is the box of its cut-out; a shown box matches it when mostly inside it. A whole-frame
bird (no box of its own) names whichever bird in the frame has its species. birds.csv gives only the
genus of the roadrunner (GEOCOCCYX): any species of a genus-only truth is its right name.

    .venv/bin/python benchmarks/scene_quality.py [--shots 40] [--seed 0] [--shared ../shared]

Goals for the scene pass: birds named >= 0.6, frames with a bird named >= 0.75, wrong names
<= 0.05 per frame, bird-free frames clean >= 0.99, label changes per bird per shot <= 1.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "tests")]  # birdcam from this checkout; the footage builder of the tests

import bird_scenes  # noqa: E402
from bird_scenes import names_match  # noqa: E402

STARTER = "models/aiy_birds_v1/lite-model_aiy_vision_classifier_birds_V1_3.tflite"
DETECTOR = "models/yolox_nano/yolox_nano_float16_quantize.tflite"
FRIGATE_SCORE = 0.3
"""Detector score a box needs in the frame-by-frame passes (the detector's own default)."""
TRUE_BOX_MARGIN = 1.25
"""The crop around a true box: the box is the whole pasted photo, roomier than a detector's box of the bird, and
1.25 names the most of them (1.0-1.8 measured; the scene pass's 1.5 is for the detector's boxes)."""
BOXED_IOU = 0.3
"""Overlap of a detector's box with a pasted photo that counts as boxing that bird (the box hugs the bird, the
photo has room around it)."""
CEILINGS = ("truth", "boxable")
"""The passes that are shown the truth (they measure what naming could reach; they take no time of their own)."""
GOALS = {"named": 0.6, "frames_named": 0.75, "wrong_per_frame": 0.05, "clean": 0.99, "changes": 1.0}


@dataclass(frozen=True)
class Shown:
    """A bird one pass shows in one frame."""

    box: tuple[int, int, int, int]
    scientific_name: str | None
    """Lower case; None: a bird of a species the model does not know."""
    whole_frame: bool = False


class FrameByFrame:
    """The detector, then the classifier on each bird box, every frame on its own (Frigate's way).

    A box needs FRIGATE_SCORE; its crop is named when the classifier's best class is a bird species at
    or above the classifier's threshold, else it is shown as a bird of unknown species. With `tiles`,
    four overlapping full-resolution tiles are searched as well and all boxes merged by NMS.
    """

    def __init__(self, classifier, detector, tiles: bool):
        self.classifier, self.detector, self.tiles = classifier, detector, tiles

    def process(self, frame: np.ndarray, t: float) -> list[Shown]:
        import cv2

        from birdcam.scene.scene_pass import square_crop

        regions = [None]
        if self.tiles:
            height, width = frame.shape[:2]
            tile_w, tile_h = int(width * 0.55), int(height * 0.55)
            regions += [(x, y, tile_w, tile_h) for y in (0, height - tile_h) for x in (0, width - tile_w)]
        boxes, scores = [], []
        for region in regions:
            for bird in self.detector.detect(frame, roi=region).birds:
                if bird.score >= FRIGATE_SCORE:
                    boxes.append([float(v) for v in bird.box])
                    scores.append(float(bird.score))
        keep = cv2.dnn.NMSBoxes(boxes, scores, FRIGATE_SCORE, 0.45) if boxes else []
        shown = []
        for i in np.array(keep, int).reshape(-1):
            result = self.classifier.classify(frame, roi=square_crop(boxes[i], 1.25, frame.shape))
            top = result.top
            named = result.is_bird
            box = tuple(int(round(v)) for v in boxes[i])
            shown.append(Shown(box, top.scientific_name.lower() if named else None))
        return shown


class BirdcamPass:
    """A ScenePass (with or without the detector), its birds as Shown."""

    def __init__(self, scene):
        self.scene = scene
        self.last: list[Shown] = []

    def process(self, frame: np.ndarray, t: float) -> list[Shown]:
        result = self.scene.process(frame, t)
        self.last = [
            Shown(bird.box, bird.label.scientific_name.lower() if bird.label else None, bird.whole_frame)
            for bird in result.birds
        ]
        return self.last


class TracksOnly:
    """The scene pass's birds of its last frame without its whole-frame bird: what the detector's tracks
    alone show (no time of its own: the scene pass ran just before, on the same frame)."""

    def __init__(self, scene_pass: BirdcamPass):
        self.scene_pass = scene_pass

    def process(self, frame: np.ndarray, t: float) -> list[Shown]:
        return [shown for shown in self.scene_pass.last if not shown.whole_frame]


class TrueBoxes:
    """The ceiling of naming: a perfect detector and tracker. The classifier looks at each pasted bird's own box
    (a square crop TRUE_BOX_MARGIN times it, every `look_interval_s`) and the same per-bird evidence names it;
    a bird is shown from its first look. What it misses is the classifier's to miss, not the finding's."""

    def __init__(self, classifier, options):
        self.classifier, self.options = classifier, options
        self.evidence: dict = {}
        """(shot, bird) -> SpeciesEvidence."""
        self.looked: dict[tuple[int, int], float] = {}
        self.shot = -1

    def process(self, frame: np.ndarray, t: float, shot: int, truth) -> list[Shown]:
        from birdcam.scene.evidence import SpeciesEvidence
        from birdcam.scene.scene_pass import square_crop

        if shot != self.shot:
            self.shot, self.evidence, self.looked = shot, {}, {}
        shown = []
        for bird in truth:
            key = (shot, bird.key)
            evidence = self.evidence.get(key)
            if evidence is None:
                evidence = self.evidence[key] = SpeciesEvidence(
                    len(self.classifier.labels), self.classifier.background_index, self.options.naming
                )
            if t - self.looked.get(key, -1.0) >= self.options.look_interval_s - 1e-3:
                crop = square_crop(bird.box, TRUE_BOX_MARGIN, frame.shape)
                evidence.add(self.classifier.classify(frame, roi=crop).probabilities)
                self.looked[key] = t
            if evidence.background >= evidence.options.background_limit:
                continue
            label = self.classifier.labels[evidence.index] if evidence.index is not None else None
            shown.append(Shown(bird.box, label.scientific_name.lower() if label else None))
        return shown


class BoxableTrueBoxes(TrueBoxes):
    """The ceiling with this detector: TrueBoxes, counting only the birds the detector boxes as a bird (at
    FRIGATE_SCORE, IoU > BOXED_IOU with the pasted photo) in a 416 or 640 px view around them in their first
    frame. What the scene pass could name with a tracker that followed each bird the detector can box from
    its first frame."""

    VIEWS = (416, 640)

    def __init__(self, classifier, options, detector):
        super().__init__(classifier, options)
        self.detector = detector
        self.boxable: dict[tuple[int, int], bool] = {}

    def process(self, frame: np.ndarray, t: float, shot: int, truth) -> list[Shown]:
        from birdcam.scene.tracker import iou

        height, width = frame.shape[:2]
        for bird in truth:
            if (shot, bird.key) in self.boxable:
                continue
            x, y, w, h = bird.box
            views = [
                (
                    int(min(max(x + w / 2 - side / 2, 0), width - side)),
                    int(min(max(y + h / 2 - side / 2, 0), height - side)),
                    side,
                    side,
                )
                for side in self.VIEWS
            ]
            self.boxable[(shot, bird.key)] = any(
                found.score >= FRIGATE_SCORE and iou(found.box, bird.box) > BOXED_IOU
                for view in views
                for found in self.detector.detect(frame, roi=view).birds
            )
        return super().process(frame, t, shot, [bird for bird in truth if self.boxable[(shot, bird.key)]])


def _inside_fraction(box, truth) -> float:
    """How much of `box` lies inside `truth`."""
    w = min(box[0] + box[2], truth[0] + truth[2]) - max(box[0], truth[0])
    h = min(box[1] + box[3], truth[1] + truth[3]) - max(box[1], truth[1])
    area = box[2] * box[3]
    return w * h / area if w > 0 and h > 0 and area > 0 else 0.0


def match(shown: list[Shown], truth) -> tuple[dict[int, Shown], list[Shown]]:
    """{truth key: the shown bird that is it}, and the shown birds that are no bird of the truth."""
    pairs = sorted(
        ((_inside_fraction(s.box, g.box), i, g.key) for i, s in enumerate(shown) if not s.whole_frame for g in truth),
        reverse=True,
    )
    matched: dict[int, Shown] = {}
    used: set[int] = set()
    for overlap, i, key in pairs:
        if overlap < 0.5 or i in used or key in matched:
            continue
        matched[key] = shown[i]
        used.add(i)
    for i, s in enumerate(shown):
        if not s.whole_frame:
            continue
        left = [g for g in truth if g.key not in matched]
        same = [g for g in left if s.scientific_name and names_match(s.scientific_name, g.scientific_name)]
        chosen = (same or sorted(left, key=lambda g: -g.box[2] * g.box[3]) or [None])[0]
        if chosen is not None:
            matched[chosen.key] = s
            used.add(i)
    return matched, [s for i, s in enumerate(shown) if i not in used]


def handled(shown: Shown | None, truth) -> bool:
    """Right species, or unknown for a species the model does not know."""
    if shown is None:
        return False
    if not truth.known:
        return shown.scientific_name is None
    return shown.scientific_name is not None and names_match(shown.scientific_name, truth.scientific_name)


def wrongly_named(shown: Shown | None, truth) -> bool:
    return (
        shown is not None
        and shown.scientific_name is not None
        and not (truth.known and names_match(shown.scientific_name, truth.scientific_name))
    )


@dataclass
class Tally:
    """One pass's counts over the footage."""

    pairs: int = 0
    named: int = 0
    named_known: int = 0
    known_pairs: int = 0
    named_unknown: int = 0
    unknown_pairs: int = 0
    bird_frames: int = 0
    frames_named: int = 0
    wrong: int = 0
    wrong_whole: int = 0
    """Of `wrong`, those named by the whole-frame pass."""
    false_birds: int = 0
    free_frames: int = 0
    clean: int = 0
    ms: list[float] = field(default_factory=list)
    states: dict[tuple[int, int], list] = field(default_factory=lambda: defaultdict(list))

    def add(self, shot: int, truth, shown: list[Shown], ms: float) -> None:
        self.ms.append(ms)
        if not truth:
            self.free_frames += 1
            self.clean += not shown
            return
        matched, unmatched = match(shown, truth)
        self.bird_frames += 1
        any_named = False
        for g in truth:
            s = matched.get(g.key)
            ok = handled(s, g)
            self.pairs += 1
            self.named += ok
            any_named |= ok
            if g.known:
                self.known_pairs += 1
                self.named_known += ok
            else:
                self.unknown_pairs += 1
                self.named_unknown += ok
            self.wrong += wrongly_named(s, g)
            self.wrong_whole += wrongly_named(s, g) and s.whole_frame
            self.states[(shot, g.key)].append(None if s is None else (s.scientific_name or "unknown"))
        self.frames_named += any_named
        self.wrong += sum(s.scientific_name is not None for s in unmatched)
        self.wrong_whole += sum(s.scientific_name is not None and s.whole_frame for s in unmatched)
        self.false_birds += len(unmatched)

    def figures(self) -> dict[str, float]:
        changes = [sum(a != b for a, b in zip(seq, seq[1:])) for seq in self.states.values()]
        return {
            "named": self.named / max(1, self.pairs),
            "named_known": self.named_known / max(1, self.known_pairs),
            "named_unknown": self.named_unknown / max(1, self.unknown_pairs),
            "frames_named": self.frames_named / max(1, self.bird_frames),
            "wrong_per_frame": self.wrong / max(1, self.bird_frames),
            "wrong_whole_per_frame": self.wrong_whole / max(1, self.bird_frames),
            "false_per_frame": self.false_birds / max(1, self.bird_frames),
            "clean": self.clean / max(1, self.free_frames),
            "changes": float(np.mean(changes)) if changes else 0.0,
            "ms_mean": float(np.mean(self.ms)),
            "ms_p95": float(np.percentile(self.ms, 95)),
        }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=Path(os.environ.get("BIRDCAM_SHARED", REPO.parent / "shared")))
    parser.add_argument("--shots", type=int, default=40, help="2-s shots (about a fifth bird-free)")
    parser.add_argument("--seed", type=int, default=0, help="draws other footage (birds, places, drifts, backgrounds)")
    parser.add_argument("--threads", type=int, default=2, help="LiteRT threads per model (2)")
    parser.add_argument(
        "--passes",
        default="whole,frigate,tiles,scene,tracks,truth,boxable",
        help="comma-separated subset of whole, frigate, tiles, scene, tracks, truth, boxable "
        "(tracks needs scene before it)",
    )
    parser.add_argument(
        "--crop-threshold",
        type=float,
        default=None,
        help="mean score a bird's crops need to name it (default: EvidenceOptions' 0.65)",
    )
    args = parser.parse_args(argv)

    from birdcam.models.classifier import Classifier
    from birdcam.models.detector import Detector
    from birdcam.models.labels import read_labels
    from birdcam.scene.scene_pass import SceneOptions, ScenePass

    model = args.shared / STARTER
    names = {label.scientific_name.lower() for label in read_labels(model.parent / "labels.txt")}
    options = SceneOptions()
    if args.crop_threshold is not None:
        options = dataclasses.replace(
            options, naming=dataclasses.replace(options.naming, threshold=args.crop_threshold)
        )
    classifier = Classifier.from_path(model, num_threads=args.threads)
    detector = Detector.from_path(
        args.shared / DETECTOR, num_threads=args.threads, score_threshold=options.tracking.keep_score
    )
    wanted = args.passes.split(",")
    scene_pass = BirdcamPass(ScenePass(classifier, detector, options))
    passes = {
        "whole": ("whole frame (today, smoothed)", BirdcamPass(ScenePass(classifier))),
        "frigate": ("detector + classifier, frame by frame", FrameByFrame(classifier, detector, tiles=False)),
        "tiles": ("  same + 4 overlapping tiles", FrameByFrame(classifier, detector, tiles=True)),
        "scene": ("birdcam scene pass", scene_pass),
        "tracks": ("  its tracked birds alone (no whole frame)", TracksOnly(scene_pass)),
        "truth": ("ceiling: the classifier on the true boxes", TrueBoxes(classifier, options)),
        "boxable": ("  only the birds the detector boxes", BoxableTrueBoxes(classifier, options, detector)),
    }
    passes = {key: passes[key] for key in wanted}
    tallies = {key: Tally() for key in passes}
    started = time.perf_counter()
    frames = shots = free = 0
    t = 0.0
    for number, shot in enumerate(bird_scenes.random_shots(args.shared, names, args.shots, args.seed)):
        shots += 1
        free += not shot.birds
        for _, frame, truth in shot.play():
            for key, (_, way) in passes.items():
                begun = time.perf_counter()
                shown = way.process(frame, t, number, truth) if key in CEILINGS else way.process(frame, t)
                tallies[key].add(number, truth, shown, (time.perf_counter() - begun) * 1e3)
            frames += 1
            t += 1 / bird_scenes.FPS
    elapsed = time.perf_counter() - started
    print(
        f"footage: {shots} shots ({free} bird-free), {frames} frames of 1280x720 at {bird_scenes.FPS:g} fps, "
        f"seed {args.seed}; {args.threads} LiteRT threads; {elapsed:.0f} s in all"
    )
    header = (
        f"{'':44}{'birds named':>12}{'(known':>8}{'unknown)':>9}{'frames named':>13}{'wrong/frame':>12}{'(whole)':>8}"
        f"{'false/frame':>12}{'free clean':>11}{'changes':>9}{'ms/frame':>9}{'p95':>7}"
    )
    print(header)
    for key, (title, _) in passes.items():
        f = tallies[key].figures()
        print(
            f"{title:44}{f['named']:12.2f}{f['named_known']:8.2f}{f['named_unknown']:9.2f}{f['frames_named']:13.2f}"
            f"{f['wrong_per_frame']:12.3f}{f['wrong_whole_per_frame']:8.3f}{f['false_per_frame']:12.3f}{f['clean']:11.3f}{f['changes']:9.2f}"
            + (f"{f['ms_mean']:9.1f}{f['ms_p95']:7.1f}" if key not in ("tracks", *CEILINGS) else f"{'-':>9}{'-':>7}")
        )
    if "scene" in tallies:
        f = tallies["scene"].figures()
        met = [
            f["named"] >= GOALS["named"],
            f["frames_named"] >= GOALS["frames_named"],
            f["wrong_per_frame"] <= GOALS["wrong_per_frame"],
            f["clean"] >= GOALS["clean"],
            f["changes"] <= GOALS["changes"],
        ]
        print(
            "scene pass goals: birds named >= 0.6 {}, frames named >= 0.75 {}, wrong <= 0.05 {}, clean >= 0.99 {}, "
            "changes <= 1 {}".format(*("met" if m else "MISSED" for m in met))
        )
    classifier.close()
    detector.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
