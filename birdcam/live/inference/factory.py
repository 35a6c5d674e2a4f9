"""What the inference process runs by default: the scene pass birdcam/scene/factory.py opens, and its ModelInfo."""

from __future__ import annotations

from collections.abc import Callable

from birdcam.live.inference.options import InferenceOptions, ModelInfo
from birdcam.scene.scene_pass import ScenePass
from birdcam.util.progress import DownloadProgress

TOP_K = 7
"""Classes the classifier ranks per look: enough runners-up for any top-k the window offers (the background may be
one of them)."""


def build_scene_pass(options: InferenceOptions, progress: Callable[[str], None]) -> tuple[ScenePass, ModelInfo]:
    """The default SceneFactory: the models `birdcam models` names, run by the scene pass; downloads are reported
    to `progress` as "Downloading the starter model: 42%"."""
    from birdcam.scene.factory import open_scene_pass

    opened = open_scene_pass(
        options.model,
        labels=options.labels,
        detector=options.detector,
        num_threads=options.num_threads,
        classifier_options={"top_k": TOP_K},
        progress=DownloadProgress(report=progress),
    )
    classifier = opened.scene.classifier
    info = ModelInfo(
        model_path=str(opened.model.path),
        name=classifier.name,
        labels=tuple(classifier.labels),
        background_index=classifier.background_index,
        threshold=float(classifier.threshold),
        top_k=TOP_K,
        detector_path=str(opened.detector.path) if opened.detector is not None else None,
        detector_note=opened.detector_note,
    )
    return opened.scene, info
