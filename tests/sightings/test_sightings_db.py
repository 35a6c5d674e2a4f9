"""The visits table: migration of old files, corrections kept with the original name, and files that are damaged,
read-only or locked, looked at without writing them."""

from __future__ import annotations

import hashlib
import re
import sqlite3

import pytest
from sightings_material import LockHolder, damage, read_only, v1_database

from birdcam.sightings.db import (
    DamagedDatabase,
    LockedDatabase,
    ReadOnlyDatabase,
    SightingsDB,
    UnknownVisit,
    probe,
)
from birdcam.sightings.visit import Visit

T0 = 1_800_000_000.0


def visit(uid: str, start: float, common="Mandarin Duck", scientific="Aix galericulata", **fields) -> Visit:
    return Visit(None, start, start + 5, common, scientific, 0.8, "camera 0", "aiy", uid=uid, **fields)


def digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def db(tmp_path):
    with SightingsDB.open(tmp_path / "sightings.sqlite3") as opened:
        yield opened


def test_an_old_database_opens_keeps_its_rows_and_gains_the_new_columns(tmp_path):
    path = v1_database(
        tmp_path / "old.sqlite3",
        [(T0, T0 + 3, "Mandarin Duck", "Aix galericulata"), (T0 + 60, T0 + 64, "Green-winged Teal", "Anas crecca")],
    )
    with SightingsDB.open(path) as db:
        old = db.visits()
        assert [(v.common_name, v.count, v.deleted, v.renamed, v.crop_path) for v in old] == [
            ("Mandarin Duck", 1, False, False, None),
            ("Green-winged Teal", 1, False, False, None),
        ]
        renamed = db.rename(old[1].id, "Eurasian Teal", "Anas crecca", T0 + 100)
        db.upsert(visit("new", T0 + 200, count=2))
    with sqlite3.connect(path) as other:
        assert other.execute("PRAGMA user_version").fetchone() == (2,)
        assert other.execute("SELECT count(*) FROM visits").fetchone() == (3,)
    assert (renamed.display_name, renamed.original_display_name) == ("Eurasian Teal", "Green-winged Teal")


def test_an_old_read_only_database_is_read_without_migrating(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    path = v1_database(folder / "old.sqlite3", [(T0, T0 + 3, "Mandarin Duck", "Aix galericulata")])
    before = digest(path)
    with read_only(folder):
        assert probe(path).state == "read-only"
        with pytest.raises(ReadOnlyDatabase, match="read-only"):
            SightingsDB.open(path)
        with SightingsDB.open(path, read_only=True) as db:
            assert [(v.common_name, v.count) for v in db.visits()] == [("Mandarin Duck", 1)]
            assert db.counts_since(0) == (1, 1)
    assert digest(path) == before


def test_a_damaged_database_is_reported_and_never_written(tmp_path, db):
    db.upsert(visit("a", T0))
    db.close()
    damaged = damage(db.path)
    found = probe(db.path)
    assert found.state == "damaged" and found.detail
    with pytest.raises(DamagedDatabase, match="is damaged .*does not change it"):
        SightingsDB.open(db.path)
    with pytest.raises(DamagedDatabase):
        SightingsDB.open(db.path, read_only=True)
    assert db.path.read_bytes() == damaged
    assert not (db.path.parent / "sightings.sqlite3-wal").exists()


def test_a_database_with_many_broken_cells_is_one_line(tmp_path, db):
    """quick_check reports a heading and a line per broken cell: the error was a hundred lines long."""
    for n in range(300):
        db.upsert(visit(f"v{n}", T0 + n, common="Mandarin Duck " * 3, scientific="Aix galericulata " * 3))
    db.close()
    with sqlite3.connect(db.path) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    data = bytearray(db.path.read_bytes())
    page = int.from_bytes(data[16:18], "big")
    data[2 * page + 100 : 2 * page + 300] = b"\xff" * 200  # the cell pointers of the third page
    db.path.write_bytes(bytes(data))
    with pytest.raises(DamagedDatabase) as raised:
        SightingsDB.open(db.path)
    message = str(raised.value)
    assert "\n" not in message and "*** in database" not in message
    assert re.search(r"quick_check: On tree page 3 cell \d+: .* \(and \d+ more\)\)", message)


def test_a_file_that_is_not_a_database_is_damaged(tmp_path):
    path = tmp_path / "notes.sqlite3"
    path.write_bytes(b"this is not a database" * 100)
    assert probe(path).state == "damaged"
    with pytest.raises(DamagedDatabase, match="not an SQLite database"):
        SightingsDB.open(path)


def test_a_lock_held_by_another_program_makes_writes_fail_fast_and_reads_still_work(tmp_path, db):
    db.upsert(visit("a", T0))
    with LockHolder(db.path):
        with SightingsDB.open(db.path, busy_timeout_s=0.05) as during:
            assert [v.uid for v in during.visits()] == ["a"]  # WAL: readers go on
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                during.upsert(visit("b", T0 + 100))
        fresh = tmp_path / "fresh.sqlite3"
        fresh.touch()
        with LockHolder(fresh), pytest.raises(LockedDatabase, match="locked by another program"):
            SightingsDB.open(fresh, busy_timeout_s=0.05)  # a new file must be created: that needs the lock
    assert [v.uid for v in db.visits()] == ["a"]


def test_corrections_keep_the_original_name_and_a_recorder_update_never_undoes_them(db):
    first = db.upsert(visit("a", T0))
    db.rename(first, "Wood Duck", "Aix sponsa", T0 + 10)
    again = db.rename(first, "Mandarin", "", T0 + 20)
    assert (again.display_name, again.original_display_name, again.original_scientific_name) == (
        "Mandarin",
        "Mandarin Duck",
        "Aix galericulata",
    )
    db.upsert(visit("a", T0).replace(end=T0 + 50, count=3))  # the recorder writes the visit's names again
    stored = db.get(first)
    assert (stored.display_name, stored.end, stored.count) == ("Mandarin", T0 + 50, 3)

    second = db.upsert(visit("b", T0 + 100))
    db.delete(second, T0 + 200)
    assert [v.uid for v in db.recent()] == ["a"] and [v.uid for v in db.visits()] == ["a"]
    with pytest.raises(UnknownVisit, match="visit .* was deleted"):
        db.rename(second, "Teal", "", T0)
    with pytest.raises(UnknownVisit, match="visit 99 does not exist"):
        db.delete(99, T0)


def test_upsert_by_uid_is_one_row_however_often_it_is_written(db):
    for end in (T0 + 2, T0 + 9, T0 + 5):
        db.upsert(visit("same", T0).replace(end=end))
    (stored,) = db.visits()
    assert stored.end == T0 + 9
