"""The training config: every knob of `nas train`, typed and range-checked."""
from __future__ import annotations

from dataclasses import dataclass, field

from nas.errors import ConfigError

# Changing these on a resumed run would silently change what was trained.
RESUME_INVARIANT = ("space", "space_options", "batch_size", "sampling", "num_random", "num_archs",
                    "optimizer", "learning_rate", "momentum", "weight_decay", "warmup_steps",
                    "label_smoothing", "seed", "data", "validation_size", "limit_train")


@dataclass(frozen=True)
class TrainConfig:
    space: str = "mobilenetv3"
    space_options: dict = field(default_factory=dict)
    steps: int = 1000
    batch_size: int = 64
    sampling: str = "sandwich"          # uniform | sandwich
    num_random: int = 1                 # sandwich: random subnets between largest and smallest
    num_archs: int = 1                  # uniform: subnets per step
    optimizer: str = "sgd"              # sgd (Nesterov momentum) | adamw
    learning_rate: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 3e-5
    warmup_steps: int = 100
    label_smoothing: float = 0.1
    seed: int = 0
    data: str = "fashion-mnist"         # fashion-mnist | synthetic
    validation_size: int = 5000
    limit_train: int | None = None
    checkpoint_every: int = 250
    log_every: int = 10
    calibration_images: int = 2000
    eval_batch_size: int = 500

    def check(self) -> None:
        positive = ("steps", "batch_size", "checkpoint_every", "log_every", "calibration_images",
                    "eval_batch_size", "num_archs")
        for name in positive:
            if getattr(self, name) <= 0:
                raise ConfigError(f"train config: {name} must be > 0, got {getattr(self, name)}")
        for name in ("num_random", "warmup_steps", "validation_size"):
            if getattr(self, name) < 0:
                raise ConfigError(f"train config: {name} must be >= 0, got {getattr(self, name)}")
        choices = {"sampling": ("uniform", "sandwich"), "optimizer": ("sgd", "adamw"),
                   "data": ("fashion-mnist", "synthetic")}
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ConfigError(f"train config: {name} must be one of {', '.join(allowed)}, "
                                  f"got {getattr(self, name)!r}")
        if self.learning_rate <= 0:
            raise ConfigError(f"train config: learning_rate must be > 0, got {self.learning_rate}")
        if not 0 <= self.label_smoothing < 1:
            raise ConfigError(f"train config: label_smoothing must be in [0, 1), got {self.label_smoothing}")
