"""What the registry holds: typed parameters, entries (tracks, datasets, methods) and the container.

Why a module of its own: the manifest (``harness.manifest``) encodes and decodes these entries and
the registry (``harness.registry``) fills its container from the manifest, so both read the data
model from here and neither imports the other back. The container is filled by the function it is
built with (``Registry(fill=...)``), on the first read, and each entry remembers the registry it
was added to (``home``), which is where a lazy entry finds its real registration once its module
is imported.
"""

from __future__ import annotations

import importlib
import inspect
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from harness.errors import HarnessError, unknown_name

PLUGIN_GROUP = "kexue_bench.plugins"
BUILTIN_PACKAGES = ("harness.tracks", "harness.data", "methods", "baselines")
_SCALAR_TYPES = {int: "int", float: "float", str: "str", bool: "bool"}


@dataclass(frozen=True)
class Param:
    """One typed, defaulted parameter of a method or dataset."""

    name: str
    type: type
    default: Any
    bounds: tuple[float | None, float | None] | None = None
    choices: tuple[Any, ...] | None = None

    def coerce(self, value: Any, where: str) -> Any:
        """Convert ``value`` to this parameter's type, or raise a one-line HarnessError."""
        try:
            if self.type is bool:
                if isinstance(value, bool):
                    out = value
                elif str(value).lower() in ("true", "1", "yes"):
                    out = True
                elif str(value).lower() in ("false", "0", "no"):
                    out = False
                else:
                    raise ValueError
            elif self.type is int:
                if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                    raise ValueError
                out = int(value)
            elif self.type is float:
                if isinstance(value, bool):
                    raise ValueError
                out = float(value)
            else:
                out = self.type(value)
        except (TypeError, ValueError):
            raise HarnessError(
                f"{where}: parameter {self.name!r} must be {_SCALAR_TYPES.get(self.type, self.type)}, got {value!r}"
            ) from None
        if isinstance(out, float) and not math.isfinite(out):
            raise HarnessError(f"{where}: parameter {self.name!r} must be finite, got {value!r}")
        if self.bounds is not None:
            lo, hi = self.bounds
            if (lo is not None and out < lo) or (hi is not None and out > hi):
                rng = f"[{'-inf' if lo is None else lo}, {'inf' if hi is None else hi}]"
                raise HarnessError(f"{where}: parameter {self.name!r}={out!r} is outside {rng}")
        if self.choices is not None and out not in self.choices:
            raise HarnessError(f"{where}: parameter {self.name!r}={out!r} is not one of {list(self.choices)}")
        return out


@dataclass
class Entry:
    """A registered track, dataset or method."""

    kind: str  # "track" | "dataset" | "method"
    name: str
    target: Any  # the decorated object, a lazy "module:attr" string, or None: import ``origin`` to get it
    version: int = 1
    track: str | None = None  # methods: the track they belong to
    tracks: tuple[str, ...] = ()  # datasets: the tracks that can use them
    params: dict[str, Param] = field(default_factory=dict)
    doc: str = ""
    baseline: bool = False
    meta: dict[str, Any] = field(default_factory=dict)
    origin: str = ""  # the module whose import registers this entry
    home: Registry | None = field(default=None, compare=False, repr=False)  # the registry it was added to

    @property
    def lazy(self) -> bool:
        """True for an entry read from the manifest whose module is not imported yet."""
        return self.target is None

    @property
    def scope(self) -> str:
        return (self.track or "") if self.kind == "method" else ""

    def load(self) -> Any:
        """The registered object, importing its module on first use (lazy targets)."""
        if isinstance(self.target, str):
            module, _, attr = self.target.partition(":")
            self.target = getattr(importlib.import_module(module), attr)
        elif self.target is None:
            if self.home is None:
                raise HarnessError(f"{self.kind} {self.name!r}: a lazy entry outside any registry cannot be loaded")
            try:
                importlib.import_module(self.origin)
            except Exception as exc:
                raise HarnessError(
                    f"{self.kind} {self.name!r}: importing {self.origin} failed: {type(exc).__name__}: {exc}"
                ) from exc
            real = self.home.lookup(self.kind, self.scope, self.name)
            if real is None or real.target is None:
                raise HarnessError(
                    f"{self.kind} {self.name!r} is not registered by {self.origin} any more "
                    "(a stale registry manifest; it is rebuilt on the next command)"
                )
            self.target, self.meta = real.target, real.meta
        return self.target

    def resolve_params(self, given: dict[str, Any], where: str = "") -> dict[str, Any]:
        """Full parameter dict: defaults overlaid with ``given``, type-checked and bounded."""
        where = where or f"{self.kind} {self.name!r}"
        unknown = [k for k in given if k not in self.params]
        if unknown:
            raise unknown_name(f"parameter of {self.kind} {self.name!r}", unknown[0], self.params, where)
        out = {}
        for name, p in self.params.items():
            out[name] = p.coerce(given[name], where) if name in given else p.default
        return out


class Registry:
    """All entries by kind and name. Datasets are global; method names are unique per track."""

    def __init__(self, fill: Callable[[Registry], Any] | None = None) -> None:
        self._fill = fill  # called once, before the first read (the manifest's ``populate``)
        self._entries: dict[tuple[str, str, str], Entry] = {}
        self._loaded = False
        self._importing = ""  # the entry module being imported by harness.manifest, if any

    def add(self, entry: Entry) -> Entry:
        """Register ``entry``. A real registration replaces its lazy manifest copy, never the reverse."""
        if self._importing and not entry.origin:
            entry.origin = self._importing
        if entry.home is None:
            entry.home = self
        key = (entry.kind, entry.scope, entry.name)
        old = self._entries.get(key)
        if old is not None and not old.lazy:
            if entry.lazy:
                return old
            if old.target is not entry.target and _qualname(old.target) != _qualname(entry.target):
                raise HarnessError(f"{entry.kind} {entry.name!r} is registered twice")
        self._entries[key] = entry
        return entry

    def ensure_filled(self) -> None:
        """Fill the registry once, on its first read; a fill that fails is tried again next time."""
        if self._loaded or self._fill is None:
            return
        self._loaded = True
        try:
            self._fill(self)
        except BaseException:
            self._loaded = False
            raise

    def lookup(self, kind: str, scope: str, name: str) -> Entry | None:
        """The entry under (kind, scope, name) as it stands, without loading anything."""
        return self._entries.get((kind, scope, name))

    def all_entries(self) -> list[Entry]:
        return list(self._entries.values())

    def drop_lazy(self) -> None:
        """Forget the entries of an earlier manifest (before reading a newer one)."""
        self._entries = {k: e for k, e in self._entries.items() if not e.lazy}

    @contextmanager
    def importing(self, module: str) -> Iterator[None]:
        """Entries registered while ``module`` is imported get it as their ``origin``."""
        outer, self._importing = self._importing, self._importing or module
        try:
            yield
        finally:
            self._importing = outer

    def entries(self, kind: str, track: str | None = None) -> list[Entry]:
        self.ensure_filled()
        out = [e for (k, _, _), e in self._entries.items() if k == kind]
        if track is not None:
            if kind == "method":
                out = [e for e in out if e.track == track]
            elif kind == "dataset":
                out = [e for e in out if track in e.tracks]
        return sorted(out, key=lambda e: e.name)

    def get(self, kind: str, name: str, track: str | None = None, where: str = "") -> Entry:
        self.ensure_filled()
        scope = (track or "") if kind == "method" else ""
        entry = self._entries.get((kind, scope, name))
        if entry is None or (kind == "dataset" and track is not None and track not in entry.tracks):
            raise unknown_name(
                kind if track is None else f"{kind} of track {track!r}",
                name,
                [e.name for e in self.entries(kind, track)],
                where,
            )
        return entry

    def baseline(self, track: str) -> Entry:
        for e in self.entries("method", track):
            if e.baseline:
                return e
        raise HarnessError(f"track {track!r} has no baseline method registered")


def _qualname(obj: Any) -> str:
    return obj if isinstance(obj, str) else f"{getattr(obj, '__module__', '')}.{getattr(obj, '__qualname__', '')}"


def params_of(fn: Callable, bounds: dict | None = None, choices: dict | None = None) -> dict[str, Param]:
    """Read typed, defaulted parameters off a function's signature."""
    bounds = bounds or {}
    choices = choices or {}
    hints = _annotations(fn)
    out: dict[str, Param] = {}
    for p in inspect.signature(fn).parameters.values():
        if p.default is inspect.Parameter.empty or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        typ = hints.get(p.name, type(p.default))
        if typ not in _SCALAR_TYPES:
            raise TypeError(f"{fn.__qualname__}: parameter {p.name!r} needs an int/float/str/bool annotation")
        out[p.name] = Param(
            p.name,
            typ,
            typ(p.default),
            tuple(bounds[p.name]) if p.name in bounds else None,
            tuple(choices[p.name]) if p.name in choices else None,
        )
    for name in list(bounds) + list(choices):
        if name not in out:
            raise TypeError(f"{fn.__qualname__}: bounds/choices name unknown parameter {name!r}")
    return out


def _annotations(fn: Callable) -> dict[str, type]:
    ann = dict(getattr(fn, "__annotations__", {}))
    names = {"int": int, "float": float, "str": str, "bool": bool}
    return {k: names.get(v, v) if isinstance(v, str) else v for k, v in ann.items()}
