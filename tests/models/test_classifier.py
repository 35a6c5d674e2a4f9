"""The engine on the real starter model and on tiny models of every input/output type."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest
import tiny_models

from birdcam.errors import BirdcamError, LabelError, ModelError, OptionsError, SpeciesListError
from birdcam.models.classifier import Classifier, ClassifierOptions
from birdcam.models.image import fit_to_size

QUANTIZATIONS = tiny_models.QUANTIZATIONS
# How far each variant's probabilities may stray from the float Keras model.
TOLERANCE = {"none": 1e-4, "dynamic": 0.03, "int8": 0.06, "uint8": 0.06}


@pytest.fixture(scope="module")
def starter(starter_model):
    with Classifier.from_path(starter_model, num_threads=2) as classifier:
        yield classifier


def _colour_frame(rgb, size=(24, 32), noise=0, seed=0) -> np.ndarray:
    """A BGR frame of one colour (plus optional noise)."""
    frame = np.empty((*size, 3), np.uint8)
    frame[:] = rgb[::-1]
    if noise:
        jitter = np.random.default_rng(seed).integers(-noise, noise + 1, frame.shape)
        frame = np.clip(frame.astype(int) + jitter, 0, 255).astype(np.uint8)
    return frame


def _float_reference(
    path: Path, frame_bgr: np.ndarray, *, raw: bool = False, softmax_on_top: bool = False
) -> np.ndarray:
    """What the float32 model says when fed by hand: pixels swapped to RGB and normalized here, not by the engine."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path))
    interpreter.allocate_tensors()
    rgb = frame_bgr[:, :, ::-1].astype(np.float32)
    x = rgb if raw else (rgb - 127.5) / 127.5
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], x[np.newaxis])
    interpreter.invoke()
    out = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])[0]
    if softmax_on_top:
        out = np.exp(out - out.max())
        out /= out.sum()
    return out


# -- the starter model on real photos ----------------------------------------------------------


def test_starter_names_the_mandarin_duck(starter, shared_dir):
    result = starter.classify(cv2.imread(str(shared_dir / "images" / "birds" / "mandarin_duck.jpg")))
    assert result.top.scientific_name == "Aix galericulata"
    assert result.top.common_name == "Mandarin Duck"
    assert result.top.score > 0.8
    assert result.is_bird
    assert len(result.categories) == 3
    assert result.categories[0].score >= result.categories[1].score >= result.categories[2].score
    assert result.timings.invoke_ms > 0 and result.timings.total_ms >= result.timings.invoke_ms


@pytest.mark.parametrize("name", ["cat.jpg", "hot_dog.jpg", "face.jpg"])
def test_starter_rejects_what_is_not_a_bird(starter, shared_dir, name):
    result = starter.classify(cv2.imread(str(shared_dir / "images" / "not-birds" / name)))
    assert not result.is_bird
    assert result.top.index == starter.background_index == 964


def test_starter_top1_on_kaggle_photos_it_knows(starter, shared_dir):
    sample = shared_dir / "birds525-sample"
    known = {label.scientific_name.lower() for label in starter.labels if label.scientific_name}
    rows = [r for r in csv.DictReader((sample / "birds.csv").open()) if r["scientific name"].lower() in known]
    assert len(rows) == 100
    correct = sum(
        starter.classify(cv2.imread(str(sample / row["filepaths"]))).top.scientific_name.lower()
        == row["scientific name"].lower()
        for row in rows
    )
    assert correct / len(rows) >= 0.90


def test_threshold_decides_is_bird(starter_model, shared_dir):
    duck = cv2.imread(str(shared_dir / "images" / "birds" / "mandarin_duck.jpg"))
    with Classifier.from_path(starter_model, threshold=0.95) as strict:
        result = strict.classify(duck)
        assert result.top.scientific_name == "Aix galericulata" and not result.is_bird
        strict.threshold = 0.5
        assert strict.classify(duck).is_bird


def test_rgb_input_and_region_of_interest(starter, shared_dir):
    duck = cv2.imread(str(shared_dir / "images" / "birds" / "mandarin_duck.jpg"))
    as_rgb = starter.classify(cv2.cvtColor(duck, cv2.COLOR_BGR2RGB), color="rgb")
    assert as_rgb.top.scientific_name == "Aix galericulata"
    # The duck pasted into the right half of a dark wide frame: only the region sees it.
    wide = np.full((768, 2048, 3), 30, np.uint8)
    wide[:, 1024:] = duck
    assert starter.classify(wide, roi=(1024, 0, 1024, 768)).top.scientific_name == "Aix galericulata"
    assert starter.classify(wide, roi=(0, 0, 1024, 768)).top.index == starter.background_index
    with pytest.raises(BirdcamError, match="outside"):
        starter.classify(wide, roi=(5000, 0, 10, 10))


def test_grayscale_and_bgra_frames(starter, shared_dir):
    duck = cv2.imread(str(shared_dir / "images" / "birds" / "mandarin_duck.jpg"))
    assert starter.classify(cv2.cvtColor(duck, cv2.COLOR_BGR2BGRA)).top.scientific_name == "Aix galericulata"
    gray = starter.classify(cv2.cvtColor(duck, cv2.COLOR_BGR2GRAY))
    assert gray.probabilities.shape == (965,)
    with pytest.raises(BirdcamError, match="uint8"):
        starter.classify(duck.astype(np.float32))


# -- species lists (allow / deny) on the starter model ------------------------------------------


@pytest.fixture(scope="module")
def sample(shared_dir) -> list[tuple[str, np.ndarray]]:
    """(scientific name as birds.csv writes it, BGR photo) for the 125 photos of the Kaggle sample."""
    folder = shared_dir / "birds525-sample"
    with (folder / "birds.csv").open(newline="", encoding="utf-8") as table:
        rows = sorted(csv.DictReader(table), key=lambda row: row["filepaths"])
    return [(row["scientific name"], cv2.imread(str(folder / row["filepaths"]))) for row in rows]


def _sample_species(sample) -> tuple[str, ...]:
    return tuple(dict.fromkeys(name for name, _ in sample))


def _names_the_photo(category, scientific: str) -> bool:
    """The category is the photo's species (birds.csv names a few only by genus: "GEOCOCCYX")."""
    named, truth = category.scientific_name.lower(), scientific.lower()
    return named == truth or (" " not in truth and named.split(" ")[0] == truth)


def test_an_allow_list_names_a_photo_the_model_gets_wrong(starter, starter_model, sample, shared_dir):
    photo = cv2.imread(str(shared_dir / "birds525-sample" / "valid" / "NORTHERN FULMAR" / "2.jpg"))
    unmasked = starter.classify(photo)
    assert unmasked.top.scientific_name != "Fulmarus glacialis"  # a gull-like bird not on the list wins unmasked
    with Classifier.from_path(starter_model, allow=_sample_species(sample)) as masked:
        result = masked.classify(photo)
    assert result.top.scientific_name == "Fulmarus glacialis"
    # Not renormalized: the fulmar keeps the probability the model gave it; the species ruled out get 0.
    assert result.top.score == pytest.approx(unmasked.probabilities[result.top.index])
    assert result.probabilities[unmasked.top.index] == 0.0
    assert unmasked.top.index not in {c.index for c in result.categories}
    kept = result.probabilities > 0
    assert np.array_equal(result.probabilities[kept], unmasked.probabilities[kept])


def test_denying_the_true_species_removes_it_from_top_k(starter, starter_model, shared_dir):
    duck = cv2.imread(str(shared_dir / "images" / "birds" / "mandarin_duck.jpg"))
    unmasked = starter.classify(duck)
    duck_index = unmasked.top.index
    with Classifier.from_path(starter_model, deny=("mandarin duck",), top_k=5) as classifier:
        result = classifier.classify(duck)
        assert classifier.species_filter.masked == 1
    assert duck_index not in {c.index for c in result.categories} and len(result.categories) == 5
    assert result.probabilities[duck_index] == 0.0
    others = np.arange(965) != duck_index
    assert np.array_equal(result.probabilities[others], unmasked.probabilities[others])


@pytest.mark.parametrize("name", ["cat.jpg", "hot_dog.jpg", "face.jpg"])
def test_the_background_class_survives_an_allow_list(starter, starter_model, sample, shared_dir, name):
    picture = cv2.imread(str(shared_dir / "images" / "not-birds" / name))
    with Classifier.from_path(starter_model, allow=_sample_species(sample)) as masked:
        result = masked.classify(picture)
    assert result.top.index == masked.background_index and not result.is_bird
    assert result.top.score == pytest.approx(starter.classify(picture).probabilities[masked.background_index])


def test_species_lists_change_on_a_running_classifier(starter, starter_model, shared_dir):
    duck = cv2.imread(str(shared_dir / "images" / "birds" / "mandarin_duck.jpg"))
    unmasked = starter.classify(duck)
    with Classifier.from_path(starter_model, top_k=3) as classifier:
        report = classifier.set_species_filter(["Eurasian Blackbird", "Nothing Bird"])
        assert report.unknown == ("Nothing Bird",) and "Nothing Bird" in report.warning
        assert classifier.species_filter is report
        result = classifier.classify(duck)
        # Two classes are left, so top-3 lists two; the duck is no bird now, not a blackbird.
        blackbird = next(i for i, label in enumerate(classifier.labels) if label.common_name == "Eurasian Blackbird")
        assert [c.index for c in result.categories] == [classifier.background_index, blackbird]
        assert not result.is_bird
        with pytest.raises(SpeciesListError, match="none of the 1 species"):
            classifier.set_species_filter(["Nothing Bird"])
        assert len(classifier.classify(duck).categories) == 2  # the failed change left the list in force
        assert classifier.set_species_filter(None, ()).masked == 0
        again = classifier.classify(duck)
    assert np.array_equal(again.probabilities, unmasked.probabilities)
    assert again.categories == unmasked.categories


def test_the_allow_list_lifts_top1_on_the_kaggle_sample(starter, starter_model, sample):
    with Classifier.from_path(starter_model, allow=_sample_species(sample)) as masked:
        assert len(masked.species_filter.unknown) == 4  # 20 species known, the roadrunners by genus, 4 unknown
        pairs = [(starter.classify(photo), masked.classify(photo), name) for name, photo in sample]
    right_before = [_names_the_photo(plain.top, name) for plain, _, name in pairs]
    right_after = [_names_the_photo(filtered.top, name) for _, filtered, name in pairs]
    assert sum(right_after) > sum(right_before)
    assert all(after for before, after in zip(right_before, right_after) if before)  # nothing right turns wrong
    wrong_birds_before = sum(plain.is_bird and not right for (plain, _, _), right in zip(pairs, right_before))
    wrong_birds_after = sum(filtered.is_bird and not right for (_, filtered, _), right in zip(pairs, right_after))
    assert wrong_birds_after < wrong_birds_before


# -- every IO type -------------------------------------------------------------------------------


@pytest.mark.parametrize("quantize", QUANTIZATIONS)
def test_every_io_type_names_the_colour(tiny, quantize):
    with Classifier.from_path(tiny[quantize], top_k=3) as classifier:
        for expected, rgb in tiny_models.COLOURS_RGB.items():
            frame = _colour_frame(rgb, noise=10, seed=expected)
            result = classifier.classify(frame)
            assert result.top.index == expected, (quantize, rgb, result.probabilities)
            reference = _float_reference(tiny["none"], frame)
            np.testing.assert_allclose(result.probabilities, reference, atol=TOLERANCE[quantize])
            assert abs(float(result.probabilities.sum()) - 1) < 0.05
            # The same pixels given as RGB give the same answer: the BGR->RGB swap is right.
            rgb_frame = np.ascontiguousarray(frame[:, :, ::-1])
            assert classifier.classify(rgb_frame, color="rgb").top.index == expected


def test_quantized_io_types_are_what_the_tests_claim(tiny):
    expected = {"none": "float32", "dynamic": "float32", "int8": "int8", "uint8": "uint8"}
    for quantize, dtype in expected.items():
        with Classifier.from_path(tiny[quantize]) as classifier:
            assert classifier.input_dtype.name == dtype
            assert classifier.input_size == (24, 32)
    assert tiny["dynamic"].stat().st_size < 0.7 * tiny["none"].stat().st_size


def test_logits_get_a_softmax_probabilities_do_not(tiny):
    frame = _colour_frame(tiny_models.COLOURS_RGB[1], noise=10)
    with Classifier.from_path(tiny["logits"]) as classifier:
        result = classifier.classify(frame)
    reference = _float_reference(tiny["logits"], frame, softmax_on_top=True)
    np.testing.assert_allclose(result.probabilities, reference, rtol=1e-4, atol=1e-6)
    assert result.top.index == 1
    with Classifier.from_path(tiny["none"]) as classifier:
        already = classifier.classify(frame).probabilities
    np.testing.assert_allclose(already, _float_reference(tiny["none"], frame), atol=1e-5)


@pytest.mark.parametrize("name", ["raw", "raw_int8"])
def test_model_card_sets_normalization_and_threshold(tiny, name):
    frame = _colour_frame(tiny_models.COLOURS_RGB[2], noise=10)
    with Classifier.from_path(tiny[name]) as classifier:
        assert classifier.threshold == 0.55
        result = classifier.classify(frame)
        assert result.top.index == 2
        np.testing.assert_allclose(
            result.probabilities, _float_reference(tiny["raw"], frame, raw=True), atol=TOLERANCE["int8"]
        )
    # An explicit flag beats the card: [-1, 1] inputs squash every channel, so the answer changes.
    with Classifier.from_path(tiny["raw"], normalization=(127.5, 127.5), threshold=0.2) as flagged:
        assert flagged.threshold == 0.2
        squashed = flagged.classify(frame).probabilities
        assert not np.allclose(squashed, _float_reference(tiny["raw"], frame, raw=True), atol=0.05)


def test_resize_modes_fit_frames_as_named():
    frame = np.zeros((100, 300, 3), np.uint8)
    frame[:, :100] = (0, 0, 255)
    frame[:, 100:200] = (0, 255, 0)
    frame[:, 200:] = (255, 0, 0)
    cropped = fit_to_size(frame, (50, 50), "crop")
    assert cropped.shape == (50, 50, 3) and (cropped[:, :, 1] > 250).all()
    stretched = fit_to_size(frame, (50, 60), "stretch")
    assert stretched.shape == (50, 60, 3)
    assert tuple(stretched[25, 5]) == (0, 0, 255) and tuple(stretched[25, 55]) == (255, 0, 0)
    boxed = fit_to_size(frame, (60, 60), "letterbox")
    assert boxed.shape == (60, 60, 3)
    assert (boxed[:19] == 0).all() and (boxed[41:] == 0).all()
    assert tuple(boxed[30, 30]) == (0, 255, 0)
    # Shrinking averages (area interpolation): a 1-pixel checkerboard becomes mid-grey, not aliased.
    checker = (np.indices((64, 64)).sum(axis=0) % 2 * 255).astype(np.uint8)
    small = fit_to_size(cv2.cvtColor(checker, cv2.COLOR_GRAY2BGR), (16, 16), "stretch")
    assert np.abs(small.astype(int) - 127).max() <= 2


@pytest.mark.parametrize("size", [(720, 1280), (320, 320), (1080, 1920), (500, 333)])
def test_shrinking_matches_an_area_resize(shared_dir, size):
    duck = cv2.resize(cv2.imread(str(shared_dir / "images" / "birds" / "mandarin_duck.jpg")), size[::-1])
    noisy = np.clip(duck + np.random.default_rng(0).normal(0, 6, duck.shape), 0, 255).astype(np.uint8)
    fitted = fit_to_size(noisy, (224, 224), "stretch").astype(float)
    exact = cv2.resize(noisy, (224, 224), interpolation=cv2.INTER_AREA).astype(float)
    assert np.abs(fitted - exact).mean() < 1.5
    # Plain linear sampling would alias the noise: the engine's result is closer to the exact average.
    sampled = cv2.resize(noisy, (224, 224), interpolation=cv2.INTER_LINEAR).astype(float)
    assert np.abs(fitted - exact).mean() < np.abs(sampled - exact).mean()


# -- labels ------------------------------------------------------------------------------------------


def _copy_model(source: Path, folder: Path, name: str = "m.tflite") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / name
    target.write_bytes(source.read_bytes())
    return target


def _with_zip(model: Path, members: dict[str, str]) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in members.items():
            archive.writestr(name, text)
    with model.open("ab") as handle:
        handle.write(buffer.getvalue())


def test_label_order_explicit_sidecar_embedded_default(tiny, tmp_path):
    model = _copy_model(tiny["none"], tmp_path / "m")
    with Classifier.from_path(model) as classifier:
        assert [label.text for label in classifier.labels] == ["class 0", "class 1", "class 2"]
    _with_zip(
        model,
        {
            "probability-labels.txt": "/m/1\n/m/2\n/m/3\n",
            "probability-labels-en.txt": "Pica pica\nCorvus corax\nbackground\n",
        },
    )
    with Classifier.from_path(model) as classifier:
        assert classifier.labels[0].scientific_name == "Pica pica"
        assert classifier.background_index == 2
        assert "embedded" in classifier.labels_source
        # Still a runnable model after the zip was appended.
        assert classifier.classify(_colour_frame(tiny_models.COLOURS_RGB[0])).top.scientific_name == "Pica pica"
    (tmp_path / "m" / "labels.txt").write_text(
        "Turdus merula (Eurasian Blackbird)\nErithacus rubecula (European Robin)\n__background__\n"
    )
    with Classifier.from_path(model) as classifier:
        assert classifier.labels[1].common_name == "European Robin"
        assert classifier.background_index == 2
    (tmp_path / "m" / "m.labels.txt").write_text("A\nB\nC\n")
    with Classifier.from_path(model) as classifier:
        assert classifier.labels[2].text == "C" and classifier.background_index is None
    explicit = tmp_path / "explicit.txt"
    explicit.write_text("0 Aix galericulata (Mandarin Duck)\n1 Ara macao (Scarlet Macaw)\n2 background\n")
    with Classifier.from_path(model, labels_path=explicit) as classifier:
        assert classifier.labels[0].common_name == "Mandarin Duck"
        assert classifier.labels[0].scientific_name == "Aix galericulata"
        result = classifier.classify(_colour_frame(tiny_models.COLOURS_RGB[2]))
        assert result.top.index == 2 and not result.is_bird


def test_label_count_mismatch_names_both_numbers(tiny, tmp_path, starter_model):
    wrong = tmp_path / "wrong.txt"
    wrong.write_text("a\nb\n")
    with pytest.raises(LabelError, match=r"2 classes.*3 outputs"):
        Classifier.from_path(tiny["none"], labels_path=wrong)
    with pytest.raises(LabelError, match=r"2 classes.*965 outputs"):
        Classifier.from_path(starter_model, labels_path=wrong)


# -- bad models ----------------------------------------------------------------------------------


def test_bad_model_files_are_model_errors(tmp_path, starter_model, shared_dir):
    with pytest.raises(ModelError, match="not found"):
        Classifier.from_path(tmp_path / "missing.tflite")
    with pytest.raises(ModelError, match="folder"):
        Classifier.from_path(tmp_path)
    text = tmp_path / "notes.tflite"
    text.write_text("this is not a model")
    with pytest.raises(ModelError, match="not a TFLite model"):
        Classifier.from_path(text)
    noise = tmp_path / "noise.tflite"
    noise.write_bytes(b"\x1c\x00\x00\x00TFL3" + np.random.default_rng(1).bytes(4096))
    with pytest.raises(ModelError):
        Classifier.from_path(noise)
    truncated = tmp_path / "truncated.tflite"
    truncated.write_bytes(starter_model.read_bytes()[:1_000_000])
    with pytest.raises(ModelError, match="truncated or corrupt"):
        Classifier.from_path(truncated)
    with pytest.raises(ModelError, match="cannot run"):
        Classifier.from_path(shared_dir / "models" / "invalid" / "model_invoking_error.tflite")


def test_a_model_that_is_not_an_image_classifier(tmp_path):
    import tensorflow as tf

    inputs = tf.keras.Input((10,), batch_size=1)
    model = tf.keras.Model(inputs, tf.keras.layers.Dense(4, activation="softmax")(inputs))
    path = tmp_path / "vector.tflite"
    path.write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())
    with pytest.raises(ModelError, match=r"float32 \[1, 10\], not an image"):
        Classifier.from_path(path)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"resize": "zoom"}, "ClassifierOptions.resize must be one of crop, letterbox, stretch, not 'zoom'"),
        ({"top_k": 0}, "ClassifierOptions.top_k must be at least 1, not 0"),
        ({"num_threads": 0}, "ClassifierOptions.num_threads must be at least 1, not 0"),
        ({"threshold": 1.2}, "ClassifierOptions.threshold must be between 0 and 1, not 1.2"),
        (
            {"normalization": (127.5, 0)},
            "ClassifierOptions.normalization must be (mean, std) with std not 0, not (127.5, 0)",
        ),
    ],
)
def test_bad_options_are_one_line_before_any_file_is_read(tmp_path, fields, message):
    with pytest.raises(OptionsError) as raised:
        ClassifierOptions(model_path=tmp_path / "not-there.tflite", **fields)
    assert str(raised.value) == message
    assert isinstance(raised.value, ValueError) and isinstance(raised.value, BirdcamError)


def test_a_closed_classifier_is_an_error(tiny):
    closed = Classifier.from_path(tiny["none"])
    closed.close()
    with pytest.raises(ModelError, match="closed"):
        closed.classify(_colour_frame((255, 0, 0)))


def test_model_card_sets_how_frames_are_fitted(tiny, tmp_path):
    model = _copy_model(tiny["none"], tmp_path / "fit")
    wide = np.zeros((24, 96, 3), np.uint8)  # BGR: blue, red, blue thirds
    wide[:, :32] = tiny_models.COLOURS_RGB[2][::-1]
    wide[:, 32:64] = tiny_models.COLOURS_RGB[0][::-1]
    wide[:, 64:] = tiny_models.COLOURS_RGB[2][::-1]
    with Classifier.from_path(model) as cropping:
        assert cropping.resize == "crop" and cropping.classify(wide).top.index == 0
    model.with_suffix(".json").write_text(json.dumps({"resize": "stretch"}))
    with Classifier.from_path(model) as stretching:
        assert stretching.resize == "stretch" and stretching.classify(wide).top.index == 2
    with Classifier.from_path(model, resize="crop") as flagged:
        assert flagged.classify(wide).top.index == 0
