"""Scenes with small birds, built from shared/ photos: for the scene pass's tests and benchmarks/scene_quality.py.

A bird is a birds525 photo cut out and pasted on a real bird-free photo (images/scenes/,
images/not-birds/) filled to 1280x720, in one of two ways:

  outline   cut along the bird's outline by shared's DeepLab segmenter (Pascal VOC's `bird` class), the
            bird 80-260 px along its longer side; its truth is its own tight box. This is what a feeder
            cam or a nature video shows, and what a detector trained on COCO can see as a bird.
  ellipse   the whole photo cut out with a feathered ellipse, 150-300 px tall; its truth is the ellipse's
            box. An oval of photo: the classifier names it, no COCO detector sees a bird in it.

A shot is 2 s at 30 fps: the birds drift in straight lines, the camera pans a little and the sensor
adds noise, so no two frames are equal. Each frame comes with its truth: where each bird is and what
species it is. Arrival footage is a feeder cam's instead: 6-s shots from a still camera, each bird flying
in from the nearer side in the first half and then stirring on its perch. The segmenter takes about 130 ms
a photo, so each photo's outline is computed once and kept in a cache folder outside the repository, under the
hash of the photo's bytes.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

FRAME_SIZE = (1280, 720)
"""(width, height) of every frame."""
FPS = 30.0
SHOT_FRAMES = 60
"""2 s at 30 fps."""
ARRIVAL_SHOT_FRAMES = 180
"""Arrival footage: 6 s at 30 fps."""
FLIGHT_FRAMES = (8, 15)
"""Arrival footage: the frames a bird takes to fly in from outside the frame to its perch, drawn uniformly."""
BIRD_HEIGHTS = (150, 300)
"""Ellipse footage: pasted height of a bird photo in pixels, drawn uniformly."""
BIRD_SIZES = (80, 260)
"""Outline footage: the longer side of a bird's own box in pixels, drawn uniformly."""
CUTS = ("outline", "ellipse")
"""The ways a bird is cut out of its photo (see the module's docstring)."""
SEGMENTER = Path("models/deeplabv3_pascal/deeplabv3_mnv2_pascal_quant.tflite")
"""shared/'s DeepLabV3 (MobileNetV2, Pascal VOC): uint8 [1, 513, 513, 3] RGB in, a class per pixel out."""
PASCAL_BIRD = 3
"""The segmenter's class of bird pixels."""
MIN_OUTLINE = 0.04
"""An outline covering less of its photo than this is no usable bird (the segmenter missed it): the photo is
left out of outline footage."""
KNOWN_SHARE = 0.8
"""Outline footage: the share of birds of a species the model knows (the sample's 20 of 25)."""


@dataclass(frozen=True)
class BirdPhoto:
    """One birds525 sample photo."""

    path: Path
    scientific_name: str
    """Lower case, as in birds.csv."""
    species: str
    """The data set's class name ("AMERICAN ROBIN")."""
    known: bool
    """The model names this species: its labels hold the scientific name (or, for a genus-only truth, a species of
    the genus)."""


@dataclass(frozen=True)
class TrueBird:
    """A bird in one frame, as pasted."""

    box: tuple[int, int, int, int]
    """(x, y, w, h) of the pasted cut-out in frame pixels, clipped to the frame: the bird's own tight box (outline),
    or the ellipse's bounding box."""
    scientific_name: str
    known: bool
    key: int
    """Which bird of the shot this is (stable over the shot's frames)."""


@dataclass(frozen=True)
class MovingBird:
    photo: BirdPhoto
    patch: np.ndarray
    """The cut-out's BGR pixels."""
    alpha: np.ndarray
    """float32 HxWx1 in [0, 1]: the bird's outline, or the feathered ellipse."""
    start: tuple[float, float]
    """Top-left corner at the first frame (at frame `arrive` for a bird that flies in)."""
    velocity: tuple[float, float]
    """Pixels per frame."""
    arrive: int = 0
    """The frame the bird lands at `start`, having flown in along `flight`; 0: there from the first frame."""
    flight: tuple[float, float] = (0.0, 0.0)
    """Pixels per frame of the flight in."""

    def corner(self, n: int) -> tuple[int, int]:
        """Top-left corner in frame n."""
        if n < self.arrive:
            ahead = self.arrive - n
            return round(self.start[0] - ahead * self.flight[0]), round(self.start[1] - ahead * self.flight[1])
        since = n - self.arrive
        return round(self.start[0] + since * self.velocity[0]), round(self.start[1] + since * self.velocity[1])


def sample_photos(shared: Path, model_scientific_names: set[str], folder: str = "birds525-sample") -> list[BirdPhoto]:
    """Every photo of a birds525 folder (the sample's 25 species x 5, or the refs' 525 x 2), known or not to a model
    with these scientific names (lower case)."""
    photos = []
    root = shared / folder
    with open(root / "birds.csv", newline="", encoding="utf-8") as table:
        for row in csv.DictReader(table):
            scientific = row["scientific name"].strip().lower()
            known = any(names_match(name, scientific) for name in model_scientific_names)
            photos.append(BirdPhoto(root / row["filepaths"], scientific, row["labels"], known))
    return sorted(photos, key=lambda p: str(p.path))


def all_photos(shared: Path, model_scientific_names: set[str]) -> list[BirdPhoto]:
    """The photos of birds525-sample and birds525-refs, each photo once (the refs repeat two of the sample's)."""
    seen: set[str] = set()
    photos = []
    for photo in [
        *sample_photos(shared, model_scientific_names),
        *sample_photos(shared, model_scientific_names, "birds525-refs"),
    ]:
        digest = hashlib.sha256(photo.path.read_bytes()).hexdigest()
        if digest not in seen:
            seen.add(digest)
            photos.append(photo)
    return photos


def names_match(named: str, truth: str) -> bool:
    """A scientific name (lower case) is the truth's. birds.csv gives only the genus of some species
    ("GEOCOCCYX" for the roadrunner): any species of a genus-only truth is its right name."""
    return named == truth or (" " not in truth and named.split(" ")[0] == truth)


def background_photos(shared: Path) -> list[Path]:
    """The bird-free real photos scenes are built on."""
    return sorted([*(shared / "images" / "scenes").glob("*.jpg"), *(shared / "images" / "not-birds").glob("*.jpg")])


def fill_frame(photo: np.ndarray, size: tuple[int, int] = FRAME_SIZE, margin: int = 0) -> np.ndarray:
    """The photo scaled to cover (width + 2 margin) x (height + 2 margin) and centre-cropped (room to pan)."""
    width, height = size[0] + 2 * margin, size[1] + 2 * margin
    scale = max(width / photo.shape[1], height / photo.shape[0])
    resized = cv2.resize(
        photo,
        (max(width, round(photo.shape[1] * scale)), max(height, round(photo.shape[0] * scale))),
        interpolation=cv2.INTER_LINEAR if scale > 1 else cv2.INTER_AREA,
    )
    y, x = (resized.shape[0] - height) // 2, (resized.shape[1] - width) // 2
    return resized[y : y + height, x : x + width]


def cut_out(photo: np.ndarray, height: int) -> tuple[np.ndarray, np.ndarray]:
    """The photo scaled to `height` px tall and a feathered elliptical alpha (HxWx1 float32) that hides its corners."""
    scale = height / photo.shape[0]
    width = max(8, round(photo.shape[1] * scale))
    patch = cv2.resize(photo, (width, height), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    mask = np.zeros((height, width), np.float32)
    cv2.ellipse(mask, (width // 2, height // 2), (int(width * 0.42), int(height * 0.42)), 0, 0, 360, 1.0, -1)
    feather = max(1.0, 0.05 * height)
    return patch, cv2.GaussianBlur(mask, (0, 0), feather)[..., np.newaxis]


def outline_cache() -> Path:
    """Where outlines are kept: $BIRDCAM_OUTLINE_CACHE, else birdcam-outlines in the user's cache folder."""
    explicit = os.environ.get("BIRDCAM_OUTLINE_CACHE")
    if explicit:
        return Path(explicit)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "birdcam-outlines"


class Outlines:
    """Birds' outlines in their photos, by shared's DeepLab segmenter; each computed once and cached as a PNG named
    by the hash of the segmenter and of the photo's bytes."""

    def __init__(self, shared: Path, cache: Path | None = None):
        self.model = shared / SEGMENTER
        self.cache = cache or outline_cache()
        self._interpreter = None
        self._key = hashlib.sha256(self.model.read_bytes()).hexdigest()[:16]

    def mask(self, photo: Path) -> np.ndarray | None:
        """uint8 HxW in 0-255 over the photo (255: bird; soft at the edge), the largest bird only; None when the
        segmenter finds too little bird in it."""
        data = photo.read_bytes()
        path = self.cache / f"{hashlib.sha256(self._key.encode() + data).hexdigest()}.png"
        mask = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE) if path.is_file() else None
        if mask is None:
            mask = self._segment(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR))
            self.cache.mkdir(parents=True, exist_ok=True)
            partial = path.with_suffix(f".{os.getpid()}.tmp.png")
            cv2.imwrite(str(partial), mask)
            os.replace(partial, path)
        return mask if np.count_nonzero(mask >= 128) >= MIN_OUTLINE * mask.size else None

    def _segment(self, photo: np.ndarray) -> np.ndarray:
        if self._interpreter is None:
            from ai_edge_litert.interpreter import Interpreter

            self._interpreter = Interpreter(model_path=str(self.model), num_threads=2)
            self._interpreter.allocate_tensors()
        interpreter = self._interpreter
        side = int(interpreter.get_input_details()[0]["shape"][1])
        image = cv2.resize(cv2.cvtColor(photo, cv2.COLOR_BGR2RGB), (side, side), interpolation=cv2.INTER_AREA)
        interpreter.set_tensor(interpreter.get_input_details()[0]["index"], image[np.newaxis])
        interpreter.invoke()
        bird = (interpreter.get_tensor(interpreter.get_output_details()[0]["index"])[0] == PASCAL_BIRD).astype(np.uint8)
        count, parts, stats, _ = cv2.connectedComponentsWithStats(bird, connectivity=8)
        if count > 1:
            largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
            bird = (parts == largest).astype(np.uint8)
        soft = cv2.resize(bird.astype(np.float32), (photo.shape[1], photo.shape[0]), interpolation=cv2.INTER_LINEAR)
        return np.clip(soft * 255 + 0.5, 0, 255).astype(np.uint8)


def cut_outline(photo: np.ndarray, mask: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """The bird of the photo along its outline, scaled so that its longer side is `size` px: the pixels of its tight
    box and their alpha (HxWx1 float32, soft over a pixel at the edge)."""
    ys, xs = np.nonzero(mask >= 128)
    x0, x1, y0, y1 = xs.min(), xs.max() + 1, ys.min(), ys.max() + 1
    scale = size / max(x1 - x0, y1 - y0)
    width, height = max(8, round((x1 - x0) * scale)), max(8, round((y1 - y0) * scale))
    shrink = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    patch = cv2.resize(photo[y0:y1, x0:x1], (width, height), interpolation=shrink)
    alpha = cv2.resize(mask[y0:y1, x0:x1].astype(np.float32) / 255, (width, height), interpolation=cv2.INTER_LINEAR)
    return patch, np.clip(alpha, 0.0, 1.0)[..., np.newaxis]


def paste(frame: np.ndarray, patch: np.ndarray, alpha: np.ndarray, x: int, y: int) -> tuple[int, int, int, int] | None:
    """Blends a cut-out into the frame with its top-left corner at (x, y); returns the visible box, None if outside."""
    height, width = patch.shape[:2]
    x0, y0 = max(0, x), max(0, y)
    x1, y1 = min(frame.shape[1], x + width), min(frame.shape[0], y + height)
    if x1 - x0 < 8 or y1 - y0 < 8:
        return None
    region = frame[y0:y1, x0:x1].astype(np.float32)
    part = patch[y0 - y : y1 - y, x0 - x : x1 - x].astype(np.float32)
    weight = alpha[y0 - y : y1 - y, x0 - x : x1 - x]
    frame[y0:y1, x0:x1] = (region + weight * (part - region)).round().astype(np.uint8)
    return x0, y0, x1 - x0, y1 - y0


@dataclass(frozen=True)
class Shot:
    """2 s of footage: a background, a slow camera pan, and 0-3 drifting birds (6 s of a still camera and birds
    that fly in, for arrival footage)."""

    name: str
    """Background and birds, for reports."""
    background: np.ndarray
    """The background with `pan_margin` spare pixels on each side."""
    pan: tuple[float, float]
    """Camera pan over the shot, pixels (x, y)."""
    birds: tuple[MovingBird, ...]
    noise: float
    """Sensor noise (standard deviation, grey levels)."""
    seed: int
    frames: int = SHOT_FRAMES
    pan_margin: int = 16

    def frame(self, n: int, rng: np.random.Generator | None = None) -> tuple[np.ndarray, tuple[TrueBird, ...]]:
        """Frame n (BGR 1280x720) and the birds in it."""
        width, height = FRAME_SIZE
        f = n / max(1, self.frames - 1)
        ox = round(self.pan_margin + (f - 0.5) * self.pan[0])
        oy = round(self.pan_margin + (f - 0.5) * self.pan[1])
        frame = self.background[oy : oy + height, ox : ox + width].copy()
        truth = []
        for key, bird in enumerate(self.birds):
            box = paste(frame, bird.patch, bird.alpha, *bird.corner(n))
            if box is not None:
                truth.append(TrueBird(box, bird.photo.scientific_name, bird.photo.known, key))
        if self.noise > 0:
            rng = rng or np.random.default_rng((self.seed, n))
            noise = rng.standard_normal(frame.shape, dtype=np.float32) * self.noise
            frame = np.clip(frame + noise, 0, 255).astype(np.uint8)
        return frame, tuple(truth)

    def play(self) -> Iterator[tuple[int, np.ndarray, tuple[TrueBird, ...]]]:
        for n in range(self.frames):
            yield (n, *self.frame(n))


def make_shot(
    rng: np.random.Generator,
    background: Path,
    photos: Sequence[BirdPhoto],
    *,
    heights: tuple[int, int] | None = None,
    noise: float = 4.0,
    pan: float = 12.0,
    positions: Sequence[tuple[float, float]] | None = None,
    speed: float = 1.5,
    outlines: Outlines | None = None,
) -> Shot:
    """A shot of these birds on this background: random sizes, places that do not overlap, random drifts.

    `outlines` cuts each bird along its outline (its photo must have one), else a feathered ellipse cuts
    the whole photo. `heights` is the range of sizes: the longer side of the bird's box with outlines
    (BIRD_SIZES), the photo's height with ellipses (BIRD_HEIGHTS). `positions` (fractions of the frame,
    each bird's centre) places the birds instead; `speed` is the largest drift in pixels per frame.
    """
    width, height = FRAME_SIZE
    margin = 16
    heights = heights or (BIRD_SIZES if outlines is not None else BIRD_HEIGHTS)
    back = fill_frame(cv2.imread(str(background)), FRAME_SIZE, margin)
    birds: list[MovingBird] = []
    boxes: list[tuple[float, float, float, float]] = []
    for i, photo in enumerate(photos):
        picture = cv2.imread(str(photo.path))
        size = int(rng.integers(heights[0], heights[1] + 1))
        if outlines is None:
            patch, alpha = cut_out(picture, size)
        else:
            mask = outlines.mask(photo.path)
            if mask is None:
                raise ValueError(f"the segmenter finds no bird outline in {photo.path}")
            patch, alpha = cut_outline(picture, mask, size)
        h, w = patch.shape[:2]
        velocity = tuple(float(v) for v in rng.uniform(-speed, speed, 2))
        travel_x, travel_y = velocity[0] * SHOT_FRAMES, velocity[1] * SHOT_FRAMES
        for _ in range(200):
            if positions is not None:
                cx, cy = positions[i][0] * width, positions[i][1] * height
                x, y = cx - w / 2 - travel_x / 2, cy - h / 2 - travel_y / 2
            else:
                # The whole drift stays in the frame.
                x = rng.uniform(max(0.0, -travel_x), width - w - max(0.0, travel_x))
                y = rng.uniform(max(0.0, -travel_y), height - h - max(0.0, travel_y))
            swept = (min(x, x + travel_x), min(y, y + travel_y), w + abs(travel_x), h + abs(travel_y))
            if positions is not None or not any(_overlap(swept, other) for other in boxes):
                break
        boxes.append(swept)
        birds.append(MovingBird(photo, patch, alpha, (x, y), velocity))
    names = "+".join(p.species.title() for p in photos) or "no bird"
    return Shot(
        f"{names} on {background.stem}",
        back,
        tuple(float(v) for v in rng.uniform(-pan, pan, 2)),
        tuple(birds),
        noise,
        int(rng.integers(1 << 31)),
        pan_margin=margin,
    )


def make_arrival_shot(
    rng: np.random.Generator, background: Path, photos: Sequence[BirdPhoto], *, outlines: Outlines, noise: float = 4.0
) -> Shot:
    """A feeder cam's shot of these birds (cut along their outline) on this background: a still camera, and each bird
    flies in from the nearer side edge within the shot's first half, in FLIGHT_FRAMES, to a perch where it stirs
    (drifts by up to 0.2 px a frame). A bird's truth starts with the first frame that shows some of it."""
    shot = make_shot(rng, background, photos, outlines=outlines, noise=noise, pan=0.0, speed=0.2)
    width = FRAME_SIZE[0]
    birds = []
    for bird in shot.birds:
        frames = int(rng.integers(FLIGHT_FRAMES[0], FLIGHT_FRAMES[1] + 1))
        x, w = bird.start[0], bird.patch.shape[1]
        # From just outside the nearer side edge to the perch.
        across = -(x + w) if x + w / 2 < width / 2 else width - x
        dx = -across / frames
        flight = (dx, float(rng.uniform(-0.3, 0.3)) * abs(dx))
        arrive = int(rng.integers(frames, ARRIVAL_SHOT_FRAMES // 2 + 1))
        birds.append(dataclasses.replace(bird, arrive=arrive, flight=flight))
    return dataclasses.replace(shot, birds=tuple(birds), frames=ARRIVAL_SHOT_FRAMES)


def _overlap(a, b) -> bool:
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]


def random_shots(
    shared: Path,
    model_scientific_names: set[str],
    count: int,
    seed: int = 0,
    bird_free: float = 0.2,
    cut: str = "ellipse",
    arrivals: bool = False,
) -> Iterator[Shot]:
    """`count` shots: about `bird_free` of them without a bird, the others with 1-3 birds.

    `cut` "ellipse": any of the sample's 25 species' photos, cut with an ellipse. "outline": photos of
    birds525-sample and birds525-refs cut along their outline, KNOWN_SHARE of the birds of species the
    model knows (a photo the segmenter finds no bird in is left out). `arrivals` (outline only): a feeder
    cam's shots (make_arrival_shot) rather than 2-s cuts of a panning camera.
    """
    if cut not in CUTS:
        raise ValueError(f"cut must be one of {CUTS}, not {cut!r}")
    if arrivals and cut != "outline":
        raise ValueError("arrival footage is cut along outlines")
    rng = np.random.default_rng(seed)
    backgrounds = background_photos(shared)
    if cut == "ellipse":
        photos = sample_photos(shared, model_scientific_names)
        for _ in range(count):
            background = backgrounds[int(rng.integers(len(backgrounds)))]
            if rng.random() < bird_free:
                yield make_shot(rng, background, ())
                continue
            chosen = rng.choice(len(photos), size=int(rng.integers(1, 4)), replace=False)
            yield make_shot(rng, background, [photos[i] for i in chosen])
        return
    outlines = Outlines(shared)
    shoot = make_arrival_shot if arrivals else make_shot
    everything = all_photos(shared, model_scientific_names)
    pools = {known: [p for p in everything if p.known == known] for known in (True, False)}
    for _ in range(count):
        background = backgrounds[int(rng.integers(len(backgrounds)))]
        if rng.random() < bird_free:
            yield shoot(rng, background, (), outlines=outlines)
            continue
        chosen: list[BirdPhoto] = []
        for _ in range(int(rng.integers(1, 4))):
            pool = pools[bool(rng.random() < KNOWN_SHARE)]
            while True:
                photo = pool[int(rng.integers(len(pool)))]
                if outlines.mask(photo.path) is None:
                    pool.remove(photo)
                elif photo not in chosen:
                    break
            chosen.append(photo)
        yield shoot(rng, background, chosen, outlines=outlines)


def duck_street_duck(shared: Path, size: tuple[int, int], frames: int) -> list[np.ndarray]:
    """Two cuts: a Mandarin Duck close-up, a bird-free street, the duck again, `frames` frames each. The corner of
    the duck's frames is white and the street's black (tests/fake_models.py's scene pass names a Mandarin Duck at the
    first pixel / 255: its results tell which shot they describe)."""
    duck = cv2.resize(cv2.imread(str(shared / "images" / "birds" / "mandarin_duck.jpg")), size)
    street = cv2.resize(fill_frame(cv2.imread(str(shared / "images" / "scenes" / "000000008844.jpg"))), size)
    duck[:16, :16], street[:16, :16] = 255, 0  # a block, so that a video's JPEG keeps it
    return [duck] * frames + [street] * frames + [duck] * frames
