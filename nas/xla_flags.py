"""XLA flags a process sets for itself before JAX starts its backend (XLA reads `XLA_FLAGS` only then)."""
from __future__ import annotations

import os


def with_xla_flags(flags: str, settings: dict[str, str]) -> str:
    """`flags` (an `XLA_FLAGS` value) plus `--name=value` for each setting it does not already name: a
    setting already there, e.g. the user's own, wins."""
    added = [f"--{name}={value}" for name, value in settings.items() if f"--{name}=" not in flags]
    return " ".join([flags.strip(), *added]).strip()


def set_xla_flags(settings: dict[str, str]) -> None:
    """Add `settings` to this process's `XLA_FLAGS` (inherited by the subprocesses it starts)."""
    os.environ["XLA_FLAGS"] = with_xla_flags(os.environ.get("XLA_FLAGS", ""), settings)
