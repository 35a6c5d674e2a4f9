"""The recorder: scene results in on the caller's thread, visits out to SQLite and JPEG on a writer thread it owns.

`update()` only runs the visit rules in memory and queues what changed, so it is cheap on any thread
(the GUI's, headless mode's). The writer thread opens the database, draws and writes the snapshots,
commits each visit as it qualifies and as it grows, and keeps an `Overview` (recent visits, today's
counts, the database's state) that readers take without touching SQLite.

Faults are states, never exceptions on the caller's thread:
- damaged file: left untouched; recording goes to `side_path()` beside it ("damaged");
- locked by another program: visits wait in memory and are written when the lock goes ("locked");
  at close, what is still waiting goes to `pending_path()` and is merged on the next start;
- read-only file or folder: visits are listed, nothing is recorded ("read-only");
- any other I/O error (snapshot folder gone, disk full): recording stops with a message ("error").
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from birdcam import paths
from birdcam.errors import SightingsError, first_line
from birdcam.scene.scene_pass import Bird
from birdcam.sightings import snapshots
from birdcam.sightings.db import (
    DamagedDatabase,
    LockedDatabase,
    ReadOnlyDatabase,
    SightingsDB,
    default_path,
    is_damage_error,
    is_locked_error,
    pending_path,
    side_path,
)
from birdcam.sightings.visit import Visit, names_from_text
from birdcam.sightings.visits import BestMoment, Change, VisitBuilder, VisitUpdate, Withdrawal
from birdcam.util.fileio import write_text_atomically

STATES = ("starting", "recording", "damaged", "locked", "read-only", "error")
"""The database's state as `Overview.state` and `on_status` give it; "notice" is also sent for one-off messages."""
_RECORDING_STATES = ("starting", "recording", "damaged", "locked")


@dataclass(frozen=True)
class Overview:
    """What a reader shows, kept by the writer thread: take it from any thread."""

    recent: tuple[Visit, ...] = ()
    """The latest visits, newest first; a visit waiting to be written (database locked) has id None."""
    visits_today: int = 0
    """Visits that started today (local time), not deleted."""
    species_today: int = 0
    """Species among them (unknown birds are no species)."""
    state: str = "starting"
    """One of STATES."""
    message: str = ""
    """What the state means for the user ("" while recording normally)."""
    path: Path | None = None
    """The database being read and written (the side database while the main one is damaged)."""
    waiting: int = 0
    """Visits waiting to be written."""

    @property
    def recording(self) -> bool:
        return self.state in _RECORDING_STATES


@dataclass
class _Pending:
    """A visit to write: its latest state, and a moment to draw first (None once drawn)."""

    visit: Visit
    moment: BestMoment | None = None
    final: bool = False


@dataclass(frozen=True)
class _Command:
    """Work for the writer thread from another thread: fn(db) runs there; done(result, error) gets the outcome."""

    fn: Callable[[SightingsDB], object]
    done: Callable[[object, str], None] | None
    writes: bool


@dataclass(frozen=True)
class _Flush:
    event: threading.Event
    written: list = field(default_factory=list)


@dataclass(frozen=True)
class _Stop:
    deadline: float


class SightingsRecorder:
    """Turns every classified frame's birds into visits in the sightings database. `close()` when done.

    Callbacks run on the writer thread: `on_status(state, message)`, `on_changed()` (the overview changed),
    `on_new_species(kind, visit)` with kind "ever" or "today" (the first visit of a species not muted).
    """

    def __init__(
        self,
        db_path: Path | None = None,
        *,
        source: str = "",
        model: str = "",
        snapshot_dir: Path | None = None,
        min_duration_s: float = 1.0,
        merge_gap_s: float = 30.0,
        update_interval_s: float = 1.0,
        recent_limit: int = 50,
        muted: Iterable[str] = (),
        on_status: Callable[[str, str], None] | None = None,
        on_changed: Callable[[], None] | None = None,
        on_new_species: Callable[[str, Visit], None] | None = None,
        retry_interval_s: float = 0.25,
    ):
        self.path = Path(db_path) if db_path is not None else default_path()
        self.snapshot_dir = (
            Path(snapshot_dir) if snapshot_dir is not None else paths.data_dir() / "snapshots" / "visits"
        )
        self.recent_limit = recent_limit
        self.retry_interval_s = retry_interval_s
        self._on_status = on_status
        self._on_changed = on_changed
        self._on_new_species = on_new_species
        self._builder = VisitBuilder(
            source=source,
            model=model,
            min_duration_s=min_duration_s,
            merge_gap_s=merge_gap_s,
            update_interval_s=update_interval_s,
        )
        self._muted = _muted_names(muted)
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._builder_lock = threading.Lock()  # update() on one thread, close() or set_source() on another
        self._overview = Overview(path=self.path)
        self._accepting = True  # False once recording is off (read-only, an I/O error) or closed
        self._closed = False
        # writer-thread state
        self._db: SightingsDB | None = None
        self._reader: SightingsDB | None = None
        self._pending: dict[str, _Pending] = {}
        self._ids: dict[str, int] = {}  # uid -> row id of the visits written that may still change
        self._drawn: dict[str, tuple[str, ...]] = {}  # uid -> its pictures, for those visits
        self._state, self._message = "starting", ""
        self._writing = ("recording", "")  # the state to return to when a lock goes
        self._next_open_try = 0.0
        self._thread = threading.Thread(target=self._run, name="sightings writer", daemon=True)
        self._thread.start()

    # -- the caller's thread -------------------------------------------------------------

    @property
    def overview(self) -> Overview:
        return self._overview

    def update(self, birds: Sequence[Bird], t_wall: float, frame_bgr: np.ndarray | None = None) -> None:
        """Takes one classified frame's birds at unix time `t_wall`. Cheap: the visit rules in memory, nothing else.

        `frame_bgr` is kept by reference for a snapshot; do not change it afterwards (sources hand out new frames).
        """
        if not self._accepting:
            return
        with self._builder_lock:
            changes = self._builder.update(birds, t_wall, frame_bgr)
        for change in changes:
            self._queue.put(change)

    def set_source(self, source: str) -> None:
        """Ends the visits of the previous source; the next ones are recorded under this one."""
        with self._builder_lock:
            self._end_visits()
            self._builder.source = source

    def set_model(self, model: str) -> None:
        """Ends the visits named by the previous model; the next ones are recorded under this one."""
        with self._builder_lock:
            self._end_visits()
            self._builder.model = model

    def set_muted(self, names: Iterable[str]) -> None:
        """Species (common or scientific names, any case) whose first visit gives no notice."""
        self._muted = _muted_names(names)

    def relabel(self, visit_id: int, name: str) -> None:
        """Renames a visit's species (a label of the model, "Genus species (Common)", or a typed name); the model's
        name is kept. Done on the writer thread; the outcome comes as on_changed, or on_status("notice", why not)."""
        common, scientific = names_from_text(name)

        def rename(db: SightingsDB) -> Visit:
            return db.rename(visit_id, common, scientific, time.time())

        def done(visit: Visit | None, error: str) -> None:
            self._notice(error or f"Visit {visit_id} renamed to {visit.display_name}")

        self._queue.put(_Command(rename, done, True))

    def delete(self, visit_id: int) -> None:
        """Deletes a visit (kept in the table as deleted; left out of lists, counts and exports)."""

        def done(visit: Visit | None, error: str) -> None:
            self._notice(error or f"Visit {visit_id} ({visit.display_name}) deleted")

        self._queue.put(_Command(lambda db: db.delete(visit_id, time.time()), done, True))

    def query(self, fn: Callable[[SightingsDB], object], done: Callable[[object, str], None]) -> None:
        """Runs fn(db) on the writer thread (reads: summaries, exports); done(result, "") or done(None, why) there."""
        self._queue.put(_Command(fn, done, False))

    def flush(self, timeout: float = 5.0) -> bool:
        """Waits until what was queued so far is written; False if something is still waiting (locked) or it timed out."""
        if self._closed:
            return False
        flush = _Flush(threading.Event())
        self._queue.put(flush)
        return flush.event.wait(timeout) and bool(flush.written and flush.written[0])

    def close(self, timeout: float = 1.5) -> None:
        """Ends every visit and writes what waits, within about `timeout` seconds; what a lock still keeps from the
        database is saved in the pending file, merged on the next start. Idempotent."""
        with self._builder_lock:
            if self._closed:
                return
            self._end_visits()
            self._closed, self._accepting = True, False
        self._queue.put(_Stop(time.monotonic() + timeout * 0.6))  # the rest: keep what waits, close, join
        self._thread.join(timeout)

    def __enter__(self) -> SightingsRecorder:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def _end_visits(self) -> None:
        """Hands over every open visit's last state (the caller holds the builder lock)."""
        for change in self._builder.finish():
            self._queue.put(change)

    # -- the writer thread ---------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._serve()
        except Exception as error:  # a bug must not leave the caller waiting on a dead writer in silence
            self._stop_recording(f"Sightings stopped: {type(error).__name__}: {first_line(error)}")

    def _serve(self) -> None:
        self._open()
        stop: _Stop | None = None
        while stop is None:
            waiting = self._pending or self._db is None and self._state in ("starting", "locked")
            try:
                items = [self._queue.get(timeout=self.retry_interval_s if waiting else None)]
            except queue.Empty:
                items = []
            with contextlib.suppress(queue.Empty):
                while True:
                    items.append(self._queue.get_nowait())
            flushes, waited = [], set(self._pending)
            for item in items:
                if isinstance(item, _Stop):
                    stop = item
                elif isinstance(item, _Flush):
                    flushes.append(item)
                else:
                    self._take(item)
            if self._write_pending() or not waited.issuperset(self._pending):
                self._refresh()  # written, or new visits wait (shown with no id meanwhile)
            for flush in flushes:
                flush.written.append(not self._pending)
                flush.event.set()
        self._shut_down(stop.deadline)

    def _take(self, item: Change | _Command) -> None:
        if isinstance(item, VisitUpdate):
            if self._state == "read-only":
                return  # queued before the state was known: recording is off
            uid = item.visit.uid
            held = self._pending.get(uid)
            moment = item.moment or (held.moment if held is not None else None)
            visit = item.visit
            if held is not None and item.moment is None:  # keep the pictures already drawn for it
                visit = visit.replace(snapshot_path=held.visit.snapshot_path, crop_path=held.visit.crop_path)
            self._pending[uid] = _Pending(visit, moment, item.final)
        elif isinstance(item, Withdrawal):
            self._withdraw(item.uid)
        else:
            self._command(item)

    def _open(self) -> None:
        """Opens the database for writing; damaged, read-only and locked become states."""
        self._next_open_try = time.monotonic() + self.retry_interval_s
        side = side_path(self.path)
        if not self.path.exists() and side.is_file():
            _adopt(side, self.path)  # the damaged file was moved away: its replacement takes its name
        try:
            self._db = SightingsDB.open(self.path, busy_timeout_s=0.05)
            self._writing = ("recording", "")
            self._set_state(*self._writing)
            if side.is_file():
                self._merge_side(side)
        except DamagedDatabase as damaged:
            try:
                self._db = SightingsDB.open(side, busy_timeout_s=0.05)
                self._writing = ("damaged", _sentence(str(damaged)))
                self._set_state(*self._writing)
            except SightingsError as error:
                self._stop_recording(f"Sightings are not recorded: {damaged}; and {side.name} cannot be used: {error}")
        except ReadOnlyDatabase as error:
            self._pending.clear()
            self._stop_recording(f"Sightings are not recorded: {error}", state="read-only")
            with contextlib.suppress(SightingsError):
                self._reader = SightingsDB.open(self.path, read_only=True)
        except LockedDatabase:
            if self._state != "locked":
                self._set_state("locked", self._locked_message())
                self._refresh()  # what can be read meanwhile
            return
        except SightingsError as error:
            self._stop_recording(f"Sightings are not recorded: {error}")
        if self._db is not None:
            self._merge_pending_file()
        self._refresh()

    def _write_pending(self) -> bool:
        """Draws and writes the waiting visits, each committed; returns whether anything was written."""
        if self._db is None:
            if self._state not in ("starting", "locked") or time.monotonic() < self._next_open_try:
                return False
            self._open()
            if self._db is None:
                return False
        written = False
        for uid in list(self._pending):
            item = self._pending[uid]
            if item.moment is not None:
                item = self._pending[uid] = self._draw(item)
            try:
                visit_id = self._db.upsert(item.visit)
            except sqlite3.Error as error:
                self._database_failed(error)
                return written
            del self._pending[uid]
            written = True
            if uid not in self._ids:
                self._ids[uid] = visit_id
                self._check_new_species(item.visit)
            if item.final:
                self._ids.pop(uid, None)
                self._drawn.pop(uid, None)
        if written and self._state == "locked":
            self._set_state(*self._writing)
        return written

    def _draw(self, item: _Pending) -> _Pending:
        """Writes the snapshot and the crop of a visit's best moment; an I/O error stops recording (the row is kept)."""
        moment, visit = item.moment, item.visit
        stem = snapshots.file_stem(visit)
        snapshot, crop = self.snapshot_dir / f"{stem}.jpg", self.snapshot_dir / "crops" / f"{stem}.jpg"
        try:
            snapshots.write_jpeg(
                snapshot, snapshots.composite(moment.frame, moment.birds, moment.box, snapshots.caption_for(visit))
            )
            snapshots.write_jpeg(crop, snapshots.bird_crop(moment.frame, moment.box))
        except (OSError, SightingsError) as error:
            self._stop_recording(
                f"Sightings stopped: cannot write snapshots in {self.snapshot_dir}: "
                f"{getattr(error, 'strerror', None) or first_line(error)}; check the folder and "
                "the free space, then restart the source"
            )
            return _Pending(visit, final=item.final)
        self._drawn[visit.uid] = (str(snapshot), str(crop))
        return _Pending(visit.replace(snapshot_path=str(snapshot), crop_path=str(crop)), final=item.final)

    def _database_failed(self, error: sqlite3.Error) -> None:
        if is_locked_error(error):
            if self._state != "locked":
                self._set_state("locked", self._locked_message())
            else:
                self._publish_waiting()
            return
        if is_damage_error(error) and self._db is not None and self._db.path == self.path:
            self._db.close()
            self._db = None
            try:
                self._db = SightingsDB.open(side_path(self.path), busy_timeout_s=0.05)
                self._writing = ("damaged", _sentence(str(DamagedDatabase(self.path, first_line(error)))))
                self._set_state(*self._writing)
                return
            except SightingsError as side_error:
                error = side_error
        if self._db is not None:
            self._db.close()
            self._db = None  # what waits is kept for the pending file at close
        self._stop_recording(
            f"Sightings stopped: cannot write {self.path.name}: {first_line(error)}; check the "
            "folder and the free space, then restart the source"
        )

    def _command(self, command: _Command) -> None:
        db = self._db if self._db is not None else self._reading_db()
        result, problem = None, ""
        if db is None or (command.writes and db.read_only):
            problem = f"Not possible now: {self._message or 'the sightings database is not open'}"
        else:
            try:
                result = command.fn(db)
            except SightingsError as error:
                problem = str(error)
            except sqlite3.Error as error:
                problem = (
                    self._locked_message()
                    if is_locked_error(error)
                    else f"The sightings database failed: {first_line(error)}"
                )
            except OSError as error:
                problem = f"{error.strerror or first_line(error)}: {getattr(error, 'filename', '') or ''}".rstrip(": ")
        if command.writes and not problem:
            self._refresh()
        if command.done is not None:
            command.done(result, problem)

    def _withdraw(self, uid: str) -> None:
        """Removes an unknown-species visit whose birds were all named (unless a person renamed it meanwhile)."""
        self._pending.pop(uid, None)
        drawn = self._drawn.pop(uid, None)
        if self._db is not None and uid in self._ids:
            try:
                self._db.withdraw(uid)
            except sqlite3.Error as error:
                self._database_failed(error)
                return
            self._ids.pop(uid)
        for picture in drawn or ():
            with contextlib.suppress(OSError):
                os.unlink(picture)
        self._refresh()

    def _check_new_species(self, visit: Visit) -> None:
        if self._on_new_species is None or not visit.known or self._is_muted(visit):
            return
        try:
            if not self._db.seen_since(visit.species_key, None, excluding=visit.uid):
                self._on_new_species("ever", visit)
            elif not self._db.seen_since(visit.species_key, _midnight(), excluding=visit.uid):
                self._on_new_species("today", visit)
        except sqlite3.Error:
            pass  # a notice is a nicety; the visit is written

    def _is_muted(self, visit: Visit) -> bool:
        names = {visit.common_name.lower(), visit.scientific_name.lower()} - {""}
        return bool(names & self._muted)

    def _refresh(self) -> None:
        """Rebuilds the overview from the database (and the visits still waiting) and tells the reader."""
        db = self._db if self._db is not None else self._reading_db()
        recent, today = list(self._overview.recent), (self._overview.visits_today, self._overview.species_today)
        if db is not None:
            try:
                recent = db.recent(self.recent_limit)
                today = db.counts_since(_midnight())
            except sqlite3.Error:
                pass  # keep what was read last (locked in rollback mode)
        stored = {v.uid for v in recent if v.uid}
        waiting = [p.visit for uid, p in self._pending.items() if uid not in stored]
        recent = sorted(
            [v for v in recent if v.id is not None] + waiting, key=lambda v: (v.start, v.id or 0), reverse=True
        )[: self.recent_limit]
        self._overview = Overview(
            tuple(recent),
            today[0],
            today[1],
            self._state,
            self._message,
            db.path if db is not None else self.path,
            len(self._pending),
        )
        if self._on_changed is not None:
            self._on_changed()

    def _reading_db(self) -> SightingsDB | None:
        """A read-only connection for when the database cannot be written (read-only, locked at open)."""
        if self._reader is None and self.path.exists():
            with contextlib.suppress(SightingsError):
                self._reader = SightingsDB.open(self.path, read_only=True)
        return self._reader

    def _shut_down(self, deadline: float) -> None:
        """Writes what waits, retrying a lock until the deadline; then keeps the rest in the pending file."""
        while self._pending and self._state in _RECORDING_STATES:
            if self._write_pending():
                continue
            if time.monotonic() >= deadline:
                break
            time.sleep(min(self.retry_interval_s / 2, max(0.0, deadline - time.monotonic())))
        if self._pending:
            self._spill()
        for db in (self._db, self._reader):
            if db is not None:
                db.close()
        self._db = self._reader = None

    def _spill(self) -> None:
        """Keeps the visits that could not be written in the pending file beside the database."""
        path = pending_path(self.path)
        kept = {v.uid: v for v in _read_pending(path)}
        for uid, item in self._pending.items():
            if item.moment is not None and self._state != "error":
                item = self._draw(item)
            kept[uid] = item.visit
        try:
            write_text_atomically(path, "".join(json.dumps(asdict(v)) + "\n" for v in kept.values()))
        except OSError as error:
            self._notice(
                f"{len(self._pending)} visits could not be written or kept ({error.strerror or error}); they are lost"
            )
            return
        self._notice(f"{len(self._pending)} visits wait in {path.name}; they are written on the next start")

    def _merge_pending_file(self) -> None:
        path = pending_path(self.path)
        visits = _read_pending(path)
        if not visits:
            return
        try:
            self._db.merge(visits)
        except sqlite3.Error as error:
            self._database_failed(error)
            return
        with contextlib.suppress(OSError):
            path.unlink()
        self._notice(f"{len(visits)} visits kept from the last session were written")

    def _merge_side(self, side: Path) -> None:
        """The main database is sound again (repaired in place): the visits recorded beside it move into it."""
        try:
            with SightingsDB.open(side, busy_timeout_s=0.05) as other:
                visits = other.visits()
            self._db.merge(visits)
        except (SightingsError, sqlite3.Error):
            return  # left where it is; tried again on the next start
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(OSError):
                os.unlink(f"{side}{suffix}")
        self._notice(f"{len(visits)} visits recorded in {side.name} while {self.path.name} was damaged were merged")

    def _set_state(self, state: str, message: str) -> None:
        self._state, self._message = state, message
        self._publish_waiting()
        if self._on_status is not None:
            self._on_status(state, message)

    def _publish_waiting(self) -> None:
        self._overview = Overview(
            self._overview.recent,
            self._overview.visits_today,
            self._overview.species_today,
            self._state,
            self._message,
            self._overview.path,
            len(self._pending),
        )

    def _stop_recording(self, message: str, state: str = "error") -> None:
        """Recording is off from now on; the first reason is the one the user sees."""
        self._accepting = False
        if self._state != "error":
            self._set_state(state, message)

    def _notice(self, message: str) -> None:
        if self._on_status is not None:
            self._on_status("notice", message)

    def _locked_message(self) -> str:
        return (
            f"The sightings database {self.path.name} is locked by another program; new visits wait and are "
            "written when it is free"
        )


def _sentence(text: str) -> str:
    """An error's one line as a message on its own: a capital first letter."""
    return text[:1].upper() + text[1:]


def _muted_names(names: Iterable[str]) -> frozenset[str]:
    return frozenset(" ".join(name.split()).lower() for name in names if name.strip())


def _midnight() -> float:
    today = datetime.date.today()
    return datetime.datetime(today.year, today.month, today.day).timestamp()


def _adopt(side: Path, path: Path) -> None:
    """Renames the side database (and its WAL) to the main name."""
    with contextlib.suppress(OSError):
        os.replace(side, path)
        if Path(f"{side}-wal").exists():
            os.replace(f"{side}-wal", f"{path}-wal")
        Path(f"{side}-shm").unlink(missing_ok=True)


def _read_pending(path: Path) -> list[Visit]:
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
