"""`KEY=VALUE` command-line pairs (`--option width_mult=0.5`) parsed one way everywhere."""
from __future__ import annotations

import json
from collections.abc import Iterable

from nas.errors import ConfigError


def parse_key_values(pairs: Iterable[str], flag: str = "--option") -> dict:
    """["a=1", "b=[3,5]", "c=text"] -> {"a": 1, "b": [3, 5], "c": "text"}.

    A value is read as JSON where it is JSON, else kept as text (so `data=fortunes` needs no quotes).
    A pair without `=` or without a key is one ConfigError naming the flag and the pair.
    """
    values = {}
    for pair in pairs:
        key, separator, raw = pair.partition("=")
        if not separator or not key:
            raise ConfigError(f"{flag} must look like key=value, got {pair!r}")
        try:
            values[key] = json.loads(raw)
        except json.JSONDecodeError:
            values[key] = raw
    return values
