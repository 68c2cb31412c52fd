"""The code blocks of the README and of docs/, as the documentation test runs them."""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# A block, and an HTML comment `<!-- slow: why -->` (invisible when rendered) on the line above it: `make test`
# leaves such a block to `make test-slow`, which runs every block.
_BLOCK = re.compile(r"^(?P<slow><!-- slow: [^>]+ -->\n)?(?P<fence>```)(\w*)\n(.*?)^```", re.S | re.M)


@dataclass(frozen=True)
class Block:
    language: str
    text: str
    line: int
    slow: bool = False

    @property
    def file_name(self) -> str | None:
        """`my_cnn.py` for a python block whose first line is `# my_cnn.py`: a file to save, not to run."""
        first = self.text.splitlines()[0] if self.text else ""
        match = re.fullmatch(r"# ([\w/]+\.py)", first.strip())
        return match.group(1) if match else None


def blocks(path: Path) -> list[Block]:
    text = path.read_text()
    return [Block(m.group(3), m.group(4), text.count("\n", 0, m.start("fence")) + 1, m.group("slow") is not None)
            for m in _BLOCK.finditer(text)]


def saved_file(path: Path, name: str) -> str:
    """The text of the block of `path` that documents the file `name`."""
    for block in blocks(path):
        if block.file_name == name:
            return block.text
    raise LookupError(f"{path} has no block for {name}")
