"""Nothing a user loads (checkpoints, arch JSON, predictors, exports, configs) is unpickled or evaluated.

numpy and jax import `pickle` themselves, so the check is on weft's own modules:
none holds pickle (or anything from it) after every module is imported, and no
source file calls a loader that can run code from a file.
"""
import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("nas", "supernets", "search_spaces", "searchers")

# Imports every module of the library and the CLI with its lazily loaded commands, then lists
# the modules whose globals reach pickle: the module itself, or a function or class taken from it.
PROBE = """
import importlib, json, pkgutil, sys
packages = {packages!r}
for package in packages:
    module = importlib.import_module(package)
    for info in pkgutil.walk_packages(module.__path__, package + "."):
        importlib.import_module(info.name)
from nas.cli import main
for name in main.list_commands(None):
    main.get_command(None, name)
pickle_modules = ("pickle", "_pickle", "cPickle", "cloudpickle", "dill", "shelve", "marshal")
def reaches_pickle(value):
    name = getattr(value, "__name__", None) if isinstance(value, type(sys)) else getattr(value, "__module__", None)
    return isinstance(name, str) and name.split(".")[0] in pickle_modules
loaded = sorted(name for name in sys.modules if name.split(".")[0] in packages)
offenders = sorted(f"{{name}}.{{key}}" for name in loaded for key, value in vars(sys.modules[name]).items()
                   if reaches_pickle(value))
print(json.dumps({{"loaded": loaded, "offenders": offenders}}))
"""


def test_no_library_module_holds_pickle_after_importing_everything():
    probe = PROBE.format(packages=PACKAGES)
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.splitlines()[-1])
    assert {"nas.cli", "nas.search.cli", "nas.hardware.cli", "nas.checkpoint", "nas.export",
            "nas.hardware.predictor_io", "searchers.optuna_search", "search_spaces.mlp",
            "supernets.elastic_dense"} <= set(report["loaded"])
    assert report["offenders"] == []


def library_sources():
    return sorted(path for package in PACKAGES for path in (ROOT / package).rglob("*.py"))


def _dotted(node) -> str:
    """`np.load` for the call target `np.load` (empty for anything that is not a plain dotted name)."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        inner = _dotted(node.value)
        return f"{inner}.{node.attr}" if inner else ""
    return ""


CODE_RUNNING = {"eval", "exec", "compile", "__import__", "pickle.load", "pickle.loads", "marshal.load",
                "marshal.loads", "yaml.load", "yaml.unsafe_load", "shelve.open", "dill.load", "dill.loads",
                "cloudpickle.load", "cloudpickle.loads", "torch.load"}
NUMPY_LOADERS = {"np.load", "numpy.load", "jnp.load", "jax.numpy.load"}


def unsafe_calls(source: str) -> list[str]:
    """Calls that can run code from a file, and numpy loads without an explicit allow_pickle=False."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
            found += [f"line {node.lineno}: import {name}" for name in names
                      if name.split(".")[0] in ("pickle", "_pickle", "marshal", "shelve", "dill", "cloudpickle")]
        if not isinstance(node, ast.Call):
            continue
        target = _dotted(node.func)
        if target in CODE_RUNNING:
            found.append(f"line {node.lineno}: {target}(...)")
        if target in NUMPY_LOADERS:
            allow = [k.value for k in node.keywords if k.arg == "allow_pickle"]
            if not (allow and isinstance(allow[0], ast.Constant) and allow[0].value is False):
                found.append(f"line {node.lineno}: {target}(...) without allow_pickle=False")
    return found


@pytest.mark.parametrize("source,expected", [
    ("import pickle\npickle.loads(b'')", ["line 1: import pickle", "line 2: pickle.loads(...)"]),
    ("import numpy as np\nnp.load('x.npy')", ["line 2: np.load(...) without allow_pickle=False"]),
    ("import numpy as np\nnp.load('x.npy', allow_pickle=True)", ["line 2: np.load(...) without allow_pickle=False"]),
    ("import numpy as np\nnp.load('x.npy', allow_pickle=False)", []),
    ("eval(text)\nexec(text)", ["line 1: eval(...)", "line 2: exec(...)"]),
    ("from pickle import loads", ["line 1: import pickle"]),
])
def test_the_source_check_finds_what_it_looks_for(source, expected):
    assert sorted(unsafe_calls(source)) == sorted(expected)


def test_no_library_source_unpickles_or_evaluates():
    sources = library_sources()
    assert len(sources) > 50
    found = {str(path.relative_to(ROOT)): unsafe_calls(path.read_text()) for path in sources}
    assert {path: calls for path, calls in found.items() if calls} == {}
