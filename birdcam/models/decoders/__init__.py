"""Detector families: each knows how its models take a picture and what their outputs mean.

To read another family, write a class that follows `DetectorDecoder` (base.py) in a module of its
own here and add it to DECODERS; the Detector does the rest (fitting, running, clipping, NMS).
"""

from __future__ import annotations

from birdcam.models.decoders.base import DetectorDecoder, Fit, InputConvention, ModelOutputs
from birdcam.models.decoders.nanodet import NanoDetDecoder
from birdcam.models.decoders.ssd import SsdDecoder
from birdcam.models.decoders.yolox import YoloxDecoder

DECODERS: tuple[type[DetectorDecoder], ...] = (YoloxDecoder, NanoDetDecoder, SsdDecoder)
"""The families a Detector reads, asked in this order."""

__all__ = [
    "DECODERS",
    "DetectorDecoder",
    "Fit",
    "InputConvention",
    "ModelOutputs",
    "NanoDetDecoder",
    "SsdDecoder",
    "YoloxDecoder",
]
