"""The supernet contract, written down: what the engine calls on a network, and what it may call.

Required of every supernet (`Supernet`): `model(x, *, train, arch)` returns logits; `arch` is None (the
whole network, or a standalone subnet), a mapping of fixed values (a subnet, sliced or masked), traced
int32 values (one compile for all archs) or `Relaxed` values (differentiable search).

Optional capabilities, each a protocol the engine checks with `isinstance` before it relies on one:
- `SortsChannels.sort_channels()`: reorder channels by importance in place (OFA); `--resort` needs it.
- `HasActiveSubnet.get_active_subnet(arch)`: the network's own slicing; otherwise it is derived from the
  declared layers (`supernets.active_subnet`).
- `ReportsParamUsage.param_usage(arch)`: which parameter entries `arch` reads, for networks that compute
  their weights (mixtures); otherwise found by slicing a tagged copy (`nas.lowering.param_usage`).
- `HasAuxiliaryLoss.auxiliary_loss(x, *, arch, loss, loss_of)`: a term the training step adds to each
  sampled arch's loss (a learned router's).
- `HasEndpoints.endpoints()`: the (largest, smallest) pairs of the parts a network is split into
  (few-shot), which `--own-endpoints` trains.
"""
from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

from nas.errors import ConfigError


@runtime_checkable
class Supernet(Protocol):
    def __call__(self, x, *, train: bool = False, arch: Any = None): ...


@runtime_checkable
class SortsChannels(Protocol):
    def sort_channels(self) -> None: ...


@runtime_checkable
class HasActiveSubnet(Protocol):
    def get_active_subnet(self, arch: Mapping): ...


@runtime_checkable
class ReportsParamUsage(Protocol):
    def param_usage(self, arch: Mapping) -> list: ...


@runtime_checkable
class HasAuxiliaryLoss(Protocol):
    def auxiliary_loss(self, x, *, arch: Mapping, loss, loss_of): ...


@runtime_checkable
class HasEndpoints(Protocol):
    def endpoints(self) -> list[tuple]: ...


def check_supernet(network, space_name: str) -> None:
    """At the boundary where a space builds its network: one clear error if it cannot be called as a supernet."""
    call = getattr(type(network), "__call__", None)
    if call is None or not isinstance(network, Supernet):
        raise ConfigError(f"space {space_name!r} built a {type(network).__name__}, which is not callable; a supernet "
                          "is called as model(x, *, train, arch)")
    parameters = inspect.signature(call).parameters
    takes_any_keyword = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    missing = [name for name in ("train", "arch") if name not in parameters and not takes_any_keyword]
    if missing:
        raise ConfigError(f"space {space_name!r}: {type(network).__name__}.__call__ takes no "
                          f"{' or '.join(repr(m) for m in missing)} keyword; a supernet is called as "
                          "model(x, *, train, arch) (arch=None: the whole network)")
