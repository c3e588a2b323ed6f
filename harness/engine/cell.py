"""A cell is one (track, dataset, method, params, settings, seed, scale, precision); its run key names its result.

The run key is a hash of the canonical JSON of everything that changes the result, including the
method's, dataset's and track's ``version``: flag order never matters, and bumping a version
makes old results stale instead of silently reused.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, fields
from functools import cached_property
from typing import Any

from harness.registry import format_selector

DEFAULT_PRECISION = "fp32"


def canonical_json(obj: Any) -> str:
    """JSON with sorted keys and no whitespace: the same cell always hashes the same."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=str)


@dataclass(frozen=True)
class Cell:
    track: str
    dataset: str
    dataset_params: dict[str, Any]
    method: str
    method_params: dict[str, Any]
    settings: dict[str, Any]
    seed: int
    scale: str
    versions: dict[str, int] = field(default_factory=dict)
    # The floating-point mode of training (harness.engine.precision): part of the key except for the default
    # fp32, so results recorded before the setting existed keep their keys.
    precision: str = "fp32"
    # Display helpers, not part of the key: selectors without default-valued params.
    method_label: str = ""
    dataset_label: str = ""

    def identity(self) -> dict[str, Any]:
        """The fields that define the result (labels excluded; precision only when not the default)."""
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("method_label", "dataset_label")}
        if out["precision"] == DEFAULT_PRECISION:
            del out["precision"]
        return out

    @cached_property
    def key(self) -> str:
        """Computed once per cell: a suite run asks for every cell's key several times."""
        return hashlib.sha256(canonical_json(self.identity()).encode()).hexdigest()[:16]

    @property
    def method_selector(self) -> str:
        return self.method_label or format_selector(self.method, self.method_params)

    @property
    def dataset_selector(self) -> str:
        return self.dataset_label or format_selector(self.dataset, self.dataset_params)

    def describe(self) -> str:
        return f"{self.track}/{self.dataset_selector}/{self.method_selector}/seed={self.seed}"

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        if out["precision"] == DEFAULT_PRECISION:
            del out["precision"]
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Cell:
        return cls(**d)
