"""`birdcam predict`: finds and names the birds in image files and folders."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from birdcam.cli.options import (
    add_detector_option,
    add_model_options,
    add_species_list_options,
    fraction,
    open_scene,
    positive_int,
)
from birdcam.errors import BirdcamError, SourceError
from birdcam.live.records import in_file_pixels, scored
from birdcam.models.classifier import DEFAULT_TOP_K
from birdcam.models.image import IMAGE_SUFFIXES, read_image_scaled
from birdcam.util.progress import Progress


def register(commands) -> None:
    predict = commands.add_parser(
        "predict",
        help="name the birds in images or folders",
        description="Finds and names the birds in images (folders are searched recursively).",
    )
    add_model_options(predict)
    add_species_list_options(predict)
    add_detector_option(predict)
    predict.add_argument(
        "--top-k",
        type=positive_int,
        default=DEFAULT_TOP_K,
        metavar="K",
        help=f"categories per image ({DEFAULT_TOP_K})",
    )
    predict.add_argument("--threshold", type=fraction, metavar="T", help="no-bird threshold (model card's, else 0.3)")
    predict.add_argument("--json", action="store_true", help="one JSON object per image, one per line")
    predict.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="image files or folders")
    predict.set_defaults(handler=run_predict)


def image_paths(paths: list[Path]) -> Iterator[tuple[Path, str | None]]:
    """Every image under the given files and folders, sorted, with an error text for paths that are missing."""
    for path in paths:
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
            if not found:
                yield path, "no images in this folder (looked for .jpg .png .bmp .webp .tif)"
            for image in found:
                yield image, None
        elif path.is_file():
            yield path, None
        else:
            yield path, "no such file or folder"


def run_predict(args: argparse.Namespace) -> int:
    options = {} if args.threshold is None else {"threshold": args.threshold}
    failed = 0
    images = list(image_paths(args.paths))
    with open_scene(args, top_k=args.top_k, **options) as scene, Progress(len(images), "predict", "images") as progress:
        for path, problem in progress.track(images):
            try:
                if problem:
                    raise SourceError(f"{path}: {problem}")
                start = time.perf_counter()
                image, scale = read_image_scaled(path)
                result = in_file_pixels(scene.process_still(image), scale)  # a large JPEG is decoded reduced
                elapsed_ms = (time.perf_counter() - start) * 1e3
            except BirdcamError as error:
                failed += 1
                if args.json:
                    progress.print(json.dumps({"path": str(path), "error": str(error)}))
                progress.print(f"birdcam: error: {error}", file=sys.stderr)
                continue
            if args.json:
                progress.print(
                    json.dumps(prediction_record(path, result, scene.labels, elapsed_ms), ensure_ascii=False)
                )
            else:
                progress.print(format_prediction(path, result, scene.labels))
    return 2 if failed else 0


def prediction_record(path: Path, result, labels, elapsed_ms: float) -> dict:
    """One image as JSON: `top` and `is_bird` describe the most confident bird (the whole frame when there
    is none); `birds` lists every bird as `live --headless` does."""
    from birdcam.live.records import bird_record, class_record, scored

    ranked = result.top.top if result.top is not None else result.whole.top
    return {
        "path": str(path),
        "is_bird": result.is_bird,
        "top": [class_record(category.index, labels, category.score) for category in scored(ranked)],
        "birds": [bird_record(bird) for bird in result.birds],
        "ms": round(elapsed_ms, 2),
    }


def format_prediction(path: Path, result, labels) -> str:
    """The most confident bird and its runners-up, then each other bird, with where it is."""

    def name(label) -> str:
        if label.common_name and label.scientific_name:
            return f"{label.common_name} ({label.scientific_name})"
        return label.common_name or label.scientific_name or label.text

    if not result.birds:
        best = result.whole.top[0]
        return f"{path}: no bird (best: {name(best.label)} {best.score:.1%})"
    lines = []
    for n, bird in enumerate(result.birds):
        x, y, w, h = bird.box
        what = name(bird.label) if bird.known else "bird (species not in this model)"
        lines.append(f"{f'{path}:' if n == 0 else '  +'} {what} {bird.score:.1%} at {x},{y} {w}x{h}")
        if n == 0:
            lines += [f"    {name(c.label)} {c.score:.1%}" for c in scored(bird.top) if c.index != bird.index]
    return "\n".join(lines)
