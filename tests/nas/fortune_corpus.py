"""A tiny fortune database directory for tests: what Debian's `fortunes` package looks like, small."""
from __future__ import annotations

from pathlib import Path

import numpy as np

WORDS = "the quick brown fox jumps over a lazy dog while cats sleep on warm mats".split()


def make_fortunes(count: int, seed: int = 0) -> list[str]:
    """`count` distinct fortunes (each starts with its number), some over two lines."""
    rng = np.random.default_rng(seed)
    fortunes = []
    for index in range(count):
        words = " ".join(rng.choice(WORDS, size=int(rng.integers(4, 16))))
        fortunes.append(f"#{index}: {words}" + ("\n\t-- someone" if index % 3 == 0 else ""))
    return fortunes


def write_corpus(root: Path, count: int = 60, files: int = 2, seed: int = 0) -> list[str]:
    """Fortune files under `root` (plus what the loader must skip); returns the fortunes written."""
    root.mkdir(parents=True, exist_ok=True)
    fortunes = make_fortunes(count, seed)
    per_file = -(-count // files)
    for number in range(files):
        chunk = fortunes[number * per_file:(number + 1) * per_file]
        (root / f"set{number}").write_text("".join(f"{fortune}\n%\n" for fortune in chunk), encoding="utf-8")
    # Not fortunes: an index file, a `.u8` alias and a sub-directory (`off/` in the real package).
    (root / "set0.dat").write_bytes(bytes(range(40)))
    (root / "set0.u8").symlink_to("set0")
    (root / "off").mkdir(exist_ok=True)
    (root / "off" / "rude").write_text("not to be read\n%\n", encoding="utf-8")
    return fortunes
