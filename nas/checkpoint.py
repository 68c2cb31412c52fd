"""Orbax checkpoints of arbitrary pytrees, restored against a template.

Trees are saved flattened to `{"path/to/leaf": array}` so that a restore can
name exactly which leaves are missing, extra or of another shape, instead of
failing deep inside Orbax. JSON metadata (step, data position, fingerprints)
travels with each checkpoint. Nothing is pickled. A resume reads the newest
checkpoint that can be read: one cut short (a crash or a full disk while it was
written) costs the steps since the one before it, not the run.
"""
from __future__ import annotations

import shutil
import warnings
from pathlib import Path
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp

from nas.checkpoint_noise import echoes_quieted
from nas.errors import CheckpointError


class UnreadableCheckpoint(CheckpointError):
    """A checkpoint's files cannot be read (damaged or cut short), as opposed to not fitting the model."""


class CheckpointFallbackWarning(UserWarning):
    """The newest checkpoint could not be read; an earlier one is used."""


def _key_name(entry) -> str:
    for attribute in ("key", "name", "idx"):
        if hasattr(entry, attribute):
            return str(getattr(entry, attribute))
    return str(entry)


def flatten(tree: Any) -> dict[str, Any]:
    leaves = jax.tree_util.tree_flatten_with_path(tree)[0]
    return {"/".join(_key_name(e) for e in path): leaf for path, leaf in leaves}


def unflatten(template: Any, flat: dict[str, Any], what: str = "checkpoint") -> Any:
    """Fill `template`'s structure from `flat`, checking names, shapes and dtypes."""
    expected = flatten(template)
    missing = sorted(set(expected) - set(flat))
    extra = sorted(set(flat) - set(expected))
    if missing or extra:
        raise CheckpointError(
            f"{what} does not fit this model: missing {_listing(missing)}; unexpected {_listing(extra)}")
    for name, leaf in expected.items():
        got = flat[name]
        if tuple(np.shape(got)) != tuple(np.shape(leaf)):
            raise CheckpointError(f"{what} does not fit this model: {name} has shape "
                                  f"{tuple(np.shape(got))}, the model needs {tuple(np.shape(leaf))}")
    treedef = jax.tree_util.tree_structure(template)
    return jax.tree_util.tree_unflatten(
        treedef, [np.asarray(flat[name]).astype(_dtype(leaf)) for name, leaf in expected.items()])


def _dtype(leaf: Any) -> np.dtype:
    """A template leaf's dtype: an array's, or a shape-only (`jax.ShapeDtypeStruct`) one's."""
    return np.dtype(leaf.dtype) if hasattr(leaf, "dtype") else np.asarray(leaf).dtype


def _listing(names: list[str], limit: int = 4) -> str:
    if not names:
        return "none"
    shown = ", ".join(names[:limit])
    return shown + (f" (+{len(names) - limit} more)" if len(names) > limit else "")


class Checkpointer:
    """Keeps the last `max_to_keep` checkpoints of (trees, metadata) in `directory`."""

    def __init__(self, directory: str | Path, max_to_keep: int = 2):
        self.directory = Path(directory).absolute()
        self.manager = ocp.CheckpointManager(
            self.directory, options=ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=True))

    def latest_step(self) -> int | None:
        return self.manager.latest_step()

    def save(self, step: int, trees: dict[str, Any], metadata: dict) -> None:
        args = {name: ocp.args.StandardSave(flatten(jax.device_get(tree))) for name, tree in trees.items()}
        try:
            with echoes_quieted():
                self.manager.save(step, args=ocp.args.Composite(metadata=ocp.args.JsonSave(metadata), **args),
                                  force=True)
                self.manager.wait_until_finished()
        except Exception:
            # Orbax writes into STEP.orbax-checkpoint-tmp and renames it when complete; a failed save
            # (a full disk) would leave that half-written directory holding the space.
            for partial in self.directory.glob(f"{step}.orbax-checkpoint-tmp*"):
                shutil.rmtree(partial, ignore_errors=True)
            raise

    def restore(self, templates: dict[str, Any], step: int | None = None) -> tuple[dict[str, Any], dict]:
        if step is None:
            step = self.latest_step()
            if step is None:
                raise CheckpointError(f"no checkpoint in {self.directory}")
        elif step not in (kept := sorted(self.manager.all_steps())):
            raise CheckpointError(f"no checkpoint at step {step} in {self.directory}; " + (
                f"it keeps steps {_listing([str(s) for s in kept])}" if kept else "it keeps none"))
        try:
            with echoes_quieted():
                restored = self.manager.restore(step, args=ocp.args.Composite(
                    metadata=ocp.args.JsonRestore(),
                    **{name: ocp.args.StandardRestore() for name in templates}))
        except Exception as error:  # Orbax raises many types for a corrupt directory
            raise UnreadableCheckpoint(f"checkpoint {self.directory}/{step} cannot be read: "
                                       f"{type(error).__name__}: {str(error).splitlines()[0][:200]}") from None
        trees = {name: unflatten(template, dict(restored[name]), f"checkpoint {self.directory}/{step} ({name})")
                 for name, template in templates.items()}
        return trees, dict(restored["metadata"])

    def restore_newest_readable(self, templates: dict[str, Any]) -> tuple[dict[str, Any], dict, list[int]]:
        """`restore` of the newest checkpoint that can be read, with a warning naming any newer one that
        cannot; those steps are returned for `discard` once the caller may write."""
        unreadable, first_error = [], None
        for step in sorted(self.manager.all_steps(), reverse=True):
            try:
                trees, metadata = self.restore(templates, step)
            except UnreadableCheckpoint as error:
                unreadable.append(step)
                first_error = first_error or error
                continue
            if unreadable:
                warnings.warn(f"{first_error}; resuming from checkpoint {step} instead", CheckpointFallbackWarning)
            return trees, metadata, unreadable
        if first_error is None:
            raise CheckpointError(f"no checkpoint in {self.directory}")
        earlier = f"; nor can the earlier {_listing([str(s) for s in unreadable[1:]])}" if len(unreadable) > 1 else ""
        raise UnreadableCheckpoint(f"{first_error}{earlier}")

    def discard(self, steps: list[int]) -> None:
        """Delete these checkpoints (unreadable ones, so the steps can be saved again)."""
        for step in steps:
            self.manager.delete(step)

    def close(self) -> None:
        self.manager.close()


def save_tree(directory: str | Path, tree: Any) -> None:
    """One standalone tree (e.g. exported params), written atomically by Orbax."""
    with ocp.StandardCheckpointer() as checkpointer:
        checkpointer.save(Path(directory).absolute(), flatten(jax.device_get(tree)))


def load_tree(directory: str | Path, template: Any, what: str) -> Any:
    path = Path(directory).absolute()
    if not path.exists():
        raise CheckpointError(f"{what}: {path} does not exist")
    try:
        with ocp.StandardCheckpointer() as checkpointer:
            flat = checkpointer.restore(path)
    except Exception as error:
        raise CheckpointError(f"{what}: {path} cannot be read: {type(error).__name__}: "
                              f"{str(error).splitlines()[0][:200]}") from None
    return unflatten(template, dict(flat), what)
