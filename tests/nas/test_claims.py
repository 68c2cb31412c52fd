"""Work claims: one holder at a time, a dead holder's claim taken over."""
import json
import os
import socket
import subprocess
import sys

from nas.claims import Claims


def test_one_holder_until_released(tmp_path):
    claims = Claims(tmp_path)
    assert claims.try_claim("a")
    other = subprocess.run([sys.executable, "-c", "from nas.claims import Claims; import sys; "
                            f"sys.exit(0 if Claims({str(tmp_path)!r}).try_claim('a') else 3)"])
    assert other.returncode == 3  # held by this live process
    claims.release("a")
    assert claims.try_claim("a")


def test_a_dead_processes_claim_is_taken_over_and_a_live_ones_is_not(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (tmp_path / "x.claim").write_text(json.dumps({"host": socket.gethostname(), "pid": dead.pid}))
    (tmp_path / "y.claim").write_text(json.dumps({"host": socket.gethostname(), "pid": os.getppid()}))
    (tmp_path / "z.claim").write_text(json.dumps({"host": "another-machine", "pid": dead.pid}))
    claims = Claims(tmp_path)
    assert claims.try_claim("x") and not claims.try_claim("y") and not claims.try_claim("z")
