"""Per-process dataset cache: a worker that runs many cells loads each dataset once."""

from __future__ import annotations

from typing import Any

from harness.engine.cell import canonical_json
from harness.registry import REGISTRY

_CACHE: dict[str, Any] = {}
_MAX_ENTRIES = 8


def load_dataset(name: str, params: dict[str, Any]) -> Any:
    """Load a registered dataset with resolved ``params``, reusing an earlier load in this process."""
    key = canonical_json([name, params])
    if key not in _CACHE:
        if len(_CACHE) >= _MAX_ENTRIES:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[key] = REGISTRY.get("dataset", name).load()(**params)
    return _CACHE[key]


def clear() -> None:
    _CACHE.clear()
