"""Which model and detector the window runs, decided in one place, without Qt.

The user's requests (open a model or a detector, use the default one, detection on or off) and the
outcome of each load come in; what to load next and what to tell the user come out as typed outcomes.
The rules:

- only what loaded is remembered: a model or detector is saved in the settings once it runs;
- a failed request changes nothing: the models running before go on, and the next request starts
  from them (never from the model that just failed);
- at start, a saved detector that no longer loads falls back to the default detector, and a saved
  model to the default model, with one message saying so;
- every message names the part that failed (model or detector) and what fixes it in the window.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from birdcam.errors import DetectorError, ModelError, first_line
from birdcam.live.inference import ModelInfo

WHOLE_FRAME = "none"
"""The detector of whole-frame mode: no detector, the classifier names the whole frame."""
OPEN_MODEL = "Model \u25b8 Open model\u2026"
OPEN_DETECTOR = "Model \u25b8 Open detector\u2026"
DEFAULT_DETECTOR = "Model \u25b8 Use the default detector"


class Part(enum.Enum):
    """What a load failure is about."""

    MODEL = "model"
    DETECTOR = "detector"


@dataclass(frozen=True)
class Choice:
    """A classifier and a detector to run together."""

    model: str | None
    """A .tflite path; None: the default model (the newest trained one, else the starter)."""
    detector: str | None
    """A .tflite path; None: the default detector; WHOLE_FRAME: none."""


class SavedChoice(Protocol):
    """Where the choice is remembered between runs (the window's settings)."""

    model: str | None
    detector: str | None
    detection: bool


class Request(Protocol):
    """What a load request is known by: a newer one supersedes it."""

    generation: int


@dataclass(frozen=True)
class Running:
    """The requested models run now (ModelChoice.info says which)."""

    warning: str = ""
    """Something the user should know about what runs ("" when all is as asked): a fallback, or why no detector
    runs though one was wanted."""


@dataclass(frozen=True)
class Retrying:
    """A load failed at start; a fallback is loading (its outcome follows)."""

    message: str


@dataclass(frozen=True)
class Rejected:
    """A load failed; what ran before goes on (or nothing runs, `running` False)."""

    part: Part
    message: str
    """One line: what failed, why, and what to do."""
    running: bool


Outcome = Running | Retrying | Rejected


class ModelChoice:
    """The window's model and detector: requests in, loads and outcomes out. Not thread-safe: the GUI thread.

    `load(model, detector)` starts a load and returns its request; `loaded()` and `failed()` take each
    request's outcome (outcomes of superseded requests give None).
    """

    def __init__(
        self,
        saved: SavedChoice,
        load: Callable[[str | None, str | None], Request],
        *,
        model: str | None = None,
        detector: str | None = None,
    ):
        """`model`, `detector`: the command line's, for this run only (never saved); None: the saved ones."""
        self._saved = saved
        self._load = load
        self._explicit_model = model
        self._explicit_detector = detector
        self.running: Choice | None = None
        """What runs now; None before anything loaded, or once the running models were given up."""
        self.info: ModelInfo | None = None
        """The running models' info (None with `running`)."""
        self._pending: _Pending | None = None
        self._notes: list[str] = []  # the fallbacks taken for the load in flight, said once it runs

    # -- what the user asks for ---------------------------------------------------------------

    def start(self) -> None:
        """Loads the command line's models, else the saved ones; a saved one that fails falls back to the default."""
        choice = self._base
        fallbacks = set()
        if self._explicit_model is None and choice.model is not None:
            fallbacks.add(Part.MODEL)
        if self._explicit_detector is None and choice.detector not in (None, WHOLE_FRAME):
            fallbacks.add(Part.DETECTOR)
        self._ask(choice, frozenset(), frozenset(fallbacks))

    def open_model(self, path: str) -> None:
        """A model the user opened: it runs with the detector running now, and is remembered once it loads."""
        self._ask(Choice(path, self._base.detector), frozenset({"model"}))

    def use_default_model(self) -> None:
        self._explicit_model = None
        self._ask(Choice(None, self._base.detector), frozenset({"model"}))

    def reload_default_model(self) -> None:
        """The default model changed (a newly trained one): loads it, when the default model is what runs."""
        if self.follows_default_model:
            self._ask(Choice(None, self._base.detector), frozenset())

    def open_detector(self, path: str) -> None:
        """A detector the user opened: detection on, remembered once it loads."""
        self._explicit_detector = None
        self._ask(Choice(self._base.model, path), frozenset({"detector", "detection"}))

    def use_default_detector(self) -> None:
        self._explicit_detector = None
        self._ask(Choice(self._base.model, None), frozenset({"detector", "detection"}))

    def set_detection(self, on: bool) -> None:
        """Detection on (the command line's detector, else the saved one, else the default one) or off (whole-frame
        mode); the command line's "none" ends where the user turns detection on."""
        if on and self._explicit_detector == WHOLE_FRAME:
            self._explicit_detector = None
        detector = (self._explicit_detector or self._saved.detector) if on else WHOLE_FRAME
        self._ask(Choice(self._base.model, detector), frozenset({"detection"}))

    # -- what it is now ------------------------------------------------------------------------

    @property
    def follows_default_model(self) -> bool:
        """The default model runs (or is being loaded): a newly trained one takes its place."""
        return self._base.model is None

    @property
    def detection_wanted(self) -> bool:
        """Detection is asked for (the Model menu's tick before anything runs)."""
        return self._base.detector != WHOLE_FRAME

    @property
    def loading(self) -> bool:
        return self._pending is not None

    @property
    def detecting(self) -> bool:
        """A detector runs now."""
        return self.info is not None and self.info.detector_path is not None

    # -- load outcomes -------------------------------------------------------------------------

    def loaded(self, info: ModelInfo, request: Request) -> Running | None:
        """The models of `request` run; what was asked to be remembered is saved. None for a superseded request."""
        pending = self._current(request)
        if pending is None:
            return None
        self._pending = None
        choice = pending.choice
        self.running, self.info = choice, info
        if "model" in pending.remember:
            self._saved.model = choice.model
        if "detector" in pending.remember:
            self._saved.detector = choice.detector
        if "detection" in pending.remember:
            self._saved.detection = choice.detector != WHOLE_FRAME
        notes, self._notes = self._notes, []
        if info.detector_note and choice.detector != WHOLE_FRAME:
            notes.append(f"No bird detector runs: {info.detector_note}")
        return Running(" ".join(notes))

    def failed(self, error: ModelError, request: Request | None) -> Outcome | None:
        """A load failed (request None: the running models were given up after crashing again and again). None for
        a superseded request."""
        if request is None:
            self.running, self.info = None, None
            return Rejected(Part.MODEL, f"The model stopped: {first_line(error)}.", False)
        pending = self._current(request)
        if pending is None:
            return None
        self._pending = None
        part = Part.DETECTOR if isinstance(error, DetectorError) else Part.MODEL
        failed = pending.choice
        if part in pending.fallbacks:
            fallback = Choice(None, failed.detector) if part == Part.MODEL else Choice(failed.model, None)
            message = (
                f"The {part.value} {_name(getattr(failed, part.value))} saved last time does not load "
                f"({first_line(error)}); the default {part.value} runs instead. "
                f"{OPEN_MODEL if part == Part.MODEL else OPEN_DETECTOR} picks another."
            )
            self._notes.append(message)
            self._request(fallback, pending.remember | {part.value}, pending.fallbacks - {part})
            return Retrying(message)
        self._notes = []
        return Rejected(part, self._rejected_message(part, failed, error), self.running is not None)

    # -- internals -----------------------------------------------------------------------------

    @property
    def _base(self) -> Choice:
        """What a new request starts from: the models running, else the ones being loaded, else the saved ones
        (never a model that just failed)."""
        if self.running is not None:
            return self.running
        if self._pending is not None:
            return self._pending.choice
        detector = self._saved.detector if self._saved.detection else WHOLE_FRAME
        return Choice(self._explicit_model or self._saved.model, self._explicit_detector or detector)

    def _current(self, request: Request) -> _Pending | None:
        return self._pending if self._pending is not None and self._pending.request is request else None

    def _ask(self, choice: Choice, remember: frozenset[str], fallbacks: frozenset[Part] = frozenset()) -> None:
        """A request of the user's: the notes of an earlier load no longer apply."""
        self._notes = []
        self._request(choice, remember, fallbacks)

    def _request(self, choice: Choice, remember: frozenset[str], fallbacks: frozenset[Part]) -> None:
        self._pending = _Pending(self._load(choice.model, choice.detector), choice, remember, fallbacks)

    def _rejected_message(self, part: Part, failed: Choice, error: ModelError) -> str:
        running = self.running
        if part == Part.DETECTOR:
            keeps = ""
            if running is not None:
                detector = _name(running.detector)
                keeps = f" {self._running_name()} keeps running" + (f" with {detector}." if detector else ".")
            return (
                f"Could not load the detector{_naming(failed.detector, error)}: {first_line(error)}.{keeps} "
                f"Pick another with {OPEN_DETECTOR}, or {DEFAULT_DETECTOR}."
            )
        if running is not None:
            return (
                f"Could not load the model{_naming(failed.model, error)}: {first_line(error)}. "
                f"{self._running_name()} keeps running."
            )
        return f"No model runs: {first_line(error)}. Open one with {OPEN_MODEL}."

    def _running_name(self) -> str:
        if self.info is not None:
            return Path(self.info.model_path).stem
        return _name(self.running.model if self.running else None, "the model")


@dataclass(frozen=True)
class _Pending:
    """The load in flight."""

    request: Request
    choice: Choice
    remember: frozenset[str]
    """What to save once it runs: "model", "detector", "detection"."""
    fallbacks: frozenset[Part]
    """The parts that fall back to their default when they fail (saved ones, at start)."""


def _name(path: str | None, default: str = "") -> str:
    """A model or detector file by its name, for messages."""
    return Path(path).name if path and path != WHOLE_FRAME else default


def _naming(path: str | None, error: Exception) -> str:
    """ " NAME" of the file that failed, unless the error's message names it already (or it is a default)."""
    name = _name(path)
    return f" {name}" if name and name not in str(error) else ""
