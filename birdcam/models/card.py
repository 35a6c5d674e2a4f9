"""The model card: `<model>.json` beside `<model>.tflite`, written by the trainer and read by the engine.

The engine takes how to feed the model from it (input size, normalization, resize, output kind) and
its calibrated no-bird threshold; the trainer adds what it knows of the model (classes, backbone,
quantization, metrics). Keys this version does not know are kept in `extra` and written back, so a
card from another version loads and survives a rewrite.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from birdcam.errors import ModelError
from birdcam.models.image import RESIZE_MODES
from birdcam.util.fileio import write_text_atomically

OUTPUT_KINDS = ("probabilities", "logits")
"""What a classifier's output holds; a card may say it, else the engine tells from the output."""


@dataclass(frozen=True)
class Normalization:
    """Per-channel (R, G, B) mean and std applied to 0-255 pixels: input = (pixel - mean) / std."""

    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    """Subtracted from each channel."""
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)
    """Divides each channel; never 0."""


@dataclass(frozen=True)
class ModelCard:
    """What `<model>.json` says about a model. Every field may be missing from a card (None / empty)."""

    name: str | None = None
    """The model's name (the run folder's name for trained models); None: the file name is used."""
    backbone: str | None = None
    """The network the trainer fine-tuned ("vit_l32", "inception_v3")."""
    classes: tuple[str, ...] = ()
    """The class folders the model was trained on, in output order."""
    scientific_names: tuple[str, ...] = ()
    """The scientific name of each class ("" when unknown), in output order."""
    input_size: tuple[int, int] | None = None
    """(height, width) the model takes."""
    normalization: Normalization | None = None
    """How pixels become input values; None: the engine's default for the input type."""
    resize: str | None = None
    """How frames are fitted to the input (one of RESIZE_MODES): how training fitted its photos."""
    output: str | None = None
    """"probabilities" or "logits"; None: the engine tells from the values."""
    quantization: str | None = None
    """The trainer's --quantize: "none", "dynamic", "float16" or "int8"."""
    size_bytes: int | None = None
    """Size of the .tflite file."""
    conversion_s: float | None = None
    """Seconds the TFLite conversion took."""
    metrics: Mapping[str, Any] = field(default_factory=dict)
    """Training figures: test_accuracy, test_top5_accuracy, test_loss, best_val_accuracy, best_epoch, ..."""
    threshold: float | None = None
    """The calibrated no-bird threshold in [0, 1]; None: the engine's default."""
    keras_agreement: float | None = None
    """Share of validation photos on which the TFLite model and Keras agree on the top class."""
    replicas: int | None = None
    """Devices the model was trained on at once."""
    run: str | None = None
    """The run folder an installed model came from."""
    extra: Mapping[str, Any] = field(default_factory=dict)
    """Keys this version does not know, kept as read and written back."""

    # -- files -----------------------------------------------------------------------------------

    @staticmethod
    def path_for(model_path: Path) -> Path:
        """Where a model's card lives: `<model>.json`."""
        return Path(model_path).with_suffix(".json")

    @classmethod
    def of_model(cls, model_path: Path) -> ModelCard | None:
        """The card beside a model, or None when it has none; ModelError for one that cannot be read."""
        path = cls.path_for(model_path)
        return cls.read(path) if path.is_file() else None

    @classmethod
    def read(cls, path: Path) -> ModelCard:
        """Reads a card file; ModelError, one line, for one that is not a JSON object of valid fields."""
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise ModelError(f"the model card {path} is not valid JSON ({error}); fix or delete it.") from None
        if not isinstance(data, dict):
            raise ModelError(f"the model card {path} must hold a JSON object; fix or delete it.")
        return cls.from_dict(data, source=f"the model card {path}")

    def write(self, path: Path) -> None:
        """Writes the card atomically (a reader never sees half a card)."""
        write_text_atomically(Path(path), self.to_json())

    # -- JSON ------------------------------------------------------------------------------------

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str = "the model card") -> ModelCard:
        """A card from its JSON object; ModelError naming the field for a value of the wrong kind."""
        known = {f.name for f in fields(cls)} - {"extra"}
        values: dict[str, Any] = {}
        for key, value in data.items():
            if key not in known:
                continue
            if value is None:
                continue
            try:
                values[key] = _PARSERS[key](value)
            except (TypeError, ValueError) as error:
                raise ModelError(f"{source}: {key!r} is {json.dumps(value)[:60]}, {error}; fix or delete it.") from None
        extra = {key: value for key, value in data.items() if key not in known}
        return cls(**values, extra=extra)

    def to_dict(self) -> dict[str, Any]:
        """The JSON object: the fields that are set, in declaration order, then the unknown keys as read."""
        data: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "extra" or value is None or value == () or value == {}:
                continue
            if isinstance(value, Normalization):
                value = {"mean": list(value.mean), "std": list(value.std)}
            elif isinstance(value, tuple):
                value = list(value)
            elif isinstance(value, Mapping):
                value = dict(value)
            data[f.name] = value
        for key, value in self.extra.items():
            data.setdefault(key, value)
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n"


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError("not a string")
    return value


def _texts(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise TypeError("not a list of strings")
    return tuple(value)


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise TypeError("not a number")
    return float(value)


def _whole(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError("not a whole number")
    return value


def _fraction(value: Any) -> float:
    number = _number(value)
    if not 0.0 <= number <= 1.0:
        raise ValueError("not between 0 and 1")
    return number


def _one_of(choices: tuple[str, ...]):
    def parse(value: Any) -> str:
        if value not in choices:
            raise ValueError(f"not one of {', '.join(choices)}")
        return value

    return parse


def _input_size(value: Any) -> tuple[int, int]:
    if not isinstance(value, list) or len(value) != 2 or not all(_whole(n) > 0 for n in value):
        raise ValueError("not [height, width] in pixels")
    return int(value[0]), int(value[1])


def _channels(value: Any) -> tuple[float, float, float]:
    """A number, or a list of 1 or 3 numbers (R, G, B)."""
    numbers = [_number(v) for v in value] if isinstance(value, list) else [_number(value)]
    if len(numbers) == 1:
        numbers *= 3
    if len(numbers) != 3:
        raise ValueError("not one number or three (R, G, B)")
    return numbers[0], numbers[1], numbers[2]


def _normalization(value: Any) -> Normalization:
    if not isinstance(value, dict):
        raise TypeError('not {"mean": [r, g, b], "std": [r, g, b]}')
    normalization = Normalization(_channels(value.get("mean", 0.0)), _channels(value.get("std", 1.0)))
    if 0.0 in normalization.std:
        raise ValueError("its std is 0")
    return normalization


def _mapping(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise TypeError("not a JSON object")
    return value


_PARSERS = {
    "name": _text,
    "backbone": _text,
    "classes": _texts,
    "scientific_names": _texts,
    "input_size": _input_size,
    "normalization": _normalization,
    "resize": _one_of(RESIZE_MODES),
    "output": _one_of(OUTPUT_KINDS),
    "quantization": _text,
    "size_bytes": _whole,
    "conversion_s": _number,
    "metrics": _mapping,
    "threshold": _fraction,
    "keras_agreement": _fraction,
    "replicas": _whole,
    "run": _text,
}

__all__ = ["ModelCard", "Normalization", "OUTPUT_KINDS"]
