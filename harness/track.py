"""The Track base class: a research question with its protocol, metrics, baseline and claims.

A track subclass is registered with ``@track("name")`` and implements ``run(cell, ctx)``. It owns
how a method is applied (a loss function, a training recipe, a regulariser...), so the engine
stays generic. Protocol knobs that are not a method's own (steps, batch size, model width) are
the track's ``Settings`` dataclass; a suite may override them per block, and they enter the run key.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, ClassVar

from harness.registry import REGISTRY, Param, params_of


@dataclasses.dataclass
class NoSettings:
    """Tracks without protocol knobs use this."""


@dataclasses.dataclass(frozen=True)
class Metric:
    """A metric a track reports; ``higher_is_better`` drives ranks, deltas and claims."""

    name: str
    higher_is_better: bool = True
    label: str = ""
    fmt: str = ".4f"


class Track:
    name: ClassVar[str] = ""
    primary: ClassVar[str] = "test_accuracy"
    metrics: ClassVar[tuple[Metric, ...]] = ()
    Settings: ClassVar[type] = NoSettings
    settings_bounds: ClassVar[dict[str, tuple]] = {}
    settings_choices: ClassVar[dict[str, tuple]] = {}
    # Secondary metrics shown as extra leaderboard columns.
    secondary: ClassVar[tuple[str, ...]] = ()
    # Parameter that orders methods of a sweep in plots (e.g. "lr"); optional.
    sweep_param: ClassVar[str | None] = None

    # --- what the engine asks of a track -------------------------------------------------
    def run(self, cell: Any, ctx: Any) -> dict[str, float]:
        """Train and evaluate one cell; return its metrics (floats)."""
        raise NotImplementedError

    def claims(self) -> list[Any]:
        """The published claims this track checks (harness.claims.Claim objects)."""
        return []

    def figures(self, table: Any) -> list[tuple[str, Any]]:
        """Optional report plots: (caption, matplotlib Figure) from the collected results."""
        return []

    def check_method(self, method: Any, params: dict[str, Any]) -> None:
        """Validate a method's parameter combination at suite-load time (raise HarnessError)."""

    def cost(self, cell: Any) -> float:
        """Rough relative cost of a cell in seconds on one CPU core, for --dry-run estimates."""
        return 10.0

    # --- helpers shared by all tracks ------------------------------------------------------
    @classmethod
    def settings_params(cls) -> dict[str, Param]:
        return params_of(cls.Settings, cls.settings_bounds, cls.settings_choices)

    @classmethod
    def metric(cls, name: str) -> Metric:
        for m in cls.metrics:
            if m.name == name:
                return m
        return Metric(name)

    @classmethod
    def baseline_entry(cls):
        return REGISTRY.baseline(cls.name)

    def settings(self, cell: Any) -> Any:
        return self.Settings(**cell.settings)

    def method_fn(self, cell: Any) -> Callable:
        """The cell's method with its parameters bound."""
        fn = REGISTRY.get("method", cell.method, self.name).load()
        params = dict(cell.method_params)
        return lambda *a, **kw: fn(*a, **{**params, **kw})

    def load_data(self, cell: Any) -> Any:
        from harness.data.cache import load_dataset

        return load_dataset(cell.dataset, cell.dataset_params)


def method_call(track_name: str, method: str, params: dict[str, Any]) -> Any:
    """Call a registered method factory with its parameters (used by recipe-style tracks)."""
    return REGISTRY.get("method", method, track_name).load()(**params)
