"""SSD-style detectors with post-processing in the model: boxes, classes, scores (and count) outputs, as
EfficientDet-Lite, SSD MobileNet, MediaPipe's and Coral's detectors give."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import numpy as np

from birdcam.errors import ModelError
from birdcam.models.decoders.base import Decoded, Fit, InputConvention, ModelOutputs, shape_of, with_positions

# What the output names of SSD-style detectors say about each tensor (tensor names and signature names).
_NAME_HINTS = {"classes": ("class", "categor", "label"), "scores": ("score", "prob", "conf")}
# TFLite_Detection_PostProcess's outputs, in order: boxes, classes, scores, count.
_POSTPROCESS_SUFFIXES = {":1": "classes", ":2": "scores"}


class SsdDecoder:
    """SSD-style: the frame stretched to the input, RGB, float inputs in [-1, 1] (TF's convention), uint8 ones
    raw; outputs normalized (ymin, xmin, ymax, xmax) boxes, class ids, scores and a count."""

    kind: ClassVar[str] = "ssd"
    reads: ClassVar[str] = "SSD-style detectors (boxes, classes, scores and count outputs)"
    convention = InputConvention(letterbox=False, bgr=False, mean=(127.5,) * 3, std=(127.5,) * 3)
    num_classes: int | None = None

    def __init__(self, roles: dict[str, int], roles_named: bool):
        self.roles = roles
        """{role: output position} for boxes, classes, scores (and count)."""
        self.roles_named = roles_named
        """The output names told classes from scores; if not, the first outputs' values settle it."""

    @classmethod
    def match(cls, model: ModelOutputs) -> SsdDecoder | None:
        """A decoder for boxes, classes, scores (and count) outputs.

        Boxes ([1, N, 4]) and count (one value) are told by shape. Classes and scores (both [1, N]) by
        their tensor or signature names when these say it, else by TFLite_Detection_PostProcess's order
        (classes first), which decode() corrects from the values if a model lists them otherwise.
        """
        outputs = with_positions(model.outputs)
        shapes = [shape_of(o) for o in outputs]
        boxes = [o for o, s in zip(outputs, shapes) if len(s) == 3 and s[0] == 1 and s[2] == 4]
        counts = [o for o, s in zip(outputs, shapes) if int(np.prod(s)) == 1]
        rows = [o for o, s in zip(outputs, shapes) if len(s) == 2 and s[0] == 1 and s[1] > 1]
        if len(outputs) not in (3, 4) or len(boxes) != 1 or len(rows) != 2 or len(counts) != len(outputs) - 3:
            return None
        boxes_count = int(boxes[0]["shape"][1])
        if any(int(row["shape"][1]) != boxes_count for row in rows):
            raise ModelError(
                f"{model.path.name} gives {boxes_count} boxes but {[int(r['shape'][1]) for r in rows]} classes "
                "and scores; birdcam reads SSD-style detectors whose outputs agree."
            )
        names = _output_names(model.interpreter)
        found = {o["position"]: _role_from_names(names.get(o["index"], ()) + (o["name"],)) for o in rows}
        named = sorted(found.values(), key=str) == ["classes", "scores"]
        classes, scores = (rows if found[rows[0]["position"]] == "classes" else rows[::-1]) if named else rows
        roles = {"boxes": boxes[0]["position"], "classes": classes["position"], "scores": scores["position"]}
        if counts:
            roles["count"] = counts[0]["position"]
        return cls(roles, named)

    def decode(self, outputs: Sequence[np.ndarray], fit: Fit, score_threshold: float) -> Decoded:
        role = {name: outputs[position] for name, position in self.roles.items()}
        scores, classes = role["scores"].reshape(-1), role["classes"].reshape(-1)
        if not self.roles_named and _swapped(classes, scores):
            # The names did not say which is which and the order guessed wrong: the values tell, for good.
            self.roles["classes"], self.roles["scores"] = self.roles["scores"], self.roles["classes"]
            self.roles_named = True
            scores, classes = classes, scores
        count = len(scores)
        if "count" in role:
            count = min(count, max(0, int(round(float(role["count"].reshape(-1)[0])))))
        corners = role["boxes"].reshape(-1, 4)[:count]
        scores, classes = scores[:count], np.rint(classes[:count]).astype(np.int64)
        keep = scores >= score_threshold
        # Normalized ymin, xmin, ymax, xmax of the stretched input, which covers the region exactly.
        width, height = fit.region_size
        boxes = corners[keep][:, [1, 0, 3, 2]] * np.array([width, height, width, height], np.float32)
        return boxes.astype(np.float32), scores[keep].astype(np.float32), classes[keep]


def _output_names(interpreter) -> dict[int, tuple[str, ...]]:
    """{tensor index: signature output names}: converters often keep the meaningful names only there."""
    names: dict[int, tuple[str, ...]] = {}
    try:
        for key in interpreter.get_signature_list():
            for name, details in interpreter.get_signature_runner(key).get_output_details().items():
                names[int(details["index"])] = names.get(int(details["index"]), ()) + (name,)
    except (RuntimeError, ValueError, KeyError):
        return {}
    return names


def _role_from_names(names: tuple[str, ...]) -> str | None:
    for name in names:
        lower = name.lower()
        for role, hints in _NAME_HINTS.items():
            if any(hint in lower for hint in hints):
                return role
        if "TFLite_Detection_PostProcess" in name:
            for suffix, role in _POSTPROCESS_SUFFIXES.items():
                if name.endswith(suffix):
                    return role
    return None


def _swapped(classes: np.ndarray, scores: np.ndarray) -> bool:
    """True when the values say the two [N] outputs were taken the wrong way round: class ids are whole
    numbers and scores lie in [0, 1]."""
    classes_whole = bool(np.all(classes == np.rint(classes)))
    scores_whole = bool(np.all(scores == np.rint(scores)))
    if classes_whole != scores_whole:
        return scores_whole
    return float(scores.max(initial=0.0)) > 1.0 and float(classes.max(initial=0.0)) <= 1.0


__all__ = ["SsdDecoder"]
