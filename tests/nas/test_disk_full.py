"""A full disk is recognised whichever layer noticed it: Python's OSError or TensorStore's ValueError text."""
import errno

from nas.disk_full import is_disk_full

TENSORSTORE = ('RESOURCE_EXHAUSTED: Error writing "w/0" in OCDBT database at local file "/x/": Failed to write '
               "470158 bytes to file 11: No space left on device [os_error_code='28']")


def test_full_disk_errors_are_recognised():
    assert is_disk_full(OSError(errno.ENOSPC, "No space left on device"))
    assert is_disk_full(OSError(errno.EDQUOT, "Disk quota exceeded"))
    assert is_disk_full(ValueError(TENSORSTORE))


def test_other_write_errors_are_not():
    assert not is_disk_full(OSError(errno.EACCES, "Permission denied"))
    assert not is_disk_full(ValueError("OUT_OF_RANGE: Requested byte range [108700, 109941) is not valid"))
