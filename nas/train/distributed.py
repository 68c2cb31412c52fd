"""Joining a multi-process JAX run: which process this is, and where the coordinator listens.

A process is a member of a multi-process run when the environment names it:

    WEFT_COORDINATOR    host:port of process 0's coordinator (every process gives the same)
    WEFT_NUM_PROCESSES  how many processes the run has
    WEFT_PROCESS_ID     this process's number, 0 .. WEFT_NUM_PROCESSES-1

`nas train --num-processes N` sets them for N local processes (`nas.train.launch`);
on several hosts each host's command sets them itself. Process 0 alone writes the
run directory's files; checkpoints are written by every process together, as Orbax
requires.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import jax

from nas.errors import ConfigError

COORDINATOR, NUM_PROCESSES, PROCESS_ID = "WEFT_COORDINATOR", "WEFT_NUM_PROCESSES", "WEFT_PROCESS_ID"


@dataclass(frozen=True)
class Member:
    coordinator: str
    num_processes: int
    process_id: int

    def environment(self) -> dict[str, str]:
        return {COORDINATOR: self.coordinator, NUM_PROCESSES: str(self.num_processes),
                PROCESS_ID: str(self.process_id)}


def member_from_environment(environ=os.environ) -> Member | None:
    """This process's place in a multi-process run, or None when the environment names none."""
    named = [name for name in (COORDINATOR, NUM_PROCESSES, PROCESS_ID) if environ.get(name)]
    if not named:
        return None
    if len(named) < 3:
        missing = sorted({COORDINATOR, NUM_PROCESSES, PROCESS_ID} - set(named))
        raise ConfigError(f"a multi-process run needs {COORDINATOR}, {NUM_PROCESSES} and {PROCESS_ID}; "
                          f"{', '.join(missing)} not set")
    host, _, port = environ[COORDINATOR].rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError(f"{COORDINATOR} must be host:port, got {environ[COORDINATOR]!r}")
    count, number = environ[NUM_PROCESSES], environ[PROCESS_ID]
    if not count.isdigit() or int(count) < 1:
        raise ConfigError(f"{NUM_PROCESSES} must be an integer >= 1, got {count!r}")
    if not number.isdigit() or int(number) >= int(count):
        raise ConfigError(f"{PROCESS_ID} must be an integer in 0..{int(count) - 1}, got {number!r}")
    return Member(environ[COORDINATOR], int(count), int(number))


def join(member: Member) -> None:
    """Connect to the run's other processes; before anything else touches a JAX backend."""
    # CPU devices of several processes reduce over gloo (TCP); GPUs use NCCL whatever this says.
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(member.coordinator, member.num_processes, member.process_id)


def is_primary() -> bool:
    """Process 0 writes the run directory's files (config, metrics, summary)."""
    return jax.process_index() == 0


def barrier(name: str) -> None:
    """Wait until every process gets here (nothing to wait for with one process)."""
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices(name)
