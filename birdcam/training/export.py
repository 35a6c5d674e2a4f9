"""Keras model -> TFLite with labels embedded, a model card, the Keras agreement check, and models/.

Path: Keras 3 `model.export()` (a SavedModel) -> `TFLiteConverter.from_saved_model`;
`from_keras_model` does not convert vit-keras models.
"""

from __future__ import annotations

import contextlib
import io
import shutil
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from birdcam import paths
from birdcam.errors import ModelError, first_line
from birdcam.models.card import ModelCard
from birdcam.util.fileio import atomic_path, check_free_space, write_error

MIN_AGREEMENT = 0.99
NEAR_TIE = 0.01
"""Keras top-1 and top-2 closer than this are a near-tie: a TFLite model naming either one agrees with Keras."""
THRESHOLD_PASS_RATE = 0.95
REPRESENTATIVE_IMAGES = 100


def saved_model(model, folder: Path) -> Path:
    """Writes the inference SavedModel of a Keras model (what the converter reads)."""
    model.export(str(folder), format="tf_saved_model", verbose=False)
    return folder


def convert(saved_model_dir: Path, quantization: str, representative: np.ndarray | None = None) -> bytes:
    """TFLite flatbuffer: "none" float32, "dynamic" int8 weights, "float16" weights, "int8" full integer (uint8
    in/out)."""
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
        raise ModelError(
            f"TFLite conversion ({quantization}) failed: {first_line(error)}. {fallback_advice(quantization)}."
        ) from None


def fallback_advice(quantization: str) -> str:
    """What to try when the `quantization` export fails or disagrees with Keras: a quantization that changes less."""
    less_quantized = {"int8": "dynamic (int8 weights only) or none", "dynamic": "float16 or none", "float16": "none"}
    if quantization in less_quantized:
        return f"Try --quantize {less_quantized[quantization]}"
    return (
        "Nothing was quantized, so TFLite itself computes differently; "
        "check report.md and copy model.tflite into models/ yourself if it is good enough"
    )


def with_embedded_labels(flatbuffer: bytes, label_lines: Sequence[str]) -> bytes:
    """Appends a zip holding labels.txt, as TF Hub models carry their associated files."""
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as bundle:
        bundle.writestr("labels.txt", "\n".join(label_lines) + "\n")
    return flatbuffer + archive.getvalue()


def engine_probabilities(model_path: Path, images: Iterable[np.ndarray]) -> np.ndarray:
    """Probabilities the app's engine gives for uint8 RGB images already at the model's size."""
    from birdcam.models.classifier import Classifier

    with Classifier.from_path(model_path, resize="stretch", top_k=1) as classifier:
        return np.stack([classifier.classify(image, color="rgb").probabilities for image in images])


def agreement(keras_probabilities: np.ndarray, tflite_probabilities: np.ndarray, near_tie: float = NEAR_TIE) -> float:
    """Fraction of images on which TFLite names Keras's top-1 class, or a class Keras scored within `near_tie` of it.

    Between two classes Keras scores 0.501 and 0.499 it has no real preference, and the few thousandths
    quantization moves (an int8 output has steps of 1/256) decide the order: naming either is agreeing.
    Any class further behind counts as a disagreement.
    """
    if not len(keras_probabilities):
        return 0.0
    keras_probabilities = np.asarray(keras_probabilities, np.float64)
    named = np.argmax(tflite_probabilities, 1)
    best = keras_probabilities.max(axis=1)
    keras_score_of_named = keras_probabilities[np.arange(len(named)), named]
    return float((keras_score_of_named >= best - near_tie).mean())


def calibrated_threshold(
    probabilities: np.ndarray, targets: Sequence[int], pass_rate: float = THRESHOLD_PASS_RATE
) -> float | None:
    """The top-1 score that `pass_rate` of correctly named validation birds reach; None if none is correct."""
    targets = np.asarray(targets)
    predicted = np.argmax(probabilities, 1)
    scores = np.max(probabilities, 1)[predicted == targets]
    if not len(scores):
        return None
    return float(np.quantile(scores, 1.0 - pass_rate, method="lower"))


_INSTALLED_SUFFIXES = (".tflite", ".json", ".labels.txt")


def install(run_dir: Path, name: str, folder: Path | None = None) -> Path:
    """Copies model.tflite / model.json / labels.txt to models/<name>.*; the .tflite is renamed into place last.

    A model installed from another run folder is never replaced: this run gets `name-2`, `name-3`, ...;
    this run's own earlier install is. The installed card gets `run`, the run folder it came from.
    A full disk or a write error is an OutputError that leaves models/ as it was.
    """
    folder = folder or paths.models_dir()
    name = install_name(run_dir, name, folder)
    card_text = replace(ModelCard.read(run_dir / "model.json"), run=str(Path(run_dir).resolve())).to_json()
    then = f"run `birdcam train --resume {run_dir}` to install the model (the installed models are unchanged)"
    needed = (
        (run_dir / "model.tflite").stat().st_size
        + (run_dir / "labels.txt").stat().st_size
        + len(card_text.encode("utf-8"))
    )
    check_free_space(folder, needed, then)
    try:
        with contextlib.ExitStack() as staged:  # leaves in reverse order: the .tflite is renamed last
            shutil.copyfile(run_dir / "model.tflite", staged.enter_context(atomic_path(folder / f"{name}.tflite")))
            staged.enter_context(atomic_path(folder / f"{name}.json")).write_text(card_text, encoding="utf-8")
            shutil.copyfile(run_dir / "labels.txt", staged.enter_context(atomic_path(folder / f"{name}.labels.txt")))
    except OSError as error:
        raise write_error(error, then, folder / f"{name}.tflite") from None
    return folder / f"{name}.tflite"


def install_name(run_dir: Path, name: str, folder: Path) -> str:
    """The name under which a run's model goes into `folder`: the one it was installed under before, else the
    first of `name`, `name-2`, `name-3`, ... that no other model uses."""
    run_id = str(Path(run_dir).resolve())
    for card in sorted(folder.glob("*.json")):
        if card.with_suffix(".tflite").is_file() and _card_run(card) == run_id:
            return card.stem
    candidate, number = name, 1
    while any((folder / f"{candidate}{suffix}").exists() for suffix in _INSTALLED_SUFFIXES):
        number += 1
        candidate = f"{name}-{number}"
    return candidate


def _card_run(card: Path) -> str | None:
    """The run folder a model card says its model came from (None for cards without one, or unreadable ones)."""
    try:
        return ModelCard.read(card).run
    except ModelError:
        return None
