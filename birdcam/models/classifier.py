"""The inference engine: any TFLite image classifier on LiteRT, from OpenCV frames to named species.

Qt-free and TensorFlow-free, so the app, the CLI and the trainer's checks all share it.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from birdcam.errors import LabelError, ModelError, OptionsError
from birdcam.models.boxes import PixelBox
from birdcam.models.card import ModelCard
from birdcam.models.image import RESIZE_MODES, as_three_channels, crop_roi, fit_to_size, fitted_region
from birdcam.models.labels import Label, find_labels
from birdcam.models.litert import LiteRTModel, Timings, default_threads, dequantized, quantization
from birdcam.models.scores import top_k
from birdcam.models.species import SpeciesFilterReport, species_mask
from birdcam.util import checks

DEFAULT_THRESHOLD = 0.3
"""The top score a bird needs when neither the user nor the model card gives one."""
DEFAULT_TOP_K = 3
"""How many categories a result names (the best and two runners-up) unless asked for another number."""
# Float models with no card: the common MobileNet/EfficientNet convention, pixels scaled to [-1, 1].
DEFAULT_FLOAT_NORMALIZATION = (127.5, 127.5)


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

    def __post_init__(self) -> None:
        checks.at_least(self, "num_threads", 1)
        checks.at_least(self, "top_k", 1)
        if self.threshold is not None:
            checks.between(self, "threshold", 0, 1)
        if self.resize is not None and self.resize not in RESIZE_MODES:
            raise OptionsError(
                f"ClassifierOptions.resize must be one of {', '.join(RESIZE_MODES)}, not {self.resize!r}"
            )
        if self.normalization is not None and (len(self.normalization) != 2 or self.normalization[1] == 0):
            raise OptionsError(
                f"ClassifierOptions.normalization must be (mean, std) with std not 0, not {self.normalization!r}"
            )


@dataclass(frozen=True)
class Category:
    """One class and its score."""

    index: int
    """Output index in the model."""
    label: Label
    """The class's label (its text as in the label file, common and scientific name)."""
    score: float
    """Probability in [0, 1]."""

    @property
    def common_name(self) -> str:
        """English name, "" when unknown."""
        return self.label.common_name

    @property
    def scientific_name(self) -> str:
        """Latin name, "" when unknown."""
        return self.label.scientific_name


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


class Classifier(LiteRTModel):
    """A TFLite image classifier running on LiteRT. Not thread-safe: use one per thread."""

    options_class = ClassifierOptions
    role = "model"

    def __init__(self, options: ClassifierOptions):
        self.options = options
        self.card: ModelCard | None = ModelCard.of_model(Path(options.model_path))
        """The model card (`<model>.json` beside the model), or None when it has none."""
        card = self.card or ModelCard()
        self.resize = options.resize or card.resize or "crop"
        super().__init__(options.model_path, options.num_threads)
        self._input = self._batch_of_one(self._image_input())
        self._output = self._score_output()
        self.input_size: tuple[int, int] = (int(self._input["shape"][1]), int(self._input["shape"][2]))
        outputs = int(self._output["shape"][-1])
        self.labels, self.labels_source = find_labels(self.model_path, options.labels_path, outputs)
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

    @property
    def name(self) -> str:
        return (self.card and self.card.name) or self.model_path.stem

    @property
    def num_classes(self) -> int:
        return len(self.labels)

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

    def preprocess(self, frame: np.ndarray, *, color: str = "bgr", roi: PixelBox | None = None) -> np.ndarray:
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

    def fitted_region(self, shape: tuple[int, ...]) -> PixelBox:
        """(x, y, w, h) of the part of a frame of this shape that the model sees (all of it unless resize is "crop")."""
        return fitted_region(shape, self.input_size, self.resize)

    def invoke(self, tensor: np.ndarray) -> np.ndarray:
        """Runs the model on a prepared input tensor; returns the raw output row."""
        return self._invoke(tensor, [self._output])[0].reshape(-1)

    def classify(self, frame: np.ndarray, *, color: str = "bgr", roi: PixelBox | None = None) -> Result:
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
        values = dequantized(raw, self._output)
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
        best = top_k(probabilities, self.options.top_k, None if self._mask is None else self._mask.ranked)
        return tuple(Category(int(i), self.labels[i], float(probabilities[i])) for i in best)

    def _normalization(self) -> tuple[np.ndarray, np.ndarray]:
        mean: float | tuple[float, ...]
        std: float | tuple[float, ...]
        if self.options.normalization is not None:
            mean, std = self.options.normalization
        elif self.card is not None and self.card.normalization is not None:
            mean, std = self.card.normalization.mean, self.card.normalization.std
        else:
            mean, std = DEFAULT_FLOAT_NORMALIZATION
        return np.broadcast_to(np.asarray(mean, np.float32), (3,)), np.broadcast_to(np.asarray(std, np.float32), (3,))

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

    def _image_input(self) -> dict:
        """The input's details; ModelError unless it is one NHWC image of 3 colour channels."""
        details = self._one_input("an image classifier has one")
        shape = [int(n) for n in details["shape"]]
        if len(shape) != 4 or shape[3] != 3 or min(shape[1:3]) < 1:
            raise ModelError(
                f"{self.model_path.name} takes {np.dtype(details['dtype']).name} {shape}, not an image; "
                "birdcam needs a classifier with an NHWC input of 3 colour channels."
            )
        return details

    def _score_output(self) -> dict:
        """The class-score output; ModelError for a model without one."""
        outputs = self._interpreter.get_output_details()
        scores = [o for o in outputs if len(o["shape"]) in (1, 2) and int(o["shape"][-1]) >= 1]
        if not scores:
            raise ModelError(f"{self.model_path.name} has no [1, N] class-score output; it is not a classifier.")
        return scores[0]

    def __repr__(self) -> str:
        return f"Classifier({self.model_path.name}, {self.describe_input()}, {self.num_classes} classes)"


__all__ = ["DEFAULT_THRESHOLD", "DEFAULT_TOP_K", "Category", "Classifier", "ClassifierOptions", "Result", "Timings"]
