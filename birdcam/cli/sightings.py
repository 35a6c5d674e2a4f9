"""`birdcam sightings`: list, correct, summarize and export the visits the window and the headless logger recorded.

The database is read on a read-only connection for everything but corrections, so a damaged file is
never written (not even by an export). Qt is imported only for `--summary --chart`.
"""

from __future__ import annotations

import argparse
import datetime
import shlex
import sys
import time
from pathlib import Path

from birdcam.errors import BirdcamError, SightingsError
from birdcam.util.text import counted

LOCK_WAIT_S = 5.0
"""How long a correction waits for another program's lock before giving up (nothing changed)."""


def register(commands) -> None:
    """Adds `sightings`."""
    from birdcam.sightings.exports import EXPORT_FORMATS

    parser = commands.add_parser(
        "sightings",
        help="list, correct, summarize or export the bird visits birdcam recorded",
        description="Prints the most recent visits (a species seen for at least a second; the same species within "
        "30 s is one visit) with their ids, or: renames or deletes a visit, prints a daily summary with a chart, "
        "exports the visits as CSV or in eBird's record format, or exports the bird crops as a dataset for "
        "`birdcam train` (corrected names used, deleted visits left out).",
    )
    parser.add_argument(
        "--db",
        type=Path,
        metavar="FILE",
        help="the sightings database (default: the one the window and `live --headless` record into)",
    )
    parser.add_argument("--limit", type=int, default=20, metavar="N", help="how many recent visits to print (20)")
    actions = parser.add_mutually_exclusive_group()
    actions.add_argument("--export", type=Path, metavar="FILE.csv", help="write every visit to this CSV file")
    parser.add_argument(
        "--format",
        default="birdcam",
        metavar="|".join(EXPORT_FORMATS),
        help="--export: birdcam (one row per visit, default) or ebird (eBird record format: one row "
        "per species per day, count = the most seen at once)",
    )
    parser.add_argument(
        "--location",
        default="birdcam",
        metavar="NAME",
        help="--format ebird: the location name of the checklists (default: birdcam)",
    )
    actions.add_argument(
        "--relabel",
        nargs=2,
        metavar=("ID", "NAME"),
        help="rename visit ID's species: a common or a scientific name of the model, any case, both names are stored "
        "(the model's name is kept as the original)",
    )
    parser.add_argument(
        "--model",
        type=Path,
        metavar="TFLITE",
        help="--relabel: the model whose species names are checked (default: see `birdcam models`)",
    )
    parser.add_argument(
        "--as-typed",
        action="store_true",
        help="--relabel: store a name the model does not know as it is typed",
    )
    actions.add_argument(
        "--delete", type=int, metavar="ID", help="delete visit ID (kept as deleted, left out of everything)"
    )
    actions.add_argument(
        "--export-dataset",
        type=Path,
        metavar="DIR",
        help="write the visits' bird crops as DIR/<SPECIES NAME>/<n>.jpg with a birds.csv, for "
        "`birdcam train --data DIR --val-split 0.1 --test-split 0.1`",
    )
    parser.add_argument("--since", metavar="YYYY-MM-DD", help="--export-dataset: only visits from that day on")
    parser.add_argument(
        "--min-score",
        type=float,
        metavar="S",
        help="--export-dataset: only visits whose best score is at least S (0-1)",
    )
    actions.add_argument(
        "--summary",
        action="store_true",
        help="per day: the species seen, their visits, first sightings ever or this year",
    )
    parser.add_argument("--days", type=int, default=7, metavar="N", help="--summary: how many days, up to today (7)")
    parser.add_argument("--chart", type=Path, metavar="FILE.png", help="--summary: also draw species by day as a PNG")
    parser.set_defaults(handler=run_sightings)


def run_sightings(args: argparse.Namespace) -> int:
    """`birdcam sightings`: one of the actions, else the recent visits."""
    from birdcam.sightings.db import reading_path

    _check_options(args)
    path = args.db if args.db is not None else reading_path()
    if args.relabel is not None or args.delete is not None:
        return _correct(args, path)
    db = _open_for_reading(path)
    if db is None:
        print(f"No sightings yet (they are kept in {path}).")
        return 0
    with db:
        if args.export is not None:
            return _export(args, db)
        if args.export_dataset is not None:
            return _export_dataset(args, db)
        if args.summary:
            return _summary(args, db)
        visits = db.recent(args.limit)
    if not visits:
        print(f"No sightings yet (they are kept in {path}).")
    for visit in visits:
        print(visit_line(visit))
    return 0


def visit_line(visit) -> str:
    """One visit as `birdcam sightings` lists it: id, start, duration, best score, count, name, source, correction."""
    seconds = max(0, round(visit.duration_s))
    start = datetime.datetime.fromtimestamp(visit.start).strftime("%Y-%m-%d %H:%M:%S")
    scientific = f" ({visit.scientific_name})" if visit.scientific_name and visit.common_name else ""
    count = f"x{visit.count}" if visit.count > 1 else "  "
    renamed = f"  (renamed from {visit.original_display_name})" if visit.renamed else ""
    return (
        f"{visit.id:5d}  {start}  {seconds // 60:3d}:{seconds % 60:02d}  {visit.best_score:4.0%}  {count}  "
        f"{visit.display_name}{scientific}  [{visit.source}]{renamed}"
    )


def _check_options(args: argparse.Namespace) -> None:
    """Each option with the action it belongs to, and in range: one line saying what is wrong."""
    from birdcam.sightings.exports import EXPORT_FORMATS

    if args.limit < 1:
        raise BirdcamError(f"--limit must be at least 1, not {args.limit}")
    if args.format not in EXPORT_FORMATS:
        raise BirdcamError(f"--format must be {' or '.join(EXPORT_FORMATS)}, not {args.format!r}")
    belongs = {
        "format": ("export", args.format != "birdcam"),
        "location": ("export", args.location != "birdcam"),
        "since": ("export_dataset", args.since is not None),
        "min_score": ("export_dataset", args.min_score is not None),
        "days": ("summary", args.days != 7),
        "chart": ("summary", args.chart is not None),
        "model": ("relabel", args.model is not None),
        "as_typed": ("relabel", args.as_typed),
    }
    for option, (action, given) in belongs.items():
        if given and not getattr(args, action):
            raise BirdcamError(f"--{option.replace('_', '-')} goes with --{action.replace('_', '-')}")
    if args.location != "birdcam" and args.format != "ebird":
        raise BirdcamError("--location goes with --format ebird")
    if args.min_score is not None and not 0.0 <= args.min_score <= 1.0:
        raise BirdcamError(f"--min-score must be between 0 and 1, not {args.min_score}")
    if args.days < 1:
        raise BirdcamError(f"--days must be at least 1, not {args.days}")
    if args.since is not None:
        _since(args.since)


def _since(text: str) -> float:
    """Local midnight of a YYYY-MM-DD day, as unix time."""
    try:
        day = datetime.date.fromisoformat(text)
    except ValueError:
        raise BirdcamError(f"--since must be a day like 2025-05-31, not {text!r}") from None
    return datetime.datetime(day.year, day.month, day.day).timestamp()


def _open_for_reading(path: Path):
    """The database on a read-only connection; None when there is none yet."""
    from birdcam.sightings.db import SightingsDB, probe

    if probe(path).state == "missing":
        return None
    return SightingsDB.open(path, read_only=True)


def _correct(args: argparse.Namespace, path: Path) -> int:
    """--relabel or --delete: one committed change, or one line saying why none was made."""
    import sqlite3

    from birdcam.sightings.db import LockedDatabase, SightingsDB, is_locked_error

    if not path.exists():
        raise SightingsError(f"no sightings database at {path} yet, so no visit to correct")
    with SightingsDB.open(path, busy_timeout_s=LOCK_WAIT_S) as db:
        try:
            if args.delete is not None:
                visit = db.delete(args.delete, time.time())
                print(f"deleted visit {visit.id} ({visit.display_name}, {_when(visit.start)})")
                return 0
            return _relabel(args, db)
        except sqlite3.OperationalError as error:
            if is_locked_error(error):
                raise LockedDatabase(path) from None
            raise


def _relabel(args: argparse.Namespace, db) -> int:
    from birdcam.sightings.names import recorded_labels, resolve_species_name

    visit_id, text = args.relabel
    try:
        visit_id = int(visit_id)
    except ValueError:
        raise BirdcamError(f"--relabel takes a visit id (a number) and a name, not {visit_id!r}") from None
    before = db.existing(visit_id)
    labels, model = _model_labels(args.model)
    recorded = [
        pair
        for visit in db.visits()
        for pair in (
            (visit.common_name, visit.scientific_name),
            (visit.original_common_name or "", visit.original_scientific_name or ""),
        )
    ]
    name = resolve_species_name(text, [*labels, *recorded_labels(recorded)])
    if not name.known and not args.as_typed:
        checked = f"{model} and the recorded visits" if model else "the recorded visits (no model found to check it)"
        raise BirdcamError(
            f"{name.unknown_warning()}: neither {checked} name it; check the spelling, or add --as-typed to store it "
            "as it is"
        )
    visit = db.rename(visit_id, name.common_name, name.scientific_name, time.time())
    print(
        f"visit {visit.id} ({_when(visit.start)}) is now {visit.display_name}"
        f"{' (' + visit.scientific_name + ')' if visit.scientific_name and visit.common_name else ''}; "
        f"it was {before.display_name}"
    )
    if not name.known:
        print(f"birdcam: warning: {name.unknown_warning()}; stored as typed", file=sys.stderr)
    return 0


def _model_labels(model: Path | None) -> tuple[tuple, str]:
    """(labels, the model's file name) of --model, else of the model `birdcam models` names (nothing is downloaded);
    ((), "") when there is none."""
    from birdcam.errors import ModelError
    from birdcam.models.labels import read_labels
    from birdcam.models.store import resolve_model
    from birdcam.sightings.names import model_labels

    try:
        resolved = resolve_model(model, download=False)
    except ModelError:
        if model is not None:
            raise
        return (), ""
    labels = read_labels(resolved.labels_path) if resolved.labels_path else model_labels(resolved.path)
    return labels, resolved.path.name


def _export(args: argparse.Namespace, db) -> int:
    from birdcam.sightings import exports

    visits = db.visits()
    if args.format == "ebird":
        rows = exports.write_ebird(visits, args.export, location=args.location)
        named = sum(v.known for v in visits)
        print(
            f"exported {counted(rows, 'species-day')} of {counted(named, 'visit')} in eBird record format "
            f"to {args.export}"
        )
    else:
        count = exports.write_csv(visits, args.export)
        print(f"exported {counted(count, 'visit')} to {args.export}")
    return 0


def _export_dataset(args: argparse.Namespace, db) -> int:
    from birdcam.sightings.exports import MIN_IMAGES_PER_CLASS, export_dataset

    since = _since(args.since) if args.since is not None else None
    result = export_dataset(db.visits(), args.export_dataset, since=since, min_score=args.min_score or 0.0)
    folder = shlex.quote(str(result.folder))
    print(f"wrote {result.images} bird crops of {len(result.classes)} species to {result.folder} (with birds.csv)")
    print(f"teach them to the model birdcam runs with: birdcam train --extend --data {folder}")
    if not result.small_classes:
        print(f"or train a model of their own with: birdcam train --data {folder} --val-split 0.1 --test-split 0.1")
    if result.left_out:
        print(
            f"birdcam: note: {result.left_out} visits have no bird crop (recorded before crops were kept, or "
            "their file was removed) and were left out",
            file=sys.stderr,
        )
    small = result.small_classes
    if small:
        print(
            f"birdcam: note: {len(small)} species have fewer than {MIN_IMAGES_PER_CLASS} crops "
            f"({', '.join(small[:3])}{', ...' if len(small) > 3 else ''}): --extend teaches them as they are; "
            "a model of their own needs that many of each",
            file=sys.stderr,
        )
    return 0


def _summary(args: argparse.Namespace, db) -> int:
    from birdcam.sightings.summary import summarize, summary_lines

    summary = summarize(db.visits(), days=args.days)
    if args.chart is not None:  # the file first: a reader that stops early (`| head`) must not cost it
        from birdcam.gui.summary_chart import save_chart

        save_chart(summary, args.chart)
    for line in summary_lines(summary):
        print(line)
    if args.chart is not None:
        print(f"chart: {args.chart}")
    return 0


def _when(t: float) -> str:
    return datetime.datetime.fromtimestamp(t).strftime("%Y-%m-%d %H:%M")
