"""The training config: every knob of `nas train`, typed and range-checked."""
from __future__ import annotations

from dataclasses import dataclass

from nas.config import check_settings, setting
from nas.errors import ConfigError

SAMPLINGS = ("uniform", "sandwich", "cost-stratified", "attentive-worst", "attentive-best", "sorted", "progressive",
             "delayed", "fair", "standalone")
# The sandwich rule and its variants: static largest (and smallest), `num_random` sampled subnets between.
SANDWICHES = ("sandwich", "cost-stratified", "attentive-worst", "attentive-best")
COST_SAMPLINGS = ("cost-stratified", "attentive-worst", "attentive-best")  # need the space's cost model
ROUTER_HIDDEN = 64  # the router MLP's default hidden width
WITH_TEACHER = SANDWICHES + ("sorted", "progressive", "delayed")  # the largest is the static first arch

# What each `data` choice holds; a space's definition declares which kind it reads.
# fashion-mnist-knn: the nodes of a k-NN graph of Fashion-MNIST images, each read as its index (nas.graph_data).
DATA_INPUTS = {"fashion-mnist": "images", "synthetic": "images", "fortunes": "tokens", "fashion-mnist-knn": "images"}

# Changing these on a resumed run would silently change what was trained.
RESUME_INVARIANT = ("space", "space_options", "batch_size", "sampling", "num_random", "num_archs",
                    "optimizer", "learning_rate", "momentum", "weight_decay", "warmup_steps",
                    "label_smoothing", "seed", "split_seed", "data", "collections", "validation_size", "limit_train", "distillation",
                    "alpha_min", "alpha_max", "ratio_clip", "grad_clip", "freeze_unused",
                    "sorted_decisions", "sorted_axes", "delay", "ramp_steps", "resort", "arch",
                    "supernet", "experts", "split_decision", "router_hidden", "balance_weight",
                    "own_endpoints", "sandwich_smallest")
SUPERNETS = ("single", "mos-layer", "mos-neuron", "few-shot", "routed")  # supernets.wrap
# Former names a saved config or a user's script may still use.
SUPERNET_ALIASES = {"mixture": "routed"}


def saved_settings(values: dict) -> dict:
    """A saved config's settings with those older runs lack filled in as those runs had them.

    Runs from before `split_seed` dealt their data with `seed`: reading them as split 0 would score a
    seed-1 run on examples it trained on.
    """
    values = {"split_seed": values.get("seed", 0), **values} if "seed" in values else dict(values)
    if values.get("supernet") in SUPERNET_ALIASES:
        values["supernet"] = SUPERNET_ALIASES[values["supernet"]]
    return values


def _all_devices_as_none(devices: int) -> int | None:
    return devices or None  # the CLI's 0 means every device there is


@dataclass(frozen=True)
class TrainConfig:
    """Every knob of `nas train`: the fields write its options (nas.config_cli) and their checks."""
    space: str = setting("mobilenetv3", "a shipped space (nas spaces lists them) or package.module:attr")
    space_options: dict = setting({}, "the space's options (--option key=value)", hidden=True)
    steps: int = setting(1000, "training steps", above=0)
    batch_size: int = setting(64, "examples per step", above=0)
    # Sampling: which subnets train each step.
    sampling: str = setting(
        "sandwich", "sandwich (largest, random, smallest), cost-stratified (the sandwich with its random subnets "
        "spread evenly over log multiply-adds), attentive-worst/-best (AttentiveNAS: of 4 candidates near each "
        "target cost, the one with the highest/lowest loss on the batch), uniform, sorted (SortedNet), progressive "
        "(OFA), delayed (DεpS), fair (FairNAS strict fairness, single-path spaces), standalone (--arch alone)",
        choices=SAMPLINGS)
    num_random: int = setting(1, "sandwich/cost-stratified/progressive/delayed: random subnets per step", minimum=0)
    num_archs: int = setting(1, "uniform: subnets per step; sorted: sub-models per step", above=0)
    sandwich_smallest: bool = setting(
        True, "sandwich/cost-stratified: train the smallest subnet every step (--no-smallest: the largest and the "
        "random ones only, so the smallest is not favoured over archs of similar cost)",
        cli=("--smallest/--no-smallest",))
    arch: str | None = setting(None, "standalone: the subnet to train alone (canonical arch string)")
    sorted_decisions: tuple = setting(("*",), "sorted: comma-separated decision-name patterns that share the "
                                      "sub-model level", separator=",")
    sorted_axes: tuple = setting(
        (), "sorted: a grid of sub-models, axes separated by ';', each its comma-separated patterns, e.g. "
        "'depth;embed_dim,*ffn_width' (SortedNet depth x width); overrides --sorted-decisions", separator=";")
    delay: float = setting(0.25, "delayed: share of steps that train the full network alone")
    ramp_steps: int = setting(100, "delayed: steps over which the subnets' loss weight rises to 1", minimum=0)
    # Optimiser.
    optimizer: str = setting("sgd", "sgd (Nesterov momentum) or adamw", choices=("sgd", "adamw"))
    learning_rate: float = setting(0.05, "peak learning rate (cosine schedule after warm-up)", above=0,
                                   cli=("--lr", "--learning-rate"))
    momentum: float = setting(0.9, "sgd: Nesterov momentum", minimum=0)
    weight_decay: float = setting(3e-5, "decoupled weight decay", minimum=0)
    warmup_steps: int = setting(100, "linear learning-rate warm-up", minimum=0)
    label_smoothing: float = setting(0.1, "label smoothing of the cross-entropy", minimum=0)
    grad_clip: float | None = setting(None, "clip the global gradient norm (AlphaNet: 1.0)", above=0)
    freeze_unused: bool = setting(True, "no optimiser or weight-decay movement of slices no subnet used this step")
    on_nonfinite: str = setting(
        "stop", "a step whose loss or gradients are NaN or inf: stop the run (the last checkpoint is kept) or skip "
        "the step (its update is not applied; the summary counts skipped steps)", choices=("stop", "skip"))
    # Distillation.
    distillation: str | None = setting(None, "in-place distillation from the largest subnet",
                                       choices=("none", "kl", "alpha"),
                                       default_help="alpha where the sampling trains the largest, else none")
    alpha_min: float = setting(-1.0, "adaptive alpha-divergence: lower alpha")
    alpha_max: float = setting(1.0, "adaptive alpha-divergence: upper alpha")
    ratio_clip: float = setting(5.0, "adaptive alpha-divergence: clip of the importance ratio (p/q)^alpha", above=0)
    # Execution and supernet kind.
    execution: str = setting("masked", "how sampled subnets run: masked (largest shapes) or switch (each block at "
                             "its chosen width)", choices=("masked", "switch"))
    supernet: str = setting(
        "single", "single, mos-layer or mos-neuron (Mixture-of-Supernets: a router on the arch mixes --experts "
        "copies of every kernel, per layer or per output neuron), few-shot (--experts supernets, each owning some "
        "choices of --split-decision), routed (--experts supernets, each arch owned by the one a learned, balanced "
        "router picks; 'mixture' is its former name)", choices=SUPERNETS)
    experts: int | None = setting(None, "mos-*: experts per kernel [default: 2]; few-shot: supernets [default: one "
                                  "per choice]; routed: supernets [default: 2]")
    split_decision: str | None = setting(None, "few-shot: the decision whose choices split the space")
    own_endpoints: bool = setting(False, "few-shot with the sandwich rule: every supernet also trains its own "
                                  "largest and smallest arch each step (else only the supernets owning the space's "
                                  "largest and smallest do)")
    router_hidden: int = setting(ROUTER_HIDDEN, "mos-*, routed: hidden width of the router MLP", minimum=1)
    balance_weight: float | None = setting(
        None, "routed: weight of the router's balance term (Switch-Transformer style: K x sum of each supernet's "
        "argmax share times its mean probability, minus 1; 0 when balanced) [default: 1.0]")
    resort: bool = setting(False, "re-sort channels by importance at each phase start (Once-for-All; "
                           "progressive/delayed)")
    devices: int | None = setting(1, "data parallelism: split each batch over this many devices (0: all available)",
                                  from_cli=_all_devices_as_none)
    # Seeds and data.
    seed: int = setting(0, "initialisation, batch order and sampled subnets", minimum=0)
    split_seed: int = setting(0, "which examples are held out for validation and test (the data's identity, kept "
                              "apart from --seed so every seed of an arch is scored on the same test set)", minimum=0)
    data: str = setting(
        "fashion-mnist", "images (fashion-mnist, synthetic) or byte-level text (fortunes: transformer_lm); "
        "fashion-mnist is read from $WEFT_FASHION_MNIST, a directory holding the four IDX files (.gz or not) "
        "[default: /usr/share/datasets/fashion-mnist, Debian's dataset-fashion-mnist]", choices=tuple(DATA_INPUTS))
    collections: tuple = setting((), "fortunes: comma-separated collections to read (file names, 'general' or "
                                 "'computing', the domain held out from 'general') [default: all]", separator=",")
    validation_size: int = setting(5000, "fashion-mnist: held-out training images (fortunes: 5% of fortunes)",
                                   minimum=1)  # the summary and nas search score subnets on the validation split
    limit_train: int | None = setting(None, "use only the first N training examples (images or byte windows)")
    checkpoint_every: int = setting(250, "steps between checkpoints", above=0)
    log_every: int = setting(10, "steps between metrics lines", above=0)
    calibration_images: int = setting(2000, "examples that recalibrate BatchNorm statistics per evaluated subnet",
                                      above=0)
    eval_batch_size: int = setting(500, "examples per evaluation batch", above=0)

    def sorted_grid(self) -> tuple[tuple[str, ...], ...]:
        """Sorted sampling's axes: each a tuple of decision-name patterns."""
        if not self.sorted_axes:
            return (tuple(self.sorted_decisions),)
        return tuple(tuple(p.strip() for p in axis.split(",") if p.strip()) for axis in self.sorted_axes)

    def __post_init__(self):
        if self.supernet in SUPERNET_ALIASES:
            object.__setattr__(self, "supernet", SUPERNET_ALIASES[self.supernet])
        if self.distillation is None:  # resolved here, so Python configs and the CLI get the same default
            object.__setattr__(self, "distillation", "alpha" if self.sampling in WITH_TEACHER else "none")

    def check_new_run(self) -> None:
        """Settings refused for a new run only: runs trained before these checks still load and resume."""
        if self.supernet.startswith("mos-") and self.experts is not None and self.experts < 2:
            raise ConfigError(f"train config: supernet {self.supernet!r} needs experts >= 2 (with one it is the single "
                              f"supernet behind a router that has nothing to choose), got {self.experts}")
        if self.router_hidden != ROUTER_HIDDEN and not (self.supernet.startswith("mos-") or self.supernet == "routed"):
            raise ConfigError(f"train config: router_hidden sizes the router of supernet mos-layer, mos-neuron or "
                              f"routed; supernet {self.supernet!r} has none, got router_hidden {self.router_hidden}")

    def check(self) -> None:
        check_settings(self, "train config")
        if self.collections and (self.data != "fortunes" or not all(isinstance(c, str) for c in self.collections)):
            raise ConfigError(f"train config: collections names fortune collections (strings) and needs data "
                              f"'fortunes', got {list(self.collections)!r} with data {self.data!r}")
        if self.limit_train is not None and self.limit_train < 1:
            raise ConfigError(f"train config: limit_train must be >= 1 (or null for all), got {self.limit_train}")
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
        if not 0 <= self.label_smoothing < 1:
            raise ConfigError(f"train config: label_smoothing must be in [0, 1), got {self.label_smoothing}")
        self._check_supernet()

    def _check_supernet(self) -> None:
        if self.experts is not None and (self.supernet == "single" or self.experts < 1):
            raise ConfigError(f"train config: experts must be >= 1 and needs supernet mos-layer, mos-neuron, "
                              f"few-shot or routed, got experts {self.experts} with supernet {self.supernet!r}")
        if self.supernet == "routed" and self.experts is not None and self.experts < 2:
            raise ConfigError(f"train config: supernet 'routed' needs experts >= 2 (the supernets the router "
                              f"assigns archs to), got {self.experts}")
        if self.supernet == "routed" and (self.sampling == "standalone" or self.num_random == 0 and self.sampling
                                           in SANDWICHES + ("progressive", "delayed")):
            raise ConfigError(f"train config: supernet 'routed' learns its router from the sampled archs of each "
                              f"step; sampling {self.sampling!r} with num_random {self.num_random} samples none (use "
                              f"num_random >= 1 and a sampling other than 'standalone')")
        if self.balance_weight is not None and (self.supernet != "routed" or self.balance_weight < 0):
            raise ConfigError(f"train config: balance_weight must be >= 0 and is only for supernet 'routed', got "
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
        if self.resort and self.supernet != "single":
            raise ConfigError(f"train config: resort re-sorts one supernet's channels; it is not available with "
                              f"supernet {self.supernet!r} (use supernet 'single')")
