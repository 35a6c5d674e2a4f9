"""Visits out of birdcam: a CSV of every visit, the eBird record format, and the bird crops as a training dataset.

Every writer builds its output beside the target and renames it into place, so a failed export leaves
nothing half-written; a place that cannot be written is one SightingsError line.
"""

from __future__ import annotations

import collections
import contextlib
import csv
import datetime
import io
import os
import re
import shutil
import urllib.parse
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath

from birdcam.errors import SightingsError
from birdcam.sightings.visit import Visit
from birdcam.util.fileio import write_text_atomically
from birdcam.util.text import counted

EXPORT_FORMATS = ("birdcam", "ebird")
CSV_COLUMNS = (
    "id",
    "start",
    "end",
    "duration_s",
    "common_name",
    "scientific_name",
    "best_score",
    "source",
    "model",
    "snapshot_path",
    "count",
    "crop_path",
    "original_common_name",
    "original_scientific_name",
    "corrected_at",
)
# eBird's "eBird Record Format (Extended)" for its spreadsheet import: these 19 columns in this order, no header row.
EBIRD_COLUMNS = (
    "Common Name",
    "Genus",
    "Species",
    "Number",
    "Species Comments",
    "Location Name",
    "Latitude",
    "Longitude",
    "Date",
    "Start Time",
    "State/Province",
    "Country Code",
    "Protocol",
    "Number of Observers",
    "Duration",
    "All observations reported?",
    "Effort Distance Miles",
    "Effort area acres",
    "Submission Comments",
)
DATASET_NAMES_FILE = "birds.csv"
DATASET_COLUMNS = ("class id", "filepaths", "labels", "data set", "scientific name")  # as the Kaggle set's birds.csv
MIN_IMAGES_PER_CLASS = 3
"""`birdcam train --val-split --test-split` needs this many images of a class (one each for train, valid, test)."""


def write_csv(visits: Sequence[Visit], path: Path) -> int:
    """Every visit, oldest first (times ISO 8601 in the local time zone); returns how many."""
    rows = [
        (
            v.id,
            _iso(v.start),
            _iso(v.end),
            round(v.duration_s, 1),
            v.common_name,
            v.scientific_name,
            round(v.best_score, 4),
            v.source,
            v.model,
            v.snapshot_path or "",
            v.count,
            v.crop_path or "",
            v.original_common_name or "",
            v.original_scientific_name or "",
            _iso(v.corrected_at) if v.corrected_at is not None else "",
        )
        for v in visits
    ]
    _write_table(path, [CSV_COLUMNS, *rows])
    return len(rows)


def ebird_rows(visits: Iterable[Visit], *, location: str = "birdcam") -> list[tuple]:
    """eBird record rows: one per species per day (one checklist a day, incidental), count = most seen at once.

    Birds of a species the model does not know are left out (eBird needs a species).
    """
    days: dict[datetime.date, list[Visit]] = collections.defaultdict(list)
    for visit in visits:
        if visit.known:
            days[visit.day].append(visit)
    rows = []
    for day in sorted(days):
        visits_of_day = sorted(days[day], key=lambda v: v.start)
        start = datetime.datetime.fromtimestamp(visits_of_day[0].start).strftime("%H:%M")
        sources = sorted({public_source_name(v.source) for v in visits_of_day if v.source})
        models = sorted({v.model for v in visits_of_day if v.model})
        checklist = (
            f"Recorded by birdcam (camera classifier) from {', '.join(sources) or 'a camera'}"
            f"{'; model ' + ', '.join(models) if models else ''}"
        )
        species: dict[str, list[Visit]] = {}
        for visit in visits_of_day:
            species.setdefault(visit.species_key, []).append(visit)
        for group in species.values():
            latest = group[-1]
            genus, _, epithet = " ".join(latest.scientific_name.split()).partition(" ")
            best_score = max(v.best_score for v in group)
            comment = f"birdcam: {counted(len(group), 'visit')}, best score {best_score:.0%}"
            rows.append(
                (
                    latest.common_name,
                    genus,
                    epithet,
                    max(v.count for v in group),
                    comment,
                    location,
                    "",
                    "",
                    day.strftime("%m/%d/%Y"),
                    start,
                    "",
                    "",
                    "Incidental",
                    1,
                    "",
                    "N",
                    "",
                    "",
                    checklist,
                )
            )
    return rows


def public_source_name(source: str) -> str:
    """A visit's source as a checklist shared with others may name it: a file by its name (no local folders), a
    stream by its host (no user, password or path), anything else (camera:0, screen) as it is."""
    source = source.strip()
    kind, _, rest = source.partition(": ")
    if kind in ("video", "folder", "stream") and rest:  # "video: feeder.mp4", as a source describes itself
        return f"{kind}: {public_source_name(rest)}"
    parsed = urllib.parse.urlsplit(source)
    if parsed.scheme and parsed.netloc:
        return f"{parsed.scheme}://{parsed.hostname or ''}"
    if "/" in source or "\\" in source:
        return PureWindowsPath(source).name if "\\" in source else PurePosixPath(source).name
    return source


def write_ebird(visits: Iterable[Visit], path: Path, *, location: str = "birdcam") -> int:
    """The eBird record format file; returns how many rows (species-days)."""
    rows = ebird_rows(visits, location=location)
    _write_table(path, rows)
    return len(rows)


@dataclass(frozen=True)
class DatasetExport:
    """What `export_dataset` wrote."""

    folder: Path
    classes: dict[str, int]
    """Images per class folder."""
    scientific_names: dict[str, str]
    """Scientific name of each class ("" when unknown)."""
    left_out: int
    """Visits that qualified by date and score but had no crop file (recorded before crops were kept, or removed)."""

    @property
    def images(self) -> int:
        return sum(self.classes.values())

    @property
    def small_classes(self) -> list[str]:
        """Classes with fewer images than a split into train, valid and test needs."""
        return [name for name, n in self.classes.items() if n < MIN_IMAGES_PER_CLASS]


def export_dataset(
    visits: Iterable[Visit], folder: Path, *, since: float | None = None, min_score: float = 0.0
) -> DatasetExport:
    """Writes each visit's bird crop as `folder/<SPECIES NAME>/<n>.jpg` (the layout `birdcam train --data` reads) and
    a birds.csv with scientific names. Corrected names are used; deleted visits and unnamed unknown birds are left out.
    """
    folder = Path(folder)
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise SightingsError(f"{folder} already exists and is not an empty folder; pick a new folder for the dataset")
    chosen = [
        v
        for v in visits
        if v.known and not v.deleted and v.best_score >= min_score and (since is None or v.start >= since)
    ]
    by_class: dict[str, list[Visit]] = collections.defaultdict(list)
    crops: dict[Visit, Path] = {}  # each chosen visit's crop file
    left_out = 0
    for visit in sorted(chosen, key=lambda v: (v.start, v.id or 0)):
        crop = Path(visit.crop_path) if visit.crop_path else None
        if crop is not None and crop.is_file():
            by_class[class_folder_name(visit)].append(visit)
            crops[visit] = crop
        else:
            left_out += 1
    if not by_class:
        raise SightingsError(f"no visit has a bird crop to export{_filters(since, min_score)}; nothing was written")
    scientific = {name: _most_common(v.scientific_name for v in group) for name, group in by_class.items()}
    staging = folder.with_name(f".{folder.name}.{os.getpid()}.partial")
    try:
        rows = []
        for class_id, name in enumerate(sorted(by_class)):
            (staging / name).mkdir(parents=True)
            for n, visit in enumerate(by_class[name], 1):
                shutil.copyfile(crops[visit], staging / name / f"{n}.jpg")
                rows.append((class_id, f"{name}/{n}.jpg", name, "train", scientific[name]))
        _write_table(staging / DATASET_NAMES_FILE, [DATASET_COLUMNS, *rows])
        if folder.is_dir():
            folder.rmdir()  # empty (checked above): the staged folder takes its place
        os.replace(staging, folder)
    except OSError as error:
        raise SightingsError(
            f"cannot write the dataset to {folder}: {error.strerror or error}; pick a writable "
            "place with room for the pictures"
        ) from None
    finally:
        with contextlib.suppress(OSError):
            shutil.rmtree(staging)
    return DatasetExport(folder, {name: len(group) for name, group in sorted(by_class.items())}, scientific, left_out)


def class_folder_name(visit: Visit) -> str:
    """The class folder of a visit: its (corrected) name as a person reads it, made safe as a folder name."""
    name = re.sub(r"[\x00-\x1f/\\:*?\"<>|]+", " ", visit.display_name)
    return " ".join(name.split()).strip(" .") or "bird"


def _most_common(names: Iterable[str]) -> str:
    counted = collections.Counter(n for n in names if n)
    return counted.most_common(1)[0][0] if counted else ""


def _filters(since: float | None, min_score: float) -> str:
    parts = []
    if since is not None:
        parts.append(f"since {datetime.date.fromtimestamp(since).isoformat()}")
    if min_score > 0:
        parts.append(f"with a score of at least {min_score:g}")
    return f" ({', '.join(parts)})" if parts else ""


def _write_table(path: Path, rows: Sequence[Sequence]) -> None:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    try:
        write_text_atomically(Path(path), buffer.getvalue())
    except OSError as error:
        raise SightingsError(f"cannot write {path}: {error.strerror or error}; pick a writable file") from None


def _iso(t: float) -> str:
    return datetime.datetime.fromtimestamp(t).astimezone().isoformat(timespec="seconds")
