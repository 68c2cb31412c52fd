"""The training config: every knob of `nas train`, typed and range-checked."""
from __future__ import annotations

from dataclasses import dataclass, field

from nas.config import check_finite, to_dict
from nas.errors import ConfigError

SAMPLINGS = ("uniform", "sandwich", "cost-stratified", "attentive-worst", "attentive-best", "sorted", "progressive",
             "delayed", "fair", "standalone")
# The sandwich rule and its variants: static largest (and smallest), `num_random` sampled subnets between.
SANDWICHES = ("sandwich", "cost-stratified", "attentive-worst", "attentive-best")
COST_SAMPLINGS = ("cost-stratified", "attentive-worst", "attentive-best")  # need the space's cost model
WITH_TEACHER = SANDWICHES + ("sorted", "progressive", "delayed")  # the largest is the static first arch

# What each `data` choice holds; a space's definition declares which kind it reads.
DATA_INPUTS = {"fashion-mnist": "images", "synthetic": "images", "fortunes": "tokens"}

# Changing these on a resumed run would silently change what was trained.
RESUME_INVARIANT = ("space", "space_options", "batch_size", "sampling", "num_random", "num_archs",
                    "optimizer", "learning_rate", "momentum", "weight_decay", "warmup_steps",
                    "label_smoothing", "seed", "split_seed", "data", "collections", "validation_size", "limit_train", "distillation",
                    "alpha_min", "alpha_max", "ratio_clip", "grad_clip", "freeze_unused",
                    "sorted_decisions", "sorted_axes", "delay", "ramp_steps", "resort", "arch",
                    "supernet", "experts", "split_decision", "router_hidden", "balance_weight",
                    "own_endpoints", "sandwich_smallest")
SUPERNETS = ("single", "mos-layer", "mos-neuron", "few-shot", "mixture")  # supernets.wrap


def saved_settings(values: dict) -> dict:
    """A saved config's settings with those older runs lack filled in as those runs had them.

    Runs from before `split_seed` dealt their data with `seed`: reading them as split 0 would score a
    seed-1 run on examples it trained on.
    """
    return {"split_seed": values.get("seed", 0), **values} if "seed" in values else dict(values)


@dataclass(frozen=True)
class TrainConfig:
    space: str = "mobilenetv3"
    space_options: dict = field(default_factory=dict)
    steps: int = 1000
    batch_size: int = 64
    sampling: str = "sandwich"          # SAMPLINGS (uniform | sandwich | cost-stratified | attentive-* | ...)
    num_random: int = 1                 # sandwich, cost-stratified, progressive, delayed: random subnets per step
    num_archs: int = 1                  # uniform: subnets per step; sorted: sub-models per step
    sandwich_smallest: bool = True      # sandwich, cost-stratified: train the smallest every step (False: largest
                                        # and random ones only; the smallest is no longer favoured over its peers)
    arch: str | None = None             # standalone: the subnet trained alone (canonical string)
    sorted_decisions: tuple = ("*",)    # sorted: decision-name patterns that share the level
    sorted_axes: tuple = ()             # sorted: a grid instead, one entry per axis: "pattern,pattern" (SortedNet
                                        # depth x width: ("depth", "embed_dim,*ffn_width")); overrides the above
    delay: float = 0.25                 # delayed: share of steps with the full network alone
    ramp_steps: int = 100               # delayed: steps over which the subnets' loss weight reaches 1
    optimizer: str = "sgd"              # sgd (Nesterov momentum) | adamw
    learning_rate: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 3e-5
    warmup_steps: int = 100
    label_smoothing: float = 0.1
    distillation: str | None = None     # none | kl | alpha (in-place, from the largest); None: alpha where the
                                        # sampling trains the largest as teacher, else none
    alpha_min: float = -1.0             # AlphaNet's adaptive alpha-divergence
    alpha_max: float = 1.0
    ratio_clip: float = 5.0             # clip of the importance ratio (p/q)^alpha
    grad_clip: float | None = None      # global-norm gradient clipping (AlphaNet: 1.0)
    freeze_unused: bool = True          # no optimizer/decay movement of slices no subnet used
    on_nonfinite: str = "stop"          # stop | skip: a step with NaN/inf loss or gradients ends the run or is dropped
    execution: str = "masked"           # masked | switch (how sampled subnets run)
    supernet: str = "single"            # single | mos-layer | mos-neuron | few-shot | mixture (supernets.wrap)
    experts: int | None = None          # MoS: experts per kernel (default 2); few-shot: supernets (default: one
                                        # per choice of split_decision); mixture: supernets (default 2)
    split_decision: str | None = None   # few-shot: the decision whose choices split the space
    own_endpoints: bool = False         # few-shot + sandwich: every supernet trains its own largest and smallest
    router_hidden: int = 64             # MoS, mixture: hidden width of the router MLP
    balance_weight: float | None = None  # mixture: weight of the router's balance term (default 1.0)
    resort: bool = False                # OFA importance re-sorting of channels at each phase start
    devices: int | None = 1             # data parallelism: devices the batch is split over (None: all)
    seed: int = 0                       # initialisation, batch order, sampled archs
    split_seed: int = 0                 # which examples are held out (validation/test): the data's identity, kept
                                        # apart from `seed` so every seed of an arch is scored on the same test set
    data: str = "fashion-mnist"         # fashion-mnist | synthetic | fortunes (byte-level text)
    collections: tuple = ()             # fortunes: the collections read (file names, "general", "computing"); all if empty
    validation_size: int = 5000         # fashion-mnist: held-out training images (fortunes: 5% of fortunes)
    limit_train: int | None = None      # the first N training examples (images, or fortunes' byte windows)
    checkpoint_every: int = 250
    log_every: int = 10
    calibration_images: int = 2000
    eval_batch_size: int = 500

    def sorted_grid(self) -> tuple[tuple[str, ...], ...]:
        """Sorted sampling's axes: each a tuple of decision-name patterns."""
        if not self.sorted_axes:
            return (tuple(self.sorted_decisions),)
        return tuple(tuple(p.strip() for p in axis.split(",") if p.strip()) for axis in self.sorted_axes)

    def __post_init__(self):
        if self.distillation is None:  # resolved here, so Python configs and the CLI get the same default
            object.__setattr__(self, "distillation", "alpha" if self.sampling in WITH_TEACHER else "none")

    def check(self) -> None:
        check_finite(to_dict(self), "train config")
        positive = ("steps", "batch_size", "checkpoint_every", "log_every", "calibration_images",
                    "eval_batch_size", "num_archs")
        for name in positive:
            if getattr(self, name) <= 0:
                raise ConfigError(f"train config: {name} must be > 0, got {getattr(self, name)}")
        for name in ("num_random", "warmup_steps", "ramp_steps", "weight_decay"):
            if getattr(self, name) < 0:
                raise ConfigError(f"train config: {name} must be >= 0, got {getattr(self, name)}")
        choices = {"sampling": SAMPLINGS, "optimizer": ("sgd", "adamw"),
                   "data": tuple(DATA_INPUTS), "distillation": ("none", "kl", "alpha"),
                   "execution": ("masked", "switch"), "on_nonfinite": ("stop", "skip"), "supernet": SUPERNETS}
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ConfigError(f"train config: {name} must be one of {', '.join(allowed)}, "
                                  f"got {getattr(self, name)!r}")
        if self.seed < 0 or self.split_seed < 0:
            raise ConfigError(f"train config: seed and split_seed must be >= 0, got {self.seed}, {self.split_seed}")
        if self.collections and (self.data != "fortunes" or not all(isinstance(c, str) for c in self.collections)):
            raise ConfigError(f"train config: collections names fortune collections (strings) and needs data "
                              f"'fortunes', got {list(self.collections)!r} with data {self.data!r}")
        if self.validation_size < 1:  # the summary and nas search score subnets on the validation split
            raise ConfigError(f"train config: validation_size must be >= 1, got {self.validation_size}")
        if self.limit_train is not None and self.limit_train < 1:
            raise ConfigError(f"train config: limit_train must be >= 1 (or null for all), got {self.limit_train}")
        if self.learning_rate <= 0:
            raise ConfigError(f"train config: learning_rate must be > 0, got {self.learning_rate}")
        if self.distillation != "none" and self.sampling not in WITH_TEACHER:
            raise ConfigError(f"train config: distillation {self.distillation!r} needs a sampling that trains "
                              f"the largest subnet as teacher ({', '.join(WITH_TEACHER)}); use distillation "
                              f"'none' with sampling {self.sampling!r}")
        if (self.sampling == "standalone") != (self.arch is not None):
            raise ConfigError("train config: sampling 'standalone' needs arch (and arch is only for it)")
        if self.sorted_axes and self.sampling != "sorted":
            raise ConfigError(f"train config: sorted_axes is only for sampling 'sorted', got sampling {self.sampling!r}")
        if any(not isinstance(axis, str) or not axis.strip(" ,") for axis in self.sorted_axes):
            raise ConfigError(f"train config: each sorted_axes entry is a string of comma-separated decision-name "
                              f"patterns, got {list(self.sorted_axes)!r}")
        if not 0 < self.delay < 1:
            raise ConfigError(f"train config: delay must be in (0, 1), got {self.delay}")
        if not self.alpha_min < 0 < self.alpha_max:
            raise ConfigError(f"train config: need alpha_min < 0 < alpha_max, got {self.alpha_min}, {self.alpha_max}")
        if self.devices is not None and self.devices < 1:
            raise ConfigError(f"train config: devices must be >= 1 (or null for all), got {self.devices}")
        if self.ratio_clip <= 0 or (self.grad_clip is not None and self.grad_clip <= 0):
            raise ConfigError("train config: ratio_clip and grad_clip must be > 0")
        if not 0 <= self.label_smoothing < 1:
            raise ConfigError(f"train config: label_smoothing must be in [0, 1), got {self.label_smoothing}")
        self._check_supernet()

    def _check_supernet(self) -> None:
        if self.experts is not None and (self.supernet == "single" or self.experts < 1):
            raise ConfigError(f"train config: experts must be >= 1 and needs supernet mos-layer, mos-neuron, "
                              f"few-shot or mixture, got experts {self.experts} with supernet {self.supernet!r}")
        if self.supernet == "mixture" and self.experts is not None and self.experts < 2:
            raise ConfigError(f"train config: supernet 'mixture' needs experts >= 2 (the supernets the router "
                              f"assigns archs to), got {self.experts}")
        if self.supernet == "mixture" and (self.sampling == "standalone" or self.num_random == 0 and self.sampling
                                           in SANDWICHES + ("progressive", "delayed")):
            raise ConfigError(f"train config: supernet 'mixture' learns its router from the sampled archs of each "
                              f"step; sampling {self.sampling!r} with num_random {self.num_random} samples none (use "
                              f"num_random >= 1 and a sampling other than 'standalone')")
        if self.balance_weight is not None and (self.supernet != "mixture" or self.balance_weight < 0):
            raise ConfigError(f"train config: balance_weight must be >= 0 and is only for supernet 'mixture', got "
                              f"balance_weight {self.balance_weight} with supernet {self.supernet!r}")
        if (self.supernet == "few-shot") != (self.split_decision is not None):
            raise ConfigError("train config: supernet 'few-shot' needs split_decision (the decision whose choices "
                              f"split the space), and split_decision is only for it; got supernet {self.supernet!r}, "
                              f"split_decision {self.split_decision!r}")
        if not self.sandwich_smallest and self.sampling not in SANDWICHES:
            raise ConfigError(f"train config: sandwich_smallest false drops the sandwich's smallest arch; it needs "
                              f"sampling {', '.join(SANDWICHES)}, got {self.sampling!r}")
        if self.own_endpoints and (self.supernet != "few-shot" or self.sampling not in SANDWICHES):
            raise ConfigError(f"train config: own_endpoints gives each few-shot supernet its own sandwich; it needs "
                              f"supernet 'few-shot' and sampling {', '.join(SANDWICHES)}, got supernet "
                              f"{self.supernet!r}, sampling {self.sampling!r}")
        if self.router_hidden < 1:
            raise ConfigError(f"train config: router_hidden must be >= 1, got {self.router_hidden}")
        if self.resort and self.supernet != "single":
            raise ConfigError(f"train config: resort re-sorts one supernet's channels; it is not available with "
                              f"supernet {self.supernet!r} (use supernet 'single')")
