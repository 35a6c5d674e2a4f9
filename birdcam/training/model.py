"""The classifier: a vit-keras ViT (or InceptionV3) backbone, a softmax head, normalization built in.

The model takes raw 0-255 RGB, so the exported TFLite needs no per-model preprocessing.
Imports TensorFlow / Keras; only `birdcam train` (birdcam/cli/train.py) imports this module, inside its handler.
"""

from __future__ import annotations

from pathlib import Path

import keras

from birdcam import paths
from birdcam.errors import ModelError, first_line
from birdcam.training.options import BACKBONES, VIT_PRESETS, ModelSpec, check_weights_file

VIT_WEIGHTS = "imagenet21k+imagenet2012"
WEIGHTS_URL = "https://github.com/faustomorales/vit-keras/releases/download/dl/ViT-{size}_{weights}.npz"
INCEPTION_URL = "https://storage.googleapis.com/tensorflow/keras-applications/inception_v3/inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5"


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
    """The feature extractor without its ImageNet top, loaded from `spec.weights` (a local file) if set."""
    if spec.backbone == "inception_v3":
        return _inception(spec)
    from vit_keras import vit

    if spec.backbone == "custom":
        patch, config = (
            spec.patch_size,
            {
                "hidden_size": spec.hidden_size,
                "num_layers": spec.num_layers,
                "num_heads": spec.num_heads,
                "mlp_dim": spec.mlp_dim,
                "dropout": 0.1,
            },
        )
    elif spec.backbone in VIT_PRESETS:
        _, patch, family = VIT_PRESETS[spec.backbone]
        config = dict(vit.CONFIG_B if family == "B" else vit.CONFIG_L)
    else:
        raise ModelError(f"unknown backbone {spec.backbone!r}; choose one of {', '.join(BACKBONES)}.")
    backbone = vit.build_model(
        image_size=spec.image_size,
        patch_size=patch,
        name=spec.backbone,
        classes=spec.num_classes,
        include_top=False,
        representation_size=None,
        **config,
    )
    if spec.weights:
        _load_vit_weights(backbone, Path(spec.weights), spec.image_size // patch)
    return backbone


def local_weights(spec: ModelSpec) -> Path | None:
    """The weights file the backbone starts from: --weights, else the ImageNet download (cached), else None."""
    if spec.weights:
        path = Path(spec.weights).expanduser()
        check_weights_file(path)
        return path
    if not spec.pretrained:
        return None
    if spec.backbone == "custom":
        raise ModelError("a custom ViT has no published ImageNet weights; use --no-pretrained or --weights FILE.npz.")
    if spec.backbone == "inception_v3":
        url, local = INCEPTION_URL, "--weights FILE.h5"
    else:
        url, local = WEIGHTS_URL.format(size=VIT_PRESETS[spec.backbone][0], weights=VIT_WEIGHTS), "--weights FILE.npz"
    try:
        return Path(
            keras.utils.get_file(url.rsplit("/", 1)[1], url, cache_dir=str(paths.cache_dir()), cache_subdir="weights")
        )
    except Exception as error:  # keras wraps every network failure in a plain Exception
        raise ModelError(
            f"cannot download the ImageNet weights for {spec.backbone} ({first_line(error)}). "
            f"Offline? Fetch {url} on a connected machine and pass {local}, or train with --no-pretrained."
        ) from None


def _load_vit_weights(backbone: keras.Model, path: Path, patches_per_side: int) -> None:
    from vit_keras import utils

    try:
        utils.load_weights_numpy(
            model=backbone,
            params_path=str(path),
            pretrained_top=False,
            num_x_patches=patches_per_side,
            num_y_patches=patches_per_side,
        )
    except Exception as error:  # numpy / vit-keras raise ValueError, KeyError, AssertionError, OSError alike
        raise ModelError(
            f"{path} does not fit the {backbone.name} backbone ({first_line(error)}). Pass the matching ViT .npz."
        ) from None


def _inception(spec: ModelSpec) -> keras.Model:
    backbone = keras.applications.InceptionV3(
        include_top=False, weights=None, input_shape=(spec.image_size, spec.image_size, 3), pooling="avg"
    )
    if spec.weights:
        try:
            backbone.load_weights(str(spec.weights))
        except Exception as error:  # h5py / Keras raise OSError, ValueError alike
            raise ModelError(
                f"{spec.weights} does not fit inception_v3 without its top ({first_line(error)})."
            ) from None
    return backbone
