"""The Python example in nas.search's docstring runs as written (in a temp directory)."""
import os

import nas.search


def test_docstring_example_runs(tmp_path, capsys):
    code = nas.search.__doc__.split("```python\n")[1].split("```")[0]
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        exec(compile(code, "nas.search example", "exec"), {})
    finally:
        os.chdir(cwd)
    printed = capsys.readouterr().out.strip().splitlines()
    assert printed and all("depth=" in line for line in printed)
    assert sorted(p.name for p in (tmp_path / "runs" / "toy-search" / "plots").glob("*.png")) == [
        "accuracy_vs_params.png", "hypervolume.png"]
