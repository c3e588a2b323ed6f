"""The registry: tracks, datasets and methods reach the engine only through here.

Why a registry: the engine never imports a track or method by name, so a new method is one
decorated function in ``methods/`` (or in another installed package that declares the
entry-point group ``kexue_bench.plugins``) and ``harness list`` shows it at once.

Parameters of datasets and methods are the function's keyword parameters that have defaults;
their annotations (int, float, str, bool) give the type, and ``bounds`` the allowed range.
Parameters without a default are the track's protocol inputs (e.g. ``logits, targets``).

Reading the registry imports nothing: ``load_builtins`` fills it from a cached manifest
(``harness.manifest``) with lazy entries, and an entry's module is imported by ``Entry.load()``
when its code is needed (running a cell, building a recipe). A track's ``params`` are its
``Settings`` fields, so a suite is validated without importing the track either.

The data model (``Param``, ``Entry``, ``Registry``) lives in ``harness.entries`` so that the
manifest can read it without importing this module back; it is re-exported here, where the one
registry, ``REGISTRY``, is built with the manifest as its filler.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from typing import Any

from harness.entries import BUILTIN_PACKAGES, PLUGIN_GROUP, Entry, Param, Registry, params_of
from harness.errors import HarnessError
from harness.manifest import filled_from, fingerprint, populate

__all__ = [
    "BUILTIN_PACKAGES",
    "PLUGIN_GROUP",
    "REGISTRY",
    "Entry",
    "Param",
    "Registry",
    "current_fingerprint",
    "dataset",
    "format_selector",
    "load_builtins",
    "method",
    "params_of",
    "parse_selector",
    "track",
]

REGISTRY = Registry(fill=populate)


def _doc(obj: Any) -> str:
    return inspect.getdoc(obj) or ""


def method(
    name: str,
    *,
    track: str,
    version: int = 1,
    bounds: dict[str, tuple[float | None, float | None]] | None = None,
    choices: dict[str, tuple] | None = None,
    baseline: bool = False,
    **meta: Any,
) -> Callable:
    """Register a method of ``track``. The decorated function is returned unchanged."""

    def deco(fn: Callable) -> Callable:
        REGISTRY.add(
            Entry(
                "method",
                name,
                fn,
                version,
                track=track,
                params=params_of(fn, bounds, choices),
                doc=_doc(fn),
                baseline=baseline,
                meta=meta,
            )
        )
        return fn

    return deco


def dataset(
    name: str,
    *,
    tracks: tuple[str, ...] | list[str] | str,
    version: int = 1,
    bounds: dict[str, tuple[float | None, float | None]] | None = None,
    choices: dict[str, tuple] | None = None,
    **meta: Any,
) -> Callable:
    """Register a dataset loader usable by ``tracks``; its keyword defaults are its parameters."""
    tracks = (tracks,) if isinstance(tracks, str) else tuple(tracks)

    def deco(fn: Callable) -> Callable:
        REGISTRY.add(
            Entry(
                "dataset",
                name,
                fn,
                version,
                tracks=tracks,
                params=params_of(fn, bounds, choices),
                doc=_doc(fn),
                meta=meta,
            )
        )
        return fn

    return deco


def track(name: str, *, version: int = 1) -> Callable:
    """Register a Track subclass under ``name``."""

    def deco(cls: type) -> type:
        cls.name = name
        settings = cls.settings_params() if hasattr(cls, "settings_params") else {}
        meta = {"primary": getattr(cls, "primary", "")}
        REGISTRY.add(Entry("track", name, cls, version, params=settings, doc=_doc(cls), meta=meta))
        return cls

    return deco


_SELECTOR = re.compile(r"^\s*([A-Za-z0-9_.\-]+)\s*(?:\[(.*)\])?\s*$")


def parse_selector(text: str, where: str = "") -> tuple[str, dict[str, str]]:
    """Parse ``name[k=v,k2=v2]`` into (name, {k: raw value}). Values are coerced later."""
    m = _SELECTOR.match(text)
    if not m:
        raise HarnessError(f"{where + ': ' if where else ''}malformed selector {text!r} (expected name[key=value,...])")
    name, body = m.group(1), m.group(2)
    params: dict[str, str] = {}
    if body:
        for part in body.split(","):
            if not part.strip():
                continue
            key, eq, value = part.partition("=")
            if not eq or not key.strip():
                raise HarnessError(
                    f"{where + ': ' if where else ''}malformed parameter {part.strip()!r} in {text!r} "
                    "(expected key=value)"
                )
            params[key.strip()] = value.strip()
    return name, params


def format_selector(name: str, params: dict[str, Any], defaults: dict[str, Any] | None = None) -> str:
    """Inverse of parse_selector, leaving out parameters equal to their defaults."""
    defaults = defaults or {}
    shown = {k: v for k, v in sorted(params.items()) if defaults.get(k, object()) != v}
    if not shown:
        return name
    return f"{name}[{','.join(f'{k}={_fmt(v)}' for k, v in shown.items())}]"


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return repr(v) if not v.is_integer() else f"{v:g}" if abs(v) < 1e16 else repr(v)
    return str(v).lower() if isinstance(v, bool) else str(v)


def load_builtins() -> None:
    """Fill the registry once per process: every built-in track/dataset/method and the plugins.

    Plugins are installed packages declaring the entry-point group ``kexue_bench.plugins`` (each
    entry point names a module to import) and, for quick experiments without packaging, the
    comma-separated module names in the environment variable ``KEXUE_BENCH_PLUGINS``. The entries
    come from the cached manifest when it matches the code (see ``harness.manifest``), else from
    importing every entry module, which also rebuilds the manifest.
    """
    REGISTRY.ensure_filled()


def current_fingerprint() -> str:
    """The fingerprint of the code this process's registry came from (stamps stored exact checks)."""
    load_builtins()
    return filled_from() or fingerprint()
