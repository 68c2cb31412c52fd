"""`nas train --num-processes N`: N local processes train one run together (multi-process JAX).

The launcher picks a free localhost port for process 0's coordinator, starts each
process with its place in the run in the environment (`nas.train.distributed`) and
waits for all of them. When one fails, the others are stopped: they would wait
for it in the next collective forever. Each process runs this module's `main`.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from nas.config import to_dict
from nas.interrupt import exit_code, interrupt_once, stop_processes
from nas.train.config import TrainConfig
from nas.train.distributed import Member

STOP_GRACE_S = 10.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("localhost", 0))
        return probe.getsockname()[1]


def launch(config: TrainConfig, run_path: str | Path, num_processes: int, *, progress: bool = True) -> int:
    """Train `config` into `run_path` with `num_processes` local processes; their exit status."""
    coordinator = f"localhost:{free_port()}"
    arguments = [json.dumps(to_dict(config)), str(run_path), "progress" if progress else "quiet"]
    processes = [subprocess.Popen([sys.executable, "-m", "nas.train.launch", *arguments],
                                  env={**os.environ, **Member(coordinator, num_processes, number).environment()})
                 for number in range(num_processes)]
    return wait_for_all(processes)


def wait_for_all(processes: list[subprocess.Popen]) -> int:
    """0 when every process succeeded, else the exit status of a failed one (the others are stopped)."""
    try:
        while True:
            codes = [process.poll() for process in processes]
            failed = [code for code in codes if code not in (None, 0)]
            if failed:
                # Its partners wait for it in a collective, where no signal handler can run, and a multi-process
                # run cannot save at an interrupt anyway: end them at once.
                stop_processes(processes, signal.SIGKILL, STOP_GRACE_S)
                return failed[0]
            if all(code == 0 for code in codes):
                return 0
            time.sleep(0.1)
    except KeyboardInterrupt:  # Ctrl-C reached the processes too; give them their grace period
        stop_processes(processes, signal.SIGINT, STOP_GRACE_S)
        raise


def main(argv: list[str]) -> int:
    """One process of a launched run: join the others, then train as `nas train` does."""
    from nas.config import from_dict
    from nas.errors import WeftError
    from nas.train.distributed import join, member_from_environment

    config_json, run_path, progress = argv
    member = member_from_environment()
    if member is None:
        print("error: nas.train.launch runs one process of `nas train --num-processes N`; start that instead",
              file=sys.stderr)
        return 2
    who = "" if member.process_id == 0 else f" (process {member.process_id})"
    interrupt_once()
    try:
        join(member)
        from nas.train.loop import train

        train(from_dict(TrainConfig, json.loads(config_json), "nas train"), run_path, progress=progress == "progress")
    except WeftError as error:
        print(f"error{who}: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as interrupt:
        print(f"interrupted{who}; run the same command again to resume from the last checkpoint", file=sys.stderr)
        return exit_code(interrupt)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
