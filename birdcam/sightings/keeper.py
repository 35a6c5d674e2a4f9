"""The recorder's hold on the database file, on its writer thread: opening it, and every fault as a state.

- damaged file: left untouched; recording goes to `side_path()` beside it (DAMAGED); once the file is
  moved away the side database takes its name, once it is repaired in place the side visits move in;
- locked by another program: LOCKED; opening is tried again every `retry_interval_s`, and a write
  that meets the lock is tried again later by the recorder;
- read-only file or folder: READ_ONLY, visits are listed from a read-only connection;
- any other error (disk full, a folder that cannot be made): ERROR, recording stops.

Visits that could not be written by closing time are spilled to a pending file (beside the database,
else in the cache or temporary folder when that cannot be written) and merged on the next start.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sqlite3
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict
from pathlib import Path

from birdcam import paths
from birdcam.errors import SightingsError, first_line
from birdcam.sightings.db import (
    DamagedDatabase,
    LockedDatabase,
    ReadOnlyDatabase,
    SightingsDB,
    is_damage_error,
    is_locked_error,
    pending_path,
    side_path,
)
from birdcam.sightings.overview import State
from birdcam.sightings.visit import Visit
from birdcam.util.fileio import write_text_atomically
from birdcam.util.text import counted

_BUSY_TIMEOUT_S = 0.05  # the writer never waits long on a lock: visits wait in memory instead


class DatabaseKeeper:
    """Opens and writes the database; reports each change of state with `on_state(state, message)` and one-off
    messages with `on_notice(message)`. Use it from one thread (the recorder's writer thread)."""

    def __init__(
        self,
        path: Path,
        *,
        retry_interval_s: float,
        on_state: Callable[[State, str], None],
        on_notice: Callable[[str], None],
    ):
        self.path = Path(path)
        self.retry_interval_s = retry_interval_s
        self._on_state = on_state
        self._on_notice = on_notice
        self.db: SightingsDB | None = None
        """The database being written (the side database while the main one is damaged); None when none is."""
        self._reader: SightingsDB | None = None
        self.state, self.message = State.STARTING, ""
        self._writing = (State.RECORDING, "")  # the state to return to when a lock goes
        self._next_open_try = 0.0

    @property
    def waiting_to_open(self) -> bool:
        """Nothing is open for writing yet, but it may be soon (starting, or locked at open)."""
        return self.db is None and self.state in (State.STARTING, State.LOCKED)

    def open(self) -> bool:
        """Opens the database for writing, merging visits kept elsewhere; damaged, read-only and locked become
        states. Returns whether anything changed that a reader shows."""
        self._next_open_try = time.monotonic() + self.retry_interval_s
        side = side_path(self.path)
        if not self.path.exists() and side.is_file():
            _adopt(side, self.path)  # the damaged file was moved away: its replacement takes its name
        try:
            self.db = SightingsDB.open(self.path, busy_timeout_s=_BUSY_TIMEOUT_S)
            self._writing = (State.RECORDING, "")
            self._set_state(*self._writing)
            if side.is_file():
                self._merge_side(side)
        except DamagedDatabase as damaged:
            try:
                self.db = SightingsDB.open(side, busy_timeout_s=_BUSY_TIMEOUT_S)
                self._writing = (State.DAMAGED, _sentence(str(damaged)))
                self._set_state(*self._writing)
            except SightingsError as error:
                self.stop(f"Sightings are not recorded: {damaged}; and {side.name} cannot be used: {error}")
        except ReadOnlyDatabase as error:
            self.stop(f"Sightings are not recorded: {error}", State.READ_ONLY)
            with contextlib.suppress(SightingsError):
                self._reader = SightingsDB.open(self.path, read_only=True)
        except LockedDatabase:
            if self.state == State.LOCKED:
                return False
            self._set_state(State.LOCKED, self._locked_message(self.path))
            return True
        except SightingsError as error:
            self.stop(f"Sightings are not recorded: {error}")
        if self.db is not None:
            self._merge_pending_files()
        return True

    def open_if_due(self) -> bool:
        """Tries to open again when waiting and the retry interval has passed; returns whether a database is open
        for writing."""
        if self.db is None and self.waiting_to_open and time.monotonic() >= self._next_open_try:
            self.open()
        return self.db is not None

    def write(self, visit: Visit) -> int | None:
        """Upserts a visit (committed); its row id, or None when it could not be written (the state says why)."""
        if self.db is None:
            return None
        try:
            visit_id = self.db.upsert(visit)
        except sqlite3.Error as error:
            self.failed(error)
            return None
        if self.state == State.LOCKED:
            self._set_state(*self._writing)
        return visit_id

    def withdraw(self, uid: str) -> bool:
        """Removes a visit the recorder took back; False when the database failed (the state says why)."""
        if self.db is None:
            return True
        try:
            self.db.withdraw(uid)
        except sqlite3.Error as error:
            self.failed(error)
            return False
        return True

    def failed(self, error: sqlite3.Error) -> None:
        """A write failed: a lock is a wait, damage found while writing moves recording beside it, anything else
        stops recording (what waits is kept for the pending file)."""
        if is_locked_error(error):
            if self.state != State.LOCKED:
                self._set_state(State.LOCKED, self._locked_message(self.db.path if self.db else self.path))
            return
        reason = first_line(error)
        failed_path = self.db.path if self.db is not None else self.path
        if is_damage_error(error) and self.db is not None and self.db.path == self.path:
            self.db.close()
            self.db = None
            try:
                self.db = SightingsDB.open(side_path(self.path), busy_timeout_s=_BUSY_TIMEOUT_S)
                self._writing = (State.DAMAGED, _sentence(str(DamagedDatabase(self.path, reason))))
                self._set_state(*self._writing)
                return
            except SightingsError as side_error:
                reason, failed_path = first_line(side_error), side_path(self.path)
        if self.db is not None:
            self.db.close()
            self.db = None
        self.stop(
            f"Sightings stopped: cannot write {failed_path.name}: {reason}; check the "
            "folder and the free space, then restart the source"
        )

    def stop(self, message: str, state: State = State.ERROR) -> None:
        """Recording is off from now on; the first reason is the one the user sees."""
        if self.state != State.ERROR:
            self._set_state(state, message)

    def readable(self) -> SightingsDB | None:
        """The database to read: the one written, else a read-only connection (read-only, locked at open)."""
        if self.db is not None:
            return self.db
        if self._reader is None and self.path.exists():
            with contextlib.suppress(SightingsError):
                self._reader = SightingsDB.open(self.path, read_only=True)
        return self._reader

    def spill(self, visits: Iterable[Visit]) -> Path | None:
        """Keeps visits that could not be written in a pending file, merged on the next start; returns the file,
        or None when no place could take it."""
        visits = list(visits)
        for place in pending_places(self.path):
            kept = {v.uid: v for v in read_pending(place)}
            kept.update((v.uid, v) for v in visits)
            try:
                place.parent.mkdir(parents=True, exist_ok=True)
                write_text_atomically(place, "".join(json.dumps(asdict(v)) + "\n" for v in kept.values()))
            except OSError:
                continue
            where = place.name if place.parent == self.path.parent else str(place)
            self._on_notice(f"{counted(len(visits), 'visit')} wait in {where}; written on the next start")
            return place
        return None

    def close(self) -> None:
        for db in (self.db, self._reader):
            if db is not None:
                db.close()
        self.db = self._reader = None

    def _merge_pending_files(self) -> None:
        assert self.db is not None
        for place in pending_places(self.path):
            visits = read_pending(place)
            if not visits:
                continue
            try:
                self.db.merge(visits)
            except sqlite3.Error as error:
                self.failed(error)
                return
            with contextlib.suppress(OSError):
                place.unlink()
            self._on_notice(f"{counted(len(visits), 'visit')} kept from the last session written")

    def _merge_side(self, side: Path) -> None:
        """The main database is sound again (repaired in place): the visits recorded beside it move into it."""
        assert self.db is not None
        try:
            with SightingsDB.open(side, busy_timeout_s=_BUSY_TIMEOUT_S) as other:
                visits = other.visits()
            self.db.merge(visits)
        except (SightingsError, sqlite3.Error):
            return  # left where it is; tried again on the next start
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(OSError):
                os.unlink(f"{side}{suffix}")
        self._on_notice(
            f"{counted(len(visits), 'visit')} recorded in {side.name} while {self.path.name} was damaged merged into it"
        )

    def _set_state(self, state: State, message: str) -> None:
        self.state, self.message = state, message
        self._on_state(state, message)

    @staticmethod
    def _locked_message(path: Path) -> str:
        return (
            f"The sightings database {path.name} is locked by another program; new visits wait and are "
            "written when it is free"
        )


def pending_places(path: Path) -> list[Path]:
    """Where the visits not written before closing are kept, in order of preference: beside the database, then
    in the cache folder, then in the temporary folder (a full or read-only disk)."""
    path = Path(path)
    tag = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:12]
    name = f"{path.stem}-{tag}.pending.jsonl"
    return [pending_path(path), paths.cache_dir() / "pending" / name, Path(tempfile.gettempdir()) / "birdcam" / name]


def read_pending(path: Path) -> list[Visit]:
    """The visits in a pending file; a line that does not parse is skipped (the rest still count)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return []
    visits = []
    for line in lines:
        with contextlib.suppress(ValueError, TypeError):
            visits.append(Visit(**json.loads(line)).replace(id=None))
    return visits


def _sentence(text: str) -> str:
    """An error's one line as a message on its own: a capital first letter."""
    return text[:1].upper() + text[1:]


def _adopt(side: Path, path: Path) -> None:
    """Renames the side database (and its WAL) to the main name."""
    with contextlib.suppress(OSError):
        os.replace(side, path)
        if Path(f"{side}-wal").exists():
            os.replace(f"{side}-wal", f"{path}-wal")
        Path(f"{side}-shm").unlink(missing_ok=True)
