"""Train one run in a child process, so a parent that trains many (experiments, `nas audit`) keeps its
memory bounded: each run's compiled programs and buffers are freed with its process."""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from nas.config import to_dict
from nas.errors import WeftError
from nas.interrupt import exit_code, interrupt_once, wait_child
from nas.train.config import TrainConfig


class ChildTrainingError(WeftError):
    """The child process that trained a run failed; its last lines of output are in the message."""


def train_in_child(config: TrainConfig, run_path: str | Path, *, progress: bool = False,
                   environment: dict | None = None, stop: threading.Event | None = None) -> dict:
    """`nas.train.loop.train(config, run_path)` in a fresh Python process; returns the run's summary.

    Interrupted (Ctrl-C, SIGTERM, or `stop` set by a sibling worker), the child is asked to stop and saves
    the step it reached before the interrupt goes on.
    """
    command = [sys.executable, "-m", "nas.train.child", json.dumps(to_dict(config)), str(run_path),
               "progress" if progress else "quiet"]
    with tempfile.TemporaryFile("w+") as errors:  # a file, not a pipe: nobody need read it while it runs
        process = subprocess.Popen(command, stdout=None if progress else subprocess.DEVNULL, stderr=errors,
                                   text=True, env=environment)
        returncode = wait_child(process, stop)
        if returncode != 0:
            errors.seek(0)
            tail = "\n".join(errors.read().strip().splitlines()[-5:])
            raise ChildTrainingError(f"training {run_path} failed (exit {returncode}): {tail}")
    return json.loads((Path(run_path) / "summary.json").read_text())


def main(argv: list[str]) -> int:
    from nas.config import from_dict
    from nas.train.loop import train

    config_json, run_path, progress = argv
    interrupt_once()
    try:
        train(from_dict(TrainConfig, json.loads(config_json), "child training"), run_path,
              progress=progress == "progress")
    except WeftError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as interrupt:  # the step it reached is saved; the parent re-runs to resume
        print(f"interrupted; {run_path} resumes from its last saved step", file=sys.stderr)
        return exit_code(interrupt)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
