"""`birdcam compare`: validation accuracy and loss per epoch of several training runs on one chart."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(commands) -> None:
    """Adds `compare`."""
    compare = commands.add_parser(
        "compare",
        help="chart validation accuracy and loss of several runs",
        description="Draws validation accuracy and loss per epoch of several runs (e.g. ViT vs InceptionV3) "
        "on one figure.",
    )
    compare.add_argument("runs", nargs="+", type=Path, metavar="RUN_DIR", help="folders made by `birdcam train`")
    compare.add_argument(
        "--out",
        type=Path,
        default=Path("compare.png"),
        metavar="PNG",
        help="chart file (compare.png); a folder gets compare.png inside it, a name without ending gets .png",
    )
    compare.set_defaults(handler=run_compare)


def run_compare(args: argparse.Namespace) -> int:
    from birdcam.training.report import chart_path, plot_comparison

    chart = chart_path(args.out)
    plot_comparison(chart, args.runs)
    print(f"chart: {chart}")
    return 0
