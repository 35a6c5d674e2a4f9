"""Command line: `birdcam [COMMAND]`, one module per command. Heavy imports (TensorFlow, Qt) happen inside the
commands that need them.

- `window`    no command: the window            - `live`       a source in the window, or headless
- `predict`   name the birds in images          - `bench`      how fast the models run
- `models`    which model would run and why     - `sightings`  list, correct, summarize, export the visits
- `train`     fine-tune or extend a model     - `evaluate`   score a model on a folder of class folders
- `compare`   chart several training runs
- `options`   what several commands share
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Sequence
from typing import NoReturn

from birdcam import __version__
from birdcam.cli import bench, compare, evaluate, live, models, predict, sightings, train, window
from birdcam.errors import BirdcamError
from birdcam.util.native import quiet_native_logs

SIGPIPE_EXIT_CODE = 141
"""What a shell reports for a program stopped by a closed pipe (128 + SIGPIPE): the exit code of `... | head`."""


class OneLineParser(argparse.ArgumentParser):
    """argparse whose usage errors are one line like every other bad input: `birdcam: error: ...`, exit code 2.

    Subcommand parsers are made of the same class (add_subparsers uses the parent's), so every command answers alike.
    """

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"birdcam: error: {message}; see `{self.prog} --help`.\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="birdcam",
        description="Names bird species live from a camera, a video or the screen. "
        "Without a command, opens the window.",
    )
    parser.add_argument("--version", action="version", version=f"birdcam {__version__}")
    parser.add_argument("--verbose", action="store_true", help="print tracebacks and debug details")
    window.add_window_options(parser)
    parser.set_defaults(handler=window.run_window)
    commands = parser.add_subparsers(title="commands", dest="command", metavar="COMMAND")
    for command in (predict, bench, models, live, sightings, train, evaluate, compare):
        command.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Runs one command and returns its exit code: 0 ok, 1 failed checks, 2 bad input."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:
        return exit_.code if isinstance(exit_.code, int) else 2
    if not args.verbose:
        quiet_native_logs()
    try:
        return int(args.handler(args) or 0)
    except BrokenPipeError:
        return _output_closed()
    except BirdcamError as error:
        if args.verbose:
            traceback.print_exc()
        print(f"birdcam: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("birdcam: interrupted", file=sys.stderr)
        return 130


def _output_closed() -> int:
    """The reader of stdout went away (`birdcam predict ... | head`): stop quietly, as a Unix tool does. What is left
    in Python's buffer goes nowhere instead of raising again when the interpreter flushes it at exit."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # stdout is not a file (captured in tests)
        pass
    return SIGPIPE_EXIT_CODE
