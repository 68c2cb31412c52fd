"""Every code block of the README and of docs/ runs, at tiny sizes, so none can go stale.

Python blocks run in order in one namespace per document, in a fresh folder; a block whose first line
is `# NAME.py` is saved as that file instead (the module the commands then load). Shell blocks run
each `nas ...` line through the CLI, in the same folder, with the sizes that make a command long
(steps, trials) cut to a few; every command must exit 0. `console` blocks are shown, not run (a
multi-host launch, an experiment of hours, the make targets that run this very test); `text` blocks
are output; a block marked `<!-- slow: why -->` runs in `make test-slow` only. The command pages
(docs/commands/) must equal what the CLI's help says now.
"""
import re
import shlex
import sys

import pytest
from click.testing import CliRunner

from nas.cli import main
from tests.docs_blocks import DOCUMENTS, blocks

pytestmark = pytest.mark.early  # a minute or more in all: handed to a test worker first (tests/conftest.py)

# What a documented command may do at full size, cut to what a test can afford.
TINY = {"--steps": "4", "--trials": "10", "--archs": "4", "--n": "3", "--repeats": "2"}
# Added where the command has no such flag: train on a slice of the data, score archs on a slice of it.
TINY_DATA = {"train": ("--limit-train", "512", "--batch-size", "32"), "search": ("--limit", "256")}


def tiny(command: str) -> list[str]:
    words = shlex.split(command)
    assert words[0] == "nas", f"a shell block may only run nas commands here: {command!r}"
    args = words[1:]
    for index, word in enumerate(args[:-1]):
        if word in TINY:
            args[index + 1] = TINY[word]
    added = TINY_DATA.get(args[0], ())
    if added and added[0] not in args:
        args += added
    return args


def shell_commands(text: str) -> list[str]:
    joined = re.sub(r"\\\n\s*", " ", text)
    return [line.split("  #")[0].strip() for line in joined.splitlines()
            if line.strip() and not line.strip().startswith("#")]


def _tutorial_first(documents):
    return sorted(documents, key=lambda path: path.name != "tutorial-custom-space.md")


@pytest.mark.parametrize("with_slow_blocks", [False, pytest.param(True, marks=pytest.mark.slow)])
def test_every_code_block_runs(tmp_path, monkeypatch, with_slow_blocks):
    """All documents in one folder, the tutorial first: a command another document already ran (the
    README repeats the tutorial's) is not run again, and later blocks may use what it wrote. A block marked
    `<!-- slow: why -->` runs only in `make test-slow`; nothing later may depend on it."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    ran: set[str] = set()
    for document in _tutorial_first(DOCUMENTS):
        namespace: dict = {"__name__": "__docs__"}
        for block in blocks(document):
            if block.slow and not with_slow_blocks:
                continue
            where = f"{document.name}:{block.line}"
            if block.language == "python" and block.file_name:
                (tmp_path / block.file_name).write_text(block.text)
                sys.modules.pop(block.file_name[:-3].replace("/", "."), None)
            elif block.language == "python":
                exec(compile(block.text, where, "exec"), namespace)  # noqa: S102 - the documentation's own code
            elif block.language in ("bash", "sh"):
                for command in shell_commands(block.text):
                    if command in ran:
                        continue
                    result = CliRunner().invoke(main, tiny(command))
                    assert result.exit_code == 0, f"{where}: {command}\n{result.output}"
                    ran.add(command)
            else:
                assert block.language in ("console", "text"), f"{where}: unknown block language {block.language!r}"


def test_the_readme_and_the_tutorial_show_the_same_network():
    from tests.docs_blocks import ROOT, saved_file

    assert saved_file(ROOT / "README.md", "my_cnn.py") == saved_file(ROOT / "docs/tutorial-custom-space.md", "my_cnn.py")


def test_every_command_has_its_page_and_the_page_is_its_current_help():
    from nas import cli_docs

    for name in cli_docs.commands():
        path = cli_docs.PAGES / f"{name}.md"
        assert path.exists(), f"no page for `nas {name}`: run python -m nas.cli_docs"
        assert path.read_text() == cli_docs.page(name), f"{path} is stale: run python -m nas.cli_docs"


def test_a_block_is_slow_only_when_the_mark_is_on_the_line_above_it(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("<!-- slow: long -->\n```bash\nnas a\n```\n\n<!-- slow: long -->\n\n```bash\nnas b\n```\n"
                    "```bash\nnas c\n```\n")
    assert [(block.text, block.slow) for block in blocks(page)] == [
        ("nas a\n", True), ("nas b\n", False), ("nas c\n", False)]
