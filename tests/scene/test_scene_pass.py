"""The scene pass on real material: shared bird photos pasted on real scenes, bird-free scenes, a close-up,
a species the starter model does not know, and a box the detector saw only once."""

from __future__ import annotations

import dataclasses

import bird_scenes
import cv2
import numpy as np
import pytest

from birdcam.models.boxes import iou
from birdcam.models.classifier import Classifier
from birdcam.models.detector import Detection
from birdcam.scene.factory import open_detector
from birdcam.scene.scene_pass import SceneOptions, ScenePass
from birdcam.scene.search import SearchPlan
from birdcam.scene.smoothing import LabelSmoother, SmoothingOptions

FPS = bird_scenes.FPS


@pytest.fixture(scope="module")
def models(shared_dir, starter_model):
    """(classifier, detector) shared by the module's scene passes (neither is closed by them)."""
    classifier = Classifier.from_path(starter_model, num_threads=2)
    detector = open_detector(shared_dir / "models" / "yolox_nano" / "yolox_nano_float16_quantize.tflite", num_threads=2)
    yield classifier, detector
    classifier.close()
    detector.close()


@pytest.fixture(scope="module")
def photos(shared_dir, starter_model) -> dict[str, bird_scenes.BirdPhoto]:
    """The birds525 sample photos by "SPECIES/n.jpg"."""
    from birdcam.models.labels import read_labels

    names = {label.scientific_name.lower() for label in read_labels(starter_model.parent / "labels.txt")}
    return {f"{p.species}/{p.path.name}": p for p in bird_scenes.sample_photos(shared_dir, names)}


def background(shared_dir, name: str):
    return next(p for p in bird_scenes.background_photos(shared_dir) if p.stem == name)


def truth_of(bird, truth):
    """The pasted bird a shown bird's box lies mostly inside, or None."""
    for true in truth:
        x, y, w, h = bird.box
        tx, ty, tw, th = true.box
        inside = max(0, min(x + w, tx + tw) - max(x, tx)) * max(0, min(y + h, ty + th) - max(y, ty))
        if inside >= 0.5 * w * h:
            return true
    return None


def scientific(bird) -> str | None:
    return bird.label.scientific_name.lower() if bird.label is not None else None


def test_two_birds_are_named_and_each_keeps_its_track(shared_dir, models, photos):
    classifier, detector = models
    shot = bird_scenes.make_shot(
        np.random.default_rng(0),
        background(shared_dir, "000000006213"),
        [photos["EASTERN BLUEBIRD/1.jpg"], photos["BROWN THRASHER/1.jpg"]],
        heights=(220, 220),
        positions=[(0.25, 0.5), (0.72, 0.5)],
    )
    scene = ScenePass(classifier, detector)
    ids: dict[int, set[int]] = {0: set(), 1: set()}
    named = {0: 0, 1: 0}
    species = {p.scientific_name for p in (photos["EASTERN BLUEBIRD/1.jpg"], photos["BROWN THRASHER/1.jpg"])}
    timings = []
    for n, frame, truth in shot.play():
        result = scene.process(frame, n / FPS)
        timings.append(result.timings)
        for bird in result.birds:
            if bird.whole_frame:
                assert scientific(bird) in species  # the whole-frame pass may name one of them, nothing else
                continue
            true = truth_of(bird, truth)
            assert true is not None, f"frame {n}: a bird shown where there is none: {bird}"
            assert scientific(bird) in (None, true.scientific_name), (
                f"frame {n}: {bird.label} on a {true.scientific_name}"
            )
            ids[true.key].add(bird.track)
            named[true.key] += scientific(bird) == true.scientific_name
        assert [b.known for b in result.birds] == sorted((b.known for b in result.birds), reverse=True)
        if len(result.birds) > 1:
            known = [b.score for b in result.birds if b.known]
            assert known == sorted(known, reverse=True)
    assert named[0] >= 40 and named[1] >= 40, named
    assert len(ids[0]) == 1 and len(ids[1]) == 1 and ids[0] != ids[1], ids
    detected = [t for t in timings if t.detector_ms > 0]
    assert len(detected) == shot.frames // 2, "the detector runs on every other frame of 30 fps (15 passes a second)"
    assert all(t.total_ms >= t.detector_ms + t.classifier_ms for t in timings)
    assert all(t.classifier_ms > 0 for t in timings if t.detector_ms == 0), "the whole frame between detector passes"


@pytest.mark.parametrize(("every", "passes"), [(2, 6), (1, 12)])
def test_a_pass_behind_the_source_runs_the_detector_on_every_other_frame(shared_dir, models, photos, every, passes):
    """Frames 0.1 s apart (a pass that keeps up with only 10 of 30 frames a second): the time limit alone
    (`detector_interval_s`, 1/15 s) would give each of them a detector pass, and `detector_every` gives every other
    one, the bird followed by its look between them."""
    classifier, detector = models
    shot = bird_scenes.make_shot(
        np.random.default_rng(0), background(shared_dir, "000000006213"), [photos["EASTERN BLUEBIRD/1.jpg"]]
    )
    scene = ScenePass(classifier, detector, SceneOptions(detector_every=every))
    detected = []
    for n in range(12):
        frame, _ = shot.frame(3 * n)
        detected.append(scene.process(frame, n / 10).timings.detector_ms > 0)
    assert sum(detected) == passes and detected[0], detected
    if every == 2:
        assert detected == [n % 2 == 0 for n in range(12)]


def _whole_frame_looks(scene: ScenePass, frames, monkeypatch) -> list[tuple[bool, bool]]:
    """(the classifier looked at the whole frame, the detector searched) for each frame, 30 a second."""
    classify = scene.classifier.classify
    whole_looks: list[bool] = []

    def counting(frame, *, roi=None, **options):
        whole_looks.append(roi is None)
        return classify(frame, roi=roi, **options)

    monkeypatch.setattr(scene.classifier, "classify", counting)
    looks = []
    for n, frame in enumerate(frames):
        whole_looks.clear()
        result = scene.process(frame, n / FPS)
        looks.append((any(whole_looks), result.timings.detector_ms > 0))
        assert result.probabilities.shape == (len(scene.classifier.labels),)
    monkeypatch.undo()
    return looks


@pytest.mark.parametrize("between", [True, False])
def test_the_whole_frame_is_looked_at_between_detector_passes(shared_dir, models, monkeypatch, between):
    """With a detector and no bird named by the whole-frame pass, the classifier looks at the whole frame on the
    frames without a detector pass and on a shot's first (`whole_frame_between_passes`): no frame pays for both.
    Off, it looks at every frame."""
    classifier, detector = models
    shot = bird_scenes.make_shot(np.random.default_rng(0), background(shared_dir, "000000006213"), [])
    scene = ScenePass(classifier, detector, SceneOptions(whole_frame_between_passes=between))
    looks = _whole_frame_looks(scene, [shot.frame(n)[0] for n in range(20)], monkeypatch)
    assert sum(detected for _, detected in looks) == 10
    whole, both = sum(w for w, _ in looks), sum(w and d for w, d in looks)
    assert (whole, both) == ((11, 1) if between else (20, 10)), looks  # between: frame 0, then the 10 odd frames


def test_a_close_up_the_whole_frame_names_is_looked_at_every_frame(shared_dir, models, monkeypatch):
    """Once the whole-frame pass names a bird (a close-up), the classifier looks at every frame again, detector
    pass or not: the close-up's name is as sure as without a detector."""
    classifier, detector = models
    duck = cv2.imread(str(shared_dir / "images" / "birds" / "mandarin_duck.jpg"))
    scene = ScenePass(classifier, detector)
    assert scene.options.whole_frame_between_passes
    looks = _whole_frame_looks(scene, [duck] * 20, monkeypatch)
    assert scene.process(duck, 20 / FPS).whole.label.common_name == "Mandarin Duck"
    assert all(whole for whole, _ in looks), looks
    assert sum(detected for _, detected in looks) == 10


def test_bird_free_scenes_show_no_bird(shared_dir, models):
    """Every real bird-free photo as a second of hand-held footage (a slow pan, sensor noise): the scene pass with
    the detector shows no bird. At 15 frames a second with a detector pass on every frame (as many as at 30, half the
    frames to make and classify), as many in a second as the search plan has regions."""
    classifier, detector = models
    scene, whole_frame_only = ScenePass(classifier, detector, SceneOptions(detector_every=1)), ScenePass(classifier)
    fps = 1 / scene.options.detector_interval_s
    assert len(SearchPlan(bird_scenes.FRAME_SIZE[::-1], scene.options.tile_sizes).regions) <= fps
    rng = np.random.default_rng(1)
    cv2.setRNGSeed(1)
    noise = np.empty((*bird_scenes.FRAME_SIZE[::-1], 3), np.int16)
    frames = parakeets = 0
    for path in bird_scenes.background_photos(shared_dir):
        apples = path.stem == "000000002149"
        shot = dataclasses.replace(
            bird_scenes.make_shot(rng, path, (), noise=0), frames=round(fps * (3 if apples else 1))
        )
        for n, still, _ in shot.play():
            cv2.randn(noise, (0, 0, 0), (4, 4, 4))  # sensor noise; cv2's is several times quicker than numpy's
            frame = cv2.add(still, noise, dtype=cv2.CV_8U)
            t = frames / fps
            result = scene.process(frame, t)
            frames += 1
            assert result.timings.detector_ms > 0, "a detector pass every frame"
            assert result.birds == (), f"{path.name}, frame {n}: {result.birds}"
            assert not result.is_bird and result.top is None
            if apples:
                # Green apples: the classifier on the whole frame sees a Rose-ringed Parakeet, as birdcam without
                # a detector shows; the detector sees apples filling the view and no bird, so it is not shown.
                plain = whole_frame_only.process(frame, t)
                if plain.birds:
                    assert plain.top.label.common_name == "Rose-ringed Parakeet"
                    parakeets += 1
    assert frames == fps * (len(bird_scenes.background_photos(shared_dir)) + 2) >= 165
    assert parakeets >= 10, "without the detector, the apples are a parakeet"


def _dollarbird_shot(shared_dir, photos, speed: float = 1.5) -> bird_scenes.Shot:
    """A dollarbird (Eurystomus orientalis, not among the starter model's 964 species) 220 px tall on the cat
    photo."""
    dollarbird = photos["ASIAN DOLLARD BIRD/1.jpg"]
    assert not dollarbird.known
    return bird_scenes.make_shot(
        np.random.default_rng(2),
        background(shared_dir, "cat"),
        [dollarbird],
        heights=(220, 220),
        positions=[(0.3, 0.5)],
        speed=speed,
    )


def test_a_species_the_model_does_not_know_is_an_unknown_bird(shared_dir, models, photos):
    classifier, detector = models
    shot = _dollarbird_shot(shared_dir, photos)
    scene = ScenePass(classifier, detector)
    unknown = 0
    for n, frame, truth in shot.play():
        for bird in scene.process(frame, n / FPS).birds:
            assert bird.label is None and bird.index is None and not bird.known, f"frame {n}: named {bird.label}"
            assert truth_of(bird, truth) is not None
            assert 0 < bird.score <= 1
            unknown += 1
    assert unknown >= 40


MANDARIN = (293, 304, 310, 370)
"""Where the Mandarin Duck is in images/birds/mandarin_duck.jpg (x, y, w, h); a second duck stands at the right edge."""


def on_the_mandarin(bird) -> bool:
    x, y, w, h = bird.box
    mx, my, mw, mh = MANDARIN
    return mx - 60 <= x + w / 2 <= mx + mw + 60 and my - 60 <= y + h / 2 <= my + mh + 60


def test_a_close_up_is_still_named_with_the_detector_on(shared_dir, models):
    classifier, detector = models
    duck = cv2.imread(str(shared_dir / "images" / "birds" / "mandarin_duck.jpg"))
    with_detector, whole_frame_only = ScenePass(classifier, detector), ScenePass(classifier)
    rng = np.random.default_rng(3)
    for n in range(30):
        matrix = np.float32([[1, 0, 0.5 * n], [0, 1, -0.3 * n]])
        frame = cv2.warpAffine(duck, matrix, (duck.shape[1], duck.shape[0]), borderMode=cv2.BORDER_REFLECT)
        frame = np.clip(frame + rng.normal(0, 4, frame.shape), 0, 255).astype(np.uint8)
        result = with_detector.process(frame, n / FPS)
        plain = whole_frame_only.process(frame, n / FPS)
        assert plain.top.label.common_name == "Mandarin Duck"
        assert result.top.label == plain.top.label
        if n >= 10:
            # One bird on the Mandarin: the detector's box, named as the whole-frame pass names it.
            (mandarin,) = [bird for bird in result.birds if on_the_mandarin(bird)]
            assert mandarin is result.top and mandarin.closeup and not mandarin.whole_frame


def test_a_close_up_the_detector_takes_for_a_bear_is_still_named(shared_dir, models, photos):
    """YOLOX-nano boxes this ani, filling the frame, as a bear and sees no bird: an animal never counts against the
    whole-frame pass's bird, as apples or a bus do."""
    classifier, detector = models
    ani = photos["GROVED BILLED ANI/3.jpg"]
    photo = cv2.imread(str(ani.path))
    side = round(photo.shape[0] / 1.1)
    top = (photo.shape[0] - side) // 2
    close_up = cv2.resize(photo[top : top + side, top : top + side], (320, 320), interpolation=cv2.INTER_LINEAR)
    found = detector.detect(close_up)
    assert not found.birds and any(other.class_name == "bear" and other.score >= 0.5 for other in found.others)
    with_detector, whole_frame_only = ScenePass(classifier, detector), ScenePass(classifier)
    rng = np.random.default_rng(6)
    named = 0
    for n in range(30):
        frame = np.clip(close_up + rng.normal(0, 3, close_up.shape), 0, 255).astype(np.uint8)
        result = with_detector.process(frame, n / FPS)
        plain = whole_frame_only.process(frame, n / FPS)
        assert (result.top.label if result.top else None) == (plain.top.label if plain.top else None), f"frame {n}"
        named += result.top is not None and bird_scenes.names_match(scientific(result.top), ani.scientific_name)
    assert named >= 20, named


class SeenOnce:
    """The real detector, reporting birds in the first frame it finds one only (a bird that showed once)."""

    def __init__(self, detector):
        self.detector, self.input_size, self.reported = detector, detector.input_size, []

    def detect(self, frame, *, color="bgr", roi=None):
        detections = self.detector.detect(frame, color=color, roi=roi)
        sure = SceneOptions().tracking.start_score
        if self.reported or not any(bird.score >= sure for bird in detections.birds):
            return dataclasses.replace(detections, birds=())
        self.reported.append(detections.birds)
        return detections

    def close(self):
        pass


def test_a_box_the_detector_saw_once_gets_no_label(shared_dir, models, photos):
    classifier, detector = models
    shot = bird_scenes.make_shot(
        np.random.default_rng(4),
        background(shared_dir, "000000000632"),
        [photos["EASTERN BLUEBIRD/1.jpg"]],
        heights=(420, 420),
        positions=[(0.8, 0.45)],
    )
    once = SeenOnce(detector)
    scene, control = ScenePass(classifier, once), ScenePass(classifier, detector)
    tracked = 0
    for n, frame, _ in shot.play():
        shown = scene.process(frame, n / FPS).birds
        assert not [bird for bird in shown if not bird.whole_frame], f"frame {n}: {shown}"
        tracked += any(not bird.whole_frame and bird.known for bird in control.process(frame, n / FPS).birds)
    assert once.reported, "the detector should have found the bird once"
    assert tracked >= 40  # seen every time, the same bird is followed and named


def test_without_a_detector_it_is_the_whole_frame_pass(shared_dir, models, photos):
    classifier, _ = models
    shot = bird_scenes.make_shot(
        np.random.default_rng(5),
        background(shared_dir, "000000005037"),
        [photos["CEDAR WAXWING/3.jpg"]],
        heights=(600, 600),
        positions=[(0.5, 0.5)],
    )
    scene = ScenePass(classifier)
    smoother = LabelSmoother(
        classifier.labels,
        classifier.background_index,
        dataclasses.replace(SmoothingOptions(), threshold=classifier.threshold),
    )
    named = 0
    for n, frame, _ in shot.play():
        result = scene.process(frame, n / FPS)
        expected = smoother.update(classifier.classify(frame).probabilities, n / FPS)
        assert result.whole == expected
        assert result.timings.detector_ms == 0.0
        if expected.is_bird:
            (bird,) = result.birds
            assert bird.whole_frame and bird.index == expected.index
            assert bird.box == classifier.fitted_region(frame.shape)
            named += 1
        else:
            assert result.birds == ()
    assert named >= 30


def test_one_photo_on_its_own(shared_dir, models, photos):
    classifier, detector = models
    shot = bird_scenes.make_shot(
        np.random.default_rng(0),
        background(shared_dir, "000000006213"),
        [photos["EASTERN BLUEBIRD/1.jpg"], photos["BROWN THRASHER/1.jpg"]],
        heights=(220, 220),
        positions=[(0.25, 0.5), (0.72, 0.5)],
        noise=0,
    )
    frame, truth = shot.frame(0)
    scene = ScenePass(classifier, detector)
    result = scene.process_still(frame)
    named = {(truth_of(b, truth).key, scientific(b)) for b in result.birds if not b.whole_frame}
    assert named == {(t.key, t.scientific_name) for t in truth}
    assert result.timings.detector_ms > 0
    empty = cv2.imread(str(shared_dir / "images" / "scenes" / "000000000139.jpg"))
    assert scene.process_still(empty).birds == ()
    duck = scene.process_still(cv2.imread(str(shared_dir / "images" / "birds" / "mandarin_duck.jpg")))
    assert duck.top.label.scientific_name == "Aix galericulata" and on_the_mandarin(duck.top)
    assert len([bird for bird in duck.birds if on_the_mandarin(bird)]) == 1


def test_search_plan_covers_the_frame_with_overlapping_tiles():
    plan = SearchPlan((720, 1280), (448, 544))
    assert plan.regions[0] == (0, 0, 1280, 720)
    assert {w for _, _, w, _ in plan.regions[1:]} == {448, 544}
    tiles = [region for region in plan.regions if region[2] == 448]
    assert all(w == 448 and h == 448 for _, _, w, h in tiles)
    covered = np.zeros((720, 1280), int)
    for x, y, w, h in tiles:
        assert 0 <= x and x + w <= 1280 and 0 <= y and y + h <= 720
        covered[y : y + h, x : x + w] += 1
    assert covered.min() >= 1
    # Neighbouring tiles overlap by at least a sixth of a tile, so a bird that size is whole in one of them.
    xs, ys = sorted({x for x, *_ in tiles}), sorted({y for _, y, *_ in tiles})
    assert all(b - a <= 448 * 5 / 6 for a, b in zip(xs, xs[1:])) and all(
        b - a <= 448 * 5 / 6 for a, b in zip(ys, ys[1:])
    )
    assert [plan.next_region() for _ in range(len(plan.regions) + 1)] == [*plan.regions, plan.regions[0]]
    # A frame no larger than about a tile is searched whole.
    assert SearchPlan((320, 320), (448, 544)).regions == [(0, 0, 320, 320)]


def test_a_new_threshold_keeps_the_birds_and_a_new_tracking_starts_them_over(shared_dir, models, photos):
    """Moving the threshold slider or turning the still camera's motion search on must not make the birds vanish; a
    higher threshold than a bird's score unnames it at once; other options start the birds over."""
    import dataclasses

    classifier, detector = models
    shot = bird_scenes.make_shot(
        np.random.default_rng(0),
        background(shared_dir, "000000006213"),
        [photos["EASTERN BLUEBIRD/1.jpg"], photos["BROWN THRASHER/1.jpg"]],
        heights=(220, 220),
        positions=[(0.25, 0.5), (0.72, 0.5)],
    )
    frames = [(n, frame) for n, frame, _ in shot.play()]
    scene = ScenePass(classifier, detector)
    for n, frame in frames[:40]:
        before = scene.process(frame, n / FPS)
    named = {b.track: b for b in before.birds if b.known and not b.whole_frame}
    assert len(named) == 2, before.birds

    scene.set_options(dataclasses.replace(scene.options, threshold=0.4, motion_search=True))
    n, frame = frames[40]
    after = scene.process(frame, n / FPS)
    assert {b.track: b.label for b in after.birds if b.known and not b.whole_frame} == {
        track: bird.label for track, bird in named.items()
    }, "the same birds, the same names, at once"

    scene.set_options(dataclasses.replace(scene.options, threshold=0.99))
    n, frame = frames[41]
    unsure = scene.process(frame, n / FPS)
    assert {b.track for b in unsure.birds if not b.whole_frame} == set(named), "still followed"
    assert not any(b.known for b in unsure.birds if not b.whole_frame), "no crop's evidence reaches 0.99"

    scene.set_options(dataclasses.replace(scene.options, threshold=None, crops_per_frame=1))
    n, frame = frames[42]
    restarted = scene.process(frame, n / FPS)
    assert not {b.track for b in restarted.birds} & set(named), "other options: the birds start over"


class Boxes:
    """A detector that boxes the given truth box as a bird at a fixed score, wherever a region holds it."""

    def __init__(self, detector, box, score: float):
        self.detector, self.input_size, self.box, self.score = detector, detector.input_size, box, score

    def detect(self, frame, *, color="bgr", roi=None):
        found = self.detector.detect(frame, color=color, roi=roi)
        x, y, w, h = roi or (0, 0, frame.shape[1], frame.shape[0])
        bx, by, bw, bh = self.box
        inside = x <= bx and y <= by and bx + bw <= x + w and by + bh <= y + h
        bird = Detection(tuple(float(v) for v in self.box), self.score, 14, "bird")
        return dataclasses.replace(found, birds=(bird,) if inside else ())

    def close(self):
        pass


@pytest.mark.parametrize(("score", "shown"), [(0.35, False), (0.6, True)])
def test_a_bird_of_no_known_species_needs_a_sure_box(shared_dir, models, photos, score, shown):
    """A bird no species is named for is shown as "a bird" only when the detector was sure of it: a fish or a
    dragonfly the detector doubts is not "a bird". The same pixels (a dollarbird, a species the model does not know),
    boxed at 0.35 or at 0.6."""
    classifier, detector = models
    shot = _dollarbird_shot(shared_dir, photos, speed=0)
    _, (truth,) = shot.frame(0)
    scene = ScenePass(classifier, Boxes(detector, truth.box, score))
    unknown = sum(
        any(not bird.whole_frame and bird.label is None for bird in scene.process(frame, n / FPS).birds)
        for n, frame, _ in shot.play()
    )
    assert (unknown >= 40) if shown else (unknown == 0), unknown


@pytest.fixture(scope="module")
def two_shots(shared_dir, photos, tmp_path_factory):
    """Two shots cut one into the other, each with a bluebird 100-130 px long cut along its outline far from the
    frame's top left (where the search plan starts): in a living room, then in a kitchen."""
    outlines = bird_scenes.Outlines(shared_dir, tmp_path_factory.mktemp("outlines"))
    shots = [
        bird_scenes.make_shot(
            np.random.default_rng(seed),
            background(shared_dir, place),
            [photos[photo]],
            outlines=outlines,
            heights=(size, size),
            positions=[position],
            speed=1.0,
        )
        for seed, place, photo, size, position in (
            (1, "000000006213", "EASTERN BLUEBIRD/1.jpg", 100, (0.8, 0.75)),
            (2, "000000000139", "EASTERN BLUEBIRD/1.jpg", 130, (0.75, 0.7)),
        )
    ]
    return [[shot.frame(n) for n in range(shot.frames)] for shot in shots]


def frames_until_shown(scene: ScenePass, shot, start: int) -> int | None:
    """Plays the whole shot; the frames from its first until its bird is shown on its own box (None: never)."""
    first = None
    for n, (frame, truth) in enumerate(shot):
        birds = scene.process(frame, (start + n) / FPS).birds
        if first is None and any(not b.whole_frame and iou(b.box, truth[0].box) >= 0.5 for b in birds):
            first = n
    return first


def test_the_birds_of_a_new_shot_are_found_in_its_first_frames(models, two_shots):
    """With `sweep_new_shot` the first frame of the source and the first after a cut are searched everywhere at once:
    each bird there is shown within a tenth of a second; without it (the default) the search plan's turn comes
    later."""
    classifier, detector = models
    at_once, in_turn = (
        ScenePass(classifier, detector, SceneOptions(sweep_new_shot=True)),
        ScenePass(classifier, detector),
    )
    shown_at_once, shown_in_turn = [], []
    for number, shot in enumerate(two_shots):
        start = number * len(two_shots[0])
        shown_at_once.append(frames_until_shown(at_once, shot, start))
        shown_in_turn.append(frames_until_shown(in_turn, shot, start))
    assert all(n is not None and n <= 3 for n in shown_at_once), shown_at_once
    assert all(n is None or n > 6 for n in shown_in_turn), shown_in_turn
