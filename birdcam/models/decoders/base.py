"""The protocol a detector family implements: how its models take a picture and what their outputs mean."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Protocol

import numpy as np


@dataclass(frozen=True)
class InputConvention:
    """How a family's models take a region of a frame."""

    letterbox: bool
    """True: scaled to fit, in the top-left corner, on `pad_value` grey; False: stretched to the input."""
    bgr: bool
    """The model takes BGR (OpenCV's order); False: RGB."""
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    """Per channel (in the model's order), subtracted from 0-255 pixels for a float input."""
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)
    """Per channel, dividing after the mean for a float input. uint8 inputs take the pixels as they are."""
    pad_value: int = 0
    """The grey a letterbox pads with."""


@dataclass(frozen=True)
class ModelOutputs:
    """What a family looks at to tell whether a loaded model is one of its own."""

    path: Path
    """The .tflite file (for messages)."""
    input_size: tuple[int, int]
    """(height, width) of the model's input."""
    outputs: tuple[dict, ...]
    """LiteRT's output details, in the order `decode` gets the outputs' values."""
    interpreter: Any
    """The LiteRT interpreter, for what the details do not say (signature names)."""


@dataclass(frozen=True)
class Fit:
    """How a region of the frame was fitted to the model's input."""

    region_size: tuple[int, int]
    """(width, height) of the region, in frame pixels."""
    scale: tuple[float, float]
    """(x, y) factors from region pixels to model-input pixels."""


Decoded = tuple[np.ndarray, np.ndarray, np.ndarray]
"""float32 [N, 4] boxes (x0, y0, x1, y1) in region pixels, float32 [N] scores, int64 [N] class indices."""


class DetectorDecoder(Protocol):
    """One family of detectors (YOLOX, SSD-style, ...). `Detector` asks each family in DECODERS in turn
    (`match`) and runs the model with the first that knows it: it fits each region as `convention` says,
    runs the model and hands every output, dequantized to float32, to `decode`; clipping, NMS and
    splitting birds from other classes are the Detector's."""

    kind: ClassVar[str]
    """Short name: "yolox", "ssd" (`Detector.kind`, `birdcam models`)."""
    reads: ClassVar[str]
    """What its models' outputs look like, for the message about a model no family reads."""
    convention: InputConvention
    """How the model takes a picture."""
    num_classes: int | None
    """Classes the outputs tell apart; None when they hold class ids as values (the label file says)."""

    @classmethod
    def match(cls, model: ModelOutputs) -> DetectorDecoder | None:
        """A decoder for this model when it is of this family, else None; ModelError for one of this family
        whose outputs do not agree."""
        ...

    def decode(self, outputs: Sequence[np.ndarray], fit: Fit, score_threshold: float) -> Decoded:
        """The detections scoring at least `score_threshold`, in region pixels."""
        ...


def with_positions(outputs: Sequence[dict]) -> list[dict]:
    """Output details with "position": where each is in the outputs, the order `decode` gets their values in."""
    return [{**details, "position": i} for i, details in enumerate(outputs)]


def shape_of(details: dict) -> list[int]:
    return [int(n) for n in details["shape"]]
