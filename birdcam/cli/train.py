"""`birdcam train`: fine-tunes a ViT (or InceptionV3) on a bird image folder and exports TFLite, or (--extend) teaches
a TFLite classifier new species. TensorFlow is imported inside the handler only, after every check that can be made
without it."""

from __future__ import annotations

import argparse
import time
from dataclasses import fields
from pathlib import Path

from birdcam.errors import DatasetError, OutputError, first_line
from birdcam.models.classifier import DEFAULT_THRESHOLD
from birdcam.training.options import (
    BACKBONES,
    CACHES,
    QUANTIZATIONS,
    STRATEGIES,
    ModelSpec,
    TrainOptions,
    check_new_run,
    resumed_options,
)
from birdcam.util.native import stderr_silenced

_MODEL_FLAGS = [field.name for field in fields(ModelSpec) if field.name not in ("num_classes", "noise")]
_RUN_FLAGS = [field.name for field in fields(TrainOptions) if field.name not in ("data", "model", "install")]


def register(commands) -> None:
    """Adds `train`."""
    train = commands.add_parser(
        "train",
        help="fine-tune a ViT on a bird image folder, evaluate it and export TFLite",
        description="Fine-tunes a vit-keras ViT (or InceptionV3) on a bird image folder, writes a report and "
        "exports a TFLite model into models/ for the app. Needs the `train` extra (TensorFlow).",
    )
    data = train.add_argument_group("data")
    data.add_argument(
        "--data", type=Path, metavar="DIR", help="Kaggle layout (train/ valid/ test/) or one folder of class folders"
    )
    data.add_argument(
        "--extend",
        nargs="?",
        const="",
        metavar="MODEL",
        help="teach this TFLite classifier (no MODEL: the model the app runs) the species of --data in seconds, no "
        "TensorFlow: its classifier layer gets a row per new species (see README)",
    )
    data.add_argument(
        "--val-split", type=float, metavar="F", help="single folder: fraction of each class for validation (0.1)"
    )
    data.add_argument(
        "--test-split", type=float, metavar="F", help="single folder: fraction of each class for the test report (0.1)"
    )
    data.add_argument(
        "--cache",
        choices=CACHES,
        help="keep decoded images in memory, on disk in the run folder, or not; auto (default): memory up to 2 GB",
    )
    model = train.add_argument_group("model")
    model.add_argument("--backbone", choices=BACKBONES, help="network (vit_l32)")
    model.add_argument("--image-size", type=int, metavar="PX", help="input size (224)")
    model.add_argument(
        "--pretrained",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="start from ImageNet weights (default: yes)",
    )
    model.add_argument(
        "--weights", metavar="FILE", help="local weights instead of the download: ViT .npz or InceptionV3 .h5"
    )
    model.add_argument("--finetune-at", type=int, metavar="N", help="freeze the backbone layers before N (28)")
    for flag, text in (
        ("patch-size", "patch size (16)"),
        ("hidden-size", "transformer width (64)"),
        ("num-layers", "transformer blocks (2)"),
        ("num-heads", "attention heads (2)"),
        ("mlp-dim", "MLP width (128)"),
    ):
        model.add_argument(f"--{flag}", type=int, metavar="N", help=f"custom ViT: {text}")
    fit = train.add_argument_group("training")
    fit.add_argument("--out", type=Path, metavar="RUN_DIR", help="run folder (default: runs/<backbone>-<date-time>)")
    fit.add_argument(
        "--resume", type=Path, metavar="RUN_DIR", help="continue a stopped or killed run (only --epochs may change)"
    )
    fit.add_argument("--epochs", type=int, metavar="N", help="epochs (100; early stopping may end sooner)")
    fit.add_argument("--batch-size", type=int, metavar="N", help="images per step over all devices (32)")
    fit.add_argument("--learning-rate", type=float, metavar="LR", help="Adam's starting learning rate (1e-4)")
    fit.add_argument(
        "--lr-step", type=int, metavar="N", help="multiply the learning rate by --lr-factor every N epochs (7)"
    )
    fit.add_argument("--lr-factor", type=float, metavar="F", help="learning-rate step factor (0.1)")
    fit.add_argument("--patience", type=int, metavar="N", help="stop after N epochs without a better val_accuracy (10)")
    fit.add_argument(
        "--distribute",
        choices=STRATEGIES,
        help="several GPUs (mirrored) or hosts (multiworker, TF_CONFIG); default none",
    )
    fit.add_argument("--seed", type=int, metavar="N", help="seed of split, shuffling and augmentation (0)")
    export = train.add_argument_group("export")
    export.add_argument(
        "--quantize",
        choices=QUANTIZATIONS,
        help="TFLite weights: dynamic (default), float16, int8 (full integer), none",
    )
    export.add_argument(
        "--no-install", dest="install", action="store_false", default=None, help="do not copy the model into models/"
    )
    export.add_argument(
        "--install",
        action="store_true",
        default=None,
        help="install it even if it names the checked photos worse than the model it would replace",
    )
    train.set_defaults(handler=run_train)


def train_options(args: argparse.Namespace) -> TrainOptions:
    """TrainOptions from the flags given; the dataclasses hold the defaults."""
    if args.data is None:
        raise DatasetError(
            "pass --data DIR (a Kaggle-layout folder or a folder of class folders), or --resume RUN_DIR."
        )
    spec = ModelSpec(**{name: getattr(args, name) for name in _MODEL_FLAGS if getattr(args, name) is not None})
    given = {name: getattr(args, name) for name in _RUN_FLAGS if getattr(args, name) is not None}
    return TrainOptions(data=str(args.data), model=spec, install=args.install, **given)


def run_train(args: argparse.Namespace) -> int:
    if args.extend is not None:
        from birdcam.training.extend import run_extend

        return run_extend(args)
    # Everything that can be checked without TensorFlow is checked before it loads (seconds).
    if args.resume is not None:
        changed = [
            name
            for name in _MODEL_FLAGS + _RUN_FLAGS + ["data", "out"]
            if name != "epochs" and getattr(args, name) is not None
        ]
        if changed:
            flags = ", ".join("--" + name.replace("_", "-") for name in changed)
            raise DatasetError(
                f"--resume continues with the run's own settings; drop {flags} (only --epochs may change)."
            )
        options = resumed_options(args.resume, args.epochs)
    else:
        options = train_options(args)
        out = args.out or Path("runs") / f"{options.model.backbone}-{time.strftime('%Y%m%d-%H%M%S')}"
        check_new_run(options, out)
    run = _trainer(args.verbose)
    if args.resume is not None:
        folder = run.RunFolder(args.resume)
    else:
        folder, options = run.start(options, out)
    try:
        exported = run.train(folder, options)
    except OSError as error:  # a write in the run folder: every file there is written atomically, so it resumes
        where = f"{error.filename}: " if error.filename else ""
        raise OutputError(
            f"{where}{error.strerror or first_line(error)}. Fix that (free some space?), "
            f"then run `birdcam train --resume {folder.root}`."
        ) from None
    if exported is None:
        return 0
    card = exported.card
    metrics = card.metrics
    print(f"run: {folder.root}")
    print(
        f"test accuracy {metrics['test_accuracy']:.4f}, top-5 {metrics['test_top5_accuracy']:.4f}, "
        f"loss {metrics['test_loss']:.4f}"
    )
    print(
        f"model: {folder.model} ({card.quantization}, {(card.size_bytes or 0) / 1e6:.1f} MB), "
        f"agrees with Keras on {exported.keras_agreement:.1%}, {describe_threshold(card.threshold)}"
    )
    installed = exported.installed
    taken = ""
    if installed is not None and installed.stem != folder.root.name:
        taken = f"; {folder.root.name}.tflite there is another run's"
    print(exported.install_reason + taken)
    return 0 if exported.keras_agreement >= run.export.MIN_AGREEMENT else 1


def _trainer(verbose: bool):
    """birdcam.training.run, which loads TensorFlow; the lines TensorFlow prints while it loads are hidden unless
    --verbose."""
    if verbose:
        from birdcam.training import run
    else:
        with stderr_silenced():
            from birdcam.training import run
    return run


def describe_threshold(threshold: float | None) -> str:
    """The calibrated no-bird threshold as the trainer prints it."""
    if threshold is None:
        return (
            f"threshold not calibrated (no validation image was named correctly; the app uses {DEFAULT_THRESHOLD:.2f})"
        )
    return f"threshold {threshold:.2f}"
