"""``--executor`` name -> executor object.

Its own module so that neither executor module imports the other: ``harness.engine.ray_executor``
builds on ``harness.engine.executors``' base class, and only this factory knows both (Ray is imported
only when asked for).
"""

from __future__ import annotations

from typing import Any

from harness.engine.executors import Executor, InlineExecutor, LocalExecutor
from harness.engine.store import Store
from harness.errors import HarnessError

EXECUTOR_NAMES = ("local", "inline", "ray")


def make_executor(kind: str, store: Store, **kw: Any) -> Executor:
    """The executor called ``kind`` (local, inline or ray) writing into ``store``."""
    if kind == "ray":
        from harness.engine.ray_executor import RayExecutor

        return RayExecutor(store, **kw)
    if kind == "inline":
        return InlineExecutor(store, **kw)
    if kind == "local":
        return LocalExecutor(store, **kw)
    raise HarnessError(f"--executor must be one of {', '.join(EXECUTOR_NAMES)}; got {kind!r}")
