"""Data parallelism: a mesh over the devices, the batch sharded, parameters replicated.

The step itself is unchanged: `jax.jit` follows the input shardings, so batch
statistics and gradients are reduced over the whole (global) batch by XLA's
collectives and every device applies the same update. Results match a single
device up to the order of floating-point reductions.
"""
from __future__ import annotations

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from nas.errors import ConfigError

AXIS = "data"


def data_mesh(num_devices: int | None = None) -> Mesh:
    devices = jax.devices()
    if num_devices is None:
        num_devices = len(devices)
    if not 1 <= num_devices <= len(devices):
        raise ConfigError(f"data parallelism over {num_devices} devices, but {len(devices)} are available "
                          f"({jax.default_backend()})")
    return Mesh(np.array(devices[:num_devices]), (AXIS,))


def check_divisible(batch_size: int, mesh: Mesh) -> None:
    if batch_size % mesh.size:
        raise ConfigError(f"batch size {batch_size} does not split over {mesh.size} devices; "
                          f"use a multiple of {mesh.size}")


def replicate(tree, mesh: Mesh):
    return jax.device_put(tree, NamedSharding(mesh, PartitionSpec()))


def shard_batch(arrays, mesh: Mesh):
    """Split the leading (batch) axis of each array over the mesh."""
    return jax.device_put(arrays, NamedSharding(mesh, PartitionSpec(AXIS)))
