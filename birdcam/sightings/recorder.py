"""The recorder: scene results in on the caller's thread, visits out to SQLite and JPEG on a writer thread it owns.

`update()` only runs the visit rules in memory and queues what changed, so it is cheap on any thread
(the GUI's, headless mode's). The writer thread draws the snapshots (`SnapshotWriter`), writes each
visit as it qualifies and as it grows (`DatabaseKeeper`, which turns every database fault into a
`State`), tells about new species (`NewSpeciesNotifier`) and keeps an `Overview` that readers take
without touching SQLite.
"""

from __future__ import annotations

import contextlib
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from birdcam.errors import SightingsError, first_line
from birdcam.scene.scene_pass import Bird
from birdcam.sightings.db import SightingsDB, default_path, is_locked_error
from birdcam.sightings.keeper import DatabaseKeeper
from birdcam.sightings.notifier import NewSpeciesNotifier
from birdcam.sightings.overview import Overview, State, midnight
from birdcam.sightings.snapshots import SnapshotWriter, remove_pictures
from birdcam.sightings.visit import Visit
from birdcam.sightings.visits import BestMoment, Change, VisitBuilder, VisitUpdate, Withdrawal
from birdcam.util.text import counted

SNAPSHOT_FOLDER = Path("snapshots") / "visits"
"""Where snapshots go by default, relative to the database's folder."""


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

    Callbacks run on the writer thread: `on_status(state, message)` when the database's `State` changes,
    `on_notice(message, is_error)` for one-off messages (a correction done or refused, visits kept for later),
    `on_changed()`
    (the overview changed), `on_new_species(kind, visit)` with kind "ever" or "today".
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
        on_status: Callable[[State, str], None] | None = None,
        on_notice: Callable[[str, bool], None] | None = None,
        on_changed: Callable[[], None] | None = None,
        on_new_species: Callable[[str, Visit], None] | None = None,
        retry_interval_s: float = 0.25,
    ):
        """`snapshot_dir`: where the snapshots go; None: snapshots/visits beside the database."""
        self.path = Path(db_path) if db_path is not None else default_path()
        self.snapshot_dir = Path(snapshot_dir) if snapshot_dir is not None else self.path.parent / SNAPSHOT_FOLDER
        self.recent_limit = recent_limit
        self.retry_interval_s = retry_interval_s
        self._on_status = on_status
        self._on_notice = on_notice
        self._on_changed = on_changed
        self._builder = VisitBuilder(
            source=source,
            model=model,
            min_duration_s=min_duration_s,
            merge_gap_s=merge_gap_s,
            update_interval_s=update_interval_s,
        )
        self._notifier = NewSpeciesNotifier(on_new_species, muted)
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._builder_lock = threading.Lock()  # update() on one thread, close() or set_source() on another
        self._overview = Overview(path=self.path)
        self._accepting = True  # False once recording is off (read-only, an I/O error) or closed
        self._closed = False
        # writer-thread state
        self._keeper = DatabaseKeeper(
            self.path, retry_interval_s=retry_interval_s, on_state=self._state_changed, on_notice=self._notice
        )
        self._snapshots = SnapshotWriter(self.snapshot_dir)
        self._pending: dict[str, _Pending] = {}
        self._ids: dict[str, int] = {}  # uid -> row id of the visits written that may still change
        self._drawn: dict[str, tuple[str, ...]] = {}  # uid -> its pictures, for those visits
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
        self._notifier.set_muted(names)

    def rename(self, visit_id: int, common_name: str, scientific_name: str) -> None:
        """Renames a visit's species (the model's names are kept as the original). Done on the writer thread; the
        outcome comes as on_notice."""

        def rename(db: SightingsDB) -> Visit:
            return db.rename(visit_id, common_name, scientific_name, time.time())

        def done(visit: object, error: str) -> None:
            self._notice(error or f"Visit {visit_id} renamed to {_display_name(visit)}", error=bool(error))

        self._queue.put(_Command(rename, done, True))

    def delete(self, visit_id: int) -> None:
        """Deletes a visit (kept in the table as deleted; left out of lists, counts and exports)."""

        def done(visit: object, error: str) -> None:
            self._notice(error or f"Visit {visit_id} ({_display_name(visit)}) deleted", error=bool(error))

        self._queue.put(_Command(lambda db: db.delete(visit_id, time.time()), done, True))

    def query(self, fn: Callable[[SightingsDB], object], done: Callable[[object, str], None]) -> None:
        """Runs fn(db) on the writer thread (reads: summaries, exports); done(result, "") or done(None, why) there."""
        self._queue.put(_Command(fn, done, False))

    def flush(self, timeout: float = 5.0) -> bool:
        """Waits until what was queued so far is written; False if something is still waiting (locked) or it timed
        out."""
        if self._closed:
            return False
        flush = _Flush(threading.Event())
        self._queue.put(flush)
        return flush.event.wait(timeout) and bool(flush.written and flush.written[0])

    def close(self, timeout: float = 1.5) -> None:
        """Ends every visit and writes what waits, within about `timeout` seconds; what a lock still keeps from the
        database is saved in the pending file, merged on the next start. Idempotent."""
        self.stop(timeout)
        self._thread.join(timeout)

    def stop(self, timeout: float = 1.5) -> None:
        """Starts closing without waiting: every visit ends and the writer thread writes what waits within about
        `timeout` seconds (the rest goes to the pending file), then ends; close() joins it. Idempotent."""
        with self._builder_lock:
            if self._closed:
                return
            self._end_visits()
            self._closed, self._accepting = True, False
        self._queue.put(_Stop(time.monotonic() + timeout * 0.6))  # the rest: keep what waits, close

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
            self._keeper.stop(f"Sightings stopped: {type(error).__name__}: {first_line(error)}")

    def _serve(self) -> None:
        self._keeper.open()
        self._refresh()
        stop: _Stop | None = None
        while stop is None:
            waiting = self._pending or self._keeper.waiting_to_open
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
            if not self._keeper.state.recording:
                return  # queued before recording stopped
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

    def _write_pending(self) -> bool:
        """Draws and writes the waiting visits, each committed; returns whether anything was written."""
        opened = self._keeper.db is not None
        if not self._keeper.open_if_due():
            return False
        written = not opened  # a database that opened now is news for the reader
        for uid in list(self._pending):
            item = self._pending[uid]
            if item.moment is not None:
                item = self._pending[uid] = self._draw(item)
            visit_id = self._keeper.write(item.visit)
            if visit_id is None:
                self._publish()  # locked: how many wait
                return written
            del self._pending[uid]
            written = True
            if uid not in self._ids:
                self._ids[uid] = visit_id
                assert self._keeper.db is not None
                self._notifier.check(self._keeper.db, item.visit)
            if item.final:
                self._ids.pop(uid, None)
                self._drawn.pop(uid, None)
        return written

    def _draw(self, item: _Pending) -> _Pending:
        """Writes the snapshot and the crop of a visit's best moment; an I/O error stops recording (the row is kept)."""
        assert item.moment is not None
        try:
            snapshot, crop = self._snapshots.write(item.visit, item.moment)
        except (OSError, SightingsError) as error:
            self._keeper.stop(
                f"Sightings stopped: cannot write snapshots in {self.snapshot_dir}: "
                f"{getattr(error, 'strerror', None) or first_line(error)}; check the folder and "
                "the free space, then restart the source"
            )
            return _Pending(item.visit, final=item.final)
        self._drawn[item.visit.uid] = (snapshot, crop)
        return _Pending(item.visit.replace(snapshot_path=snapshot, crop_path=crop), final=item.final)

    def _command(self, command: _Command) -> None:
        keeper = self._keeper
        db = keeper.readable()
        result, problem = None, ""
        if db is None or (command.writes and db.read_only):
            problem = f"Not possible now: {keeper.message or 'the sightings database is not open'}"
        else:
            try:
                result = command.fn(db)
            except SightingsError as error:
                problem = str(error)
            except sqlite3.Error as error:
                problem = (
                    f"The sightings database {db.path.name} is locked by another program; try again when it is free"
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
        if uid in self._ids:
            if not self._keeper.withdraw(uid):
                return
            self._ids.pop(uid)
        remove_pictures(drawn or ())
        self._refresh()

    def _refresh(self) -> None:
        """Rebuilds the overview from the database (and the visits still waiting) and tells the reader."""
        db = self._keeper.readable()
        recent, today = list(self._overview.recent), (self._overview.visits_today, self._overview.species_today)
        if db is not None:
            try:
                recent = db.recent(self.recent_limit)
                today = db.counts_since(midnight())
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
            self._keeper.state,
            self._keeper.message,
            db.path if db is not None else self.path,
            len(self._pending),
        )
        if self._on_changed is not None:
            self._on_changed()

    def _shut_down(self, deadline: float) -> None:
        """Writes what waits, retrying a lock until the deadline; then keeps the rest in the pending file."""
        while self._pending and self._keeper.state.recording:
            if self._write_pending():
                continue
            if time.monotonic() >= deadline:
                break
            time.sleep(min(self.retry_interval_s / 2, max(0.0, deadline - time.monotonic())))
        if self._pending:
            self._spill()
        self._keeper.close()

    def _spill(self) -> None:
        """Keeps the visits that could not be written for the next start; with no place to keep them, they are
        lost and so are their pictures (no picture is left without its visit)."""
        for uid, item in list(self._pending.items()):
            if item.moment is not None and self._keeper.state != State.ERROR:
                self._pending[uid] = self._draw(item)
        visits = [item.visit for item in self._pending.values()]
        if self._keeper.spill(visits) is not None:
            return
        for visit in visits:
            remove_pictures((visit.snapshot_path, visit.crop_path))
        self._notice(f"{counted(len(visits), 'visit')} could not be written or kept anywhere: lost", error=True)

    def _state_changed(self, state: State, message: str) -> None:
        """The keeper's state: recording stops for good on READ_ONLY and ERROR (and nothing waits when read-only)."""
        if not state.recording:
            self._accepting = False
        if state == State.READ_ONLY:
            self._pending.clear()
        self._publish()
        if self._on_status is not None:
            self._on_status(state, message)

    def _publish(self) -> None:
        """The overview with the current state and waiting count (the visits as last read)."""
        overview = self._overview
        self._overview = Overview(
            overview.recent,
            overview.visits_today,
            overview.species_today,
            self._keeper.state,
            self._keeper.message,
            overview.path,
            len(self._pending),
        )

    def _notice(self, message: str, *, error: bool = False) -> None:
        if self._on_notice is not None:
            self._on_notice(message, error)


def _display_name(visit: object) -> str:
    return visit.display_name if isinstance(visit, Visit) else ""
