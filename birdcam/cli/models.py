"""`birdcam predict`, `bench` and `models`: the engine from the command line. No Qt, no TensorFlow."""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from birdcam.errors import BirdcamError, LabelError, ModelError, SourceError
from birdcam.models.classifier import DEFAULT_TOP_K
from birdcam.models.image import IMAGE_SUFFIXES, read_image
from birdcam.util.progress import Progress


def register(commands) -> None:
    predict = commands.add_parser(
        "predict",
        help="name the birds in images or folders",
        description="Finds and names the birds in images (folders are searched recursively).",
    )
    _add_model_options(predict)
    add_species_list_options(predict)
    _add_detector_option(predict)
    predict.add_argument(
        "--top-k",
        type=_positive_int,
        default=DEFAULT_TOP_K,
        metavar="K",
        help=f"categories per image ({DEFAULT_TOP_K})",
    )
    predict.add_argument("--threshold", type=_fraction, metavar="T", help="no-bird threshold (model card's, else 0.3)")
    predict.add_argument("--json", action="store_true", help="one JSON object per image, one per line")
    predict.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="image files or folders")
    predict.set_defaults(handler=run_predict)

    bench = commands.add_parser(
        "bench",
        help="measure inference speed",
        description="Times the classifier (invoke only and frame in -> Result), the detector and the whole scene pass.",
    )
    _add_model_options(bench)
    add_species_list_options(bench)
    _add_detector_option(bench)
    bench.add_argument(
        "--source", type=Path, metavar="IMAGE_OR_VIDEO", help="frames to use (default: a synthetic 1280x720 frame)"
    )
    bench.add_argument("--frames", type=_positive_int, default=200, metavar="N", help="timed frames (200)")
    bench.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    bench.set_defaults(handler=run_bench)

    models = commands.add_parser(
        "models",
        help="show which model would run and why",
        description="Shows the model birdcam would run, why, its input, its labels and where it came from.",
    )
    models.add_argument(
        "--model", type=Path, default=argparse.SUPPRESS, metavar="PATH", help="a .tflite model (overrides everything)"
    )
    _add_detector_option(models)
    models.add_argument(
        "--download", action="store_true", help="download the starter model and detector if they are needed and missing"
    )
    models.add_argument("--json", action="store_true", help="print the answer as one JSON object")
    models.set_defaults(handler=run_models)


def _add_model_options(parser: argparse.ArgumentParser) -> None:
    # SUPPRESS: `birdcam --model M predict ...` keeps the M given before the command.
    parser.add_argument(
        "--model",
        type=Path,
        default=argparse.SUPPRESS,
        metavar="M",
        help="a .tflite model (default: see `birdcam models`)",
    )
    parser.add_argument("--labels", type=Path, metavar="L", help="a label file that overrides the model's own")
    parser.add_argument("--threads", type=_positive_int, metavar="N", help="CPU threads for LiteRT")
    parser.add_argument(
        "--resize",
        choices=("crop", "letterbox", "stretch"),
        help="how frames are fitted to the model (default: the model card's, else crop)",
    )
    parser.add_argument(
        "--normalization",
        nargs=2,
        type=float,
        metavar=("MEAN", "STD"),
        help="float models: input = (pixel - MEAN) / STD, e.g. 127.5 127.5 for [-1, 1], 0 1 for raw pixels "
        "(default: the model card's, else [-1, 1])",
    )


def add_species_list_options(parser: argparse.ArgumentParser) -> None:
    """--allow FILE and --deny FILE: species lists, one name a line (see `birdcam.models.species`)."""
    parser.add_argument(
        "--allow",
        type=Path,
        metavar="FILE",
        help="name only these species (one scientific or common name a line, # comments)",
    )
    parser.add_argument(
        "--deny", type=Path, metavar="FILE", help="never name these species (same format; wins over --allow)"
    )


def species_lists(args: argparse.Namespace):
    """The --allow / --deny files read as the engine takes them (a bad file is a SpeciesListError)."""
    from birdcam.models.species import read_species_lists

    return read_species_lists(allow=args.allow, deny=args.deny)


def warn_unknown_species(report) -> None:
    """Prints the species lists' warning line (names the model does not know) on stderr, if any."""
    if report.warning:
        print(f"birdcam: warning: {report.warning}", file=sys.stderr)


def _add_detector_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--detector",
        default=argparse.SUPPRESS,
        metavar="PATH",
        help="a .tflite bird detector, or `none` for whole-frame mode",
    )


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, not {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, not {value}")
    return value


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number between 0 and 1, not {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, not {value}")
    return value


def open_scene(args: argparse.Namespace, top_k: int = DEFAULT_TOP_K, **options):
    """The scene pass the command's --model/--labels/--threads/--detector and species lists ask for; what runs is
    decided by birdcam/scene/factory.py, as in the app. A default detector that cannot be had (offline, not cached)
    is one warning line and the whole-frame pass."""
    from birdcam.scene.factory import open_scene_pass
    from birdcam.scene.scene_pass import SceneOptions
    from birdcam.scene.smoothing import SmoothingOptions

    lists = species_lists(args)  # before the model: a bad list file fails fast
    if args.labels is not None and args.labels.is_dir():
        raise LabelError(f"--labels {args.labels} is a folder; give the label file (one label per line).")
    if args.normalization:
        options["normalization"] = tuple(args.normalization)
    opened = open_scene_pass(
        args.model,
        labels=args.labels,
        detector=getattr(args, "detector", None),
        num_threads=args.threads or None,
        classifier_options={"top_k": top_k, "resize": args.resize, "allow": lists.allow, "deny": lists.deny, **options},
        options=SceneOptions(smoothing=SmoothingOptions(top_k=top_k)),
        progress=(lambda what, done, total: _print_progress(done, total, what)) if sys.stderr.isatty() else None,
    )
    warn_unknown_species(opened.scene.classifier.species_filter)
    if opened.detector_note:
        print(f"birdcam: warning: {opened.detector_note}", file=sys.stderr)
    return opened.scene


def _print_progress(done: int, total: int | None, what: str = "the starter model") -> None:
    if total:
        print(f"\rdownloading {what}: {done * 100 // total:3d}% of {total / 1e6:.1f} MB", end="", file=sys.stderr)
        if done >= total:
            print(file=sys.stderr)


# -- predict ---------------------------------------------------------------------------------


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
                result = scene.process_still(read_image(path))
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
    is none); `birds` lists every bird, a bird of a species the model does not know as label "bird"."""
    ranked = result.top.top if result.top is not None else result.whole.top
    return {
        "path": str(path),
        "is_bird": result.is_bird,
        "top": [
            {
                "index": index,
                "label": labels[index].text,
                "common_name": labels[index].common_name,
                "scientific_name": labels[index].scientific_name,
                "score": round(score, 4),
            }
            for index, score in ranked
        ],
        "birds": [
            {
                "box": list(bird.box),
                "label": bird.label.text if bird.known else "bird",
                "common_name": bird.label.common_name if bird.known else None,
                "scientific_name": bird.label.scientific_name if bird.known else None,
                "score": round(bird.score, 4),
            }
            for bird in result.birds
        ],
        "ms": round(elapsed_ms, 2),
    }


def format_prediction(path: Path, result, labels) -> str:
    """The most confident bird and its runners-up, then each other bird, with where it is."""

    def name(label) -> str:
        if label.common_name and label.scientific_name:
            return f"{label.common_name} ({label.scientific_name})"
        return label.common_name or label.scientific_name or label.text

    if not result.birds:
        index, score = result.whole.top[0]
        return f"{path}: no bird (best: {name(labels[index])} {score:.1%})"
    lines = []
    for n, bird in enumerate(result.birds):
        x, y, w, h = bird.box
        what = name(bird.label) if bird.known else "bird (species not in this model)"
        lines.append(f"{f'{path}:' if n == 0 else '  +'} {what} {bird.score:.1%} at {x},{y} {w}x{h}")
        if n == 0:
            lines += [f"    {name(labels[index])} {score:.1%}" for index, score in bird.top if index != bird.index]
    return "\n".join(lines)


# -- bench -----------------------------------------------------------------------------------


def bench_frames(source: Path | None, count: int) -> list[np.ndarray]:
    """Up to `count` distinct frames from an image or video, or one synthetic 1280x720 frame."""
    import cv2

    if source is None:
        rng = np.random.default_rng(0)
        gradient = np.linspace(0, 255, 1280, dtype=np.float32)[np.newaxis, :, np.newaxis]
        frame = (gradient + rng.normal(0, 20, (720, 1280, 3))).clip(0, 255).astype(np.uint8)
        return [frame]
    if source.is_dir():
        raise SourceError(f"bench source {source} is a folder; give an image or video file.")
    if not source.is_file():
        raise SourceError(f"bench source not found: {source}. Give an image or video file.")
    if source.suffix.lower() in IMAGE_SUFFIXES:
        return [read_image(source)]
    capture = cv2.VideoCapture(str(source))
    frames = []
    while len(frames) < min(count, 300):
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    capture.release()
    if not frames:
        raise SourceError(f"{source} is neither an image nor a video OpenCV can read.")
    return frames


def run_bench(args: argparse.Namespace) -> int:
    frames = bench_frames(args.source, args.frames)
    with open_scene(args) as scene:
        classifier = scene.classifier
        for frame in frames[:5]:
            classifier.classify(frame)
        invoke_ms, end_to_end_ms = [], []
        for i in range(args.frames):
            frame = frames[i % len(frames)]
            start = time.perf_counter()
            result = classifier.classify(frame)
            end_to_end_ms.append((time.perf_counter() - start) * 1e3)
            invoke_ms.append(result.timings.invoke_ms)
        # The scene pass as live: the frames in turn at 30 frames/s of capture time (a still: the same frame).
        for i in range(5):
            scene.process(frames[i % len(frames)], i / 30)
        scene.reset()
        timings = [scene.process(frames[i % len(frames)], i / 30).timings for i in range(args.frames)]
        scene_ms = [t.total_ms for t in timings]
        figures = {
            "model": str(classifier.model_path),
            "detector": None if scene.detector is None else str(scene.detector.model_path),
            "threads": classifier.options.num_threads,
            "frames": args.frames,
            "invoke_ms_median": _median(invoke_ms),
            "invoke_ms_p95": _p95(invoke_ms),
            "end_to_end_ms_median": _median(end_to_end_ms),
            "end_to_end_ms_p95": _p95(end_to_end_ms),
            "fps": round(1000.0 / float(np.mean(end_to_end_ms)), 1),
            "detector_ms_median": _median([t.detector_ms for t in timings]),
            "classifier_ms_median": _median([t.classifier_ms for t in timings]),
            "scene_ms_median": _median(scene_ms),
            "scene_ms_p95": _p95(scene_ms),
            "scene_fps": round(1000.0 / float(np.mean(scene_ms)), 1),
        }
    if args.json:
        print(json.dumps(figures))
    else:
        shape = f"{frames[0].shape[1]}x{frames[0].shape[0]}"
        print(f"model      {figures['model']} ({figures['threads']} threads, {figures['frames']} frames of {shape})")
        print(f"invoke     median {figures['invoke_ms_median']:.2f} ms   p95 {figures['invoke_ms_p95']:.2f} ms")
        print(f"end to end median {figures['end_to_end_ms_median']:.2f} ms   p95 {figures['end_to_end_ms_p95']:.2f} ms")
        print(f"throughput {figures['fps']:.1f} frames/s")
        print(f"detector   {figures['detector'] or 'none (whole-frame mode)'}")
        print(
            f"scene pass median {figures['scene_ms_median']:.2f} ms   p95 {figures['scene_ms_p95']:.2f} ms a frame "
            f"(detector {figures['detector_ms_median']:.2f} ms, classifier {figures['classifier_ms_median']:.2f} ms)"
        )
        print(f"           {figures['scene_fps']:.1f} frames/s")
    return 0


def _median(values: list[float]) -> float:
    return round(float(np.median(values)), 3)


def _p95(values: list[float]) -> float:
    return round(float(np.percentile(values, 95)), 3)


# -- models ----------------------------------------------------------------------------------


def run_models(args: argparse.Namespace) -> int:
    from birdcam import paths
    from birdcam.models.classifier import Classifier
    from birdcam.models.store import AIY_BIRDS_V1, resolve_model

    try:
        resolved = resolve_model(
            args.model, download=args.download, progress=_print_progress if sys.stderr.isatty() else None
        )
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
    progress = functools.partial(_print_progress, what="the starter detector") if sys.stderr.isatty() else None
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
            "classes": len(detector.labels),
            "bird_classes": [detector.labels[i] for i in detector.bird_classes],
            "labels": detector.labels_source,
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
