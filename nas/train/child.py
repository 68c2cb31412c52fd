"""Train one run in a child process, so a parent that trains many (experiments, `nas audit`) keeps its
memory bounded: each run's compiled programs and buffers are freed with its process."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from nas.config import to_dict
from nas.errors import WeftError
from nas.train.config import TrainConfig


class ChildTrainingError(WeftError):
    """The child process that trained a run failed; its last lines of output are in the message."""


def train_in_child(config: TrainConfig, run_path: str | Path, *, progress: bool = False,
                   environment: dict | None = None) -> dict:
    """`nas.train.loop.train(config, run_path)` in a fresh Python process; returns the run's summary."""
    command = [sys.executable, "-m", "nas.train.child", json.dumps(to_dict(config)), str(run_path),
               "progress" if progress else "quiet"]
    result = subprocess.run(command, stdout=None if progress else subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=environment)
    if result.returncode != 0:
        tail = "\n".join((result.stderr or "").strip().splitlines()[-5:])
        raise ChildTrainingError(f"training {run_path} failed (exit {result.returncode}): {tail}")
    return json.loads((Path(run_path) / "summary.json").read_text())


def main(argv: list[str]) -> int:
    from nas.config import from_dict
    from nas.train.loop import train

    config_json, run_path, progress = argv
    try:
        train(from_dict(TrainConfig, json.loads(config_json), "child training"), run_path,
              progress=progress == "progress")
    except WeftError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
