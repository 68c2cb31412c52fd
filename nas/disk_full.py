"""Telling a full disk apart from other write failures, whichever layer noticed it.

Python raises OSError(ENOSPC); Orbax's array writes go through TensorStore, which
raises a ValueError whose text carries the OS error. Either way the user should read
one line saying the disk is full and what survived, not a traceback.
"""
from __future__ import annotations

import errno

_FULL = (errno.ENOSPC, errno.EDQUOT)
_FULL_TEXTS = ("No space left on device", "Disk quota exceeded",
               *(f"os_error_code='{code}'" for code in _FULL))


def is_disk_full(error: BaseException) -> bool:
    if isinstance(error, OSError) and error.errno in _FULL:
        return True
    return any(text in str(error) for text in _FULL_TEXTS)
