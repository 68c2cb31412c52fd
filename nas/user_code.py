"""Loading a user's own Python object given as `package.module:attribute`.

The module is looked up on `sys.path` and then in the current folder, where a user running
`nas ...` next to their `my_space.py` expects it to be found.
"""
from __future__ import annotations

import importlib
import os
import sys
import traceback

from nas.errors import ConfigError


def import_attribute(reference: str, what: str):
    """The object `module:attribute` names; a ConfigError naming `what` was asked for when it cannot be loaded."""
    module_name, colon, attribute = reference.partition(":")
    if not colon or not module_name or not attribute:
        raise ConfigError(f"{what} {reference!r} must be given as package.module:attribute")
    folder = os.getcwd()
    added = folder not in sys.path
    if added:
        sys.path.append(folder)  # last: a user's module never shadows an installed one
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise ConfigError(f"cannot load {what} {reference!r}: {error} (looked on sys.path and in {folder})") from None
    except Exception as error:  # the user's module itself failed: where, so they can fix it
        frame = traceback.extract_tb(error.__traceback__)[-1]
        raise ConfigError(f"cannot load {what} {reference!r}: importing {module_name!r} raised "
                          f"{type(error).__name__}: {error} ({frame.filename}, line {frame.lineno})") from None
    finally:
        if added:
            sys.path.remove(folder)
    try:
        return getattr(module, attribute)
    except AttributeError:
        raise ConfigError(f"cannot load {what} {reference!r}: module {module_name!r} has no attribute "
                          f"{attribute!r}") from None


def where_in_user_code(error: BaseException) -> str:
    """The innermost frame of the user's own code (not JAX's, Flax's or weft's), where they can look; else
    the innermost frame."""
    import flax
    import jax

    import nas
    import supernets

    libraries = tuple(os.path.dirname(module.__file__) + os.sep for module in (jax, flax, nas, supernets))
    frames = traceback.extract_tb(error.__traceback__)
    own = [frame for frame in frames if not frame.filename.startswith(libraries) and "jaxlib" not in frame.filename]
    if not frames:
        return "no traceback"
    frame = (own or frames)[-1]
    return f"{frame.filename}, line {frame.lineno}"
