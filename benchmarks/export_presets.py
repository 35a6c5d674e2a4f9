"""Export benchmark: each vit-keras preset at 224 with a 525-class head, in every quantization mode.

For each preset and mode: file size, conversion time, LiteRT latency (the app's engine, batch 1),
and top-1 agreement with Keras on real photos. The baseline in the same run is the Keras model
itself (`predict` latency) and the float32 ("none") file size, so the ratios hold on any machine.

    .venv/bin/python benchmarks/export_presets.py                       # all presets, all modes
    .venv/bin/python benchmarks/export_presets.py --presets vit_l32 --json out.json

Targets for ViT-L/32: dynamic file <= 0.26x float32, LiteRT latency <= 0.15x Keras, agreement >= 99%.
Random backbone weights are enough for size and speed. For agreement the softmax head is fitted on
the shared bird photos' features (see fit_head), so Keras is as sure of them as a trained model;
`keras_top1_margin` is the median gap between Keras's first and second class on those photos.
Needs several GB of RAM for the L presets (the float32 SavedModel of ViT-L/32 alone is ~1.2 GB).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("BIRDCAM_SHARED") or REPO.parent / "shared")
PRESETS = ("vit_b32", "vit_b16", "vit_l32", "vit_l16")
MODES = ("none", "dynamic", "float16", "int8")
CLASSES = 525
SIZE = 224


def photos(count: int) -> tuple[np.ndarray, np.ndarray]:
    """Real bird photos from shared/birds525-sample, resized to 224 as training does, and their species index."""
    import tensorflow as tf

    from birdcam.training.dataset import decode_resized

    files = sorted((SHARED / "birds525-sample" / "valid").rglob("*.jpg"))
    if not files:
        sys.exit(f"no photos under {SHARED}/birds525-sample: set BIRDCAM_SHARED")
    files = files[:: max(1, len(files) // count)][:count]
    species = sorted({f.parent.name for f in files})
    targets = np.array([species.index(f.parent.name) for f in files])
    return np.stack([decode_resized(tf.constant(str(f)), SIZE).numpy() for f in files]), targets


def fit_head(model, images: np.ndarray, targets: np.ndarray) -> None:
    """Fits the softmax head on the photos' backbone features, so Keras is as sure of them as a trained model.

    With random weights every output is near 1/525 and a tiny quantization error flips the top-1;
    a fitted head gives realistic margins, and agreement then measures what quantization changes.
    """
    import keras

    head = model.get_layer("species")
    features = keras.Model(model.input, head.input).predict(images.astype(np.float32), batch_size=8, verbose=0)
    probe = keras.Sequential([keras.Input(features.shape[1:]), keras.layers.Dense(CLASSES, activation="softmax")])
    probe.compile(optimizer=keras.optimizers.Adam(1e-2), loss="sparse_categorical_crossentropy")
    probe.fit(features, targets, epochs=50, batch_size=len(features), verbose=0)
    head.set_weights(probe.layers[-1].get_weights())


def timed(function, repeats: int) -> float:
    """Median milliseconds of `function()` after one warm-up call."""
    function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def bench_preset(
    preset: str, modes: list[str], images: np.ndarray, targets: np.ndarray, repeats: int, threads: int, scratch: Path
) -> list[dict]:
    from birdcam.models.card import ModelCard, Normalization
    from birdcam.models.classifier import Classifier
    from birdcam.training import export
    from birdcam.training.model import build_model
    from birdcam.training.options import ModelSpec

    model = build_model(ModelSpec(backbone=preset, image_size=SIZE, num_classes=CLASSES, pretrained=False))
    fit_head(model, images, targets)
    batch = images[:1].astype(np.float32)
    keras_ms = timed(lambda: model.predict(batch, verbose=0), repeats)
    keras_probabilities = model.predict(images.astype(np.float32), batch_size=8, verbose=0)
    ranked = np.sort(keras_probabilities, axis=1)
    margin = float(np.median(ranked[:, -1] - ranked[:, -2]))  # how sure Keras is: small margins flip easily
    started = time.perf_counter()
    saved = export.saved_model(model, scratch / f"{preset}-saved")
    saved_s = time.perf_counter() - started
    labels = [f"class {i}" for i in range(CLASSES)]
    rows = []
    for mode in modes:
        started = time.perf_counter()
        flatbuffer = export.convert(saved, mode, images[:20])
        conversion_s = time.perf_counter() - started + saved_s
        path = scratch / f"{preset}-{mode}.tflite"
        path.write_bytes(export.with_embedded_labels(flatbuffer, labels))
        ModelCard(normalization=Normalization(mean=(0, 0, 0), std=(1, 1, 1))).write(path.with_suffix(".json"))
        with Classifier.from_path(path, resize="stretch", num_threads=threads) as classifier:
            tensor = classifier.preprocess(images[0], color="rgb")
            litert_ms = timed(functools.partial(classifier.invoke, tensor), repeats)
        agreement = export.agreement(keras_probabilities, export.engine_probabilities(path, images))
        rows.append(
            {
                "preset": preset,
                "mode": mode,
                "size_mb": round(path.stat().st_size / 1e6, 1),
                "conversion_s": round(conversion_s, 1),
                "litert_ms": round(litert_ms, 1),
                "keras_ms": round(keras_ms, 1),
                "latency_ratio": round(litert_ms / keras_ms, 3),
                "agreement": round(agreement, 4),
                "keras_top1_margin": round(margin, 5),
            }
        )
        print(json.dumps(rows[-1]), flush=True)
        path.unlink()
    none_size = next((r["size_mb"] for r in rows if r["mode"] == "none"), None)
    for row in rows:
        row["size_ratio"] = round(row["size_mb"] / none_size, 3) if none_size else None
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", choices=PRESETS, default=list(PRESETS))
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    parser.add_argument("--images", type=int, default=100, help="photos for the agreement check (100)")
    parser.add_argument("--repeats", type=int, default=10, help="timed runs per latency (10)")
    parser.add_argument("--threads", type=int, default=2, help="LiteRT threads (2)")
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args()
    images, targets = photos(args.images)
    rows = []
    for preset in args.presets:
        with tempfile.TemporaryDirectory(prefix=f"bench-{preset}-") as scratch:
            rows += bench_preset(preset, args.modes, images, targets, args.repeats, args.threads, Path(scratch))
    print(
        f"\n{'preset':8} {'mode':8} {'MB':>7} {'x f32':>6} {'conv s':>7} "
        f"{'LiteRT ms':>9} {'Keras ms':>8} {'x Keras':>7} {'agree':>6} {'margin':>7}"
    )
    for r in rows:
        print(
            f"{r['preset']:8} {r['mode']:8} {r['size_mb']:7.1f} {r['size_ratio'] or 0:6.3f} {r['conversion_s']:7.1f} "
            f"{r['litert_ms']:9.1f} {r['keras_ms']:8.1f} {r['latency_ratio']:7.3f} {r['agreement']:6.1%} "
            f"{r['keras_top1_margin']:7.4f}"
        )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
