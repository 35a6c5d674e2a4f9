"""The visits table in SQLite: opened only after a read-only look says it is sound, migrated, never written when
damaged.

Opening a file goes through `probe()`, which reads it on a read-only connection (`mode=ro`, or
`immutable=1` when even that needs a write, e.g. a WAL database in a read-only folder) and runs
`PRAGMA quick_check`. A damaged file is never opened for writing, so not even `PRAGMA journal_mode`
touches it; recording goes to `side_path()` beside it instead. Every write is one committed statement.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, fields
from pathlib import Path

from birdcam import paths
from birdcam.errors import OutputError, SightingsError, first_line
from birdcam.sightings.visit import Visit
from birdcam.util.fileio import check_output_file

DB_NAME = "sightings.sqlite3"
SCHEMA_VERSION = 2
_HEADER = b"SQLite format 3\x00"
_READ_BUSY_TIMEOUT_S = 0.5  # a reader waits this long for another program's write lock (WAL readers never wait)
_COLUMNS = tuple(f.name for f in fields(Visit))
# Columns added after the first release, with their definitions: ALTER TABLE adds them to an old file.
_ADDED_COLUMNS = {
    "count": "INTEGER NOT NULL DEFAULT 1",
    "crop_path": "TEXT",
    "original_common_name": "TEXT",
    "original_scientific_name": "TEXT",
    "corrected_at": "REAL",
    "deleted": "INTEGER NOT NULL DEFAULT 0",
    "uid": "TEXT",
}
_DEFAULTS = {"count": "1", "deleted": "0", "uid": "''"}
_CREATE = """
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
)
"""
_INDEXES = (
    "CREATE INDEX IF NOT EXISTS visits_by_start ON visits (start)",
    "CREATE UNIQUE INDEX IF NOT EXISTS visits_by_uid ON visits (uid)",
)
# SQLite's primary result codes (the sqlite3 module names them from Python 3.11 only).
_SQLITE_BUSY, _SQLITE_LOCKED, _SQLITE_CORRUPT, _SQLITE_NOTADB = 5, 6, 11, 26
_SPECIES_KEY = "lower(CASE WHEN scientific_name != '' THEN scientific_name ELSE common_name END)"


def default_path() -> Path:
    """The database of the window and the headless logger: `<data dir>/sightings.sqlite3`."""
    return paths.data_dir() / DB_NAME


def side_path(path: Path) -> Path:
    """Where visits are recorded while `path` is damaged (the same file on every start until it is repaired or
    moved)."""
    path = Path(path)
    return path.with_name(f"{path.stem}.new{path.suffix}")


def pending_path(path: Path) -> Path:
    """Visits that could not be written before closing (the database stayed locked); merged on the next start."""
    path = Path(path)
    return path.with_name(f"{path.stem}.pending.jsonl")


def reading_path(path: Path | None = None) -> Path:
    """The file to read: `path`, or its side database when `path` was moved away after damage."""
    path = Path(path) if path is not None else default_path()
    side = side_path(path)
    return side if not path.exists() and side.is_file() else path


class DamagedDatabase(SightingsError):
    """The file is not a sound SQLite database; it is left exactly as it is."""

    def __init__(self, path: Path, detail: str):
        self.path, self.detail = Path(path), detail
        side = side_path(path)
        super().__init__(
            f"the sightings database {path} is damaged ({detail}); birdcam does not change it and records "
            f"new visits in {side.name} beside it. Move it away (or repair it with `sqlite3 {path.name} "
            f".recover`) and birdcam carries on with {side.name}"
        )


class ReadOnlyDatabase(SightingsError):
    """The file or its folder cannot be written: visits can be read, not recorded or corrected."""

    def __init__(self, path: Path):
        self.path = Path(path)
        super().__init__(
            f"the sightings database {path} is read-only: visits are listed but none are recorded or "
            "corrected; make the file and its folder writable"
        )


class LockedDatabase(SightingsError):
    """Another program holds a write lock on the file."""

    def __init__(self, path: Path):
        self.path = Path(path)
        super().__init__(
            f"the sightings database {path} is locked by another program; close it (or wait) and try again"
        )


class UnknownVisit(SightingsError):
    """No visit has that id (or it was deleted)."""


@dataclass(frozen=True)
class Probe:
    """What a read-only look at a database file found."""

    state: str
    """"missing", "ok", "read-only" (sound, but the file or its folder cannot be written), "damaged" or "locked"."""
    detail: str = ""
    """Why it is damaged: the first problem quick_check or SQLite reported."""


def probe(path: Path) -> Probe:
    """Looks at a database file without writing a byte of it (header, then `PRAGMA quick_check`)."""
    path = Path(path)
    if not path.exists():
        return Probe("missing")
    if not path.is_file():
        return Probe("damaged", "not a file")
    try:
        with open(path, "rb") as handle:
            header = handle.read(len(_HEADER))
    except OSError as error:
        return Probe("damaged", f"cannot read it: {error.strerror or first_line(error)}")
    if header and header != _HEADER:
        return Probe("damaged", "not an SQLite database")
    try:
        with contextlib.closing(_read_only_connection(path)) as connection:
            problems = [row[0] for row in connection.execute("PRAGMA quick_check").fetchall()]
    except sqlite3.OperationalError as error:
        if _is_busy(error):
            return Probe("locked")
        return Probe("damaged", first_line(error))
    except sqlite3.DatabaseError as error:
        return Probe("damaged", first_line(error))
    if problems != ["ok"]:
        return Probe("damaged", f"quick_check: {_first_problem(problems)}")
    return Probe("ok" if _writable(path) else "read-only")


def check_recordable(path: Path | None = None) -> Path:
    """Raises SightingsError when no visit could be recorded at `path` (None: the default database): a place that
    cannot be written, a read-only file. Called before a run starts. A damaged file passes (visits go beside it),
    and so does a locked one (visits wait for it)."""
    path = Path(path).expanduser() if path is not None else default_path()
    try:
        check_output_file(path, "--db", example=DB_NAME)
    except OutputError as error:
        raise SightingsError(f"{first_line(error)}; give --db a writable place, or pass --no-sightings") from None
    if probe(path).state == "read-only":
        raise SightingsError(
            f"the sightings database {path} is read-only, so no visit could be recorded; make it and its folder "
            "writable, give --db another place, or pass --no-sightings"
        )
    return path


class SightingsDB:
    """The visits table on one connection (use it from the thread that opened it); `close()` when done."""

    def __init__(self, connection: sqlite3.Connection, path: Path, *, read_only: bool):
        self._connection = connection
        self.path = path
        self.read_only = read_only
        self._table = _table_expression(connection)

    @classmethod
    def open(cls, path: Path | None = None, *, read_only: bool = False, busy_timeout_s: float = 2.0) -> SightingsDB:
        """Opens (for writing: creating or migrating) the database; default: `default_path()`.

        Raises DamagedDatabase (file untouched), ReadOnlyDatabase (when asked to write), LockedDatabase,
        or SightingsError (no such file to read, a folder that cannot be made).
        """
        path = Path(path) if path is not None else default_path()
        if read_only:
            found = probe(path)
            if found.state == "missing":
                raise SightingsError(f"no sightings database at {path}")
        else:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as error:
                raise SightingsError(
                    f"cannot make the folder of the sightings database {path}: "
                    f"{error.strerror or first_line(error)}; pick a writable place"
                ) from None
            found = probe(path)
        if found.state == "damaged":
            raise DamagedDatabase(path, found.detail)
        if found.state == "locked":
            raise LockedDatabase(path)
        if found.state == "read-only" and not read_only:
            raise ReadOnlyDatabase(path)
        if read_only:
            return cls(_read_only_connection(path), path, read_only=True)
        connection = sqlite3.connect(path, timeout=busy_timeout_s, isolation_level=None)
        try:
            _prepare(connection)
        except sqlite3.Error as error:
            connection.close()
            raise _classified(error, path) from None
        return cls(connection, path, read_only=False)

    # -- writing -------------------------------------------------------------------------

    def upsert(self, visit: Visit) -> int:
        """Writes a visit by its uid (committed): a new row, or the stored one extended. Names are never overwritten
        (a correction made meanwhile stays). Returns the row id."""
        self._connection.execute(
            "INSERT INTO visits (uid, start, end, common_name, scientific_name, best_score, source, model,"
            " snapshot_path, count, crop_path, original_common_name, original_scientific_name, corrected_at, deleted)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT(uid) DO UPDATE SET start = min(start, excluded.start), end = max(end, excluded.end),"
            " best_score = max(best_score, excluded.best_score), count = max(count, excluded.count),"
            " snapshot_path = coalesce(excluded.snapshot_path, snapshot_path),"
            " crop_path = coalesce(excluded.crop_path, crop_path)",
            (
                visit.uid,
                visit.start,
                visit.end,
                visit.common_name,
                visit.scientific_name,
                visit.best_score,
                visit.source,
                visit.model,
                visit.snapshot_path,
                visit.count,
                visit.crop_path,
                visit.original_common_name,
                visit.original_scientific_name,
                visit.corrected_at,
                int(visit.deleted),
            ),
        )
        return self._connection.execute("SELECT id FROM visits WHERE uid = ?", (visit.uid,)).fetchone()[0]

    def merge(self, visits: Iterable[Visit]) -> int:
        """Upserts visits kept elsewhere (a pending file, a side database); returns how many."""
        merged = 0
        for visit in visits:
            self.upsert(visit)
            merged += 1
        return merged

    def rename(self, visit_id: int, common_name: str, scientific_name: str, at: float) -> Visit:
        """Gives a visit another species name; the model's own name is kept the first time. Returns the visit."""
        if not (common_name or scientific_name):
            raise SightingsError("a species name is needed to rename a visit")
        self.existing(visit_id)
        self._connection.execute(
            "UPDATE visits SET original_common_name = coalesce(original_common_name, common_name),"
            " original_scientific_name = coalesce(original_scientific_name, scientific_name),"
            " common_name = ?, scientific_name = ?, corrected_at = ? WHERE id = ?",
            (common_name, scientific_name, at, visit_id),
        )
        return self.existing(visit_id)

    def delete(self, visit_id: int, at: float) -> Visit:
        """Marks a visit deleted (kept in the table, left out of everything else). Returns it as it was."""
        visit = self.existing(visit_id)
        self._connection.execute("UPDATE visits SET deleted = 1, corrected_at = ? WHERE id = ?", (at, visit_id))
        return visit

    def withdraw(self, uid: str) -> None:
        """Removes a visit the recorder took back (an unknown bird named later), unless a person corrected it."""
        self._connection.execute("DELETE FROM visits WHERE uid = ? AND corrected_at IS NULL", (uid,))

    # -- reading -------------------------------------------------------------------------

    def get(self, visit_id: int) -> Visit | None:
        """A visit by id, deleted or not."""
        found = self._rows("WHERE id = ?", (visit_id,))
        return found[0] if found else None

    def recent(self, limit: int = 50) -> list[Visit]:
        """The latest visits that are not deleted, newest first."""
        return self._rows("WHERE deleted = 0 ORDER BY start DESC, id DESC LIMIT ?", (limit,))

    def visits(self, since: float | None = None) -> list[Visit]:
        """Every visit that is not deleted (started at or after `since`), oldest first."""
        return self._rows(
            "WHERE deleted = 0 AND start >= ? ORDER BY start, id", (since if since is not None else -1e18,)
        )

    def seen_since(self, species_key: str, since: float | None, *, excluding: str = "") -> bool:
        """Whether the species (by `Visit.species_key`) has a visit starting at or after `since` (None: ever),
        leaving out the visit with uid `excluding`."""
        if self._table is None:
            return False
        row = self._connection.execute(
            f"SELECT 1 FROM {self._table} WHERE deleted = 0 AND {_SPECIES_KEY} = ?"
            " AND coalesce(uid, '') != ? AND start >= ?"
            " LIMIT 1",
            (species_key, excluding, since if since is not None else -1e18),
        ).fetchone()
        return row is not None

    def counts_since(self, since: float) -> tuple[int, int]:
        """(visits, species) that are not deleted and started at or after `since`; unknown birds are no species."""
        if self._table is None:
            return 0, 0
        row = self._connection.execute(
            f"SELECT count(*), count(DISTINCT nullif({_SPECIES_KEY}, '')) FROM {self._table}"
            " WHERE deleted = 0 AND start >= ?",
            (since,),
        ).fetchone()
        return int(row[0]), int(row[1])

    def close(self) -> None:
        self._connection.close()

    def __enter__(self) -> SightingsDB:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def existing(self, visit_id: int) -> Visit:
        """A visit that is not deleted; UnknownVisit (saying how to find the ids) otherwise."""
        visit = self.get(visit_id)
        if visit is None or visit.deleted:
            state = "was deleted" if visit is not None else "does not exist"
            raise UnknownVisit(f"visit {visit_id} {state}; `birdcam sightings` lists the visits with their ids")
        return visit

    def _rows(self, tail: str, parameters: tuple) -> list[Visit]:
        if self._table is None:  # an empty file opened read-only: no table yet
            return []
        rows = self._connection.execute(
            f"SELECT {', '.join(_COLUMNS)} FROM {self._table} {tail}", parameters
        ).fetchall()
        return [_visit(row) for row in rows]


def _first_problem(rows: list[str]) -> str:
    """quick_check's first finding on one line, and how many more there are (its rows may hold several lines, the
    first of them a "*** in database main ***" heading)."""
    lines = [line.strip() for row in rows for line in str(row).splitlines()]
    findings = [line for line in lines if line and not line.startswith("***")]
    if not findings:
        return "no answer"
    more = f" (and {len(findings) - 1} more)" if len(findings) > 1 else ""
    return findings[0] + more


def is_locked_error(error: sqlite3.Error) -> bool:
    """SQLite's "database is locked" / "busy": another connection holds the lock; worth trying again later."""
    return isinstance(error, sqlite3.OperationalError) and _is_busy(error)


def is_damage_error(error: sqlite3.Error) -> bool:
    """SQLite found the file malformed or not a database while using it."""
    code = getattr(error, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in (_SQLITE_CORRUPT, _SQLITE_NOTADB)
    text = str(error).lower()
    return "malformed" in text or "not a database" in text


def _is_busy(error: sqlite3.Error) -> bool:
    code = getattr(error, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in (_SQLITE_BUSY, _SQLITE_LOCKED)
    text = str(error).lower()
    return "locked" in text or "busy" in text


def _classified(error: sqlite3.Error, path: Path) -> SightingsError:
    """A SQLite error while opening for writing, as the user-facing error it means."""
    if _is_busy(error):
        return LockedDatabase(path)
    if is_damage_error(error):
        return DamagedDatabase(path, first_line(error))
    if "readonly" in str(error).lower() or "read-only" in str(error).lower():
        return ReadOnlyDatabase(path)
    return SightingsError(f"cannot open the sightings database {path}: {first_line(error)}")


def _read_only_connection(path: Path) -> sqlite3.Connection:
    """A connection that cannot write the file.

    With no WAL or journal beside the file, `immutable=1`: the file alone is the whole database, and
    nothing is created beside it. Otherwise `mode=ro`, which reads the WAL too (and takes locks);
    `immutable=1` again where that would need a WAL index it may not create (a read-only folder).
    """
    uri = Path(path).resolve().as_uri()
    if not any(Path(f"{path}{suffix}").exists() for suffix in ("-wal", "-journal")):
        return sqlite3.connect(f"{uri}?immutable=1", uri=True)
    connection = sqlite3.connect(f"{uri}?mode=ro", uri=True, timeout=_READ_BUSY_TIMEOUT_S)
    try:
        connection.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return connection
    except sqlite3.OperationalError as error:
        connection.close()
        if _is_busy(error) or _writable(path):
            raise
    return sqlite3.connect(f"{uri}?immutable=1", uri=True)


def _writable(path: Path) -> bool:
    """The file and its folder (SQLite puts its journal or WAL beside the file) can be written."""
    return os.access(path, os.W_OK) and os.access(Path(path).parent, os.W_OK)


def _prepare(connection: sqlite3.Connection) -> None:
    """WAL (a killed process loses no commit), and the schema created or migrated; nothing is written when it is
    current."""
    if connection.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
        connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    if connection.execute("PRAGMA user_version").fetchone()[0] >= SCHEMA_VERSION:
        return
    connection.execute("BEGIN IMMEDIATE")
    try:
        connection.execute(_CREATE)
        present = {row[1] for row in connection.execute("PRAGMA table_info(visits)")}
        for column, definition in _ADDED_COLUMNS.items():
            if column not in present:
                connection.execute(f"ALTER TABLE visits ADD COLUMN {column} {definition}")
        for statement in _INDEXES:
            connection.execute(statement)
        connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        connection.execute("COMMIT")
    except BaseException:
        connection.execute("ROLLBACK")
        raise


def _table_expression(connection: sqlite3.Connection) -> str | None:
    """What to read visits from: the table, or for an old file opened read-only (so not migrated) a subquery that
    gives the columns it lacks their defaults; None when there is no table yet."""
    present = {row[1] for row in connection.execute("PRAGMA table_info(visits)")}
    if not present:
        return None
    if present.issuperset(_COLUMNS):
        return "visits"
    columns = ", ".join(c if c in present else f"{_DEFAULTS.get(c, 'NULL')} AS {c}" for c in _COLUMNS)
    return f"(SELECT {columns} FROM visits)"


def _visit(row: tuple) -> Visit:
    values = dict(zip(_COLUMNS, row))
    values["deleted"] = bool(values["deleted"])
    values["uid"] = values["uid"] or ""
    values["count"] = int(values["count"] or 1)
    return Visit(**values)
