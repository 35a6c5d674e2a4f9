"""Options of a training run. Plain Python (no TensorFlow): the CLI builds them and run.json stores them."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from birdcam.errors import BirdcamError, DatasetError, ModelError
from birdcam.util.fileio import check_output_folder, write_text_atomically

VIT_PRESETS = {
    # backbone: (vit-keras weights name, patch size, "B" or "L" config)
    "vit_b16": ("B_16", 16, "B"),
    "vit_b32": ("B_32", 32, "B"),
    "vit_l16": ("L_16", 16, "L"),
    "vit_l32": ("L_32", 32, "L"),
}
BACKBONES = (*VIT_PRESETS, "inception_v3", "custom")
QUANTIZATIONS = ("dynamic", "float16", "int8", "none")
STRATEGIES = ("none", "mirrored", "multiworker")
CACHES = ("auto", "memory", "disk", "none")


@dataclass(frozen=True)
class ModelSpec:
    """What to build; stored in run.json so a resumed run rebuilds the same model."""

    backbone: str = "vit_l32"
    """One of BACKBONES."""
    image_size: int = 224
    """Input height and width in pixels."""
    num_classes: int = 525
    """Outputs of the softmax head."""
    finetune_at: int = 28
    """Backbone layers before this index are frozen."""
    pretrained: bool = True
    """Start from ImageNet weights (downloaded into the cache when the run starts, unless `weights` is given)."""
    weights: str | None = None
    """A local weights file: ViT .npz (vit-keras format) or InceptionV3 .h5; the run stores the downloaded one here."""
    patch_size: int = 16
    """custom ViT: patch size."""
    hidden_size: int = 64
    """custom ViT: width of the transformer."""
    num_layers: int = 2
    """custom ViT: transformer blocks."""
    num_heads: int = 2
    """custom ViT: attention heads (must divide hidden_size)."""
    mlp_dim: int = 128
    """custom ViT: width of each block's MLP."""
    noise: float = 0.01
    """Std of the GaussianNoise on normalized inputs while training (the write-up's 0.01)."""


@dataclass(frozen=True)
class TrainOptions:
    """Everything `birdcam train` was asked for; run.json holds it so --resume continues the same run."""

    data: str
    """The dataset folder (--data)."""
    model: ModelSpec = field(default_factory=ModelSpec)
    """The network to build."""
    val_split: float | None = None
    """Single-folder mode: fraction of each class for validation (0.1 when unset)."""
    test_split: float | None = None
    """Single-folder mode: fraction of each class for the test report (0.1 when unset)."""
    epochs: int = 100
    """Last epoch to train (EarlyStopping may stop sooner)."""
    batch_size: int = 32
    """Images per step, over all replicas."""
    learning_rate: float = 1e-4
    """Adam's starting learning rate."""
    lr_step: int = 7
    """Epochs between learning-rate steps (the write-up's 7)."""
    lr_factor: float = 0.1
    """Learning-rate multiplier at each step (the write-up's 0.1)."""
    patience: int = 10
    """Epochs without a better val_accuracy before stopping."""
    quantize: str = "dynamic"
    """TFLite export: one of QUANTIZATIONS."""
    distribute: str = "none"
    """tf.distribute strategy: one of STRATEGIES."""
    cache: str = "auto"
    """Decoded-image cache: "memory", "disk" (in the run folder), "none", or "auto" (memory up to 2 GB, else disk)."""
    seed: int = 0
    """Seed of the split, shuffling and augmentation."""
    install: bool | None = None
    """Copy the exported model into models/ so the app runs it: True always, False never, None only when it names the
    test photos at least as well as the model the app runs now."""

    def check(self) -> None:
        """Raises DatasetError for values no run could use."""
        problems = [
            (self.epochs < 1, "--epochs must be at least 1"),
            (self.batch_size < 1, "--batch-size must be at least 1"),
            (not 0 < self.learning_rate < 1, "--learning-rate must be in (0, 1)"),
            (self.lr_step < 1, "--lr-step must be at least 1"),
            (not 0 < self.lr_factor <= 1, "--lr-factor must be in (0, 1]"),
            (self.patience < 1, "--patience must be at least 1"),
            (self.model.image_size < 8, "--image-size must be at least 8"),
            (self.model.finetune_at < 0, "--finetune-at must be 0 or more"),
            (self.quantize not in QUANTIZATIONS, f"--quantize must be one of {', '.join(QUANTIZATIONS)}"),
            (self.distribute not in STRATEGIES, f"--distribute must be one of {', '.join(STRATEGIES)}"),
            (self.cache not in CACHES, f"--cache must be one of {', '.join(CACHES)}"),
            (self.model.backbone not in BACKBONES, f"--backbone must be one of {', '.join(BACKBONES)}"),
        ]
        patch = VIT_PRESETS[self.model.backbone][1] if self.model.backbone in VIT_PRESETS else self.model.patch_size
        if self.model.backbone != "inception_v3":
            problems.append(
                (
                    patch < 1 or self.model.image_size % patch != 0,
                    f"--image-size {self.model.image_size} must be a multiple of the patch size {patch}",
                )
            )
        if self.model.backbone == "custom":
            problems.append(
                (
                    min(self.model.hidden_size, self.model.num_heads, self.model.num_layers, self.model.mlp_dim) < 1,
                    "--hidden-size, --num-heads, --num-layers and --mlp-dim must be at least 1",
                )
            )
            problems.append(
                (
                    self.model.hidden_size % max(1, self.model.num_heads) != 0,
                    f"--hidden-size {self.model.hidden_size} must be divisible by --num-heads {self.model.num_heads}",
                )
            )
        if self.model.backbone == "inception_v3":
            problems.append((self.model.image_size < 75, "inception_v3 needs --image-size of at least 75"))
        for failed, message in problems:
            if failed:
                raise DatasetError(f"{message}.")

    def learning_rate_at(self, epoch: int) -> float:
        """The step schedule: learning_rate x lr_factor every lr_step epochs."""
        return self.learning_rate * self.lr_factor ** (epoch // self.lr_step)

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> TrainOptions:
        model = ModelSpec(**data.get("model", {}))
        return cls(**{**data, "model": model})

    def save(self, path: Path) -> None:
        write_text_atomically(path, json.dumps(self.as_dict(), indent=2, ensure_ascii=False) + "\n")

    @classmethod
    def from_path(cls, path: Path) -> TrainOptions:
        """Reads run.json; a missing or damaged one is a DatasetError naming the file."""
        try:
            return cls.from_dict(json.loads(path.read_text(encoding="utf-8")))
        except FileNotFoundError:
            raise DatasetError(f"{path} not found: --resume needs a folder made by `birdcam train`.") from None
        except (ValueError, TypeError) as error:
            raise DatasetError(f"{path} is damaged ({error}); start a new run with --out.") from None

    def with_epochs(self, epochs: int) -> TrainOptions:
        return replace(self, epochs=epochs)


def check_new_run(options: TrainOptions, out: Path) -> None:
    """Every check of a new run that needs no TensorFlow: the CLI calls it before TensorFlow's seconds of
    start-up, so a mistyped flag or folder is answered at once. Raises a BirdcamError."""
    options.check()
    if options.distribute == "multiworker" and not os.environ.get("TF_CONFIG"):
        raise BirdcamError("--distribute multiworker needs TF_CONFIG (cluster and task) set on every host.")
    data = Path(options.data).expanduser()
    if data.exists() and not data.is_dir():
        raise DatasetError(f"--data {data} is a file; give the dataset folder (train/ valid/ test/ or class folders).")
    if not data.is_dir():
        raise DatasetError(
            f"dataset folder not found: {data}. Pass --data DIR with train/ valid/ test/ or class folders."
        )
    if options.model.weights:
        check_weights_file(Path(options.model.weights).expanduser())
    check_output_folder(out, "--out")
    if (out / "run.json").exists():
        raise DatasetError(f"{out} already holds a run; continue it with --resume {out} or pick another --out.")


def resumed_options(out: Path, epochs: int | None = None) -> TrainOptions:
    """The options of the run in `out`, read without TensorFlow; `epochs` raises (or lowers) its last epoch."""
    if Path(out).is_file():
        raise DatasetError(f"--resume {out} is a file; give the run folder (the --out of `birdcam train`).")
    options = TrainOptions.from_path(Path(out) / "run.json")
    check_output_folder(out, "--resume")
    if epochs is not None:
        options = options.with_epochs(epochs)
        options.check()
        options.save(Path(out) / "run.json")
    return options


def check_weights_file(path: Path) -> None:
    """Raises ModelError unless --weights names a file."""
    if path.is_dir():
        raise ModelError(f"--weights {path} is a folder; give the weights file (ViT .npz or InceptionV3 .h5).")
    if not path.is_file():
        raise ModelError(f"weights file not found: {path}. Check --weights.")
