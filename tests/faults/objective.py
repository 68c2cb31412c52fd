"""A black-box objective for the search fault tests (imported by `nas search` worker processes).

Each call is appended to $FAULT_LOG as "pid arch" before it returns, so a test can tell
which archs were evaluated, and how often, across killed and resumed workers.
"""
import os
import time

from nas.space import Choice, IntRange, Space

SPACE = Space("fault-toy", [IntRange("depth", 1, 4), *[Choice(f"width_{i}", [8, 16, 32, 64]) for i in range(4)]])


def score(arch):
    with open(os.environ["FAULT_LOG"], "a") as log:
        log.write(f"{os.getpid()} {arch.to_string()}\n")
    time.sleep(0.05)
    size = sum(arch[f"width_{i}"] for i in range(4)) * arch["depth"]
    return {"error": 1.0 / (1.0 + size) + 0.01 * arch["width_0"] / 64, "size": float(size)}
