"""The inference engine: any TFLite image classifier on LiteRT, from OpenCV frames to named species.

Qt-free and TensorFlow-free, so the app, the CLI and the trainer's checks all share it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from birdcam.errors import BirdcamError, LabelError, ModelError, first_line
from birdcam.models.card import RESIZE_MODES, ModelCard
from birdcam.models.labels import Label, Labels, default_labels, embedded_labels, read_labels, sidecar_labels_path
from birdcam.models.species import SpeciesFilterReport, species_mask
from birdcam.util.native import stderr_silenced

DEFAULT_THRESHOLD = 0.3
"""The top score a bird needs when neither the user nor the model card gives one."""
DEFAULT_TOP_K = 3
"""How many categories a result names (the best and two runners-up) unless asked for another number."""
# Float models with no card: the common MobileNet/EfficientNet convention, pixels scaled to [-1, 1].
DEFAULT_FLOAT_NORMALIZATION = (127.5, 127.5)
_TFLITE_IDENTIFIER = b"TFL3"


def default_threads() -> int:
    """Half a small machine's cores is plenty for one camera; more threads rarely help LiteRT on CPU."""
    return max(1, min(4, os.cpu_count() or 1))


@dataclass(frozen=True)
class ClassifierOptions:
    """How to load and run a classifier."""

    model_path: Path
    """The .tflite file."""
    labels_path: Path | None = None
    """A label file that overrides the sidecar and embedded ones."""
    num_threads: int = default_threads()
    """CPU threads LiteRT may use."""
    top_k: int = DEFAULT_TOP_K
    """How many categories each Result lists."""
    threshold: float | None = None
    """Top score a bird needs to count as one; None: the model card's calibrated value, else 0.3."""
    resize: str | None = None
    """How a frame is fitted to the model input: "crop" (center), "letterbox" or "stretch"; None: the card's, else
    crop."""
    normalization: tuple[float, float] | None = None
    """(mean, std) applied to 0-255 pixels for float inputs; None: the model card's, else [-1, 1]."""
    allow: tuple[str, ...] | None = None
    """Species names (scientific or common, any case): the only species reported; None: all."""
    deny: tuple[str, ...] = ()
    """Species names never reported; wins over `allow`. The background class is never masked."""


@dataclass(frozen=True)
class Category:
    """One class and its score."""

    index: int
    """Output index in the model."""
    label: str
    """The label text as in the label file."""
    common_name: str
    """English name, "" when unknown."""
    scientific_name: str
    """Latin name, "" when unknown."""
    score: float
    """Probability in [0, 1]."""


@dataclass(frozen=True)
class Timings:
    """Milliseconds spent in each stage of one classify() or detect() call."""

    preprocess_ms: float
    """Crop, resize, colour conversion and input conversion."""
    invoke_ms: float
    """The model itself."""
    postprocess_ms: float
    """Dequantization and softmax, top-k (classifier); decoding, mapping to frame pixels, NMS (detector)."""

    @property
    def total_ms(self) -> float:
        return self.preprocess_ms + self.invoke_ms + self.postprocess_ms


@dataclass(frozen=True)
class Result:
    """What the model saw in one frame."""

    categories: tuple[Category, ...]
    """Top-k categories, best first."""
    is_bird: bool
    """The best category is not the background class and reaches the threshold."""
    probabilities: np.ndarray
    """float32 probabilities over every output (sums to about 1); classes masked by a species list are 0."""
    timings: Timings
    """Where the time went."""

    @property
    def top(self) -> Category:
        return self.categories[0]


@dataclass(frozen=True)
class _SpeciesMask:
    """The classes a species list leaves: `keep` over all outputs, `ranked` the indices top-k picks from."""

    keep: np.ndarray
    ranked: np.ndarray

    @classmethod
    def of(cls, keep: np.ndarray, background_index: int | None) -> _SpeciesMask:
        ranked = np.flatnonzero(keep)
        if background_index is not None:  # first, so that it wins ties (every allowed class at 0)
            ranked = np.concatenate(([background_index], ranked[ranked != background_index]))
        return cls(keep, ranked)


class Classifier:
    """A TFLite image classifier running on LiteRT. Not thread-safe: use one per thread."""

    def __init__(self, options: ClassifierOptions):
        if options.top_k < 1:
            raise ModelError(f"top-k must be at least 1, not {options.top_k}.")
        self.options = options
        self.model_path = Path(options.model_path)
        self.card: ModelCard | None = ModelCard.of_model(self.model_path)
        """The model card (`<model>.json` beside the model), or None when it has none."""
        card = self.card or ModelCard()
        self.resize = options.resize or card.resize or "crop"
        if self.resize not in RESIZE_MODES:
            raise ModelError(f"unknown resize mode {self.resize!r}; use one of {', '.join(RESIZE_MODES)}.")
        self._interpreter = load_interpreter(self.model_path, options.num_threads)
        self._input, self._output = _image_io(self._interpreter, self.model_path)
        self.input_size: tuple[int, int] = (int(self._input["shape"][1]), int(self._input["shape"][2]))
        self.input_dtype = np.dtype(self._input["dtype"])
        outputs = int(self._output["shape"][-1])
        self.labels, self.labels_source = _find_labels(self.model_path, options.labels_path)
        if not self.labels:
            self.labels, self.labels_source = default_labels(outputs), "none found (named class 0, class 1, ...)"
        if len(self.labels) != outputs:
            raise LabelError(
                f"the labels ({self.labels_source}) list {len(self.labels)} classes but the model "
                f"has {outputs} outputs; pass the label file that belongs to this model with --labels."
            )
        self.background_index: int | None = next(
            (i for i, label in enumerate(self.labels) if label.is_background), None
        )
        threshold = options.threshold if options.threshold is not None else card.threshold
        self.threshold = float(threshold if threshold is not None else DEFAULT_THRESHOLD)
        self._pixel_lut = self._input_lut()
        self._output_scale, self._output_zero = quantization(self._output)
        self._outputs_probabilities = self._declares_probabilities()
        self._mask: _SpeciesMask | None = None
        self.species_filter: SpeciesFilterReport = self.set_species_filter(options.allow, options.deny)
        """What the species lists in force do: the last set_species_filter's report."""
        self._invoke_once()

    @classmethod
    def from_path(cls, model_path: str | os.PathLike, **options) -> Classifier:
        """`Classifier.from_path("m.tflite", top_k=5)`: options are ClassifierOptions fields."""
        return cls(ClassifierOptions(model_path=Path(model_path), **options))

    def __enter__(self) -> Classifier:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Frees the interpreter; the classifier cannot classify afterwards."""
        self._interpreter = None

    @property
    def name(self) -> str:
        return (self.card and self.card.name) or self.model_path.stem

    @property
    def num_classes(self) -> int:
        return len(self.labels)

    def describe_input(self) -> str:
        """E.g. "uint8 [1, 224, 224, 3]"."""
        return f"{self.input_dtype.name} {[int(n) for n in self._input['shape']]}"

    def set_species_filter(self, allow: Iterable[str] | None = None, deny: Iterable[str] = ()) -> SpeciesFilterReport:
        """Masks every class but the allowed species (None: all) and the denied ones; returns what it did.

        Like MediaPipe's category allowlist / denylist, and cheap enough to change on a running
        classifier (no reload). A name matches a class by its scientific or common name, with case,
        spacing, hyphens and apostrophes ignored; a genus matches each of its species (see
        `birdcam.models.species`). The background class is never masked. Masked classes get probability 0
        before top-k, the threshold and smoothing; the others keep the model's probability, **not
        renormalized**: when a photo's probability lies mostly on masked classes (a bird the list
        rules out, or one the model does not know), what is left stays low and the frame is "no bird"
        instead of a confident wrong name. Names the model does not know are in the report
        (`report.warning` is one line about them); an allow list naming nothing the model knows is a
        SpeciesListError and leaves the lists in force as they were.
        """
        keep, report = species_mask(self.labels, self.background_index, allow, deny)
        self._mask = None if keep is None else _SpeciesMask.of(keep, self.background_index)
        self.species_filter = report
        return report

    # -- running -------------------------------------------------------------------------

    def preprocess(
        self, frame: np.ndarray, *, color: str = "bgr", roi: tuple[int, int, int, int] | None = None
    ) -> np.ndarray:
        """The model's input tensor [1, H, W, 3] for a BGR (or RGB) uint8 frame."""
        image = as_three_channels(frame, color)
        if roi is not None:
            image = crop_roi(image, roi)
        fitted = fit_to_size(image, self.input_size, self.resize)
        if color == "bgr":
            fitted = cv2.cvtColor(fitted, cv2.COLOR_BGR2RGB)
        if self._pixel_lut is not None:
            fitted = cv2.LUT(fitted, self._pixel_lut)
        return fitted[np.newaxis]

    def fitted_region(self, shape: tuple[int, ...]) -> tuple[int, int, int, int]:
        """(x, y, w, h) of the part of a frame of this shape that the model sees (all of it unless resize is "crop")."""
        if self.resize == "crop":
            return center_crop_region(shape, self.input_size)
        return 0, 0, int(shape[1]), int(shape[0])

    def invoke(self, tensor: np.ndarray) -> np.ndarray:
        """Runs the model on a prepared input tensor; returns the raw output row."""
        if self._interpreter is None:
            raise ModelError("the classifier is closed.")
        try:
            self._interpreter.set_tensor(self._input["index"], tensor)
            self._interpreter.invoke()
            return self._interpreter.get_tensor(self._output["index"]).reshape(-1)
        except (RuntimeError, ValueError) as error:
            raise ModelError(
                f"model {self.model_path.name} failed to run: {first_line(error)}. Choose another model."
            ) from None

    def classify(
        self, frame: np.ndarray, *, color: str = "bgr", roi: tuple[int, int, int, int] | None = None
    ) -> Result:
        """Names what is in a frame. `color` is "bgr" (OpenCV) or "rgb"; `roi` is (x, y, w, h) in frame pixels."""
        start = time.perf_counter()
        tensor = self.preprocess(frame, color=color, roi=roi)
        prepared = time.perf_counter()
        raw = self.invoke(tensor)
        invoked = time.perf_counter()
        probabilities = self.probabilities(raw)
        categories = self._top_categories(probabilities)
        top = categories[0]
        is_bird = top.index != self.background_index and top.score >= self.threshold
        done = time.perf_counter()
        timings = Timings((prepared - start) * 1e3, (invoked - prepared) * 1e3, (done - invoked) * 1e3)
        return Result(categories, is_bird, probabilities, timings)

    def probabilities(self, raw: np.ndarray) -> np.ndarray:
        """Dequantizes a raw output row, applies softmax only when the model gives logits, then the species lists."""
        values = self._model_probabilities(raw)
        return values if self._mask is None else np.where(self._mask.keep, values, np.float32(0))

    def _model_probabilities(self, raw: np.ndarray) -> np.ndarray:
        values = raw.astype(np.float32)
        if self._output_scale:
            values = (values - self._output_zero) * self._output_scale
        if self._outputs_probabilities is None:
            looks_like_probabilities = values.min() >= -1e-6 and abs(float(values.sum()) - 1.0) < 0.02
        else:
            looks_like_probabilities = self._outputs_probabilities
        if looks_like_probabilities:
            return values
        shifted = np.exp(values - values.max())
        return (shifted / shifted.sum()).astype(np.float32)

    # -- internals ---------------------------------------------------------------------------

    def _top_categories(self, probabilities: np.ndarray) -> tuple[Category, ...]:
        """The top-k classes, best first, among those the species lists leave."""
        mask = self._mask
        if mask is None:
            k = min(self.options.top_k, probabilities.size)
            best = np.argpartition(probabilities, -k)[-k:]
            best = best[np.argsort(probabilities[best])[::-1]]
        else:
            best = mask.ranked[np.argsort(-probabilities[mask.ranked], kind="stable")[: self.options.top_k]]
        return tuple(_category(int(i), self.labels[i], float(probabilities[i])) for i in best)

    def _normalization(self) -> tuple[np.ndarray, np.ndarray]:
        if self.options.normalization is not None:
            mean, std = self.options.normalization
        elif self.card is not None and self.card.normalization is not None:
            mean, std = self.card.normalization.mean, self.card.normalization.std
        else:
            mean, std = DEFAULT_FLOAT_NORMALIZATION
        mean = np.broadcast_to(np.asarray(mean, np.float32), (3,))
        std = np.broadcast_to(np.asarray(std, np.float32), (3,))
        if np.any(std == 0):
            raise ModelError(f"the normalization of {self.model_path.name} has a zero std; fix the model card.")
        return mean, std

    def _input_lut(self) -> np.ndarray | None:
        """A [1, 256, 3] table (cv2.LUT's layout) from pixel to input value, or None when pixels go in as they are.

        uint8 models take raw pixels (the TFLite convention) unless a card or flag says otherwise;
        float models get the normalized value; int8 models get it quantized with the input's scale and
        zero point, the normalization coming from the card, the flag or the quantized range.
        """
        dtype = self.input_dtype
        explicit = self.options.normalization is not None or (
            self.card is not None and self.card.normalization is not None
        )
        if dtype == np.uint8 and not explicit:
            return None
        if dtype not in (np.uint8, np.int8, np.float32):
            raise ModelError(
                f"model {self.model_path.name} takes {dtype.name} input; birdcam runs float32, uint8 and int8 models."
            )
        pixels = np.arange(256, dtype=np.float32)[:, np.newaxis]
        mean, std = self._inferred_int8_normalization() if dtype == np.int8 and not explicit else self._normalization()
        real = (pixels - mean) / std
        if dtype == np.float32:
            return real.astype(np.float32).reshape(1, 256, 3)
        scale, zero = quantization(self._input)
        info = np.iinfo(dtype)
        quantized = np.round(real / scale + zero) if scale else np.round(real)
        return np.clip(quantized, info.min, info.max).astype(dtype).reshape(1, 256, 3)

    def _inferred_int8_normalization(self) -> tuple[np.ndarray, np.ndarray]:
        """For an int8 input with no card: the range its quantization covers says what it expects."""
        scale, zero = quantization(self._input)
        low, high = (-128 - zero) * scale, (127 - zero) * scale
        if high <= 1.5 and low >= -0.1:
            mean, std = 0.0, 255.0  # [0, 1]
        elif high <= 1.5:
            mean, std = DEFAULT_FLOAT_NORMALIZATION  # [-1, 1]
        else:
            mean, std = 0.0, 1.0  # raw pixels, as birdcam's own int8 exports take
        return np.full(3, mean, np.float32), np.full(3, std, np.float32)

    def _declares_probabilities(self) -> bool | None:
        """True/False when the card or the output quantization tells; None: decide per frame."""
        declared = self.card and self.card.output
        if declared in ("probabilities", "logits"):
            return declared == "probabilities"
        if self._output_scale:
            # Softmax outputs are quantized to [0, 1] as scale 1/256 with the type's lowest value at 0.
            lowest = -128 if np.dtype(self._output["dtype"]) == np.int8 else 0
            if abs(self._output_scale - 1 / 256) < 1e-6 and self._output_zero == lowest:
                return True
        return None

    def _invoke_once(self) -> None:
        """Runs one blank frame at load, so a model that cannot run fails here, not mid-stream."""
        height, width = self.input_size
        self.invoke(self.preprocess(np.zeros((height, width, 3), np.uint8)))

    def __repr__(self) -> str:
        return f"Classifier({self.model_path.name}, {self.describe_input()}, {self.num_classes} classes)"


def fit_to_size(image: np.ndarray, size: tuple[int, int], mode: str) -> np.ndarray:
    """Fits an image to (height, width): center "crop", "letterbox" (black bars) or "stretch"."""
    target_h, target_w = size
    height, width = image.shape[:2]
    if mode == "crop":
        x, y, crop_w, crop_h = center_crop_region((height, width), size)
        return resize_image(image[y : y + crop_h, x : x + crop_w], (target_w, target_h))
    if mode == "stretch":
        return resize_image(image, (target_w, target_h))
    scale = min(target_w / width, target_h / height)
    inner_w, inner_h = max(1, round(width * scale)), max(1, round(height * scale))
    canvas = np.zeros((target_h, target_w, 3), np.uint8)
    x, y = (target_w - inner_w) // 2, (target_h - inner_h) // 2
    canvas[y : y + inner_h, x : x + inner_w] = resize_image(image, (inner_w, inner_h))
    return canvas


def center_crop_region(shape: tuple[int, ...], size: tuple[int, int]) -> tuple[int, int, int, int]:
    """(x, y, w, h) of the largest centred region of a frame of `shape` with the aspect ratio of (height, width)
    `size`."""
    height, width = shape[:2]
    target_h, target_w = size
    scale = max(target_w / width, target_h / height)
    crop_w, crop_h = min(width, round(target_w / scale)), min(height, round(target_h / scale))
    return (width - crop_w) // 2, (height - crop_h) // 2, crop_w, crop_h


def resize_image(image: np.ndarray, size_wh: tuple[int, int]) -> np.ndarray:
    """Area averaging when shrinking (no aliasing), linear when enlarging.

    OpenCV's area resize is fast for exact halvings (~0.1 ms for a 720x720 crop) and slow for
    fractional factors (~2.5 ms for that crop). So a large shrink takes 2x2 box averages while at
    least 4x the target is left, resizes linearly to twice the target and halves once more: ~0.3 ms
    for a 720p frame, within ~1.5 grey levels (mean) of the exact area resize. Small shrinks
    (< 1.5x) use the exact area resize, which is cheap at those sizes.
    """
    target_w, target_h = size_wh
    while image.shape[1] >= 4 * target_w and image.shape[0] >= 4 * target_h:
        image = _halve(image)
    height, width = image.shape[:2]
    if (width, height) == (target_w, target_h):
        return image
    if width <= target_w and height <= target_h:
        return cv2.resize(image, size_wh, interpolation=cv2.INTER_LINEAR)
    if width < 1.5 * target_w and height < 1.5 * target_h:
        return cv2.resize(image, size_wh, interpolation=cv2.INTER_AREA)
    return _halve(cv2.resize(image, (2 * target_w, 2 * target_h), interpolation=cv2.INTER_LINEAR))


def _halve(image: np.ndarray) -> np.ndarray:
    """2x2 box average (an odd last row or column is dropped)."""
    height, width = image.shape[0] & ~1, image.shape[1] & ~1
    return cv2.resize(image[:height, :width], (width // 2, height // 2), interpolation=cv2.INTER_AREA)


def as_three_channels(frame: np.ndarray, color: str) -> np.ndarray:
    """A uint8 HxWx3 view of a grey, 3- or 4-channel frame; BirdcamError for anything that is not an image."""
    if color not in ("bgr", "rgb"):
        raise BirdcamError(f"unknown colour order {color!r}; use 'bgr' or 'rgb'.")
    if not isinstance(frame, np.ndarray) or frame.size == 0:
        raise BirdcamError("the frame is empty; give an image with pixels in it.")
    if frame.dtype != np.uint8:
        raise BirdcamError(f"frames must be uint8 pixels, not {frame.dtype}.")
    if frame.ndim == 2 or (frame.ndim == 3 and frame.shape[2] == 1):
        return cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
    if frame.ndim == 3 and frame.shape[2] == 4:
        return frame[:, :, :3]
    if frame.ndim == 3 and frame.shape[2] == 3:
        return frame
    raise BirdcamError(f"a frame of shape {frame.shape} is not an image; give HxW, HxWx3 or HxWx4 pixels.")


def clip_roi(shape: tuple[int, ...], roi: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    """(x, y, w, h) of a region of interest clipped to a frame of `shape`; BirdcamError when none of it is inside."""
    x, y, w, h = (int(v) for v in roi)
    x0, y0 = max(0, x), max(0, y)
    x1, y1 = min(shape[1], x + w), min(shape[0], y + h)
    if x1 <= x0 or y1 <= y0:
        raise BirdcamError(f"the region of interest {x},{y} {w}x{h} lies outside the {shape[1]}x{shape[0]} frame.")
    return x0, y0, x1 - x0, y1 - y0


def crop_roi(image: np.ndarray, roi: tuple[int, int, int, int]) -> np.ndarray:
    """The part of an image inside a region of interest (clipped to the image)."""
    x, y, w, h = clip_roi(image.shape, roi)
    return image[y : y + h, x : x + w]


def _category(index: int, label: Label, score: float) -> Category:
    return Category(index, label.text, label.common_name, label.scientific_name, score)


def quantization(details: dict) -> tuple[float, int]:
    """(scale, zero point) of a tensor; scale 0.0 when it is not quantized."""
    scale, zero = details.get("quantization", (0.0, 0))
    return float(scale), int(zero)


def check_tflite_file(model_path: Path) -> None:
    """Raises ModelError unless the path is a readable file that starts like a TFLite flatbuffer."""
    if not model_path.exists():
        raise ModelError(f"model file not found: {model_path}. Check the path, or run `birdcam models`.")
    if not model_path.is_file():
        raise ModelError(f"{model_path} is a folder, not a .tflite model file.")
    try:
        with model_path.open("rb") as handle:
            head = handle.read(8)
    except OSError as error:
        raise ModelError(f"cannot read model file {model_path}: {error.strerror}.") from None
    if len(head) < 8 or head[4:8] != _TFLITE_IDENTIFIER:
        raise ModelError(f"{model_path} is not a TFLite model (no TFL3 header); give a .tflite file.")


def load_interpreter(model_path: Path, num_threads: int):
    """A LiteRT interpreter with its tensors allocated; ModelError, one line, for a file LiteRT cannot load."""
    from ai_edge_litert.interpreter import Interpreter

    check_tflite_file(model_path)
    with stderr_silenced():  # LiteRT's "INFO: Created TensorFlow Lite XNNPACK delegate" line
        try:
            interpreter = Interpreter(model_path=str(model_path), num_threads=max(1, int(num_threads)))
        except ValueError as error:
            raise ModelError(
                f"{model_path} is not a valid TFLite model (truncated or corrupt?): {first_line(error)}."
            ) from None
        try:
            interpreter.allocate_tensors()
        except RuntimeError as error:
            raise ModelError(
                f"LiteRT cannot run {model_path.name}: {first_line(error)}. Choose another model."
            ) from None
    return interpreter


def _image_io(interpreter, model_path: Path) -> tuple[dict, dict]:
    """The image input and the class-score output; resizes a dynamic batch to 1."""
    inputs, outputs = interpreter.get_input_details(), interpreter.get_output_details()
    if len(inputs) != 1:
        raise ModelError(f"{model_path.name} has {len(inputs)} inputs; an image classifier has one.")
    details = inputs[0]
    shape = [int(n) for n in details["shape"]]
    if len(shape) != 4 or shape[3] != 3 or min(shape[1:3]) < 1:
        raise ModelError(
            f"{model_path.name} takes {np.dtype(details['dtype']).name} {shape}, not an image; "
            "birdcam needs a classifier with an NHWC input of 3 colour channels."
        )
    if shape[0] != 1:
        interpreter.resize_tensor_input(details["index"], [1, *shape[1:]])
        interpreter.allocate_tensors()
        details = interpreter.get_input_details()[0]
        outputs = interpreter.get_output_details()
    scores = [o for o in outputs if len(o["shape"]) in (1, 2) and int(o["shape"][-1]) >= 1]
    if not scores:
        raise ModelError(f"{model_path.name} has no [1, N] class-score output; it is not a classifier.")
    return details, scores[0]


def _find_labels(model_path: Path, explicit: Path | None) -> tuple[Labels, str]:
    """Explicit file > `<model>.labels.txt` / `labels.txt` beside it > embedded zip > "class N"."""
    if explicit is not None:
        return read_labels(Path(explicit)), str(explicit)
    sidecar = sidecar_labels_path(model_path)
    if sidecar is not None:
        return read_labels(sidecar), str(sidecar)
    found = embedded_labels(model_path)
    if found is not None:
        labels, member = found
        return labels, f"{member} embedded in {model_path.name}"
    return (), "none"


__all__ = [
    "Category",
    "Classifier",
    "ClassifierOptions",
    "Result",
    "SpeciesFilterReport",
    "Timings",
    "fit_to_size",
    "center_crop_region",
    "check_tflite_file",
    "DEFAULT_THRESHOLD",
]
