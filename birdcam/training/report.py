"""Scores and pictures of a run: report.json / report.md, curves.png, confusion.png, the compare chart.

Needs numpy and matplotlib only (no TensorFlow), so `birdcam evaluate` and `compare` stay light.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from birdcam.errors import DatasetError, OutputError
from birdcam.util.fileio import atomic_path, check_output_file, write_text_atomically

WORST_SHOWN = 10
PAIRS_SHOWN = 20
FULL_MATRIX_MAX_CLASSES = 40


def score(
    probabilities: np.ndarray, targets: Sequence[int], class_names: Sequence[str], files: Sequence[str] = ()
) -> dict:
    """Accuracy, loss, top-5, per-class accuracy, worst classes and most-confused pairs of predictions.

    `probabilities` is [n, outputs]; `targets` the true output index of each row; `class_names` names every output.
    """
    probabilities = np.asarray(probabilities, np.float64)
    targets = np.asarray(targets, np.int64)
    if len(targets) == 0:
        raise DatasetError("no images to score.")
    predicted = probabilities.argmax(axis=1)
    k = min(5, probabilities.shape[1])
    top_k = np.argsort(-probabilities, axis=1)[:, :k]
    correct = predicted == targets
    true_probability = probabilities[np.arange(len(targets)), targets]
    per_class = {}
    for index in sorted(set(targets.tolist())):
        rows = targets == index
        per_class[class_names[index]] = {"images": int(rows.sum()), "accuracy": float(correct[rows].mean())}
    worst = sorted(per_class.items(), key=lambda item: (item[1]["accuracy"], item[0]))[:WORST_SHOWN]
    pairs: dict[tuple[int, int], int] = {}
    for truth, guess in zip(targets[~correct].tolist(), predicted[~correct].tolist()):
        pairs[(truth, guess)] = pairs.get((truth, guess), 0) + 1
    confused = sorted(pairs.items(), key=lambda item: (-item[1], item[0]))[:PAIRS_SHOWN]
    return {
        "images": int(len(targets)),
        "accuracy": float(correct.mean()),
        "top5_accuracy": float((top_k == targets[:, None]).any(axis=1).mean()),
        "loss": float(-np.log(np.clip(true_probability, 1e-7, 1.0)).mean()),
        "per_class": per_class,
        "worst_classes": [{"class": name, **values} for name, values in worst],
        "most_confused": [{"true": class_names[t], "predicted": class_names[p], "images": n} for (t, p), n in confused],
        "mistakes": [
            {"file": str(files[i]), "true": class_names[targets[i]], "predicted": class_names[predicted[i]]}
            for i in np.flatnonzero(~correct)[:200].tolist()
        ]
        if len(files)
        else [],
    }


def write_report(folder: Path, report: dict, title: str) -> None:
    """report.json (everything) and report.md (the summary a person reads)."""
    folder.mkdir(parents=True, exist_ok=True)
    write_text_atomically(folder / "report.json", json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    test = report["test"]
    lines = [
        f"# {title}",
        "",
        f"- images: {test['images']}",
        f"- accuracy: {test['accuracy']:.4f}",
        f"- top-5 accuracy: {test['top5_accuracy']:.4f}",
        f"- loss: {test['loss']:.4f}",
    ]
    lines += [f"- {key}: {value}" for key, value in report.get("summary", {}).items()]
    lines += ["", "## Worst classes", "", "| class | images | accuracy |", "|---|---:|---:|"]
    lines += [f"| {row['class']} | {row['images']} | {row['accuracy']:.3f} |" for row in test["worst_classes"]]
    lines += ["", "## Most confused", "", "| true | predicted | images |", "|---|---|---:|"]
    lines += [f"| {row['true']} | {row['predicted']} | {row['images']} |" for row in test["most_confused"]]
    write_text_atomically(folder / "report.md", "\n".join(lines) + "\n")


def plot_confusion(path: Path, probabilities: np.ndarray, targets: Sequence[int], class_names: Sequence[str]) -> None:
    """The most-confused pairs as bars (readable for hundreds of classes), plus the full matrix for few classes."""
    targets = np.asarray(targets)
    predicted = np.asarray(probabilities).argmax(axis=1)
    present = sorted(set(targets.tolist()) | set(predicted.tolist()))
    small = len(present) <= FULL_MATRIX_MAX_CLASSES
    pairs = score(probabilities, targets, class_names)["most_confused"]
    figure = _figure((16 if small else 9, 7))
    axes = figure.subplots(1, 2 if small else 1, squeeze=False)
    bars = axes[0][0]
    if pairs:
        names = [f"{p['true']} -> {p['predicted']}" for p in pairs][::-1]
        bars.barh(range(len(pairs)), [p["images"] for p in pairs][::-1], color="tab:red")
        bars.set_yticks(range(len(pairs)), names, fontsize=7)
        bars.set_xlabel("images")
    else:
        bars.text(0.5, 0.5, "no mistakes", ha="center", va="center")
    bars.set_title("Most confused pairs (true -> predicted)")
    if small:
        position = {index: i for i, index in enumerate(present)}
        matrix = np.zeros((len(present), len(present)), np.int64)
        for truth, guess in zip(targets.tolist(), predicted.tolist()):
            matrix[position[truth], position[guess]] += 1
        grid = axes[0][1]
        grid.imshow(matrix, cmap="Blues")
        labels = [class_names[i] for i in present]
        grid.set_xticks(range(len(present)), labels, rotation=90, fontsize=6)
        grid.set_yticks(range(len(present)), labels, fontsize=6)
        grid.set_xlabel("predicted")
        grid.set_ylabel("true")
        grid.set_title("Confusion matrix")
    figure.tight_layout()
    _save(figure, path)


def plot_curves(path: Path, history: Sequence[dict]) -> None:
    """Train / validation accuracy and loss per epoch."""
    figure = _figure((11, 4))
    accuracy, loss = figure.subplots(1, 2)
    epochs = [row["epoch"] + 1 for row in history]
    for key, style in (("accuracy", "-"), ("val_accuracy", "--")):
        accuracy.plot(epochs, [row.get(key, np.nan) for row in history], style, label=key)
    for key, style in (("loss", "-"), ("val_loss", "--")):
        loss.plot(epochs, [row.get(key, np.nan) for row in history], style, label=key)
    for axis, name in ((accuracy, "accuracy"), (loss, "loss")):
        axis.set_xlabel("epoch")
        axis.set_ylabel(name)
        axis.legend()
        axis.grid(alpha=0.3)
    figure.tight_layout()
    _save(figure, path)


def read_history(run_dir: Path) -> list[dict]:
    """The per-epoch rows of a run's log.csv."""
    log = run_dir / "log.csv"
    if not log.is_file():
        raise DatasetError(f"{run_dir} has no log.csv: pass folders made by `birdcam train --out`.")
    with log.open(newline="", encoding="utf-8") as handle:
        return [
            {key: float(value) if key != "epoch" else int(value) for key, value in row.items() if value != ""}
            for row in csv.DictReader(handle)
        ]


def write_history(run_dir: Path, history: Sequence[dict]) -> None:
    """log.csv: one row per finished epoch (rewritten whole, so a killed run never leaves half a row)."""
    keys = ["epoch"] + sorted({key for row in history for key in row} - {"epoch"})
    with atomic_path(run_dir / "log.csv") as temporary, temporary.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=keys)
        writer.writeheader()
        writer.writerows(history)


def chart_path(out: Path) -> Path:
    """Where `compare --out` writes: OUT itself, OUT/compare.png for a folder, OUT.png without a file ending.

    Raises OutputError, before any drawing, for a place that cannot be written or an ending matplotlib cannot draw.
    """
    out = Path(out).expanduser()
    if out.is_dir():
        out = out / "compare.png"
    elif not out.suffix:
        out = out.with_suffix(".png")
    formats = _figure((1, 1)).canvas.get_supported_filetypes()
    if out.suffix[1:].lower() not in formats:
        raise OutputError(
            f"--out {out}: matplotlib cannot write {out.suffix} files; end the name with .png, .svg or .pdf."
        )
    return check_output_file(out, "--out")


def plot_comparison(path: Path, runs: Sequence[Path]) -> None:
    """The write-up's chart: validation accuracy and loss of several runs on one figure."""
    figure = _figure((12, 4.5))
    accuracy, loss = figure.subplots(1, 2)
    for run_dir in runs:
        history = read_history(run_dir)
        name = _run_name(run_dir)
        epochs = [row["epoch"] + 1 for row in history]
        accuracy.plot(epochs, [row.get("val_accuracy", np.nan) for row in history], label=name)
        loss.plot(epochs, [row.get("val_loss", np.nan) for row in history], label=name)
    for axis, name in ((accuracy, "validation accuracy"), (loss, "validation loss")):
        axis.set_xlabel("epoch")
        axis.set_ylabel(name)
        axis.set_title(name)
        axis.legend()
        axis.grid(alpha=0.3)
    figure.tight_layout()
    _save(figure, path)


def _run_name(run_dir: Path) -> str:
    try:
        backbone = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))["model"]["backbone"]
    except (OSError, ValueError, KeyError, TypeError):
        return run_dir.name
    return f"{run_dir.name} ({backbone})"


def _save(figure, path: Path) -> None:
    """Draws the figure into a temporary file beside `path`, then renames it (the file ending picks the format)."""
    with atomic_path(path) as temporary:
        figure.savefig(temporary, format=path.suffix[1:].lower() or "png", dpi=110)


def _figure(size: tuple[float, float]):
    """A matplotlib Figure drawn off-screen (no pyplot: no global backend, no window)."""
    from matplotlib.figure import Figure

    return Figure(figsize=size)
