"""`birdcam models`: which model and detector would run, why, and what they take and give."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from birdcam.cli.options import add_detector_option
from birdcam.errors import ModelError
from birdcam.util.progress import DownloadProgress


def register(commands) -> None:
    models = commands.add_parser(
        "models",
        help="show which model would run and why",
        description="Shows the model birdcam would run, why, its input, its labels and where it came from.",
    )
    models.add_argument(
        "--model", type=Path, default=argparse.SUPPRESS, metavar="PATH", help="a .tflite model (overrides everything)"
    )
    add_detector_option(models)
    models.add_argument(
        "--download", action="store_true", help="download the starter model and detector if they are needed and missing"
    )
    models.add_argument("--json", action="store_true", help="print the answer as one JSON object")
    models.set_defaults(handler=run_models)


def run_models(args: argparse.Namespace) -> int:
    from birdcam import paths
    from birdcam.models.classifier import Classifier
    from birdcam.models.store import AIY_BIRDS_V1, resolve_model

    try:
        resolved = resolve_model(args.model, download=args.download, progress=DownloadProgress())
    except ModelError as error:
        if args.model is not None or args.download or os.environ.get("BIRDCAM_MODEL"):
            raise  # a wrong path or a failed download: "none yet" would hide it
        info = {
            "model": None,
            "reason": str(error),
            "would_download": list(AIY_BIRDS_V1.model.urls[:1]),
            "cache": str(AIY_BIRDS_V1.path().parent),
            "models_dir": str(paths.models_dir()),
            "detector": _detector_info(args),
        }
        if args.json:
            print(json.dumps(info))
        else:
            print("model      none yet: no trained model and no cached starter model")
            print(f"next       the app downloads the starter model (AIY birds_V1) from {info['would_download'][0]}")
            print(f"           into {info['cache']} (or run `birdcam models --download` now)")
            print(f"trained    models exported by `birdcam train` go to {info['models_dir']}")
            _print_detector_info(info["detector"])
        return 0
    with Classifier.from_path(resolved.path, labels_path=resolved.labels_path) as classifier:
        info = {
            "model": str(resolved.path),
            "origin": resolved.origin,
            "reason": resolved.reason,
            "input": classifier.describe_input(),
            "input_dtype": classifier.input_dtype.name,
            "input_size": list(classifier.input_size),
            "classes": classifier.num_classes,
            "labels": classifier.labels_source,
            "background_index": classifier.background_index,
            "threshold": classifier.threshold,
            "card": classifier.card is not None,
            "size_bytes": resolved.path.stat().st_size,
            "models_dir": str(paths.models_dir()),
        }
    info["detector"] = _detector_info(args)
    if args.json:
        print(json.dumps(info))
    else:
        print(f"model      {info['model']}")
        print(f"why        {info['reason']}")
        scaling = (
            "raw 0-255 RGB"
            if info["input_dtype"] == "uint8"
            else "normalized per model card"
            if info["card"]
            else "normalized to [-1, 1]"
        )
        print(f"input      {info['input']} ({scaling})")
        background = "none" if info["background_index"] is None else info["background_index"]
        print(f"classes    {info['classes']} (background class: {background})")
        print(f"labels     {info['labels']}")
        calibrated = (
            " (calibrated, from the model card)" if classifier.card and classifier.card.threshold is not None else ""
        )
        print(f"threshold  {info['threshold']:.2f}{calibrated}")
        print(f"size       {info['size_bytes'] / 1e6:.1f} MB")
        print(f"trained    models exported by `birdcam train` go to {info['models_dir']}")
        _print_detector_info(info["detector"])
    return 0


def _detector_info(args: argparse.Namespace) -> dict:
    """Which detector would run and why, for `birdcam models`: "path" is None in whole-frame mode."""
    from birdcam.models.detector import Detector
    from birdcam.models.store import STARTER_DETECTOR, resolve_detector

    explicit = getattr(args, "detector", None)
    progress = DownloadProgress("the starter detector")
    try:
        resolved = resolve_detector(explicit, download=args.download, progress=progress)
    except ModelError as error:
        if explicit is not None or os.environ.get("BIRDCAM_DETECTOR") or args.download:
            raise
        if os.environ.get("BIRDCAM_OFFLINE"):
            return {"path": None, "reason": str(error)}
        return {
            "path": None,
            "reason": f"no {STARTER_DETECTOR.description} in the cache yet",
            "would_download": STARTER_DETECTOR.model.urls[0],
            "cache": str(STARTER_DETECTOR.path().parent),
        }
    if resolved is None:
        given = "--detector none" if explicit is not None else "BIRDCAM_DETECTOR=none"
        return {"path": None, "reason": f"{given}: whole-frame mode"}
    with Detector.from_path(resolved.path, labels_path=resolved.labels_path) as detector:
        return {
            "path": str(resolved.path),
            "origin": resolved.origin,
            "reason": resolved.reason,
            "kind": detector.kind,
            "input": detector.describe_input(),
            "classes": len(detector.class_names),
            "bird_classes": [detector.class_names[i] for i in detector.bird_classes],
            "labels": detector.class_names_source,
            "score_threshold": detector.options.score_threshold,
        }


def _print_detector_info(info: dict) -> None:
    if info["path"] is None:
        print(f"detector   none: {info['reason']}")
        if "would_download" in info:
            print(f"next       the app downloads it from {info['would_download']}")
            print(f"           into {info['cache']} (or run `birdcam models --download` now)")
        return
    print(f"detector   {info['path']}")
    print(f"why        {info['reason']}")
    birds = ", ".join(info["bird_classes"])
    print(
        f"           {info['kind']}, input {info['input']}, {info['classes']} classes, birds: {birds}, "
        f"score >= {info['score_threshold']:.2f}"
    )
    print(f"           labels {info['labels']}")
