"""Visits from shown labels, stored once and committed as they happen; listing, export, and a killed writer."""

from __future__ import annotations

import csv
import io
import os
import signal
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest

from birdcam.errors import BirdcamError
from birdcam.labels import parse_label
from birdcam.sightings import SightingsDB, VisitTracker, export_sightings, print_sightings
from birdcam.smoothing import Shown

REPO = Path(__file__).resolve().parent.parent
DUCK = parse_label("Aix galericulata (Mandarin Duck)")
TEAL = parse_label("Anas crecca (Green-winged Teal)")
T0 = 1_800_000_000.0


def shown(label=None, score: float = 0.8) -> Shown:
    if label is None:
        return Shown(None, None, 0.1, False, ())
    return Shown(0, label, score, True, ())


def play(tracker: VisitTracker, script, start: float = T0, fps: float = 10.0) -> float:
    """Feeds (label or None, seconds) pieces at fps; returns the time after the last frame."""
    t = start
    for label, seconds in script:
        for _ in range(round(seconds * fps)):
            tracker.update(shown(label), t)
            t += 1 / fps
    return t


@pytest.fixture
def db(tmp_path):
    with SightingsDB.open(tmp_path / "sightings.sqlite3") as opened:
        yield opened


def rows(path: Path) -> list[tuple]:
    """What another process would read: a fresh connection."""
    with sqlite3.connect(path) as other:
        return other.execute("SELECT start, end, common_name, scientific_name FROM visits ORDER BY id").fetchall()


def test_a_visit_needs_a_second_of_one_species(db):
    tracker = VisitTracker(db)
    play(tracker, [(DUCK, 0.8), (None, 2), (TEAL, 0.9), (None, 1)])
    assert db.recent() == []
    play(tracker, [(DUCK, 1.5), (None, 1)], start=T0 + 10)
    (visit,) = db.recent()
    assert (visit.common_name, visit.scientific_name) == ("Mandarin Duck", "Aix galericulata")
    assert visit.start == pytest.approx(T0 + 10)
    assert visit.end == pytest.approx(T0 + 10 + 1.4)  # the last frame it was shown


def test_visits_of_one_species_within_the_gap_merge_into_one_row(db):
    tracker = VisitTracker(db, merge_gap_s=30)
    play(tracker, [(DUCK, 1.5), (None, 10), (DUCK, 2), (None, 1)])
    (merged,) = db.all()
    assert merged.start == pytest.approx(T0) and merged.end == pytest.approx(T0 + 13.4)

    play(tracker, [(DUCK, 1.5)], start=T0 + 13.5 + 31)
    tracker.close()
    assert len(db.all()) == 2


def test_another_species_visit_in_between_breaks_the_merge_but_a_glimpse_does_not(db):
    tracker = VisitTracker(db)
    play(tracker, [(DUCK, 1.5), (TEAL, 0.5), (DUCK, 1.5), (TEAL, 1.5), (DUCK, 1.5)])
    tracker.close()
    assert [v.common_name for v in db.all()] == ["Mandarin Duck", "Green-winged Teal", "Mandarin Duck"]
    first = db.all()[0]
    assert first.end == pytest.approx(T0 + 3.4)


def test_each_change_is_committed_as_it_happens(tmp_path, db):
    tracker = VisitTracker(db, update_interval_s=1.0)
    t = play(tracker, [(DUCK, 1.0)])
    assert rows(db.path) == []
    t += 0.05  # clear of the 1-s boundary
    stored = tracker.update(shown(DUCK), t)
    assert stored is not None and stored.id is not None
    assert rows(db.path) == [(T0, t, "Mandarin Duck", "Aix galericulata")]
    t = play(tracker, [(DUCK, 3.0)], start=t + 0.1)
    (start, end, *_), = rows(db.path)
    assert t - 0.1 - end <= 1.0 + 1e-6  # an ongoing visit's end lags at most update_interval_s
    tracker.update(shown(None), t)
    assert rows(db.path)[0][1] == pytest.approx(t - 0.1)  # finished: its end is written at once


def test_the_snapshot_is_the_best_annotated_frame_and_one_file_per_visit(tmp_path, db):
    snapshots = tmp_path / "snapshots"
    tracker = VisitTracker(db, snapshot_dir=snapshots)
    scores = [0.5, 0.7, 0.95, 0.6, 0.8] * 4
    colours = {0.5: (0, 0, 200), 0.7: (0, 200, 0), 0.95: (200, 0, 0), 0.6: (90, 90, 90), 0.8: (200, 200, 0)}
    for n, score in enumerate(scores):
        frame = np.full((60, 80, 3), colours[score], np.uint8)
        tracker.update(shown(DUCK, score), T0 + n / 10, frame)
    tracker.close()
    (visit,) = db.all()
    assert visit.best_score == pytest.approx(0.95)
    assert sorted(snapshots.iterdir()) == [Path(visit.snapshot_path)]
    saved = cv2.imread(visit.snapshot_path)
    assert np.abs(saved.astype(int) - colours[0.95]).mean() < 4


def test_recent_export_and_print(tmp_path, db):
    tracker = VisitTracker(db, source="video: birds.mp4", model="aiy_birds_v1")
    play(tracker, [(DUCK, 1.5), (TEAL, 2.0), (DUCK, 1.2)])
    tracker.close()
    assert [v.common_name for v in db.recent(limit=2)] == ["Mandarin Duck", "Green-winged Teal"]

    exported = tmp_path / "out.csv"
    assert export_sightings(db.path, exported) == 3
    with open(exported, newline="", encoding="utf-8") as table:
        lines = list(csv.DictReader(table))
    assert [line["scientific_name"] for line in lines] == ["Aix galericulata", "Anas crecca", "Aix galericulata"]
    assert lines[1]["duration_s"] == "1.9" and lines[1]["source"] == "video: birds.mp4"
    assert lines[1]["model"] == "aiy_birds_v1" and lines[1]["start"].startswith("20")

    out = io.StringIO()
    assert print_sightings(db.path, 2, out) == 2
    printed = out.getvalue().splitlines()
    assert len(printed) == 2
    assert "Mandarin Duck (Aix galericulata)" in printed[0] and "0:01" in printed[0]
    assert "Green-winged Teal (Anas crecca)" in printed[1] and "[video: birds.mp4]" in printed[1]


def test_no_database_yet_prints_a_hint_and_creates_nothing(tmp_path):
    out = io.StringIO()
    assert print_sightings(tmp_path / "none.sqlite3", 10, out) == 0
    assert out.getvalue().startswith("No sightings yet")
    assert not (tmp_path / "none.sqlite3").exists()


def test_default_database_lives_in_the_data_folder(isolated_user_dirs):
    with SightingsDB.open() as opened:
        assert opened.path == isolated_user_dirs / "data" / "sightings.sqlite3"
        assert opened.path.is_file()


def test_a_damaged_database_or_unwritable_export_is_a_clear_error(tmp_path, db):
    damaged = tmp_path / "damaged.sqlite3"
    damaged.write_bytes(b"this is not a database" * 100)
    with pytest.raises(BirdcamError, match="is damaged .*move it away"):
        SightingsDB.open(damaged)
    with pytest.raises(BirdcamError, match="cannot write"):
        db.export_csv(tmp_path / "missing-folder" / "out.csv")


def test_the_database_can_be_read_from_another_thread(db):
    tracker = VisitTracker(db)
    play(tracker, [(DUCK, 1.5)])
    found = []
    reader = threading.Thread(target=lambda: found.extend(db.recent()))
    reader.start()
    reader.join(5)
    assert [v.common_name for v in found] == ["Mandarin Duck"]


def test_a_label_without_names_is_stored_under_its_text(db):
    tracker = VisitTracker(db)
    play(tracker, [(parse_label("class 7"), 1.5)])
    tracker.close()
    assert [(v.common_name, v.scientific_name) for v in db.all()] == [("class 7", "")]


WRITER = """
import sys
from birdcam.labels import parse_label
from birdcam.sightings import SightingsDB, VisitTracker
from birdcam.smoothing import Shown

labels = [parse_label("Aix galericulata (Mandarin Duck)"), parse_label("Anas crecca (Green-winged Teal)")]
tracker = VisitTracker(SightingsDB.open(sys.argv[1]), merge_gap_s=0.5)
t, n = 1.8e9, 0
while True:
    label, start = labels[n % 2], t
    for _ in range(15):
        tracker.update(Shown(0, label, 0.9, True, ()), t)
        t += 0.1
    tracker.update(Shown(None, None, 0.0, False, ()), t)
    print(n, repr(start), repr(t - 0.1), label.common_name, flush=True)
    t += 1.0
    n += 1
"""


def test_the_log_survives_a_killed_process(tmp_path):
    path = tmp_path / "killed.sqlite3"
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    environment = {**os.environ, "PYTHONPATH": str(REPO)}
    writer = subprocess.Popen([sys.executable, str(script), str(path)], stdout=subprocess.PIPE, text=True,
                              env=environment)
    finished = []
    try:
        while len(finished) < 40:
            line = writer.stdout.readline()
            assert line, "the writer stopped early"
            n, start, end, name = line.split(maxsplit=3)
            finished.append((float(start), float(end), name.strip()))
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait(10)
        writer.stdout.close()
    assert writer.returncode == -signal.SIGKILL
    with sqlite3.connect(path) as after:
        assert after.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    stored = rows(path)
    assert len(stored) >= len(finished)
    for (start, end, name), row in zip(finished, stored):
        assert row[:3] == (start, pytest.approx(end), name)
