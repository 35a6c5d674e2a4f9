"""Building the classifier: frozen layers, normalization inside, local ViT weights, InceptionV3, offline download."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from training_data import make_shapes_dataset, save_vit_npz

from birdcam.cli import main
from birdcam.errors import ModelError
from birdcam.training.options import ModelSpec

TINY = ModelSpec(
    backbone="custom",
    image_size=32,
    num_classes=3,
    patch_size=8,
    hidden_size=16,
    num_layers=2,
    num_heads=2,
    mlp_dim=32,
    pretrained=False,
)


def test_layers_before_finetune_at_are_frozen_and_inputs_are_raw_pixels():
    from birdcam.training.model import build_model

    model = build_model(replace(TINY, finetune_at=5))
    backbone = model.get_layer("custom")
    assert [layer.trainable for layer in backbone.layers] == [False] * 5 + [True] * (len(backbone.layers) - 5)
    assert backbone.layers[5].name == "Transformer_encoderblock_0"
    normalize = model.get_layer("normalize")
    np.testing.assert_allclose(normalize(np.array([[0.0, 127.5, 255.0]])).numpy(), [[-1.0, 0.0, 1.0]], atol=1e-6)
    probabilities = model.predict(np.random.default_rng(0).uniform(0, 255, (4, 32, 32, 3)), verbose=0)
    assert probabilities.shape == (4, 3) and np.allclose(probabilities.sum(axis=1), 1, atol=1e-5)


def test_a_local_vit_npz_is_loaded_into_the_backbone(tmp_path):
    from birdcam.training.model import build_backbone, build_model, local_weights

    source = build_backbone(TINY)
    npz = save_vit_npz(source, tmp_path / "ViT-tiny.npz")
    spec = replace(TINY, pretrained=True, weights=str(npz))

    assert local_weights(spec) == npz
    loaded = build_model(spec).get_layer("custom")
    for expected, actual in zip(source.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(expected, actual)


def test_weights_of_another_shape_are_a_one_line_error(tmp_path):
    from birdcam.training.model import build_backbone, build_model

    npz = save_vit_npz(build_backbone(replace(TINY, num_layers=1)), tmp_path / "other.npz")
    with pytest.raises(ModelError, match="does not fit") as error:
        build_model(replace(TINY, weights=str(npz)))
    assert "\n" not in str(error.value)


def test_the_inception_v3_baseline_builds_without_weights():
    from birdcam.training.model import build_model

    model = build_model(ModelSpec(backbone="inception_v3", image_size=75, num_classes=7, pretrained=False))
    assert model.input_shape == (None, 75, 75, 3)
    assert model.output_shape == (None, 7)
    assert model.get_layer("inception_v3").output_shape == (None, 2048)


def test_an_offline_weights_download_is_a_one_line_error(tmp_path, monkeypatch, capsys):
    from birdcam.training import model

    monkeypatch.setattr(model, "WEIGHTS_URL", "http://127.0.0.1:9/ViT-{size}_{weights}.npz")  # nothing listens there
    data = make_shapes_dataset(tmp_path / "data", sizes={"train": 2, "valid": 1, "test": 1})

    code = main(
        ["train", "--data", str(data), "--out", str(tmp_path / "run"), "--backbone", "vit_b32", "--image-size", "32"]
    )

    error = capsys.readouterr().err.strip()
    assert code == 2
    assert error.startswith("birdcam: error: cannot download the ImageNet weights for vit_b32")
    assert "--weights FILE.npz" in error and "--no-pretrained" in error and "\n" not in error
    assert not (tmp_path / "run").exists()
