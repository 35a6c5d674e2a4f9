"""What every birdcam model shares on LiteRT: loading a .tflite file, its one image input, running it, closing.

Classifier and Detector derive from LiteRTModel; each adds what its outputs mean. Qt-free and
TensorFlow-free: the LiteRT runtime (`ai-edge-litert`) is imported only when a model is loaded.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import numpy as np

from birdcam.errors import ModelError, first_line
from birdcam.util.native import stderr_silenced

_TFLITE_IDENTIFIER = b"TFL3"
_Model = TypeVar("_Model", bound="LiteRTModel")


def default_threads() -> int:
    """Half a small machine's cores is plenty for one camera; more threads rarely help LiteRT on CPU."""
    return max(1, min(4, os.cpu_count() or 1))


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


class LiteRTModel:
    """A .tflite model with one image input on a LiteRT interpreter. Not thread-safe: use one per thread.

    A subclass names its options class (a frozen dataclass with `model_path` and `num_threads`) and
    what it is called in messages, checks its input and outputs, and runs the model with `_invoke`.
    """

    options_class: ClassVar[type]
    """The options dataclass `from_path` builds."""
    role: ClassVar[str]
    """What the model is called in messages: "classifier", "detector"."""

    def __init__(self, model_path: Path, num_threads: int):
        self.model_path = Path(model_path)
        self._interpreter: Any = load_interpreter(self.model_path, num_threads)
        self._input: dict = {}
        """The image input's tensor details, set by the subclass (`_one_input`, then `_batch_of_one`)."""

    @classmethod
    def from_path(cls: type[_Model], model_path: str | os.PathLike, **options: Any) -> _Model:
        """`Classifier.from_path("m.tflite", top_k=5)`: options are the fields of the model's options class."""
        return cls(cls.options_class(model_path=Path(model_path), **options))  # type: ignore[call-arg]

    def __enter__(self: _Model) -> _Model:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Frees the interpreter; the model cannot run afterwards."""
        self._interpreter = None

    @property
    def input_dtype(self) -> np.dtype:
        return np.dtype(self._input["dtype"])

    def describe_input(self) -> str:
        """E.g. "uint8 [1, 224, 224, 3]"."""
        return f"{self.input_dtype.name} {[int(n) for n in self._input['shape']]}"

    def _one_input(self, what_it_takes: str) -> dict:
        """The details of the model's one input; `what_it_takes` ends the message for a model with another number
        of inputs ("an image classifier has one")."""
        inputs = self._interpreter.get_input_details()
        if len(inputs) != 1:
            raise ModelError(f"{self.model_path.name} has {len(inputs)} inputs; {what_it_takes}.")
        return inputs[0]

    def _batch_of_one(self, details: dict) -> dict:
        """The input's details once its batch is 1: a dynamic or larger batch is resized (it would cost memory
        and time for nothing)."""
        shape = [int(n) for n in details["shape"]]
        if shape[0] == 1:
            return details
        self._interpreter.resize_tensor_input(details["index"], [1, *shape[1:]])
        self._interpreter.allocate_tensors()
        return self._interpreter.get_input_details()[0]

    def _invoke(self, tensor: np.ndarray, outputs: list[dict]) -> list[np.ndarray]:
        """Runs the model on an input tensor; returns the raw values of the given outputs."""
        interpreter = self._interpreter
        if interpreter is None:
            raise ModelError(f"the {self.role} is closed.")
        try:
            interpreter.set_tensor(self._input["index"], tensor)
            interpreter.invoke()
            return [interpreter.get_tensor(details["index"]) for details in outputs]
        except (RuntimeError, ValueError) as error:
            raise ModelError(
                f"{self.role} {self.model_path.name} failed to run: {first_line(error)}. Choose another {self.role}."
            ) from None


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


def load_interpreter(model_path: Path, num_threads: int) -> Any:
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


def quantization(details: dict) -> tuple[float, int]:
    """(scale, zero point) of a tensor; scale 0.0 when it is not quantized."""
    scale, zero = details.get("quantization", (0.0, 0))
    return float(scale), int(zero)


def dequantized(values: np.ndarray, details: dict) -> np.ndarray:
    """A tensor's values as float32, dequantized with its scale and zero point when it is quantized."""
    scale, zero = quantization(details)
    if scale:
        return (values.astype(np.float32) - zero) * scale
    return values.astype(np.float32, copy=False)


__all__ = [
    "LiteRTModel",
    "Timings",
    "check_tflite_file",
    "default_threads",
    "dequantized",
    "load_interpreter",
    "quantization",
]
