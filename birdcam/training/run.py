"""One training run, start to finish: dataset -> model -> fit -> evaluate -> export -> models/.

Everything a run needs to continue after being killed lives in its folder:
run.json (options), dataset.json (the exact split), checkpoints/ (best and last weights, optimizer
state, state.json with the finished epochs and early-stopping counters), log.csv, tensorboard/.
Checkpoints are .npz files written by NumPy, not Keras's HDF5: HDF5 crashes the whole process when
the disk fills up mid-write, NumPy raises an OSError that becomes one line.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import tempfile
import time
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from birdcam.errors import BirdcamError, ModelError, OutputError, first_line
from birdcam.models.card import ModelCard, Normalization
from birdcam.training import export, report
from birdcam.training.dataset import ImageFolderDataset, Split, decoded_images, image_pipeline, resized_images
from birdcam.training.installing import trained_model_decision
from birdcam.training.model import build_model, local_weights
from birdcam.training.options import TrainOptions, check_new_run
from birdcam.util.fileio import atomic_path, check_free_space, write_atomically, write_text_atomically
from birdcam.util.progress import Progress

MEMORY_CACHE_BYTES = 2 * 1024**3


@dataclass(frozen=True)
class RunFolder:
    """The files of a run folder (--out)."""

    root: Path
    """The folder itself."""

    @property
    def options(self) -> Path:
        return self.root / "run.json"

    @property
    def dataset(self) -> Path:
        return self.root / "dataset.json"

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    @property
    def best_weights(self) -> Path:
        return self.checkpoints / "best.weights.npz"

    @property
    def last_weights(self) -> Path:
        return self.checkpoints / "last.weights.npz"

    @property
    def optimizer_state(self) -> Path:
        return self.checkpoints / "last.optimizer.npz"

    @property
    def state(self) -> Path:
        return self.checkpoints / "state.json"

    @property
    def model(self) -> Path:
        return self.root / "model.tflite"

    @property
    def card(self) -> Path:
        return self.root / "model.json"

    @property
    def labels(self) -> Path:
        return self.root / "labels.txt"

    def read_state(self) -> dict:
        if not self.state.is_file():
            return new_state()
        return json.loads(self.state.read_text(encoding="utf-8"))


def new_state() -> dict:
    return {
        "epochs_done": 0,
        "best_val_accuracy": None,
        "best_epoch": None,
        "wait": 0,
        "stopped_early": False,
        "history": [],
    }


def start(options: TrainOptions, out: Path) -> tuple[RunFolder, TrainOptions]:
    """Creates a run folder: checks the options and the data before any training starts."""
    check_new_run(options, out)
    run = RunFolder(out)
    weights = local_weights(options.model)
    dataset = ImageFolderDataset.from_path(
        options.data, val_split=options.val_split, test_split=options.test_split, seed=options.seed
    )
    spec = replace(options.model, num_classes=len(dataset.classes), weights=str(weights.resolve()) if weights else None)
    options = replace(options, model=spec)
    out.mkdir(parents=True, exist_ok=True)
    run.checkpoints.mkdir(exist_ok=True)
    dataset.save(run.dataset)
    write_text_atomically(out / "classes.txt", "\n".join(dataset.classes) + "\n")
    write_text_atomically(run.labels, "\n".join(dataset.label_lines()) + "\n")
    write_text_atomically(out / "skipped.txt", "".join(line + "\n" for line in dataset.skipped))
    if dataset.skipped:
        print(f"skipped {len(dataset.skipped)} unreadable file(s), listed in {out / 'skipped.txt'}", file=sys.stderr)
    options.save(run.options)  # written last: its presence marks a run that can be resumed
    return run, options


def train(run: RunFolder, options: TrainOptions) -> Exported | None:
    """Trains (or continues), evaluates on the test split and exports. None on a worker that is not the chief."""
    dataset = ImageFolderDataset.load(run.dataset)
    strategy, is_chief = distribution_strategy(options.distribute)
    spec = options.model
    if spec.num_classes != len(dataset.classes):
        raise ModelError(
            f"run.json says {spec.num_classes} classes but the dataset has {len(dataset.classes)}; start a new run."
        )
    keras.utils.set_random_seed(options.seed)  # first: the pipelines' shuffles take TensorFlow's global seed too
    cache = _cache_target(run, _cache_mode(options.cache, len(dataset.train) + len(dataset.valid), spec.image_size))
    train_data = image_pipeline(
        dataset.train, spec.image_size, options.batch_size, training=True, cache=cache("train"), seed=options.seed
    )
    valid_data = image_pipeline(
        dataset.valid, spec.image_size, options.batch_size, training=False, cache=cache("valid")
    )
    with strategy.scope():
        model = build_model(spec)
        model.compile(
            optimizer=keras.optimizers.Adam(options.learning_rate),
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy", keras.metrics.SparseTopKCategoricalAccuracy(k=min(5, spec.num_classes), name="top5")],
        )
    state = run.read_state()
    if state["epochs_done"]:
        _restore_last(model, run)
        print(f"resuming {run.root} after epoch {state['epochs_done']} of {options.epochs}", file=sys.stderr)
    if state["epochs_done"] < options.epochs and not state["stopped_early"]:
        # Someone watching stdout gets Keras's own per-batch bar there. Otherwise (stdout piped or in
        # a file, as logs are) Keras writes one line per epoch, and a terminal on stderr gets the
        # per-batch progress instead, so the log stays clean.
        watched = sys.stdout.isatty()
        callbacks = [
            keras.callbacks.LearningRateScheduler(options.learning_rate_at),
            RunCheckpoint(run, state, options.patience, write=is_chief),
            *_tensorboard(run.root / "tensorboard"),
            *([] if watched else [BatchProgress()]),
        ]
        model.fit(
            train_data,
            validation_data=valid_data,
            epochs=options.epochs,
            initial_epoch=state["epochs_done"],
            callbacks=callbacks,
            shuffle=False,  # the pipeline shuffles
            verbose=1 if watched else 2,
        )
    if not is_chief:
        return None
    load_weights(model, run.best_weights)
    return finish(run, options, dataset, model, strategy.num_replicas_in_sync)


def finish(run: RunFolder, options: TrainOptions, dataset: ImageFolderDataset, model, replicas: int = 1) -> Exported:
    """Test report, plots, TFLite export with the agreement check and threshold, then models/."""
    spec = options.model
    state = run.read_state()
    report.plot_curves(run.root / "curves.png", state["history"])
    test_probabilities = model.predict(_in_order(dataset.test, spec.image_size, options.batch_size), verbose=0)
    test = report.score(test_probabilities, dataset.test.targets, dataset.classes, dataset.test.files)
    report.plot_confusion(run.root / "confusion.png", test_probabilities, dataset.test.targets, dataset.classes)

    keras_valid = model.predict(_in_order(dataset.valid, spec.image_size, options.batch_size), verbose=0)
    representative = (
        representative_images(dataset, spec.image_size, options.seed) if options.quantize == "int8" else None
    )
    # The SavedModel and the flatbuffer each take about the weights' size; TensorFlow's writers fail a full disk badly.
    check_free_space(
        run.root, 2 * _saved_bytes(model.weights), f"run `birdcam train --resume {run.root}` to export the model"
    )
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix=".export-", dir=run.root) as scratch:
        flatbuffer = export.convert(
            export.saved_model(model, Path(scratch) / "saved_model"), options.quantize, representative
        )
    conversion_s = time.perf_counter() - started
    write_atomically(run.model, export.with_embedded_labels(flatbuffer, dataset.label_lines()))
    write_text_atomically(run.labels, "\n".join(dataset.label_lines()) + "\n")
    card = ModelCard(
        name=run.root.name,
        backbone=spec.backbone,
        classes=tuple(dataset.classes),
        scientific_names=tuple(dataset.scientific_names),
        input_size=(spec.image_size, spec.image_size),
        normalization=Normalization(mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0)),
        resize="stretch",  # how training fitted the photos; the engine follows it
        quantization=options.quantize,
        size_bytes=run.model.stat().st_size,
        conversion_s=round(conversion_s, 2),
        metrics={
            "test_accuracy": test["accuracy"],
            "test_top5_accuracy": test["top5_accuracy"],
            "test_loss": test["loss"],
            "best_val_accuracy": state["best_val_accuracy"],
            "best_epoch": state["best_epoch"],
            "epochs_trained": state["epochs_done"],
        },
        replicas=replicas,
    )
    card.write(run.card)  # the engine reads input size and normalization from it
    tflite_valid = export.engine_probabilities(run.model, decoded_images(dataset.valid, spec.image_size))
    agreement = export.agreement(keras_valid, tflite_valid)
    card = replace(
        card, keras_agreement=agreement, threshold=export.calibrated_threshold(tflite_valid, dataset.valid.targets)
    )
    card.write(run.card)
    summary = {
        "keras_agreement": agreement,
        "threshold": card.threshold,
        "quantization": options.quantize,
        "size_bytes": card.size_bytes,
        "best_val_accuracy": state["best_val_accuracy"],
        "epochs_trained": state["epochs_done"],
    }
    report.write_report(
        run.root, {"test": test, "summary": summary, "classes": list(dataset.classes)}, f"birdcam run {run.root.name}"
    )
    installed, install_reason = None, "not installed: the TFLite model does not agree with Keras"
    if agreement < export.MIN_AGREEMENT:
        print(
            f"the {options.quantize} TFLite model agrees with Keras on {agreement:.1%} "
            f"of validation images (< {export.MIN_AGREEMENT:.0%}); kept in {run.root}, not copied to models/. "
            f"{export.fallback_advice(options.quantize)}.",
            file=sys.stderr,
        )
    else:
        decision = trained_model_decision(
            run.model,
            dataset.test.files,
            dataset.test.targets,
            dataset.classes,
            dataset.scientific_names,
            options.install,
        )
        if decision.install:
            installed = export.install(run.root, run.root.name)
        install_reason = decision.sentence(installed)
    return Exported(card, agreement, installed, install_reason)


@dataclass(frozen=True)
class Exported:
    """What a finished run exported."""

    card: ModelCard
    """The model card written beside the run's model."""
    keras_agreement: float
    """Share of validation photos on which the TFLite model and Keras agree on the top class."""
    installed: Path | None
    """The model's path in models/, or None when it was not installed."""
    install_reason: str = ""
    """One sentence: why it was (or was not) installed."""


class RunCheckpoint(keras.callbacks.Callback):
    """Best and last weights, optimizer state, history and early stopping, saved after every epoch.

    Keras's ModelCheckpoint, EarlyStopping and CSVLogger keep their counters in memory; this keeps
    them in the run folder (written atomically), so a killed run resumes where it was.
    """

    def __init__(self, run: RunFolder, state: dict, patience: int, *, write: bool):
        super().__init__()
        self.run, self.state, self.patience, self.write = run, state, patience, write

    def on_epoch_end(self, epoch, logs=None):
        logs = dict(logs or {})
        row = {"epoch": epoch, **{key: float(value) for key, value in logs.items()}}
        state = self.state
        state["history"] = [r for r in state["history"] if r["epoch"] < epoch] + [row]
        current = row.get("val_accuracy", 0.0)
        improved = state["best_val_accuracy"] is None or current > state["best_val_accuracy"]
        if improved:
            state.update(best_val_accuracy=current, best_epoch=epoch, wait=0)
        else:
            state["wait"] += 1
        state["epochs_done"] = epoch + 1
        if state["wait"] >= self.patience:
            state["stopped_early"] = True
            self.model.stop_training = True
        if not self.write:
            return
        weights, optimizer = self.model.weights, self.model.optimizer.variables
        then = f"run `birdcam train --resume {self.run.root}`; it continues with epoch {epoch + 1}"
        check_free_space(
            self.run.checkpoints, (2 if improved else 1) * _saved_bytes(weights) + _saved_bytes(optimizer) + 2**16, then
        )
        # Every file is written under a temporary name first; none replaces the previous epoch's
        # unless all were written, and state.json, which says which epoch they hold, goes in last.
        try:
            with contextlib.ExitStack() as staged:
                state_file = staged.enter_context(atomic_path(self.run.state))
                if improved:
                    write_arrays(staged.enter_context(atomic_path(self.run.best_weights)), weights)
                write_arrays(staged.enter_context(atomic_path(self.run.last_weights)), weights)
                write_arrays(staged.enter_context(atomic_path(self.run.optimizer_state)), optimizer)
                state_file.write_text(json.dumps(state, indent=1), encoding="utf-8")
            report.write_history(self.run.root, state["history"])
        except OSError as error:
            raise OutputError(
                f"cannot save the checkpoint of epoch {epoch + 1} in {self.run.checkpoints}: "
                f"{error.strerror or first_line(error)}. "
                f"Free some space, then {then}."
            ) from None


class BatchProgress(keras.callbacks.Callback):
    """Batches done in this epoch, rate, time left and the running loss and accuracy, on stderr when it is a
    terminal."""

    def __init__(self):
        super().__init__()
        self._progress: Progress | None = None

    def on_epoch_begin(self, epoch, logs=None):
        label = f"epoch {epoch + 1}/{self.params.get('epochs')}"
        self._progress = Progress(self.params.get("steps"), label, "batches").start()

    def on_train_batch_end(self, batch, logs=None):
        if self._progress is not None:
            logs = logs or {}
            self._progress.advance(
                detail=", ".join(f"{name} {float(logs[name]):.4f}" for name in ("loss", "accuracy") if name in logs)
            )

    def on_epoch_end(self, epoch, logs=None):
        if self._progress is not None:
            self._progress.close()  # before Keras prints the epoch's line
            self._progress = None

    on_train_end = on_epoch_end


def distribution_strategy(name: str) -> tuple[tf.distribute.Strategy, bool]:
    """The tf.distribute strategy for --distribute, and whether this process writes the run folder."""
    if name == "none":
        return tf.distribute.get_strategy(), True
    if name == "mirrored":
        gpus = tf.config.list_logical_devices("GPU")
        devices = [d.name for d in (gpus or tf.config.list_logical_devices("CPU"))]
        return tf.distribute.MirroredStrategy(devices=devices), True
    if name == "multiworker":
        config = os.environ.get("TF_CONFIG")
        if not config:
            raise BirdcamError("--distribute multiworker needs TF_CONFIG (cluster and task) set on every host.")
        try:
            task = json.loads(config).get("task", {})
        except ValueError:
            raise BirdcamError("TF_CONFIG is not valid JSON; fix it on this host.") from None
        is_chief = task.get("type") == "chief" or (task.get("type") == "worker" and task.get("index", 0) == 0)
        return tf.distribute.MultiWorkerMirroredStrategy(), is_chief
    raise BirdcamError(f"unknown --distribute {name!r}; use none, mirrored or multiworker.")


def _tensorboard(folder: Path) -> list:
    """The TensorBoard callback when the tensorboard package is there (TensorFlow does not depend on it)."""
    try:
        import tensorboard  # noqa: F401
    except ImportError:
        print(
            "TensorBoard logs off: `pip install tensorboard` to get them; log.csv has the same figures.",
            file=sys.stderr,
        )
        return []
    return [keras.callbacks.TensorBoard(str(folder))]


def write_arrays(path: Path, variables: Sequence) -> None:
    """Writes the variables' values to an .npz that np.load reads (arr_0, arr_1, ...), one at a time,
    so the model is never held twice in memory."""
    with zipfile.ZipFile(path, "w", allowZip64=True) as archive:
        for index, variable in enumerate(variables):
            with archive.open(f"arr_{index}.npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.asarray(keras.ops.convert_to_numpy(variable)), allow_pickle=False)


def read_arrays(path: Path, variables: Sequence) -> None:
    """Assigns the arrays written by write_arrays to the same variables; ModelError if they do not match."""
    try:
        with np.load(path, allow_pickle=False) as saved:
            if len(saved.files) != len(variables):
                raise ModelError(
                    f"{path} holds {len(saved.files)} arrays, this model {len(variables)}; start a new run with --out."
                )
            for index, variable in enumerate(variables):
                value = saved[f"arr_{index}"]
                if tuple(variable.shape) != value.shape:
                    raise ModelError(
                        f"{path} does not match this model (array {index}: {value.shape}, "
                        f"not {tuple(variable.shape)}); start a new run with --out."
                    )
                variable.assign(value)
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as error:
        raise ModelError(f"cannot read {path} ({first_line(error)}); start a new run with --out.") from None


def load_weights(model, path: Path) -> None:
    """Loads a checkpoint's weights (best.weights.npz or last.weights.npz) into a model built from the run's spec."""
    read_arrays(path, model.weights)


def _saved_bytes(variables: Sequence) -> int:
    """Size of the .npz that write_arrays makes of these variables (headers included), without converting them."""
    return sum(int(np.prod(variable.shape)) * np.dtype(variable.dtype).itemsize + 256 for variable in variables)


def _restore_last(model, run: RunFolder) -> None:
    """Loads the last epoch's weights and Adam's moments and step count."""
    load_weights(model, run.last_weights)
    model.optimizer.build(model.trainable_variables)
    read_arrays(run.optimizer_state, model.optimizer.variables)


def _cache_mode(mode: str, images: int, image_size: int) -> str:
    """Resolves "auto": memory when the decoded images fit in MEMORY_CACHE_BYTES, else disk."""
    if mode != "auto":
        return mode
    return "memory" if images * image_size * image_size * 3 <= MEMORY_CACHE_BYTES else "disk"


def _cache_target(run: RunFolder, mode: str):
    """Where each split caches its decoded images: memory (""), a fresh folder in the run, or nowhere."""
    if mode == "disk":
        folder = run.root / "cache"
        shutil.rmtree(folder, ignore_errors=True)  # a killed run leaves lock files that block tf.data
        folder.mkdir()
        return lambda split: folder / split
    return lambda split: "" if mode == "memory" else None


def _in_order(split: Split, image_size: int, batch_size: int):
    """A split's images in file order, batched for Keras, without augmentation or cache."""
    return image_pipeline(split, image_size, batch_size, training=False, cache=None)


def representative_images(dataset: ImageFolderDataset, image_size: int, seed: int) -> np.ndarray:
    """Up to 100 training images drawn across the classes (seeded), for int8 calibration."""
    order = np.random.default_rng(seed).permutation(len(dataset.train))[: export.REPRESENTATIVE_IMAGES]
    subset = Split(
        "train", tuple(dataset.train.files[i] for i in order), tuple(dataset.train.targets[i] for i in order)
    )
    return resized_images(subset, image_size)
