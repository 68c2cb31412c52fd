"""A trained run's subnet as a standalone base model: what adapters are trained on (`search_spaces.lora`).

`load_base(run, arch)` restores the run's latest checkpoint, slices the subnet `arch` (`largest`, any
arch spec `nas export --arch` takes, or an export's `arch.json`) and returns it with the run's space
name, options and a few of its training windows (the calibration set Wanda sparsifies with). The
result is cached per (run, arch, checkpoint step) and built eagerly even when first asked for inside a
shape-only construction, so a network may load its base in its constructor.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import jax
import numpy as np
from flax import nnx

from nas.errors import ConfigError


@dataclass(frozen=True)
class Base:
    space: str
    options: dict
    arch: dict
    graphdef: object
    state: object  # host (numpy) state of the standalone subnet
    calibration: np.ndarray  # int32 [N, context]: the first training windows of the base's data

    def model(self) -> nnx.Module:
        """A fresh standalone copy (its own variables; the cached arrays are never written)."""
        return nnx.merge(self.graphdef, jax.tree.map(np.array, self.state))


def load_base(run_path: str, arch_spec: str = "largest", calibration_windows: int = 64) -> Base:
    if not isinstance(run_path, str) or not run_path:
        raise ConfigError("the adapter space needs a trained base: give --base runs/BASE (a run of nas train)")
    path = Path(run_path)
    if not (path / "config.json").exists():
        raise ConfigError(f"--base {run_path}: not a run directory of nas train (no config.json)")
    steps = sorted(int(p.name) for p in (path / "checkpoints").glob("*") if p.name.isdigit())
    if not steps:
        raise ConfigError(f"--base {run_path}: the run has no checkpoint; train it first")
    return _load(str(path.absolute()), arch_spec, int(calibration_windows), steps[-1])


@functools.lru_cache(maxsize=8)
def _load(run_path: str, arch_spec: str, calibration_windows: int, step: int) -> Base:
    del step  # part of the cache key only: a base trained further is loaded again
    from nas.export import parse_arch
    from nas.lowering import slice_subnet
    from nas.run_dir import RunDir
    from nas.train.loop import restore_trained

    with jax.ensure_compile_time_eval():
        # The base's weights only: adapters may train it on another corpus than it was pretrained on.
        session, state = restore_trained(RunDir.open(run_path), check_data=False)
        arch = parse_arch(session.space, arch_spec)
        supernet = nnx.merge(session.graphdef, jax.device_get(state.params), jax.device_get(state.stats))
        graphdef, subnet_state = nnx.split(slice_subnet(supernet, arch))
    calibration = np.asarray(session.dataset.train.inputs[:calibration_windows], np.int32)
    return Base(session.space.name, dict(session.options), arch.to_dict(), graphdef,
                jax.device_get(subnet_state), calibration)
