""" "Teach birdcam this species": a renamed visit's pictures extend the running model, away from the GUI thread.

A worker on its own QThread gathers the crops (the visit's and the earlier ones of that species, from
the sightings database, read-only) into a teaching folder and runs
`python -m birdcam train --extend MODEL --data DIR --out RUN --install` as a child process (no
shell), waiting for it there. The newest request wins: a new one ends the running child and takes
its place, and the outcome of a superseded one is dropped. A failure is one message; the model that
runs goes on. `close()` ends the child and joins the thread.
"""

from __future__ import annotations

import re
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject, QThread, Signal, Slot

from birdcam import paths
from birdcam.errors import BirdcamError
from birdcam.sightings.teaching import species_label, teaching_crops, write_teaching_folder
from birdcam.sightings.visit import Visit

TAUGHT_FOLDER = "taught"
"""Sub-folder of the data folder that holds each teaching's photos and run."""


@dataclass(frozen=True)
class TeachRequest:
    """One request: which model learns which species from which visit."""

    generation: int
    """Requests are numbered; only the newest one's outcome counts."""
    model: Path
    """The model that runs now: the one extended."""
    common_name: str
    scientific_name: str
    visit: Visit | None
    """The renamed visit (its crop teaches even before its new name is written)."""
    db_path: Path
    """The sightings database the earlier crops of the species come from."""
    folder: Path
    """The run folder of this teaching (its model is installed under the folder's name); the photos go beside it."""

    @property
    def label(self) -> str:
        return species_label(self.common_name, self.scientific_name)

    @property
    def name(self) -> str:
        return self.common_name or self.scientific_name


@dataclass(frozen=True)
class TeachOutcome:
    """What a teaching came to."""

    generation: int
    model: Path | None
    """The new model (installed in models/), None when it failed."""
    message: str
    """One line for the user."""


def extend_command(python: Sequence[str], request: TeachRequest, data: Path, out: Path) -> list[str]:
    """The child's command line (a list: no shell)."""
    return [*python, "-m", "birdcam", "train", "--extend", str(request.model), "--data", str(data)] + [
        "--out",
        str(out),
        "--install",
    ]


class _TeachWorker(QObject):
    """Runs requests one after another on the teacher's thread."""

    finished = Signal(object)
    """A TeachOutcome (also for a superseded request: the teacher drops it)."""

    def __init__(self, python: Sequence[str]):
        super().__init__()
        self._python = list(python)
        self._lock = threading.Lock()
        self._process: subprocess.Popen | None = None
        self._newest = 0

    def supersede(self, generation: int) -> None:
        """Any thread: requests before `generation` are dropped and a running child is ended."""
        with self._lock:
            self._newest = generation
            process = self._process
        if process is not None and process.poll() is None:
            process.terminate()

    @Slot(object)
    def run(self, request: TeachRequest) -> None:
        try:
            outcome = self._teach(request)
        except BirdcamError as error:
            outcome = TeachOutcome(request.generation, None, f"Could not teach birdcam {request.name}: {error}.")
        except OSError as error:
            outcome = TeachOutcome(
                request.generation, None, f"Could not teach birdcam {request.name}: {error.strerror or error}."
            )
        self.finished.emit(outcome)

    def _teach(self, request: TeachRequest) -> TeachOutcome:
        dropped = TeachOutcome(request.generation, None, "")
        if request.generation != self._newest:
            return dropped
        crops = teaching_crops(request.db_path, request.common_name, request.scientific_name, request.visit)
        data = write_teaching_folder(crops, request.label, request.folder.with_name(f"{request.folder.name}-photos"))
        command = extend_command(self._python, request, data, request.folder)
        with self._lock:
            if request.generation != self._newest:
                return dropped
            self._process = subprocess.Popen(
                command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True
            )
            process = self._process
        try:
            out, err = process.communicate()
        finally:
            with self._lock:
                self._process = None
        if request.generation != self._newest:
            return dropped
        if process.returncode != 0:
            return TeachOutcome(request.generation, None, f"Could not teach birdcam {request.name}: {_why(err)}")
        installed = re.search(r"^installed: (.+?) \(", out, re.MULTILINE)
        model = Path(installed[1]) if installed else request.folder / "model.tflite"
        pictures = f"{len(crops)} picture{'s' if len(crops) != 1 else ''}"
        return TeachOutcome(request.generation, model, f"birdcam now knows {request.name} (from {pictures}).")


def _why(stderr: str) -> str:
    """The child's error line without its prefix, else its last line."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("birdcam: error: ")]
    if errors:
        return errors[-1].removeprefix("birdcam: error: ")
    return lines[-1] if lines else "the teaching process stopped"


class Teacher(QObject):
    """Teaches the running model a species in the background. Lives on the GUI thread; emits there."""

    started = Signal(str)
    """The species being taught (its name)."""
    taught = Signal(str, str)
    """(path of the new model, one line for the user): switch to it."""
    failed = Signal(str)
    """One line: what went wrong. The model that runs goes on."""
    _run = Signal(object)

    def __init__(self, parent: QObject | None = None, *, python: Sequence[str] = (sys.executable,)):
        """`python`: how to start the child's interpreter."""
        super().__init__(parent)
        self._generation = 0
        self._thread = QThread()  # owned here, not by Qt: alive until joined, whatever deletes the teacher
        self._thread.setObjectName("birdcam teacher")
        self._worker = _TeachWorker(python)
        self._worker.moveToThread(self._thread)
        self._run.connect(self._worker.run)
        self._worker.finished.connect(self._finished)
        self._thread.start()
        self._busy = False

    @property
    def busy(self) -> bool:
        """A request is being taught."""
        return self._busy

    def request(
        self, model: str | Path, common_name: str, scientific_name: str, visit: Visit | None, db_path: Path
    ) -> None:
        """Teaches `model` the species from `visit`'s crop and the earlier crops of the species in `db_path`; a request
        before it is dropped (its child ended)."""
        self._generation += 1
        self._worker.supersede(self._generation)
        name = common_name or scientific_name
        slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "species"
        folder = paths.data_dir() / TAUGHT_FOLDER / f"{slug}-{time.strftime('%Y%m%d-%H%M%S')}-{self._generation}"
        self._busy = True
        self.started.emit(name)
        self._run.emit(
            TeachRequest(self._generation, Path(model), common_name, scientific_name, visit, Path(db_path), folder)
        )

    @Slot(object)
    def _finished(self, outcome: TeachOutcome) -> None:
        if outcome.generation != self._generation:
            return  # superseded
        self._busy = False
        if outcome.model is None:
            self.failed.emit(outcome.message)
        else:
            self.taught.emit(str(outcome.model), outcome.message)

    def close(self, timeout: float = 2.0) -> None:
        """Ends a running child and joins the thread."""
        self._generation += 1
        self._worker.supersede(self._generation)
        self._thread.quit()
        self._thread.wait(int(timeout * 1000))
