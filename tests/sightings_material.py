"""Sightings test material: videos built from the shared photos, played through the real scene pass into a recorder;
and the database faults a user meets (another program's lock, a damaged file, a read-only place)."""

from __future__ import annotations

import contextlib
import csv
import os
import shutil
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest

# Photos of birds25-sample the starter model names right as whole frames (checked by hand, not by the tests).
SHOTS = (
    ("BELTED KINGFISHER", "1.jpg"),
    ("CEDAR WAXWING", "1.jpg"),
    ("BELTED KINGFISHER", "2.jpg"),
    ("EASTERN BLUEBIRD", "1.jpg"),
    ("CEDAR WAXWING", "2.jpg"),
)
FRAME_SIZE = (320, 240)
T0 = 1_800_000_000.0  # a fixed unix time (2027-01-15): visits' times are checked exactly


@dataclass(frozen=True)
class Shot:
    """A piece of the video: a bird photo (or a bird-free scene) for some frames."""

    species: str | None
    """Kaggle class name of the bird shown, None for a bird-free scene."""
    scientific_name: str
    first_frame: int
    frames: int


def sample_names(shared_dir: Path) -> dict[str, str]:
    """Kaggle class name -> scientific name, from the sample's birds.csv."""
    with (shared_dir / "birds525-sample" / "birds.csv").open(newline="", encoding="utf-8") as handle:
        return {row["labels"]: row["scientific name"] for row in csv.DictReader(handle)}


def bird_video(
    shared_dir: Path, path: Path, shots=SHOTS, *, bird_frames: int = 20, gap_frames: int = 10, fps: float = 10.0
) -> tuple[Path, list[Shot]]:
    """An MJPG video: each shot's photo for bird_frames, then a bird-free real scene for gap_frames."""
    names = sample_names(shared_dir)
    scenes = sorted((shared_dir / "images" / "scenes").iterdir())
    frames, plan = [], []
    for n, (species, photo) in enumerate(shots):
        image = cv2.imread(str(shared_dir / "birds525-sample" / "valid" / species / photo))
        plan.append(Shot(species, names[species], len(frames), bird_frames))
        frames += [image] * bird_frames
        scene = cv2.imread(str(scenes[n % len(scenes)]))
        plan.append(Shot(None, "", len(frames), gap_frames))
        frames += [scene] * gap_frames
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, FRAME_SIZE)
    assert writer.isOpened(), "OpenCV cannot write MJPG here"
    for frame in frames:
        writer.write(cv2.resize(frame, FRAME_SIZE, interpolation=cv2.INTER_AREA))
    writer.release()
    return path, plan


def play(video: Path, scene_pass, recorder, *, fps: float = 10.0, start: float = T0) -> int:
    """Reads the video and feeds each frame's scene result to the recorder at its video time; returns the frames."""
    capture = cv2.VideoCapture(str(video))
    n = 0
    try:
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            t = n / fps
            result = scene_pass.process(frame, t)
            recorder.update(result.birds, start + t, frame)
            n += 1
    finally:
        capture.release()
    return n


# -- faults ------------------------------------------------------------------------------------

LOCK_HOLDER = """
import sqlite3, sys
connection = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=10)
connection.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
sys.stdin.readline()
connection.execute("COMMIT")
connection.close()
print("released", flush=True)
"""


class LockHolder:
    """Another process holding `BEGIN EXCLUSIVE` on a database until release()."""

    def __init__(self, path: Path):
        self.process = subprocess.Popen(
            [sys.executable, "-c", LOCK_HOLDER, str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert self.process.stdout.readline().strip() == "locked"

    def release(self) -> None:
        if self.process.poll() is None:
            self.process.stdin.write("\n")
            self.process.stdin.flush()
            assert self.process.stdout.readline().strip() == "released"
            self.process.wait(10)

    def __enter__(self) -> LockHolder:
        return self

    def __exit__(self, *exc_info) -> None:
        self.release()
        self.process.stdin.close()
        self.process.stdout.close()


def damage(path: Path) -> bytes:
    """Overwrites every page after the first with garbage, keeping the valid header; returns the damaged bytes."""
    data = bytearray(path.read_bytes())
    page_size = int.from_bytes(data[16:18], "big")
    rng = np.random.default_rng(7)
    data[page_size:] = rng.integers(0, 256, len(data) - page_size, dtype=np.uint8).tobytes()
    path.write_bytes(bytes(data))
    for suffix in ("-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return bytes(data)


def v1_database(path: Path, rows: list[tuple]) -> Path:
    """A database as the first release wrote it (9 columns), with these (start, end, common, scientific) rows."""
    connection = sqlite3.connect(path)
    connection.executescript("""
        CREATE TABLE visits (id INTEGER PRIMARY KEY, start REAL NOT NULL, end REAL NOT NULL,
            common_name TEXT NOT NULL, scientific_name TEXT NOT NULL, best_score REAL NOT NULL,
            source TEXT NOT NULL, model TEXT NOT NULL, snapshot_path TEXT);
        CREATE INDEX visits_by_start ON visits (start);
        PRAGMA journal_mode=WAL;
    """)
    connection.executemany(
        "INSERT INTO visits (start, end, common_name, scientific_name, best_score, source, model,"
        " snapshot_path) VALUES (?, ?, ?, ?, 0.9, 'camera 0', 'aiy', NULL)",
        rows,
    )
    connection.commit()
    connection.close()
    return path


@contextlib.contextmanager
def read_only(folder: Path):
    """Makes a folder and its files unwritable for this process: chmod for a user; for root (whom chmod does not
    stop) a read-only bind mount, else the immutable attribute."""
    if os.geteuid() != 0:
        modes = {p: p.stat().st_mode for p in [folder, *folder.iterdir()]}
        for p in modes:
            p.chmod(0o555 if p.is_dir() else 0o444)
        try:
            yield
        finally:
            for p, mode in modes.items():
                p.chmod(mode)
        return
    if shutil.which("mount") and _run(["mount", "--bind", str(folder), str(folder)]):
        if _run(["mount", "-o", "remount,bind,ro", str(folder)]):
            try:
                yield
            finally:
                _run(["umount", str(folder)])
            return
        _run(["umount", str(folder)])
    targets = [folder, *folder.iterdir()]
    if shutil.which("chattr") and _run(["chattr", "+i", *map(str, targets)]):
        try:
            yield
        finally:
            _run(["chattr", "-i", *map(str, targets)])
        return
    pytest.skip("cannot make a folder read-only for root here (no bind mount, no chattr)")


def _run(command: list[str]) -> bool:
    return subprocess.run(command, capture_output=True).returncode == 0
