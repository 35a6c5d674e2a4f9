"""What several commands share: their options (model, detector, species lists, sources), the value checks, the
scene pass those options ask for, and the one way a warning reaches the terminal."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from birdcam.errors import LabelError
from birdcam.live.sources import SOURCE_KINDS
from birdcam.models.classifier import DEFAULT_TOP_K
from birdcam.models.species import SpeciesFilterReport, SpeciesLists
from birdcam.util.progress import DownloadProgress

if TYPE_CHECKING:
    from birdcam.scene.scene_pass import ScenePass

SOURCE_HELP = "what to watch: " + SOURCE_KINDS
MODEL_HELP = "a .tflite model; default: the newest model `birdcam train` exported, else the starter model"
DETECTOR_HELP = (
    "a .tflite bird detector (YOLOX or SSD-style), or none to name the whole frame only; "
    "default: the starter detector (see `birdcam models`)"
)


def warn(message: str) -> None:
    """One warning line on stderr: `birdcam: warning: ...`."""
    print(f"birdcam: warning: {message}", file=sys.stderr, flush=True)


def warn_species(report: SpeciesFilterReport) -> None:
    """The species lists' warning (names the model does not know), if there is one."""
    if report.warning:
        warn(report.warning)


def add_model_options(parser: argparse.ArgumentParser) -> None:
    """--model, --labels, --threads, --resize, --normalization (predict, bench)."""
    # SUPPRESS: `birdcam --model M predict ...` keeps the M given before the command.
    parser.add_argument(
        "--model",
        type=Path,
        default=argparse.SUPPRESS,
        metavar="M",
        help="a .tflite model (default: see `birdcam models`)",
    )
    parser.add_argument("--labels", type=Path, metavar="L", help="a label file that overrides the model's own")
    parser.add_argument("--threads", type=positive_int, metavar="N", help="CPU threads for LiteRT")
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


def add_detector_option(parser: argparse.ArgumentParser, help: str = DETECTOR_HELP) -> None:
    """--detector PATH|none; SUPPRESS keeps a --detector given before the command."""
    parser.add_argument("--detector", default=argparse.SUPPRESS, metavar="TFLITE|none", help=help)


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


def species_lists(args: argparse.Namespace) -> SpeciesLists:
    """The --allow / --deny files read as the engine takes them (a bad file is a SpeciesListError)."""
    from birdcam.models.species import read_species_lists

    return read_species_lists(allow=args.allow, deny=args.deny)


def positive_int(text: str) -> int:
    """argparse type: a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, not {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, not {value}")
    return value


def fraction(text: str) -> float:
    """argparse type: a number from 0 to 1."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number between 0 and 1, not {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, not {value}")
    return value


def open_scene(args: argparse.Namespace, top_k: int = DEFAULT_TOP_K, **options) -> ScenePass:
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
        progress=DownloadProgress(),
    )
    warn_species(opened.scene.classifier.species_filter)
    if opened.detector_note:
        warn(opened.detector_note)
    return opened.scene
