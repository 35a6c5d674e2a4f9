"""`birdcam evaluate`: scores a TFLite classifier on a folder of class folders with the app's engine (no TensorFlow)."""

from __future__ import annotations

import argparse
from pathlib import Path

from birdcam.errors import DatasetError


def register(commands) -> None:
    """Adds `evaluate`."""
    evaluate = commands.add_parser(
        "evaluate",
        help="score a TFLite model on a folder of class folders",
        description="Scores any TFLite classifier on a folder of class folders (e.g. DATA/test) with the app's engine "
        "and writes report.json, report.md and confusion.png. "
        "Folders match labels by name or by birds.csv's scientific name.",
    )
    evaluate.add_argument("--model", type=Path, required=True, metavar="M", help="a .tflite model")
    evaluate.add_argument("--data", type=Path, required=True, metavar="DIR", help="one folder per class")
    evaluate.add_argument("--out", type=Path, metavar="DIR", help="report folder (default: evaluation-<model name>)")
    evaluate.add_argument(
        "--resize",
        choices=("stretch", "crop", "letterbox"),
        default="stretch",
        help="how images are fitted (stretch, as in training)",
    )
    evaluate.add_argument("--threads", type=int, default=2, metavar="N", help="CPU threads for LiteRT (2)")
    evaluate.set_defaults(handler=run_evaluate)


def run_evaluate(args: argparse.Namespace) -> int:
    from birdcam.training.evaluate import evaluate_folder

    if args.threads < 1:
        raise DatasetError("--threads must be at least 1.")
    out = args.out or Path(f"evaluation-{args.model.stem}")
    result = evaluate_folder(args.model, args.data, out, resize=args.resize, num_threads=args.threads)
    test, summary = result["test"], result["summary"]
    print(
        f"{test['images']} images of {summary['classes_matched']} classes: accuracy {test['accuracy']:.4f}, "
        f"top-5 {test['top5_accuracy']:.4f}, loss {test['loss']:.4f}"
    )
    if summary["classes_unmatched"]:
        print(f"{summary['classes_unmatched']} class folder(s) match no label of the model and were left out")
    print(f"report: {out / 'report.md'}")
    return 0
