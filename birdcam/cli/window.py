"""`birdcam` with no command: the window. Qt is imported inside the handler, so other commands never load it."""

from __future__ import annotations

import argparse

from birdcam.cli.options import DETECTOR_HELP, MODEL_HELP, SOURCE_HELP


def add_window_options(parser: argparse.ArgumentParser) -> None:
    """The options of the window (`birdcam` with no command)."""
    parser.add_argument("--model", metavar="TFLITE", help=MODEL_HELP)
    parser.add_argument(
        "--source", metavar="SOURCE", help=SOURCE_HELP + "; default: the last one used, else the first camera"
    )
    parser.add_argument("--detector", metavar="TFLITE|none", help=DETECTOR_HELP)


def run_window(args: argparse.Namespace) -> int:
    """Opens the window."""
    from birdcam.gui.window import run_app

    return run_app(source=args.source, model=args.model, detector=args.detector)
