"""The classifier: a vit-keras ViT (or InceptionV3) backbone, a softmax head, normalization built in.

The model takes raw 0-255 RGB, so the exported TFLite needs no per-model preprocessing.
Imports TensorFlow / Keras; only the training commands import this module.
"""

from __future__ import annotations

from pathlib import Path

import keras

from birdcam.errors import ModelError
from birdcam.training.options import BACKBONES, VIT_PRESETS, ModelSpec

VIT_WEIGHTS = "imagenet21k+imagenet2012"
WEIGHTS_URL = "https://github.com/faustomorales/vit-keras/releases/download/dl/ViT-{size}_{weights}.npz"


def build_model(spec: ModelSpec) -> keras.Model:
    """Input (raw 0-255 RGB) -> [-1, 1] -> GaussianNoise -> backbone -> Dense softmax."""
    backbone = build_backbone(spec)
    for layer in backbone.layers[: spec.finetune_at]:
        layer.trainable = False
    image = keras.Input((spec.image_size, spec.image_size, 3), name="image")
    x = keras.layers.Rescaling(1 / 127.5, offset=-1.0, name="normalize")(image)
    x = keras.layers.GaussianNoise(spec.noise, name="noise")(x)
    x = backbone(x)
    probabilities = keras.layers.Dense(spec.num_classes, activation="softmax", name="species")(x)
    return keras.Model(image, probabilities, name=f"birdcam_{spec.backbone}")


def build_backbone(spec: ModelSpec) -> keras.Model:
    """The feature extractor without its ImageNet top, with the requested weights."""
    if spec.backbone == "inception_v3":
        return _inception(spec)
    from vit_keras import vit

    if spec.backbone == "custom":
        size, patch, config = None, spec.patch_size, {
            "hidden_size": spec.hidden_size, "num_layers": spec.num_layers, "num_heads": spec.num_heads, "mlp_dim": spec.mlp_dim, "dropout": 0.1,
        }
    elif spec.backbone in VIT_PRESETS:
        size, patch, family = VIT_PRESETS[spec.backbone]
        config = dict(vit.CONFIG_B if family == "B" else vit.CONFIG_L)
    else:
        raise ModelError(f"unknown backbone {spec.backbone!r}; choose one of {', '.join(BACKBONES)}.")
    backbone = vit.build_model(
        image_size=spec.image_size, patch_size=patch, name=f"vit-{spec.backbone}", classes=spec.num_classes,
        include_top=False, representation_size=None, **config,
    )
    weights = _vit_weights_file(spec, size)
    if weights is not None:
        _load_vit_weights(backbone, weights, spec.image_size // patch)
    return backbone


def _vit_weights_file(spec: ModelSpec, size: str | None) -> Path | None:
    if spec.weights:
        path = Path(spec.weights).expanduser()
        if not path.is_file():
            raise ModelError(f"weights file not found: {path}. Check --weights.")
        return path
    if not spec.pretrained:
        return None
    if size is None:
        raise ModelError("a custom ViT has no published ImageNet weights; use --no-pretrained or --weights FILE.npz.")
    url = WEIGHTS_URL.format(size=size, weights=VIT_WEIGHTS)
    try:
        return Path(keras.utils.get_file(url.rsplit("/", 1)[1], url, cache_subdir="weights"))
    except Exception as error:  # keras wraps every network failure in a plain Exception
        raise ModelError(
            f"cannot download the ImageNet weights for {spec.backbone} ({_first_line(error)}). "
            f"Offline? Fetch {url} on a connected machine and pass --weights FILE.npz, or train with --no-pretrained."
        ) from None


def _load_vit_weights(backbone: keras.Model, path: Path, patches_per_side: int) -> None:
    from vit_keras import utils

    try:
        utils.load_weights_numpy(
            model=backbone, params_path=str(path), pretrained_top=False, num_x_patches=patches_per_side, num_y_patches=patches_per_side
        )
    except Exception as error:  # numpy / vit-keras raise ValueError, KeyError, AssertionError, OSError alike
        raise ModelError(f"{path} does not fit the {backbone.name} backbone ({_first_line(error)}). Pass the matching ViT .npz.") from None


def _inception(spec: ModelSpec) -> keras.Model:
    weights = "imagenet" if spec.pretrained and not spec.weights else None
    try:
        backbone = keras.applications.InceptionV3(
            include_top=False, weights=weights, input_shape=(spec.image_size, spec.image_size, 3), pooling="avg"
        )
    except Exception as error:  # the download failure surfaces as a plain Exception
        raise ModelError(
            f"cannot download the ImageNet weights for inception_v3 ({_first_line(error)}). "
            "Offline? Pass a local copy with --weights FILE.h5, or train with --no-pretrained."
        ) from None
    if spec.weights:
        path = Path(spec.weights).expanduser()
        if not path.is_file():
            raise ModelError(f"weights file not found: {path}. Check --weights.")
        try:
            backbone.load_weights(str(path))
        except Exception as error:
            raise ModelError(f"{path} does not fit inception_v3 without its top ({_first_line(error)}).") from None
    return backbone


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__
