"""Data for the trainer's tests: a generated, learnable bird image set in the Kaggle layout, and tiny-model flags."""

from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np

# Class names that real versions of the Kaggle set have: two spaces, a hyphen, a non-species class.
SHAPE_CLASSES = {
    "AMERICAN ROBIN": ("TURDUS MIGRATORIUS", (40, 60, 220), "circle"),
    "BLACK-THROATED SPARROW": ("AMPHISPIZA BILINEATA", (60, 200, 60), "square"),
    "LOONEY BIRDS": ("", (230, 120, 40), "triangle"),
    "MIKADO  PHEASANT": ("SYRMATICUS MIKADO", (200, 200, 40), "cross"),
}
SPLIT_SIZES = {"train": 24, "valid": 8, "test": 8}


def draw_shape(rng: np.random.Generator, color: tuple[int, int, int], shape: str, size: int = 48) -> np.ndarray:
    """A BGR image: one coloured shape at a random place and size on a noisy grey background."""
    image = rng.integers(70, 150, (size, size, 3), dtype=np.uint8)
    radius = int(rng.integers(size // 5, size // 3))
    cx, cy = (int(v) for v in rng.integers(radius + 1, size - radius - 1, 2))
    jitter = tuple(int(np.clip(c + rng.integers(-20, 21), 0, 255)) for c in color)
    if shape == "circle":
        cv2.circle(image, (cx, cy), radius, jitter, -1)
    elif shape == "square":
        cv2.rectangle(image, (cx - radius, cy - radius), (cx + radius, cy + radius), jitter, -1)
    elif shape == "triangle":
        points = np.array([(cx, cy - radius), (cx - radius, cy + radius), (cx + radius, cy + radius)], np.int32)
        cv2.fillPoly(image, [points], jitter)
    else:
        cv2.line(image, (cx - radius, cy), (cx + radius, cy), jitter, max(3, radius // 2))
        cv2.line(image, (cx, cy - radius), (cx, cy + radius), jitter, max(3, radius // 2))
    return image


def make_shapes_dataset(root: Path, seed: int = 0, sizes: dict[str, int] = SPLIT_SIZES) -> Path:
    """The Kaggle layout (train/ valid/ test/ + birds.csv) of coloured shapes, one shape and colour per class."""
    rng = np.random.default_rng(seed)
    rows = []
    for split, count in sizes.items():
        for name, (scientific, color, shape) in SHAPE_CLASSES.items():
            folder = root / split / name
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(count):
                suffix = ".png" if i % 3 == 0 else ".jpg"
                cv2.imwrite(str(folder / f"{i}{suffix}"), draw_shape(rng, color, shape))
                rows.append([list(SHAPE_CLASSES).index(name), f"{split}/{name}/{i}{suffix}", name, split, scientific])
    with (root / "birds.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["class id", "filepaths", "labels", "data set", "scientific name"])
        writer.writerows(rows)
    return root


# A ViT small enough to train in seconds on 2 cores.
TINY_VIT = [
    "--backbone",
    "custom",
    "--image-size",
    "32",
    "--patch-size",
    "8",
    "--hidden-size",
    "32",
    "--num-layers",
    "2",
    "--num-heads",
    "2",
    "--mlp-dim",
    "64",
    "--no-pretrained",
    "--finetune-at",
    "0",
]


def save_vit_npz(backbone, path: Path) -> Path:
    """Writes a vit-keras backbone's weights under the names of the published ViT .npz files."""
    arrays = {
        "embedding/kernel": backbone.get_layer("embedding").get_weights()[0],
        "embedding/bias": backbone.get_layer("embedding").get_weights()[1],
        "cls": backbone.get_layer("class_token").get_weights()[0],
        "Transformer/posembed_input/pos_embedding": backbone.get_layer("Transformer_posembed_input").get_weights()[0],
        "Transformer/encoder_norm/scale": backbone.get_layer("Transformer_encoder_norm").get_weights()[0],
        "Transformer/encoder_norm/bias": backbone.get_layer("Transformer_encoder_norm").get_weights()[1],
    }
    blocks = [layer for layer in backbone.layers if layer.name.startswith("Transformer_encoderblock_")]
    for block in blocks:
        prefix = block.name.replace("Transformer_encoderblock_", "Transformer/encoderblock_")
        parts = {
            "LayerNorm_0": block.layernorm1,
            "LayerNorm_2": block.layernorm2,
            "MlpBlock_3/Dense_0": block.mlpblock.layers[0],
            "MlpBlock_3/Dense_1": block.mlpblock.layers[3],
            "MultiHeadDotProductAttention_1/query": block.att.query_dense,
            "MultiHeadDotProductAttention_1/key": block.att.key_dense,
            "MultiHeadDotProductAttention_1/value": block.att.value_dense,
            "MultiHeadDotProductAttention_1/out": block.att.combine_heads,
        }
        for name, layer in parts.items():
            first, second = ("scale", "bias") if name.startswith("LayerNorm") else ("kernel", "bias")
            arrays[f"{prefix}/{name}/{first}"], arrays[f"{prefix}/{name}/{second}"] = layer.get_weights()
    np.savez(path, **arrays)
    return path
