"""The overlay: every bird boxed where it is, unknown species drawn apart, no name cut short at any size."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from PySide6.QtCore import QRectF

from birdcam.gui.overlay import (
    BIRD_COLOR,
    UNKNOWN_BIRD_COLOR,
    BirdMark,
    OverlayContent,
    panel_layout,
    qimage_to_bgr,
    render_annotated,
)

LONG = "Black-capped Chickadee"


@pytest.mark.parametrize("size", [(1920, 1080), (1280, 720), (640, 360)])
def test_a_long_name_is_never_cut_short(qapp, size):
    width, height = size
    content = OverlayContent(
        title=LONG, subtitle="Poecile atricapillus", score=0.9, is_bird=True, top=(("Carolina Chickadee", 0.05),)
    )
    layout = panel_layout(QRectF(0, 0, width, height), content)
    assert " ".join(layout.title_lines) == LONG, "every word of the name is drawn"
    assert layout.rect.right() <= width and layout.rect.left() >= 0
    if width >= 1280:
        assert layout.title_lines == (LONG,), "on one line where there is room"


def test_a_name_too_long_for_a_small_window_wraps_instead_of_being_cut(qapp):
    name = "Northern Rough-winged Swallow and Friends"
    layout = panel_layout(QRectF(0, 0, 240, 135), OverlayContent(title=name, score=0.5, is_bird=True))
    assert len(layout.title_lines) == 2 and " ".join(layout.title_lines) == name


def colour_near(image: np.ndarray, x: int, y: int, colour) -> bool:
    """Whether the BGR pixels around (x, y) include the colour (within a few levels)."""
    patch = image[y - 2 : y + 3, x - 2 : x + 3].reshape(-1, 3).astype(int)
    target = np.array([colour.blue(), colour.green(), colour.red()])
    return bool((np.abs(patch - target).max(axis=1) < 30).any())


@pytest.mark.parametrize("mirror", [False, True])
def test_each_bird_is_boxed_where_it_is_and_an_unknown_one_in_its_own_colour(qapp, mirror):
    frame = np.full((360, 640, 3), 90, np.uint8)
    known = BirdMark((60, 80, 120, 100), "Mandarin Duck", 0.9, True, highlighted=True)
    unknown = BirdMark((400, 200, 100, 80), "Bird?", 0.6, False)
    content = OverlayContent(
        title="Mandarin Duck", score=0.9, is_bird=True, birds=(known, unknown), frame_size=(640, 360)
    )
    image = qimage_to_bgr(render_annotated(frame, content, mirror=mirror))

    def left_edge(box) -> tuple[int, int]:
        x, y, w, h = box
        return (640 - x - w if mirror else x), y + h // 2

    assert colour_near(image, *left_edge(known.box), BIRD_COLOR)
    assert not colour_near(image, *left_edge(known.box), UNKNOWN_BIRD_COLOR)
    middle_of_unknown_edge = left_edge(unknown.box)
    assert any(
        colour_near(image, middle_of_unknown_edge[0], middle_of_unknown_edge[1] + dy, UNKNOWN_BIRD_COLOR)
        for dy in range(-12, 13, 3)
    ), "dashed amber"
    assert not colour_near(image, 320, 40, BIRD_COLOR), "nothing is drawn where no bird is"


def test_the_panel_moves_off_a_bird_in_the_bottom_left_corner(qapp):
    """The panel covered boxed birds at the bottom left."""
    area = QRectF(0, 0, 1280, 720)
    low_left = BirdMark((40, 480, 260, 200), "Mandarin Duck", 0.9, True, highlighted=True)
    content = OverlayContent(title="Mandarin Duck", score=0.9, is_bird=True, birds=(low_left,), frame_size=(1280, 720))
    assert not panel_layout(area, content).rect.intersects(QRectF(40, 480, 260, 200))
    assert panel_layout(area, content).rect.right() > 1000, "in the bottom-right corner instead"
    mirrored = panel_layout(area, content, mirror=True)  # drawn flipped, the bird is in the bottom-right corner
    assert mirrored.rect.left() < 100 and not mirrored.rect.intersects(QRectF(1280 - 300, 480, 260, 200))
    alone = OverlayContent(title="Mandarin Duck", score=0.9, is_bird=True)
    assert panel_layout(area, alone).rect.left() < 100, "the bottom-left corner when no bird is there"


def test_no_bird_lists_no_runner_up_that_the_scene_pass_did_not_show(qapp, shared_dir, starter_model):
    """ "No bird" over a runner-up at 50% or more (apples the whole-frame pass takes for a parakeet, not shown as a
    bird since the detector sees apples there)."""
    import cv2

    from birdcam.gui.overlay import overlay_content
    from birdcam.gui.pipeline import DisplayFrame
    from birdcam.live.inference import ModelInfo
    from birdcam.live.pipeline import LiveResult, LiveStats
    from birdcam.live.sources import Frame
    from birdcam.scene.factory import open_scene_pass

    yolox = shared_dir / "models" / "yolox_nano" / "yolox_nano_float16_quantize.tflite"
    shown = {}
    for name in ("000000002149.jpg", "000000000632.jpg"):  # apples; a street market
        image = cv2.imread(str(shared_dir / "images" / "scenes" / name))
        opened = open_scene_pass(starter_model, detector=yolox, classifier_options={"top_k": 7})
        with opened.scene as scene:
            for n in range(30):
                result = scene.process(image, n / 15)
            labels = scene.classifier.labels
        info = ModelInfo(str(starter_model), "aiy", tuple(labels), None, 0.3, 7)
        display = DisplayFrame(
            Frame(0, image, 0.0), LiveResult(0, 0.0, 0.0, result, info, image), 0.0, LiveStats(15.0, 15.0, 50.0)
        )
        assert result.birds == ()
        shown[name] = (result.whole.is_bird, overlay_content(display, top_k=3), display)
    apples_said_bird, apples, _ = shown["000000002149.jpg"]
    assert apples_said_bird and apples.title == "No bird" and apples.top == ()
    market_said_bird, market, display = shown["000000000632.jpg"]
    assert not market_said_bird and market.title == "No bird" and market.top, "how close it came"
    assert all(score < 0.3 for _, score in market.top)
    best = market.top[0][1]  # with a threshold it reaches, it is a species about to be named: no runner-up
    lower = overlay_content(display, top_k=3, threshold=best)
    assert lower.title == "No bird" and all(score < best for _, score in lower.top)


def test_a_still_close_up_is_never_boxed_by_turns(qapp, shared_dir, starter_model):
    """On a still close-up the box came and went: the bird was the detector's close-up on some frames and the
    whole-frame pass's bird on others (a firecrest photo: 13 frames unboxed, 8 boxed, 14 unboxed, ...)."""
    import cv2

    from birdcam.gui.overlay import overlay_content
    from birdcam.gui.pipeline import DisplayFrame
    from birdcam.live.inference import ModelInfo
    from birdcam.live.pipeline import LiveResult, LiveStats
    from birdcam.live.sources import Frame
    from birdcam.scene.factory import open_scene_pass

    image = cv2.resize(
        cv2.imread(str(shared_dir / "birds525-sample" / "valid" / "COMMON FIRECREST" / "5.jpg")), (640, 480)
    )
    yolox = shared_dir / "models" / "yolox_nano" / "yolox_nano_float16_quantize.tflite"
    kinds, boxed, titles = set(), [], set()
    with open_scene_pass(starter_model, detector=yolox, classifier_options={"top_k": 7}).scene as scene:
        # A detector pass on every frame at 15 frames/s: the detector boxes this close-up only now and then, and
        # with a pass on every other frame, never in these three seconds.
        scene.set_options(dataclasses.replace(scene.options, detector_every=1))
        info = ModelInfo(str(starter_model), "aiy", tuple(scene.classifier.labels), None, 0.3, 7)
        for n in range(45):
            result = scene.process(image, n / 15)
            kinds |= {(b.closeup, b.whole_frame) for b in result.birds}
            display = DisplayFrame(
                Frame(n, image, 0.0), LiveResult(n, 0.0, 0.0, result, info, image), 0.0, LiveStats(15, 15, 50)
            )
            content = overlay_content(display, top_k=3)
            boxed.append(bool(content.birds))
            titles.add(content.title)
    assert {(True, False), (False, True)} <= kinds, "the material: the bird is reported both ways"
    assert not any(boxed), boxed
    assert len(titles) == 1 and "Bird" not in next(iter(titles)), titles  # one species named all along
