"""Model loading and inference in a child process, so no model can freeze or crash the app.

`process`: the app's handle (InferenceProcess); `child`: the loop the child runs; `wire`: the
messages between them, with named fields; `factory`: what the child builds by default (the scene
pass of birdcam/scene/factory.py); `options`: what travels between them.
"""

from birdcam.live.inference.factory import TOP_K, build_scene_pass
from birdcam.live.inference.options import InferenceOptions, LiveSettings, ModelInfo, SceneFactory
from birdcam.live.inference.process import InferenceProcess, LoadCancelled, ModelCrashed, ModelHung, child_pids

__all__ = [
    "TOP_K",
    "InferenceOptions",
    "InferenceProcess",
    "LiveSettings",
    "LoadCancelled",
    "ModelCrashed",
    "ModelHung",
    "ModelInfo",
    "SceneFactory",
    "build_scene_pass",
    "child_pids",
]
