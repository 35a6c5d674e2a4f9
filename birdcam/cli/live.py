"""`birdcam live`: a source in the window, or headless with a JSON log (the unattended feeder logger).

Qt is imported only when the window opens.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from birdcam.cli.options import (
    MODEL_HELP,
    SOURCE_HELP,
    add_detector_option,
    add_species_list_options,
    species_lists,
    warn,
)
from birdcam.errors import BirdcamError
from birdcam.live.sources import SOURCE_KINDS


def register(commands) -> None:
    """Adds `live`."""
    live = commands.add_parser(
        "live",
        help="classify a live source in the window, or headless with a JSON log",
        description="Names the birds in a camera, video, image folder, stream or screen region as it plays. "
        "With --headless, runs the same pipeline without a window and logs every displayed frame as a JSON line, "
        "then a summary line.",
    )
    live.add_argument("--source", metavar="SOURCE", default=argparse.SUPPRESS, help=SOURCE_HELP)
    live.add_argument("--model", metavar="TFLITE", default=argparse.SUPPRESS, help=MODEL_HELP)
    add_detector_option(live)
    live.add_argument(
        "--headless", action="store_true", help="no window: write the JSON log (needs --source and --log)"
    )
    live.add_argument("--log", type=Path, metavar="OUT.jsonl", help="headless: where to write the JSON lines")
    live.add_argument("--max-frames", type=int, metavar="N", help="headless: stop after N displayed frames")
    live.add_argument(
        "--no-realtime",
        action="store_true",
        help="headless: read videos and folders as fast as they decode instead of at their frame rate (the newest "
        "frame is still the one classified: frames are skipped)",
    )
    live.add_argument(
        "--every-frame",
        action="store_true",
        help="headless: process a recording fully, every frame of a video file or image folder through the scene "
        "pass in order, as fast as the machine allows; visits are timed by the video's own clock (from the file's "
        "modification time minus its length)",
    )
    live.add_argument("--loop", action="store_true", help="headless: start a video or folder again when it ends")
    live.add_argument("--threshold", type=float, metavar="T", help="no-bird threshold 0-1 (default: the model's own)")
    live.add_argument("--no-smoothing", action="store_true", help="show each frame's own label, unsmoothed")
    live.add_argument(
        "--still-camera",
        action="store_true",
        help="the camera does not move (a feeder cam): also search where the picture moves, so that a bird that "
        "flies in is named sooner (the window remembers its own choice, Model > Still camera)",
    )
    add_species_list_options(live)
    recording = live.add_argument_group("headless: sightings (the unattended feeder logger)")
    recording.add_argument(
        "--no-sightings", action="store_true", help="do not record visits (recorded by default, as the window does)"
    )
    recording.add_argument("--db", type=Path, metavar="FILE", help="the sightings database (default: the window's)")
    recording.add_argument(
        "--notify", action="store_true", help="a desktop notice when a species is seen for the first time today or ever"
    )
    recording.add_argument("--mute", type=Path, metavar="FILE", help="species that never get a notice (a species list)")
    live.set_defaults(handler=run_live)


def run_live(args: argparse.Namespace) -> int:
    """`birdcam live`: the window with that source, or the headless run."""
    if args.threshold is not None and not 0.0 <= args.threshold <= 1.0:
        raise BirdcamError(f"--threshold must be between 0 and 1, not {args.threshold}")
    lists = species_lists(args)
    if not args.headless:
        from birdcam.gui.window import run_app

        species = (args.allow, args.deny) if args.allow or args.deny else None
        return run_app(
            source=args.source,
            model=args.model,
            threshold=args.threshold,
            smoothing=False if args.no_smoothing else None,
            still_camera=True if args.still_camera else None,
            species=species,
            detector=args.detector,
        )
    if not args.source:
        raise BirdcamError(f"--headless needs --source: {SOURCE_KINDS}")
    if args.log is None:
        raise BirdcamError("--headless needs --log OUT.jsonl, the file to write the frames to")
    if args.every_frame and (args.no_realtime or args.loop):
        given = "--no-realtime" if args.no_realtime else "--loop"
        raise BirdcamError(f"--every-frame reads the recording once, every frame; drop {given}")
    if args.max_frames is not None and args.max_frames < 1:
        raise BirdcamError(f"--max-frames must be at least 1, not {args.max_frames}")
    from birdcam.live.headless import HeadlessOptions, run_headless
    from birdcam.live.inference import InferenceOptions
    from birdcam.models.species import read_species_list

    muted = read_species_list(args.mute) if args.mute else ()
    summary = run_headless(
        HeadlessOptions(
            source=args.source,
            log_path=args.log,
            model=args.model,
            max_frames=args.max_frames,
            realtime=not args.no_realtime,
            every_frame=args.every_frame,
            loop=args.loop,
            threshold=args.threshold,
            smoothing=not args.no_smoothing,
            still_camera=args.still_camera,
            allow=lists.allow,
            deny=lists.deny,
            record=not args.no_sightings,
            sightings_db=args.db,
            notify=args.notify,
            muted=muted,
        ),
        inference=InferenceOptions(detector=args.detector),
        warn=warn,
    )
    print(summary_line(summary, args.log))
    return 2 if summary["problems"] else 0  # each was said as it happened


def summary_line(summary: dict, log: Path) -> str:
    """What a headless run did, in one line."""
    classified, captured, fps = summary["frames_classified"], summary["frames_captured"], summary["classified_fps"]
    if summary["every_frame"]:
        return f"processed {classified} of {captured} frames ({fps} fps); log: {log}"
    staleness = summary["staleness_frames"]["p95"]
    lag = f"staleness p95 {staleness:g} frames" if staleness is not None else "no frame was classified"
    return (
        f"shown {summary['frames_shown']} of {captured} frames, classified {classified} ({fps} fps), {lag}; log: {log}"
    )
