"""Tiny TFLite colour classifiers built with TensorFlow, to cover every input/output type of the engine.

Class 0 = red, 1 = green, 2 = blue: the mean of each RGB channel, scaled, is the logit. Whatever the
conversion does to the weights, a frame that is clearly one colour must come out as that class.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

QUANTIZATIONS = ("none", "dynamic", "int8", "uint8")
"""Every input/output type the engine must handle: float32, dynamic-range, full int8, full uint8."""
COLOURS_RGB = {0: (230, 20, 20), 1: (20, 230, 20), 2: (20, 20, 230)}


def build(
    path: Path,
    *,
    quantize: str,
    softmax: bool = True,
    size: tuple[int, int] = (24, 32),
    normalization: str = "minus_one_to_one",
) -> Path:
    """Writes a tiny classifier. quantize: "none" | "dynamic" | "int8" | "uint8" (full integer IO)."""
    import tensorflow as tf

    height, width = size
    inputs = tf.keras.Input((height, width, 3), batch_size=1)
    pooled = tf.keras.layers.GlobalAveragePooling2D()(inputs)
    spread = tf.keras.layers.Dense(48, activation="relu")(pooled)
    # 48x48 = 2304 weights: big enough for dynamic-range quantization to store them as int8.
    mixed = tf.keras.layers.Dense(48, activation="relu")(spread)
    logits = tf.keras.layers.Dense(3)(mixed)
    outputs = tf.keras.layers.Softmax()(logits) if softmax else logits
    model = tf.keras.Model(inputs, outputs)
    # Pixels arrive in [-1, 1] ("minus_one_to_one") or raw 0-255 ("raw"); both map a channel to ~[-1, 1].
    gain, offset = (1.0, 0.0) if normalization == "minus_one_to_one" else (1 / 127.5, -1.0)
    spread_weights = np.zeros((3, 48), np.float32)
    for channel in range(3):
        spread_weights[channel, channel * 16 : (channel + 1) * 16] = 4.0 * gain
    model.layers[2].set_weights([spread_weights, np.full(48, 4.0 * offset, np.float32)])
    model.layers[3].set_weights([np.eye(48, dtype=np.float32), np.zeros(48, np.float32)])
    grouped = np.zeros((48, 3), np.float32)
    for channel in range(3):
        grouped[channel * 16 : (channel + 1) * 16, channel] = 0.2
    model.layers[4].set_weights([grouped, np.zeros(3, np.float32)])

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if quantize != "none":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if quantize in ("int8", "uint8"):
        rng = np.random.default_rng(0)
        low, high = (-1.0, 1.0) if normalization == "minus_one_to_one" else (0.0, 255.0)

        def representative():
            # Whole-frame colours with a little noise: the pooled channel means must span the full range.
            for _ in range(64):
                colour = rng.uniform(low, high, (1, 1, 1, 3))
                noise = rng.normal(0, 0.05 * (high - low), (1, height, width, 3))
                yield [np.clip(colour + noise, low, high).astype(np.float32)]

        converter.representative_dataset = representative
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8 if quantize == "int8" else tf.uint8
        converter.inference_output_type = tf.int8 if quantize == "int8" else tf.uint8
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(converter.convert())
    return path


def keras_reference(frame_rgb: np.ndarray) -> int:
    """The class a clear colour frame belongs to."""
    return int(np.argmax(frame_rgb.reshape(-1, 3).mean(axis=0)))
