"""Data parallelism: a mesh over the devices, the batch sharded, parameters replicated.

The step itself is unchanged: `jax.jit` follows the input shardings, so batch
statistics and gradients are reduced over the whole (global) batch by XLA's
collectives and every device applies the same update. Results match a single
device up to the order of floating-point reductions.

With several processes (`nas.train.distributed`), the mesh spans the devices of
every process, each process computes the same global batch and transfers only
the rows its own devices hold.
"""
from __future__ import annotations

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from nas.errors import ConfigError

AXIS = "data"


def data_mesh(num_devices: int | None = None) -> Mesh:
    """`num_devices` devices of each process (None: all of them), in process order."""
    local = jax.local_devices()
    if num_devices is None:
        num_devices = len(local)
    if not 1 <= num_devices <= len(local):
        per_process = " per process" if jax.process_count() > 1 else ""
        raise ConfigError(f"data parallelism over {num_devices} devices{per_process}, but {len(local)} are "
                          f"available ({jax.default_backend()})")
    devices = [device for process in range(jax.process_count())
               for device in [d for d in jax.devices() if d.process_index == process][:num_devices]]
    return Mesh(np.array(devices), (AXIS,))


def check_divisible(batch_size: int, mesh: Mesh) -> None:
    if batch_size % mesh.size:
        raise ConfigError(f"batch size {batch_size} does not split over {mesh.size} devices; "
                          f"use a multiple of {mesh.size}")


def replicate(tree, mesh: Mesh):
    """Every device holds the whole tree (each process passes the same values)."""
    return jax.device_put(tree, NamedSharding(mesh, PartitionSpec()))


def shard_batch(arrays, mesh: Mesh):
    """Split the leading (batch) axis of each array over the mesh.

    Every process passes the whole global batch; with several processes each
    transfers only the rows of its own devices (the callback is asked for those alone).
    """
    sharding = NamedSharding(mesh, PartitionSpec(AXIS))
    if jax.process_count() == 1:
        return jax.device_put(arrays, sharding)
    return jax.tree.map(lambda array: jax.make_array_from_callback(array.shape, sharding, lambda rows: array[rows]),
                        arrays)
