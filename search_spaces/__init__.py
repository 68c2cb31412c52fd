"""Concrete search spaces. Each module exposes `DEFINITION` (a SearchSpaceDefinition)."""
from __future__ import annotations

import importlib


def _loader(module: str):
    return lambda: importlib.import_module(f"search_spaces.{module}").DEFINITION


REGISTRY = {"mlp": _loader("mlp"), "mobilenetv3": _loader("mobilenetv3")}
REGISTRY["macro_chain"] = _loader("macro_chain")
REGISTRY["nb201"] = _loader("nb201")
REGISTRY["vit"] = _loader("vit")
REGISTRY["transformer_lm"] = _loader("transformer_lm")
REGISTRY["lora"] = _loader("lora")
REGISTRY["gnn"] = _loader("gnn")
