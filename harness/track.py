"""The Track base class: a research question with its protocol, metrics, baseline and claims.

A track subclass is registered with ``@track("name")`` and implements ``run(cell, ctx)``. It owns
how a method is applied (a loss function, a training recipe, a regulariser...), so the engine
stays generic. Protocol knobs that are not a method's own (steps, batch size, model width) are
the track's ``Settings`` dataclass; a suite may override them per block, and they enter the run key.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, ClassVar

from harness.errors import HarnessError
from harness.registry import REGISTRY, Param, params_of

DEFAULT_CELL_MEMORY = 512 * 1024**2  # a worker with torch imported and a small model
DEFAULT_GPU_MEMORY = 1024**3  # a small model's tensors, activations and the allocator's cache on a GPU


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
    # What a method of this track returns when called with its parameters (a dataclass recipe).
    # None: the method IS the track's function type (e.g. an imbalance loss ``fn(logits, targets,
    # prior, **params)``) and its recipe is that function with the parameters bound.
    recipe_type: ClassVar[type | None] = None
    # How far the primary metric of a smoke cell may move between a CPU and a GPU run of the same cell
    # (absolute, relative to the CPU value): both see the same data order, initialisation and CPU-drawn
    # noise, but GPU kernels sum in another order, and dropout masks come from the GPU's generator.
    # Checked by tests/test_device_gpu.py and benchmarks/gpu_check.sh; a first estimate until a GPU run.
    device_tolerance: ClassVar[tuple[float, float]] = (0.02, 0.0)

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

    def provenance_notes(self, settings: list[dict[str, Any]]) -> list[str]:
        """Extra provenance lines for a leaderboard whose cells ran under these block settings (e.g.
        exactly which pretrained model a backbone name stands for); read from records, not prose."""
        return []

    def check_method(self, method: Any, params: dict[str, Any]) -> None:
        """Validate a method's parameter combination at suite-load time (raise HarnessError).

        Recipe factories validate their own combinations (e.g. a PET pattern without a mask), so
        building the recipe once is the check."""
        if self.recipe_type is not None:
            method_recipe(self, method.name, params)

    def check_settings(self, settings: Any) -> None:
        """Validate a block's combination of settings before its cells run (raise HarnessError).

        Types, bounds and choices of single settings are checked when the suite loads; this hook is
        for rules between settings (e.g. a protocol that needs a target), so a suite fails before
        any cell runs instead of recording the same error in every cell."""

    def cost(self, cell: Any) -> float:
        """Rough relative cost of a cell in seconds on one CPU core, for --dry-run estimates."""
        return 10.0

    def shared_cost(self, cells: list[Any]) -> dict[str, float]:
        """Core-seconds of work these pending cells share and that their own ``cost`` leaves out (e.g.
        caches the first of them builds for all), by what it is; counted once per run."""
        return {}

    def memory(self, cell: Any) -> int:
        """Peak resident memory in bytes of a worker running this cell (interpreter, torch, data,
        model); the local executor starts a cell only when this much is free."""
        return DEFAULT_CELL_MEMORY

    def gpu_memory(self, cell: Any) -> int:
        """Peak GPU memory in bytes of this cell on a GPU: its tensors, activations and the caching
        allocator's slack; the CUDA context (``harness.engine.gpus.CUDA_CONTEXT``) is added by the harness.
        The local executor starts a cell only when this fits on its GPU, Ray asks for this share of a
        GPU, and without ``--jobs`` a GPU run starts as many workers as fit. 0 for a CPU-only cell."""
        return 0 if self.cpu_only(cell) else DEFAULT_GPU_MEMORY

    def cpu_only(self, cell: Any) -> str:
        """Why this cell runs on the CPU even when the run asks for a GPU ('' when it trains on
        ``ctx.device``): such a cell is said so before the run, recorded on ``cpu`` and makes no CUDA
        call. Must not import torch (``--dry-run`` asks it)."""
        return ""

    # --- cell groups: several cells trained as one batched model --------------------------
    # The most members one group may hold (memory declarations may cap it lower).
    max_group_size: ClassVar[int] = 16

    def group_key(self, cell: Any) -> str | None:
        """Pending cells with equal keys may train as one batched model: same dataset, model shape and
        protocol; members differ by seed and by scalar hyperparameters (lr, weight decay, tau...).
        Why a key: the planner groups cells without importing torch. None: the cell trains alone."""
        return None

    def group_pays_on_cpu(self, cell: Any) -> bool:
        """Whether grouping this cell pays on a CPU (``--group auto`` groups on a GPU always, on a CPU
        only where this is True): a batched step is not faster on a CPU for every shape."""
        return False

    def shared_training(self, cell: Any) -> str | None:
        """Cells of one seed with equal values here train the identical model and differ only at
        prediction (post-hoc logit adjustment trains as ``ce``): the engine hands them over together
        so the model is trained once. The value names everything that training depends on but the
        seed (dataset, its parameters, settings, the training recipe). None: the training is its own."""
        return None

    def group_memory(self, cells: list[Any]) -> int:
        """Peak resident bytes of a worker training ``cells`` as one group. Default: the members'
        ``memory`` summed, which counts the interpreter and torch once per member (safe, often far
        too much: a track that knows its per-member share says base + members x share)."""
        return sum(self.memory(c) for c in cells)

    def group_gpu_memory(self, cells: list[Any]) -> int:
        """Peak GPU bytes of ``cells`` trained as one group (the CUDA context excluded, as in
        ``gpu_memory``). Default: the members' ``gpu_memory`` summed."""
        return sum(self.gpu_memory(c) for c in cells)

    def group_cost_factor(self, cells: list[Any]) -> float:
        """Estimated core-seconds of ``cells`` trained as one group over the sum of their ``cost``:
        0.5 where a batched step does two members' work in one member's time, 1.0 (the default)
        where grouping saves nothing. Only estimates read it (``--dry-run`` and the line before a run)."""
        return 1.0

    def run_group(self, cells: list[Any], ctxs: list[Any]) -> list[dict[str, float] | BaseException]:
        """Train ``cells`` as one batched model, ``ctxs[i]`` being ``cells[i]``'s own ``RunContext``
        (seeds, curves, predictions, its share of the training time). Returns each member's metrics,
        or the exception that ended that member (``Diverged`` for a member whose loss became NaN), so
        one member's failure never ends the others. The default runs the members one after another.

        What the engine does with it (``harness.engine.runner.run_group_cells``): each entry becomes the
        member's own record; the members' ``train_seconds`` are summed into the group's and shared out
        equally (time the batched loop with any one member's ``train_timer``); an out-of-memory error
        *raised* out of ``run_group`` (``MemoryError``, CUDA OOM) makes the engine split the group in
        halves and retry, while one returned as a member's entry is that member's own ``oom``. Cells of
        one shared-training set (``shared_training``) come in ``cells`` order: train the set once, as
        its first member, and predict for each; the records name that member as ``trained_by``."""
        out: list[dict[str, float] | BaseException] = []
        for cell, ctx in zip(cells, ctxs):
            try:
                ctx.seed_everything("init")
                out.append(self.run(cell, ctx))
            except Exception as exc:  # recorded per member by the engine
                out.append(exc)
        return out

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

    def settings(self, cell: Any) -> Any:
        return self.Settings(**cell.settings)

    def recipe(self, cell: Any) -> Any:
        """The cell's method recipe: the one way a track obtains what a method asks for."""
        return method_recipe(self, cell.method, cell.method_params)

    def load_data(self, cell: Any) -> Any:
        from harness.data.cache import load_dataset

        return load_dataset(cell.dataset, cell.dataset_params)


def within_device_tolerance(track: Track | type[Track], cpu: float, gpu: float) -> bool:
    """Whether a GPU run's primary metric ``gpu`` matches the CPU run's ``cpu`` (``device_tolerance``)."""
    absolute, relative = track.device_tolerance
    return abs(gpu - cpu) <= absolute + relative * abs(cpu)


def method_recipe(track: Track | type[Track], method: str, params: dict[str, Any]) -> Any:
    """What ``method`` of ``track`` asks for, with ``params`` applied.

    A track with a ``recipe_type`` calls the method with its parameters and checks that it got
    that type (never a bare dict); a track without one binds the parameters to the method function.
    """
    fn = REGISTRY.get("method", method, track.name).load()
    if track.recipe_type is None:
        return functools.partial(fn, **params)
    recipe = fn(**params)
    if not isinstance(recipe, track.recipe_type):
        raise HarnessError(
            f"method {method!r} of track {track.name!r} returned {type(recipe).__name__}, "
            f"expected {track.recipe_type.__name__}"
        )
    return recipe
