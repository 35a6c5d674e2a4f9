"""Keras model -> TFLite with labels embedded, a model card, the Keras agreement check, and models/.

Path: Keras 3 `model.export()` (a SavedModel) -> `TFLiteConverter.from_saved_model`;
`from_keras_model` does not convert vit-keras models.
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import zipfile
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from birdcam import paths
from birdcam.fileio import atomic_path, write_text_atomically
from birdcam.errors import ModelError, first_line

MIN_AGREEMENT = 0.99
THRESHOLD_PASS_RATE = 0.95
REPRESENTATIVE_IMAGES = 100


def saved_model(model, folder: Path) -> Path:
    """Writes the inference SavedModel of a Keras model (what the converter reads)."""
    model.export(str(folder), format="tf_saved_model", verbose=False)
    return folder


def convert(saved_model_dir: Path, quantization: str, representative: np.ndarray | None = None) -> bytes:
    """TFLite flatbuffer: "none" float32, "dynamic" int8 weights, "float16" weights, "int8" full integer (uint8 in/out)."""
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_saved_model(str(saved_model_dir))
    if quantization != "none":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if quantization == "float16":
        converter.target_spec.supported_types = [tf.float16]
    elif quantization == "int8":
        if representative is None or not len(representative):
            raise ModelError("int8 quantization needs representative training images; the training split is empty.")

        def samples():
            for image in representative:
                yield [image[np.newaxis].astype(np.float32)]

        converter.representative_dataset = samples
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.uint8
        converter.inference_output_type = tf.uint8
    elif quantization not in ("none", "dynamic"):
        raise ModelError(f"unknown quantization {quantization!r}; use dynamic, float16, int8 or none.")
    try:
        return converter.convert()
    except Exception as error:  # the converter raises ConverterError / RuntimeError with pages of MLIR
        raise ModelError(f"TFLite conversion ({quantization}) failed: {first_line(error)}. Try --quantize dynamic.") from None


def with_embedded_labels(flatbuffer: bytes, label_lines: Sequence[str]) -> bytes:
    """Appends a zip holding labels.txt, as TF Hub models carry their associated files."""
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as bundle:
        bundle.writestr("labels.txt", "\n".join(label_lines) + "\n")
    return flatbuffer + archive.getvalue()


def engine_probabilities(model_path: Path, images: Iterable[np.ndarray]) -> np.ndarray:
    """Probabilities the app's engine gives for uint8 RGB images already at the model's size."""
    from birdcam.engine import Classifier

    with Classifier.from_path(model_path, resize="stretch", top_k=1) as classifier:
        return np.stack([classifier.classify(image, color="rgb").probabilities for image in images])


def agreement(keras_probabilities: np.ndarray, tflite_probabilities: np.ndarray) -> float:
    """Fraction of images on which both name the same top-1 class."""
    if not len(keras_probabilities):
        return 0.0
    return float((np.argmax(keras_probabilities, 1) == np.argmax(tflite_probabilities, 1)).mean())


def calibrated_threshold(probabilities: np.ndarray, targets: Sequence[int], pass_rate: float = THRESHOLD_PASS_RATE) -> float | None:
    """The top-1 score that `pass_rate` of correctly named validation birds reach; None if none is correct."""
    targets = np.asarray(targets)
    predicted = np.argmax(probabilities, 1)
    scores = np.max(probabilities, 1)[predicted == targets]
    if not len(scores):
        return None
    return float(np.quantile(scores, 1.0 - pass_rate, method="lower"))


def write_card(path: Path, card: dict) -> None:
    write_text_atomically(path, json.dumps(card, indent=2, ensure_ascii=False) + "\n")


def install(run_dir: Path, name: str, folder: Path | None = None) -> Path:
    """Copies model.tflite / model.json / labels.txt to models/<name>.*; the .tflite is renamed into place last."""
    folder = folder or paths.models_dir()
    with contextlib.ExitStack() as staged:  # leaves in reverse order: the .tflite is renamed last
        for source, target in (
            (run_dir / "model.tflite", folder / f"{name}.tflite"),
            (run_dir / "model.json", folder / f"{name}.json"),
            (run_dir / "labels.txt", folder / f"{name}.labels.txt"),
        ):
            shutil.copyfile(source, staged.enter_context(atomic_path(target)))
    return folder / f"{name}.tflite"
