"""`nas audit`'s settings: the dataclass is the command's options (`nas.config.setting`) and their checks.

Kept apart from `nas.audit` so that `nas --help` does not import the training stack.
"""
from __future__ import annotations

from dataclasses import dataclass

from nas.config import setting
from nas.errors import ConfigError


@dataclass(frozen=True)
class AuditConfig:
    archs: int = setting(16, "archs, stratified over cost")
    steps: int | None = setting(None, "stand-alone training steps per arch", default_help="the run's")
    seeds: int = setting(2, "stand-alone trainings per arch")
    workers: int = setting(1, "trainings at a time (each a child process); other machines may run the same "
                              "command too")
    bands: int = setting(3, "cost bands for the within-band tau")
    strata: int = setting(4, "cost quantiles the archs are drawn from in equal numbers")
    arch_seed: int = setting(0, "seed of the arch draw (another seed audits other archs)")
    horizon: int | None = setting(None, "also train every arch once for this many times --steps (another seed) "
                                        "and report whether that reorders the archs beyond seed noise",
                                  default_help="no check")
    finetune_steps: int | None = setting(None, "also rank the archs after this many steps of stand-alone "
                                               "fine-tuning each from the supernet's weights, and judge that "
                                               "ranking too", default_help="no fine-tune")

    def check(self) -> None:
        # The bounds say why they are there, so they are checked here rather than declared as minimums.
        if self.archs < 4:
            raise ConfigError(f"nas audit: --archs must be >= 4 (a ranking of fewer says nothing), got {self.archs}")
        if self.seeds < 2:
            raise ConfigError(f"nas audit: --seeds must be >= 2 (the ground truth's reliability compares seeds), "
                              f"got {self.seeds}")
        if self.steps is not None and self.steps < 1:
            raise ConfigError(f"nas audit: --steps must be >= 1, got {self.steps}")
        if self.finetune_steps is not None and self.finetune_steps < 1:
            raise ConfigError(f"nas audit: --finetune-steps must be >= 1, got {self.finetune_steps}")
        if self.horizon is not None and self.horizon < 2:
            raise ConfigError(f"nas audit: --horizon is a factor on --steps and must be >= 2, got {self.horizon}")
        if self.arch_seed < 0:
            raise ConfigError(f"nas audit: --arch-seed must be >= 0, got {self.arch_seed}")
        if self.workers < 1 or self.bands < 1 or self.strata < 1:
            raise ConfigError(f"nas audit: --workers, --bands and --strata must be >= 1, got {self.workers}, "
                              f"{self.bands}, {self.strata}")
        if self.bands > self.archs // 2:
            raise ConfigError(f"nas audit: --bands {self.bands} leaves fewer than 2 archs per band; use at most "
                              f"{self.archs // 2} with --archs {self.archs}")
