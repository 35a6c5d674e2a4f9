"""Scene quality: every bird in the frame, found, named and kept steady.

Footage is built from shared/ (tests/bird_scenes.py): 1-3 birds a frame, drifting, on the bird-free
real photos of images/scenes/ and images/not-birds/ filled to 1280x720; 2-s shots at 30 fps, about a
fifth of them bird-free. `--cut outline` (the default): birds of birds525-sample and birds525-refs cut
along their outline by shared's segmenter, 80-260 px, their own tight box the truth, 4 in 5 of a species
the model knows. `--cut ellipse`: the sample's 25 species' photos cut out with a feathered ellipse,
150-300 px tall, the ellipse's box the truth. `--arrivals`: a feeder cam's footage of the outline birds
instead, 6-s shots from a still camera, each bird flying in from the nearer side within the shot's first 3 s
and then stirring on its perch. The same frames go through these passes side by side:

  whole frame           birdcam without a detector: the classifier on the centre crop, smoothed;
  detector, per frame   the detector on the whole frame, the classifier on each bird box (Frigate's way);
  + 4 tiles             the same with 4 overlapping full-resolution tiles searched as well, every frame;
  scene pass            birdcam's ScenePass with the detector;
  true boxes            the ceiling of naming: the classifier and the same per-bird evidence on each pasted
                        bird's own box (a perfect detector and tracker);
  boxable               the ceiling with this detector: the true boxes, but only of the birds the detector
                        boxes as a bird in a view of their own when they come in (a perfect tracker);
  recall                the detector alone on every 10th frame, on the whole frame and on 448-px tiles:
                        the share of birds boxed (IoU >= 0.3), false boxes per bird-free frame, ms a pass.

Per pass: birds named (of the (frame, bird) pairs: the right species, or "a bird this model does not
know" for a species it does not know), frames with a bird named, wrong names per frame with birds,
bird-free frames clean (no bird shown at all), label changes per bird per shot, ms per frame; for the
scene pass also the time from a bird's arrival (its first frame: the shot's first, or with --arrivals the
first that shows some of it) to its first box and to its first name (median and 90th percentile over the
birds, a bird never boxed or named counted as never).
A bird's truth is the box of its cut-out; a shown box matches it when mostly inside it. A whole-frame
bird (no box of its own) names whichever bird in the frame has its species. birds.csv gives only the
genus of the roadrunner (GEOCOCCYX): any species of a genus-only truth is its right name.

    .venv/bin/python benchmarks/scene_quality.py [--cut outline|ellipse] [--arrivals] [--shots 40] [--seed 0]
        [--shared ../shared]
        [--detector yolox|nanodet] [--passes scene,tracks,truth,boxable,recall]

Goals for the scene pass: birds named >= 0.6, frames with a bird named >= 0.75, wrong names
<= 0.05 per frame, bird-free frames clean >= 0.99, label changes per bird per shot <= 1, time to first
name median <= 0.5 s.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
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
DETECTORS = {
    "yolox": "models/yolox_nano/yolox_nano_float16_quantize.tflite",
    "nanodet": "models/nanodet_plus_m_416/nanodetplus_m_416_float16.tflite",
}
RECALL_EVERY = 10
"""The detector-recall rows look at every 10th frame."""
RECALL_TILE = 448
FRIGATE_SCORE = 0.3
"""Detector score a box needs in the frame-by-frame passes (the detector's own default)."""
ELLIPSE_BOX_MARGIN = 1.25
"""The crop around an ellipse's true box: the box is the whole pasted photo, roomier than a detector's box of the
bird, and 1.25 names the most of them (1.0-1.8 measured). An outline's true box is the bird's own, as tight as a
detector's box: the scene pass's crop margin."""
BOXED_IOU = 0.3
"""Overlap of a detector's box with a pasted photo that counts as boxing that bird (the box hugs the bird, the
photo has room around it)."""
CEILINGS = ("truth", "boxable")
"""The passes that are shown the truth (they measure what naming could reach; they take no time of their own)."""
GOALS = {
    "named": 0.6,
    "frames_named": 0.75,
    "wrong_per_frame": 0.05,
    "clean": 0.99,
    "changes": 1.0,
    "first_name_s": 0.5,
}


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

        from birdcam.scene.naming import square_crop

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
    (a square crop `margin` times it, every `look_interval_s`) and the same per-bird evidence names it;
    a bird is shown from its first look. What it misses is the classifier's to miss, not the finding's."""

    def __init__(self, classifier, options, margin: float):
        self.classifier, self.options, self.margin = classifier, options, margin
        self.evidence: dict = {}
        """(shot, bird) -> SpeciesEvidence."""
        self.looked: dict[tuple[int, int], float] = {}
        self.shot = -1

    def process(self, frame: np.ndarray, t: float, shot: int, truth) -> list[Shown]:
        from birdcam.scene.evidence import SpeciesEvidence
        from birdcam.scene.naming import square_crop

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
                crop = square_crop(bird.box, self.margin, frame.shape)
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
    frame wholly in the picture (a bird flying in is not counted before). What the scene pass could name with a
    tracker that followed each bird the detector can box from that frame."""

    VIEWS = (416, 640)

    def __init__(self, classifier, options, margin: float, detector):
        super().__init__(classifier, options, margin)
        self.detector = detector
        self.boxable: dict[tuple[int, int], bool] = {}

    def process(self, frame: np.ndarray, t: float, shot: int, truth) -> list[Shown]:
        height, width = frame.shape[:2]
        for bird in truth:
            x, y, w, h = bird.box
            if (shot, bird.key) in self.boxable or x <= 0 or y <= 0 or x + w >= width or y + h >= height:
                continue
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
                found.score >= FRIGATE_SCORE and _iou(found.box, bird.box) > BOXED_IOU
                for view in views
                for found in self.detector.detect(frame, roi=view).birds
            )
        return super().process(frame, t, shot, [bird for bird in truth if self.boxable.get((shot, bird.key))])


def open_bench_detector(shared: Path, family: str, threads: int, score_threshold: float):
    """shared/'s detector of this family, reporting boxes down to `score_threshold`."""
    from birdcam.models.detector import Detector

    return Detector.from_path(shared / DETECTORS[family], num_threads=threads, score_threshold=score_threshold)


@dataclass
class Recall:
    """One detector way's counts on the recall frames."""

    birds: int = 0
    found: int = 0
    free_frames: int = 0
    false_boxes: int = 0
    passes: int = 0
    ms: float = 0.0

    def add(self, detector, frame: np.ndarray, truth, regions) -> None:
        import cv2

        boxes, scores = [], []
        for region in regions:
            found = detector.detect(frame, roi=region)
            self.passes += 1
            self.ms += found.timings.total_ms
            for bird in found.birds:
                if bird.score >= RECALL_SCORE:
                    boxes.append([float(v) for v in bird.box])
                    scores.append(float(bird.score))
        kept = [boxes[i] for i in np.asarray(cv2.dnn.NMSBoxes(boxes, scores, 0.0, 0.45), int).reshape(-1)]
        if not truth:
            self.free_frames += 1
            self.false_boxes += len(kept)
            return
        for bird in truth:
            self.birds += 1
            self.found += any(_iou(box, bird.box) >= BOXED_IOU for box in kept)

    def row(self, title: str, frames: int) -> str:
        return (
            f"{title:44}{self.found / max(1, self.birds):12.2f}{self.false_boxes / max(1, self.free_frames):12.2f}"
            f"{self.ms / max(1, self.passes):10.1f}{self.ms / max(1, frames):12.1f}"
        )


RECALL_SCORE = 0.25
"""Detector score a box needs in the recall rows (the detectors' default threshold)."""


def detector_recall(shared: Path, threads: int, frames: list) -> None:
    """Prints each detector family's share of birds boxed, whole frame and tiles, on these (frame, truth) pairs."""
    from birdcam.scene.search import SearchPlan

    print(
        f"detectors on every {RECALL_EVERY}th frame ({len(frames)} frames), score >= {RECALL_SCORE}, IoU >= {BOXED_IOU}"
    )
    print(f"{'':44}{'birds boxed':>12}{'false/free':>12}{'ms/pass':>10}{'ms/frame':>12}")
    shape = frames[0][0].shape[:2]
    plan = SearchPlan(shape, (RECALL_TILE,)).regions
    for family in DETECTORS:
        detector = open_bench_detector(shared, family, threads, RECALL_SCORE)
        ways = {
            "whole frame": ([plan[0]], Recall()),
            f"{RECALL_TILE}-px tiles ({len(plan) - 1}) + whole": (plan, Recall()),
        }
        for frame, truth in frames:
            for regions, tally in ways.values():
                tally.add(detector, frame, truth, regions)
        for title, (_, tally) in ways.items():
            print(tally.row(f"{family}, {title}", len(frames)))
        detector.close()


def _iou(a, b) -> float:
    w = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    h = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    inter = w * h if w > 0 and h > 0 else 0.0
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


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
    """(shot, bird) -> what was shown on it in each of its frames (None, a name or "unknown")."""
    handled_in: dict[tuple[int, int], list] = field(default_factory=lambda: defaultdict(list))
    """(shot, bird) -> whether it was named right in each of its frames."""

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
            self.handled_in[(shot, g.key)].append(ok)
        self.frames_named += any_named
        self.wrong += sum(s.scientific_name is not None for s in unmatched)
        self.wrong_whole += sum(s.scientific_name is not None and s.whole_frame for s in unmatched)
        self.false_birds += len(unmatched)

    def figures(self) -> dict[str, float]:
        changes = [sum(a != b for a, b in zip(seq, seq[1:])) for seq in self.states.values()]
        first_box = [_first(seq, lambda state: state is not None) for seq in self.states.values()]
        first_name = [_first(seq, bool) for seq in self.handled_in.values()]
        return {
            "first_box_s": _percentile(first_box, 50),
            "first_box_p90_s": _percentile(first_box, 90),
            "first_name_s": _percentile(first_name, 50),
            "first_name_p90_s": _percentile(first_name, 90),
            "never_named": float(np.mean([math.isinf(v) for v in first_name])) if first_name else 0.0,
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


def with_option(options, assignment: str):
    """The options with one field changed: "motion_search=false", "naming.threshold=0.75" (a nested field)."""
    name, _, text = assignment.partition("=")
    head, _, rest = name.partition(".")
    if rest:
        return dataclasses.replace(options, **{head: with_option(getattr(options, head), f"{rest}={text}")})
    current = getattr(options, head)
    if isinstance(current, bool):
        value = text.lower() in ("1", "true", "yes")
    elif isinstance(current, tuple):
        value = tuple(int(v) for v in text.split(",") if v)
    else:
        value = type(current)(text)
    return dataclasses.replace(options, **{head: value})


def _first(sequence: list, wanted) -> float:
    """Seconds from a bird's first frame to the first frame where `wanted` holds; inf when it never does."""
    return next((n / bird_scenes.FPS for n, state in enumerate(sequence) if wanted(state)), math.inf)


def _percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q, method="lower")) if values else math.nan


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=Path(os.environ.get("BIRDCAM_SHARED", REPO.parent / "shared")))
    parser.add_argument("--cut", choices=bird_scenes.CUTS, default="outline", help="how birds are cut out (outline)")
    parser.add_argument(
        "--arrivals", action="store_true", help="a feeder cam's footage: 6-s still shots, birds fly in (outline only)"
    )
    parser.add_argument("--shots", type=int, default=40, help="2-s shots (about a fifth bird-free)")
    parser.add_argument("--seed", type=int, default=0, help="draws other footage (birds, places, drifts, backgrounds)")
    parser.add_argument("--threads", type=int, default=2, help="LiteRT threads per model (2)")
    parser.add_argument(
        "--detector", choices=tuple(DETECTORS), default="yolox", help="the scene pass's detector family (yolox)"
    )
    parser.add_argument(
        "--passes",
        default="whole,frigate,tiles,scene,tracks,truth,boxable",
        help="comma-separated subset of whole, frigate, tiles, scene, tracks, truth, boxable, recall "
        "(tracks needs scene before it)",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="a SceneOptions field for the scene pass, e.g. motion_search=false, naming.threshold=0.75 (repeatable)",
    )
    args = parser.parse_args(argv)
    if args.arrivals and args.cut != "outline":
        parser.error("--arrivals needs --cut outline: birds fly in along their outline")

    from birdcam.models.classifier import Classifier
    from birdcam.models.labels import read_labels
    from birdcam.scene.options import SceneOptions
    from birdcam.scene.scene_pass import ScenePass

    model = args.shared / STARTER
    names = {label.scientific_name.lower() for label in read_labels(model.parent / "labels.txt")}
    options = SceneOptions()
    for assignment in args.set:
        options = with_option(options, assignment)
    classifier = Classifier.from_path(model, num_threads=args.threads)
    detector = open_bench_detector(args.shared, args.detector, args.threads, options.tracking.keep_score)
    margin = ELLIPSE_BOX_MARGIN if args.cut == "ellipse" else options.crop_margin
    wanted = args.passes.split(",")
    scene_pass = BirdcamPass(ScenePass(classifier, detector, options))
    passes = {
        "whole": ("whole frame (today, smoothed)", BirdcamPass(ScenePass(classifier))),
        "frigate": ("detector + classifier, frame by frame", FrameByFrame(classifier, detector, tiles=False)),
        "tiles": ("  same + 4 overlapping tiles", FrameByFrame(classifier, detector, tiles=True)),
        "scene": (f"birdcam scene pass ({args.detector})", scene_pass),
        "tracks": ("  its tracked birds alone (no whole frame)", TracksOnly(scene_pass)),
        "truth": ("ceiling: the classifier on the true boxes", TrueBoxes(classifier, options, margin)),
        "boxable": ("  only the birds the detector boxes", BoxableTrueBoxes(classifier, options, margin, detector)),
    }
    passes = {key: passes[key] for key in wanted if key != "recall"}
    tallies = {key: Tally() for key in passes}
    recall_frames = []
    started = time.perf_counter()
    frames = shots = free = 0
    t = 0.0
    footage = bird_scenes.random_shots(args.shared, names, args.shots, args.seed, cut=args.cut, arrivals=args.arrivals)
    for number, shot in enumerate(footage):
        shots += 1
        free += not shot.birds
        for n, frame, truth in shot.play():
            for key, (_, way) in passes.items():
                begun = time.perf_counter()
                shown = way.process(frame, t, number, truth) if key in CEILINGS else way.process(frame, t)
                tallies[key].add(number, truth, shown, (time.perf_counter() - begun) * 1e3)
            if "recall" in wanted and n % RECALL_EVERY == 0:
                recall_frames.append((frame, truth))
            frames += 1
            t += 1 / bird_scenes.FPS
    elapsed = time.perf_counter() - started
    print(
        f"footage: {args.cut} cut{', arrivals' if args.arrivals else ''}, {shots} shots ({free} bird-free), {frames} "
        f"frames of 1280x720 at "
        f"{bird_scenes.FPS:g} fps, seed {args.seed}; {args.threads} LiteRT threads; {elapsed:.0f} s in all"
    )
    header = (
        f"{'':44}{'birds named':>12}{'(known':>8}{'unknown)':>9}{'frames named':>13}{'wrong/frame':>12}{'(whole)':>8}"
        f"{'false/frame':>12}{'free clean':>11}{'changes':>9}{'ms/frame':>9}{'p95':>7}"
    )
    if passes:
        print(header)
    for key, (title, _) in passes.items():
        f = tallies[key].figures()
        print(
            f"{title:44}{f['named']:12.2f}{f['named_known']:8.2f}{f['named_unknown']:9.2f}{f['frames_named']:13.2f}"
            f"{f['wrong_per_frame']:12.3f}{f['wrong_whole_per_frame']:8.3f}{f['false_per_frame']:12.3f}"
            f"{f['clean']:11.3f}{f['changes']:9.2f}"
            + (f"{f['ms_mean']:9.1f}{f['ms_p95']:7.1f}" if key not in ("tracks", *CEILINGS) else f"{'-':>9}{'-':>7}")
        )
    if passes:
        print(f"{'time from arrival (s)':44}{'first box':>12}{'p90':>7}{'first name':>12}{'p90':>7}{'never named':>13}")
    for key, (title, _) in passes.items():
        f = tallies[key].figures()
        print(
            f"{title:44}{f['first_box_s']:12.2f}{f['first_box_p90_s']:7.2f}{f['first_name_s']:12.2f}"
            f"{f['first_name_p90_s']:7.2f}{f['never_named']:13.2f}"
        )
    if "scene" in tallies:
        f = tallies["scene"].figures()
        met = [
            f["named"] >= GOALS["named"],
            f["frames_named"] >= GOALS["frames_named"],
            f["wrong_per_frame"] <= GOALS["wrong_per_frame"],
            f["clean"] >= GOALS["clean"],
            f["changes"] <= GOALS["changes"],
            f["first_name_s"] <= GOALS["first_name_s"],
        ]
        print(
            "scene pass goals: birds named >= 0.6 {}, frames named >= 0.75 {}, wrong <= 0.05 {}, clean >= 0.99 {}, "
            "changes <= 1 {}, first name median <= 0.5 s {}".format(*("met" if m else "MISSED" for m in met))
        )
    classifier.close()
    detector.close()
    if recall_frames:
        detector_recall(args.shared, args.threads, recall_frames)
    return 0


if __name__ == "__main__":
    sys.exit(main())
