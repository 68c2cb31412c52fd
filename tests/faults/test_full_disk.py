"""A full disk while `nas train` checkpoints: one clear error line naming the checkpoints kept, those
checkpoints unchanged and readable, and once there is space the same command resumes to the parameters of
the same run extended on a disk with room.

The disk is a tmpfs of twice the run's size mounted in a private mount namespace (`unshare`), so the
test needs no root and leaves no mount behind; it is skipped where user namespaces are disabled.
"""
import shutil
import subprocess
import sys

import jax
import numpy as np
import pytest

from nas.run_dir import RunDir
from nas.train.loop import restore_trained

from .conftest import ROOT, finish, nas

TRAIN = ("train", "--space", "mlp", "--option", "max_width=32", "--option", "width_steps=4", "--data", "synthetic",
         "--limit-train", "256", "--batch-size", "32", "--checkpoint-every", "4", "--warmup-steps", "1", "--quiet")

# Copy the run onto the tiny disk, fill the disk but for KEEP bytes (room for config and metrics, not for a
# checkpoint), train on, then copy the run back out for the test to inspect.
ON_A_FULL_DISK = """
set -eu
mount -t tmpfs -o "size=$SIZE" tmpfs "$DISK"
cp -a "$RUN" "$DISK/run"
dd if=/dev/zero of="$DISK/filler" bs=4k 2>/dev/null || true  # until the disk is full
truncate -s "-$KEEP" "$DISK/filler"
status=0
"$PYTHON" -m nas.cli "$@" --run "$DISK/run" 2>"$OUT/stderr" || status=$?
echo $status >"$OUT/status"
cp -a "$DISK/run" "$OUT/run"
"""


def can_mount_a_private_tmpfs(directory) -> bool:
    probe = subprocess.run(["unshare", "-Urm", "sh", "-c", f"mount -t tmpfs -o size=64k tmpfs {directory}"],
                           capture_output=True)
    return probe.returncode == 0


def kept_files(run) -> dict:
    """Every byte of checkpoints 4 and 8."""
    return {p.relative_to(run): p.read_bytes() for step in ("4", "8")
            for p in (run / "checkpoints" / step).rglob("*") if p.is_file()}


def leaves(run):
    return jax.tree.leaves(restore_trained(RunDir.open(run))[1])


@pytest.mark.slow
def test_full_disk_is_a_clear_error_and_keeps_earlier_checkpoints(tmp_path):
    disk, out = tmp_path / "disk", tmp_path / "out"
    disk.mkdir(), out.mkdir()
    if shutil.which("unshare") is None or not can_mount_a_private_tmpfs(disk):
        pytest.skip("no private tmpfs: unshare -Urm (user namespaces) is not available")
    first = tmp_path / "first"
    finish(nas(*TRAIN, "--steps", "8", "--run", str(first)))
    checkpoint_bytes = sum(p.stat().st_size for p in (first / "checkpoints" / "8").rglob("*") if p.is_file())
    before = kept_files(first)

    run_bytes = sum(p.stat().st_size for p in first.rglob("*") if p.is_file())
    environment = {"DISK": str(disk), "RUN": str(first), "OUT": str(out), "PYTHON": sys.executable,
                   "SIZE": f"{2 * run_bytes // 1024 + 64}k",
                   "KEEP": str(checkpoint_bytes // 3), "JAX_PLATFORMS": "cpu", "PATH": "/usr/bin:/bin"}
    subprocess.run(["unshare", "-Urm", "sh", "-c", ON_A_FULL_DISK, "sh", *TRAIN, "--steps", "16"],
                   env=environment, cwd=ROOT, check=True, timeout=600)
    stderr = (out / "stderr").read_text()
    assert (out / "status").read_text().strip() == "2", stderr[-3000:]
    last = stderr.strip().splitlines()[-1]
    assert last.startswith("error: no space left on the device writing ") and "(4, 8) are intact" in last, last
    assert "Traceback" not in stderr
    after = out / "run"
    assert sorted(p.name for p in (after / "checkpoints").iterdir() if p.name.isdigit()) == ["4", "8"]
    assert kept_files(after) == before
    for a, b in zip(leaves(first), leaves(after), strict=True):  # step 8 still restores
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))

    finish(nas(*TRAIN, "--steps", "16", "--run", str(after)))  # with space again, the same command resumes
    extended = tmp_path / "extended"  # the same 8 steps extended to 16 on a disk with room
    shutil.copytree(first, extended)
    finish(nas(*TRAIN, "--steps", "16", "--run", str(extended)))
    for a, b in zip(leaves(extended), leaves(after), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
