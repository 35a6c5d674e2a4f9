"""birdcam: names bird species live from a camera, a video or the screen.

The Python API: `from birdcam import Classifier, ScenePass, ...` (the names in `__all__`). Each is imported
from its module on first use, so `import birdcam` (and `birdcam --help`) stays quick and loads neither
OpenCV nor LiteRT until a model or an image is asked for.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from birdcam.errors import (
    BirdcamError,
    DatasetError,
    DetectorError,
    LabelError,
    ModelError,
    OptionsError,
    OutputError,
    SightingsError,
    SourceError,
    SpeciesListError,
)

if TYPE_CHECKING:
    from birdcam.models.card import ModelCard
    from birdcam.models.classifier import Category, Classifier, ClassifierOptions, Result
    from birdcam.models.detector import Detection, Detector, DetectorOptions
    from birdcam.models.image import read_image
    from birdcam.models.labels import Label
    from birdcam.scene.factory import OpenedScene, open_scene_pass
    from birdcam.scene.options import SceneOptions
    from birdcam.scene.scene_pass import Bird, ScenePass, SceneResult

__version__ = "0.1.0"

_HOMES = {
    "Category": "birdcam.models.classifier",
    "Classifier": "birdcam.models.classifier",
    "ClassifierOptions": "birdcam.models.classifier",
    "Result": "birdcam.models.classifier",
    "Detection": "birdcam.models.detector",
    "Detector": "birdcam.models.detector",
    "DetectorOptions": "birdcam.models.detector",
    "Label": "birdcam.models.labels",
    "ModelCard": "birdcam.models.card",
    "read_image": "birdcam.models.image",
    "Bird": "birdcam.scene.scene_pass",
    "SceneOptions": "birdcam.scene.options",
    "SceneResult": "birdcam.scene.scene_pass",
    "ScenePass": "birdcam.scene.scene_pass",
    "OpenedScene": "birdcam.scene.factory",
    "open_scene_pass": "birdcam.scene.factory",
}
"""Each lazily imported name and the module it lives in."""

__all__ = [
    # models
    "Category",
    "Classifier",
    "ClassifierOptions",
    "Detection",
    "Detector",
    "DetectorOptions",
    "Label",
    "ModelCard",
    "Result",
    "read_image",
    # the scene pass
    "Bird",
    "OpenedScene",
    "SceneOptions",
    "SceneResult",
    "ScenePass",
    "open_scene_pass",
    # errors
    "BirdcamError",
    "DatasetError",
    "DetectorError",
    "LabelError",
    "ModelError",
    "OptionsError",
    "OutputError",
    "SightingsError",
    "SourceError",
    "SpeciesListError",
    "__version__",
]


def __getattr__(name: str) -> Any:
    """Imports a name of the API from its module the first time it is asked for (PEP 562)."""
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'birdcam' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
