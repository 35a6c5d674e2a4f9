"""Sightings: the shown labels turned into visits, stored in SQLite as they happen, listed and exported.

A visit is one species shown continuously for at least `min_duration_s`; visits of the same species
less than `merge_gap_s` apart (with no other visit between them) are one visit. Each visit is one
row: inserted when it qualifies, then updated (end, best score, snapshot) as it goes on, every change
committed, so a crash or a kill loses no finished visit.
"""

from __future__ import annotations

import csv
import datetime
import re
import sqlite3
import threading
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TextIO

import cv2
import numpy as np

from birdcam import paths
from birdcam.errors import BirdcamError
from birdcam.fileio import write_atomically
from birdcam.labels import Label
from birdcam.smoothing import Shown

DB_NAME = "sightings.sqlite3"
CSV_COLUMNS = ("id", "start", "end", "duration_s", "common_name", "scientific_name", "best_score", "source",
               "model", "snapshot_path")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS visits (
    id INTEGER PRIMARY KEY,
    start REAL NOT NULL,
    end REAL NOT NULL,
    common_name TEXT NOT NULL,
    scientific_name TEXT NOT NULL,
    best_score REAL NOT NULL,
    source TEXT NOT NULL,
    model TEXT NOT NULL,
    snapshot_path TEXT
);
CREATE INDEX IF NOT EXISTS visits_by_start ON visits (start);
"""


@dataclass(frozen=True)
class Visit:
    """One stored visit of one species."""

    id: int | None
    """Row id; None before it is stored."""
    start: float
    """Unix time the species was first shown."""
    end: float
    """Unix time it was last shown."""
    common_name: str
    """English name ("" if the model does not give one)."""
    scientific_name: str
    """Latin name ("" if the model does not give one)."""
    best_score: float
    """Highest (smoothed) confidence during the visit."""
    source: str
    """Where it was seen, e.g. "Camera 0 (HD Webcam)"."""
    model: str
    """The model that named it."""
    snapshot_path: str | None
    """JPEG of the annotated frame with the best score, if snapshots are kept."""

    @property
    def display_name(self) -> str:
        return self.common_name or self.scientific_name


class SightingsDB:
    """The visits table. Any thread may call it (one connection behind a lock); `close()` when done."""

    def __init__(self, connection: sqlite3.Connection, path: Path):
        self._connection = connection
        self._lock = threading.Lock()
        self.path = path

    @classmethod
    def open(cls, path: Path | None = None) -> SightingsDB:
        """Opens (creating if needed) the database; default: paths.data_dir()/sightings.sqlite3."""
        path = Path(path) if path is not None else paths.data_dir() / DB_NAME
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            connection = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        except (OSError, sqlite3.Error) as error:
            raise BirdcamError(f"cannot open the sightings database {path}: {error}; check the folder is writable") from None
        try:
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")  # with WAL: a killed process loses no commit
            connection.executescript(_SCHEMA)
        except sqlite3.DatabaseError as error:
            connection.close()
            raise BirdcamError(f"the sightings database {path} is damaged ({error}); move it away and birdcam "
                               "starts a new one") from None
        return cls(connection, path)

    def add(self, visit: Visit) -> Visit:
        """Stores a new visit (committed) and returns it with its id."""
        with self._lock:
            cursor = self._connection.execute(
                "INSERT INTO visits (start, end, common_name, scientific_name, best_score, source, model, snapshot_path)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (visit.start, visit.end, visit.common_name, visit.scientific_name, visit.best_score, visit.source,
                 visit.model, visit.snapshot_path),
            )
            return replace(visit, id=cursor.lastrowid)

    def update(self, visit: Visit) -> None:
        """Rewrites a stored visit's end, best score and snapshot (committed)."""
        with self._lock:
            self._connection.execute(
                "UPDATE visits SET end = ?, best_score = ?, snapshot_path = ? WHERE id = ?",
                (visit.end, visit.best_score, visit.snapshot_path, visit.id),
            )

    def recent(self, limit: int = 50) -> list[Visit]:
        """The latest visits, newest first."""
        return self._select("ORDER BY start DESC, id DESC LIMIT ?", (limit,))

    def all(self) -> list[Visit]:
        """Every visit, oldest first."""
        return self._select("ORDER BY start, id", ())

    def _select(self, tail: str, parameters: tuple) -> list[Visit]:
        with self._lock:
            rows = self._connection.execute(
                "SELECT id, start, end, common_name, scientific_name, best_score, source, model, snapshot_path "
                f"FROM visits {tail}", parameters,
            ).fetchall()
        return [Visit(*row) for row in rows]

    def export_csv(self, path: Path) -> int:
        """Writes every visit to a CSV file (times in ISO 8601, local time zone); returns how many."""
        visits = self.all()
        path = Path(path)
        try:
            with open(path, "w", newline="", encoding="utf-8") as out:
                writer = csv.writer(out)
                writer.writerow(CSV_COLUMNS)
                for visit in visits:
                    writer.writerow((visit.id, _iso(visit.start), _iso(visit.end), round(visit.end - visit.start, 1),
                                     visit.common_name, visit.scientific_name, round(visit.best_score, 4), visit.source,
                                     visit.model, visit.snapshot_path or ""))
        except OSError as error:
            raise BirdcamError(f"cannot write {path}: {error.strerror or error}; pick a writable file") from None
        return len(visits)

    def close(self) -> None:
        with self._lock:
            self._connection.close()

    def __enter__(self) -> SightingsDB:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


@dataclass
class _Run:
    """The species shown right now, since when, and its best moment (kept until the run becomes a visit)."""

    label: Label
    start: float
    last: float
    best_score: float = -1.0
    best_image: np.ndarray | None = None
    best_image_score: float = -1.0


class VisitTracker:
    """Feeds on the shown label of every displayed frame and keeps the visits table up to date."""

    def __init__(self, db: SightingsDB, *, min_duration_s: float = 1.0, merge_gap_s: float = 30.0, source: str = "",
                 model: str = "", snapshot_dir: Path | None = None, update_interval_s: float = 1.0):
        self.db = db
        self.min_duration_s = min_duration_s
        self.merge_gap_s = merge_gap_s
        self.source = source
        self.model = model
        self.snapshot_dir = Path(snapshot_dir) if snapshot_dir is not None else None
        self.update_interval_s = update_interval_s
        """An ongoing visit's end is written at most this often (a finished visit's at once)."""
        self._run: _Run | None = None
        self._visit: Visit | None = None
        self._visit_label: Label | None = None
        self._stored: Visit | None = None  # the open visit as last written
        self._snapshot_score = -1.0  # the score of the open visit's snapshot
        self._written_at = 0.0

    def update(self, shown: Shown, t_wall: float, annotated_bgr: np.ndarray | None = None) -> Visit | None:
        """Takes one frame's shown label at unix time t_wall; returns the visit if it was stored or updated."""
        label = shown.label if shown.is_bird else None
        if self._visit is not None and t_wall - self._visit.end > self.merge_gap_s:
            self._finish_visit()
        if label is None:
            return self._end_run()
        written = None
        if self._run is None or self._run.label != label:
            written = self._end_run()
            self._run = _Run(label, t_wall, t_wall)
        run = self._run
        run.last = t_wall
        run.best_score = max(run.best_score, float(shown.score))
        if annotated_bgr is not None and shown.score > run.best_image_score:
            run.best_image, run.best_image_score = annotated_bgr, float(shown.score)
        if run.last - run.start >= self.min_duration_s:
            written = self._record(run, t_wall) or written
        return written

    def close(self) -> None:
        """Ends the open visit (writing its last state); the tracker can go on afterwards."""
        self._end_run()
        self._finish_visit()

    def _record(self, run: _Run, t_wall: float) -> Visit | None:
        """Makes the run a visit (new, or merged into the open one of the same species); writes at most every update_interval_s."""
        visit = self._visit
        if visit is None or self._visit_label != run.label or run.start - visit.end > self.merge_gap_s:
            self._finish_visit()
            names = (run.label.common_name, run.label.scientific_name)
            if not any(names):
                names = (run.label.display_name, "")
            visit = self.db.add(Visit(None, run.start, run.last, *names, run.best_score, self.source, self.model, None))
            self._visit, self._visit_label, self._stored, self._written_at = visit, run.label, visit, t_wall
            self._snapshot_score = -1.0
            return self._write(run) or visit
        self._visit = replace(visit, end=run.last, best_score=max(visit.best_score, run.best_score))
        if t_wall - self._written_at >= self.update_interval_s:
            return self._write(run)
        return None

    def _end_run(self) -> Visit | None:
        """The shown species changed: a visit it belonged to is now finished, so it is written at once."""
        ended, self._run = self._run, None
        if ended is not None and self._visit is not None and self._visit_label == ended.label:
            return self._write(ended)
        return None

    def _finish_visit(self) -> None:
        self._write(None)
        self._visit = self._visit_label = self._stored = None

    def _write(self, run: _Run | None) -> Visit | None:
        """Saves the run's best annotated frame if it beats the visit's snapshot, and commits what changed."""
        if self._visit is None:
            return None
        if self.snapshot_dir is not None and run is not None and run.best_image is not None \
                and run.best_image_score > self._snapshot_score:
            path = self.snapshot_dir / _snapshot_name(self._visit)
            _write_jpeg(path, run.best_image)
            self._snapshot_score, run.best_image = run.best_image_score, None
            self._visit = replace(self._visit, snapshot_path=str(path))
        if self._visit == self._stored:
            return None
        self.db.update(self._visit)
        self._stored = self._visit
        self._written_at = self._visit.end
        return self._visit


def print_sightings(db_path: Path | None, limit: int, out: TextIO) -> int:
    """Prints the latest visits, newest first, one a line; returns how many (CLI `birdcam sightings`)."""
    path = Path(db_path) if db_path is not None else paths.data_dir() / DB_NAME
    if not path.is_file():
        print(f"No sightings yet (they are kept in {path}).", file=out)
        return 0
    with SightingsDB.open(path) as db:
        visits = db.recent(limit)
    if not visits:
        print(f"No sightings yet (they are kept in {path}).", file=out)
    for visit in visits:
        seconds = max(0, round(visit.end - visit.start))
        start = datetime.datetime.fromtimestamp(visit.start).strftime("%Y-%m-%d %H:%M:%S")
        scientific = f" ({visit.scientific_name})" if visit.scientific_name and visit.common_name else ""
        print(f"{start}  {seconds // 60:3d}:{seconds % 60:02d}  {visit.best_score:4.0%}  "
              f"{visit.display_name}{scientific}  [{visit.source}]", file=out)
    return len(visits)


def export_sightings(db_path: Path | None, csv_path: Path) -> int:
    """Writes every visit to csv_path; returns how many (CLI `birdcam sightings --export`)."""
    path = Path(db_path) if db_path is not None else paths.data_dir() / DB_NAME
    with SightingsDB.open(path) as db:
        return db.export_csv(csv_path)


def _snapshot_name(visit: Visit) -> str:
    stamp = datetime.datetime.fromtimestamp(visit.start).strftime("%Y%m%d-%H%M%S")
    species = re.sub(r"[^A-Za-z0-9]+", "-", visit.display_name).strip("-").lower() or "bird"
    return f"{stamp}-{species}-{visit.id}.jpg"


def _write_jpeg(path: Path, image: np.ndarray) -> None:
    """Writes via a temporary file and a rename, so a kill never leaves half a snapshot."""
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 90])
    if not ok:
        raise BirdcamError(f"cannot encode the snapshot for {path.name}")
    write_atomically(path, data.tobytes())


def _iso(t: float) -> str:
    return datetime.datetime.fromtimestamp(t).astimezone().isoformat(timespec="seconds")
