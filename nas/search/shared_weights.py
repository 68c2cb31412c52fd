"""Weight-shared evaluation that trains (ENAS, Auto-GNN): one weight store per group of a sharing rule.

Scoring an arch with `SharedWeights`: take the weights of its group (`nas.search.sharing_rule`: every arch
one group under `all`, homogeneous archs one group under `homogeneous`), train that arch alone for `steps`
steps on the run's training split (its masked subnet, so only the slices it uses move, and the optimizer is
fresh: weights are inherited, momentum is not), write the trained weights back as the group's, and score
them as `nas search` scores any arch (BN recalibrated). A group seen for the first time starts from the
`start` weights: the run's trained supernet (`trained`), or the supernet as initialised before any
training (`initial`: Auto-GNN's setting, where no weights cross a group boundary ever).

`Sharing` is the whole setting; `rule="none"` is the plain evaluation (the trained supernet scores every arch,
nothing trains). The learning rate is the run's (constant; `learning_rate` overrides), its optimizer kind,
weight decay and freezing of unused slices too; batches come from one seeded stream over the training
split that every child continues.

`save(directory)` / `load(directory)` keep the stores across a restart: `index.json` (the setting, the
stream position, per group its file and how many children it trained) and one `.npz` of weights per group.
Each group holds a full copy of the supernet's weights, so memory grows with the number of groups trained.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import jax
import numpy as np

from nas.errors import ConfigError
from nas.space import Arch

STARTS = ("trained", "initial")
INDEX = "index.json"


@dataclass(frozen=True)
class Sharing:
    rule: str = "none"  # none | all | homogeneous | module:function (nas.search.sharing_rule)
    steps: int = 20     # training steps of each child from its group's weights
    start: str = "trained"  # a new group's weights: the run's trained supernet, or its initialisation
    learning_rate: float | None = None  # None: the run's learning rate
    seed: int = 0       # the batch stream's

    def check(self) -> None:
        if not isinstance(self.steps, int) or self.steps < 1:
            raise ConfigError(f"sharing: steps must be an int >= 1, got {self.steps!r}")
        if self.start not in STARTS:
            raise ConfigError(f"sharing: unknown start {self.start!r}; allowed: {', '.join(STARTS)}")
        if self.learning_rate is not None and not self.learning_rate > 0:
            raise ConfigError(f"sharing: learning_rate must be > 0, got {self.learning_rate!r}")

    @property
    def active(self) -> bool:
        return self.rule != "none"


class SharedWeights:
    def __init__(self, session, params, stats, sharing: Sharing, *, execution: str = "masked"):
        import optax

        from nas.data import BatchStream
        from nas.search.sharing_rule import resolve_rule
        from nas.train.optim import make_optimizer
        from nas.train.step import StepOptions, make_train_step

        sharing.check()
        self.sharing, self.space = sharing, session.space
        self.rule = resolve_rule(sharing.rule, session.space)
        config = session.config
        rate = config.learning_rate if sharing.learning_rate is None else sharing.learning_rate
        self._optimizer = make_optimizer(config, optax.constant_schedule(rate))
        self._step = make_train_step(session.graphdef, session.space, self._optimizer, donate=False,
                                     options=StepOptions(label_smoothing=config.label_smoothing, execution=execution))
        self._new_stream = lambda seed: BatchStream(session.dataset.train, min(config.batch_size,
                                                                               len(session.dataset.train)), seed=seed)
        self._stream = self._new_stream(sharing.seed)
        self._start = (params, stats)
        self._treedef = jax.tree.structure(self._start)
        self._stores: dict[str, tuple] = {}  # group key -> (params, stats)
        self.children: dict[str, int] = {}   # group key -> children trained from its store
        self._dirty: set[str] = set()

    def reset(self, seed: int) -> None:
        """Empty every store and restart the batch stream with `seed` (a new search with the same compiled step)."""
        self.sharing = dataclasses.replace(self.sharing, seed=seed)
        self._stream = self._new_stream(seed)
        self._stores, self.children, self._dirty = {}, {}, set()

    def group(self, arch: Arch) -> str:
        key = self.rule(arch)
        if not isinstance(key, str):
            raise ConfigError(f"a sharing rule must return a string group key, got {key!r} for {arch}")
        return key

    def inherited(self, arch: Arch) -> bool:
        """Whether `arch` would start from weights some earlier child of its group trained."""
        return self.group(arch) in self._stores

    def train(self, arch: Arch, *, write_back: bool = True) -> tuple:
        """(params, stats) after training `arch` for `steps` steps from its group's weights.

        With `write_back=False` the group keeps its weights and the batch stream its position (a look at
        what the search would score, changing nothing)."""
        from nas.train.step import init_train_state

        key = self.group(arch)
        params, stats = self._stores.get(key, self._start)
        state = init_train_state(params, stats, self._optimizer)
        position = self._stream.position()
        archs = np.asarray(arch.to_vector(), np.int32)[None]
        for _ in range(self.sharing.steps):
            images, labels = self._stream.next()
            state, _ = self._step(state, images, labels, archs)
        if write_back:
            self._stores[key] = (state.params, state.stats)
            self.children[key] = self.children.get(key, 0) + 1
            self._dirty.add(key)
        else:
            self._stream.restore(position)
        return state.params, state.stats

    # -- keeping the stores across a restart -------------------------------------------------

    def _record(self) -> dict:
        return {**dataclasses.asdict(self.sharing), "space_fingerprint": self.space.fingerprint()}

    @staticmethod
    def _file(key: str) -> str:
        return hashlib.sha1(key.encode()).hexdigest()[:20] + ".npz"

    def save(self, directory: Path) -> None:
        from nas.atomic_write import write_atomically, write_json_atomically

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        for key in sorted(self._dirty):
            leaves = [np.asarray(leaf) for leaf in jax.tree.leaves(self._stores[key])]
            write_atomically(directory / self._file(key), lambda out, leaves=leaves: np.savez(out, *leaves))
        self._dirty.clear()
        write_json_atomically(directory / INDEX, {
            "sharing": self._record(), "stream": self._stream.position(),
            "groups": {key: {"file": self._file(key), "children": self.children[key]} for key in self._stores}},
            indent=1)

    def load(self, directory: Path) -> int:
        """Restore the stores saved in `directory` (none there: nothing to do); returns the groups restored."""
        index = Path(directory) / INDEX
        if not index.exists():
            return 0
        saved = json.loads(index.read_text())
        if saved["sharing"] != self._record():
            differ = sorted(k for k in set(saved["sharing"]) | set(self._record())
                            if saved["sharing"].get(k) != self._record().get(k))
            raise ConfigError(f"the weight stores in {directory} were trained with other sharing settings "
                              f"({', '.join(differ)} differ); use the same --sharing options or another --study")
        for key, entry in saved["groups"].items():
            with np.load(Path(directory) / entry["file"], allow_pickle=False) as arrays:
                leaves = [jax.numpy.asarray(arrays[f"arr_{i}"]) for i in range(len(arrays.files))]
            self._stores[key] = jax.tree.unflatten(self._treedef, leaves)
            self.children[key] = int(entry["children"])
        self._stream.restore(saved["stream"])
        return len(saved["groups"])
