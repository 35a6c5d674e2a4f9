"""The scene pass a user asked for: which classifier and detector run, by one set of rules for every caller.

`birdcam predict` and `bench`, the window and headless mode (inside the inference process) all build
their scene pass here, so the same options and environment run the same models everywhere
(birdcam/models/store.py resolves them):

- the classifier: --model > $BIRDCAM_MODEL > the newest trained model > the cached starter > its download;
- the detector: --detector ("none": whole-frame mode) > $BIRDCAM_DETECTOR > the cached starter detector >
  its download. A detector the user named (the option or the variable) must load, or opening the scene fails
  with the reason; the default one may be missing (offline, not cached) or unreadable: the scene pass then
  names birds on the whole frame, and `OpenedScene.detector_note` says why in one line.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from birdcam.errors import DetectorError, ModelError, first_line
from birdcam.models.classifier import Classifier
from birdcam.models.detector import Detector, DetectorOptions
from birdcam.models.store import ResolvedModel, resolve_detector, resolve_model
from birdcam.scene.scene_pass import SceneOptions, ScenePass
from birdcam.util.progress import DownloadProgress


@dataclass(frozen=True)
class OpenedScene:
    """A scene pass and how its models were chosen."""

    scene: ScenePass
    """Ready to process frames; closing it closes both models."""
    model: ResolvedModel
    """The classifier that runs and why."""
    detector: ResolvedModel | None
    """The detector that runs and why; None: whole-frame mode."""
    detector_note: str = ""
    """Why the default detector does not run though one was wanted (one line), "" otherwise."""


def open_scene_pass(
    model: str | os.PathLike | None = None,
    *,
    labels: str | os.PathLike | None = None,
    detector: str | os.PathLike | None = None,
    num_threads: int | None = None,
    classifier_options: Mapping[str, Any] | None = None,
    options: SceneOptions = SceneOptions(),
    progress: DownloadProgress | None = None,
    environ: Mapping[str, str] = os.environ,
) -> OpenedScene:
    """Resolves and opens the classifier and the detector and joins them in a scene pass.

    `model`, `detector`: as --model and --detector (None: the environment, else the defaults); `labels`: a label
    file that overrides the model's own; `num_threads`: LiteRT threads of each model (None: their default);
    `classifier_options`: further ClassifierOptions fields (top_k, threshold, resize, species lists...).
    Raises ModelError (one line, what to do) when the classifier cannot be had, DetectorError when a detector the
    user named cannot.
    """
    threads: dict[str, Any] = {} if num_threads is None else {"num_threads": num_threads}
    resolved = resolve_model(model, progress=_of(progress, "the starter model"), environ=environ)
    classifier = Classifier.from_path(
        resolved.path,
        labels_path=Path(labels) if labels is not None else resolved.labels_path,
        **threads,
        **dict(classifier_options or {}),
    )
    named = any(value is not None and str(value).strip() for value in (detector, environ.get("BIRDCAM_DETECTOR")))
    try:
        found = resolve_detector(detector, progress=_of(progress, "the starter detector"), environ=environ)
        opened = (
            None
            if found is None
            else open_detector(found.path, labels_path=found.labels_path, options=options, **threads)
        )
    except ModelError as error:
        if named:
            classifier.close()
            raise DetectorError(str(error)) from None
        note = f"{error} Going on in whole-frame mode."
        return OpenedScene(ScenePass(classifier, None, options), resolved, None, note)
    except Exception as error:  # a detector file can break its loader in any way: still the detector's fault
        classifier.close()
        raise DetectorError(f"cannot load the detector ({first_line(error)}); pick another detector") from None
    except BaseException:
        classifier.close()
        raise
    return OpenedScene(ScenePass(classifier, opened, options), resolved, found)


def open_detector(
    path: str | os.PathLike,
    *,
    labels_path: str | os.PathLike | None = None,
    num_threads: int | None = None,
    options: SceneOptions = SceneOptions(),
) -> Detector:
    """The detector as the scene pass wants it: reporting boxes down to the score that keeps a track going
    (`options.tracking.keep_score`), below the detector's own default."""
    threads: dict[str, Any] = {} if num_threads is None else {"num_threads": num_threads}
    return Detector(
        DetectorOptions(
            model_path=Path(path),
            labels_path=Path(labels_path) if labels_path is not None else None,
            score_threshold=options.tracking.keep_score,
            **threads,
        )
    )


def _of(progress: DownloadProgress | None, what: str) -> DownloadProgress | None:
    """The reporter for one download, saying what downloads."""
    return None if progress is None else progress.of(what)
