"""The registry manifest: every entry's kind, name, tracks, typed parameters, version and doc, cached.

Why: reading the registry by importing every entry module costs seconds (a method module that
imports torch at its top costs ~2-4 s alone), and ``harness list``, ``--dry-run``, a fully cached
run, ``report`` and ``publish`` need the names and parameters, not the code. The manifest is
built by importing everything once, then read as JSON; each entry records the module whose
import registers it, and ``Entry.load()`` imports that module when the code is needed.

Never stale: the manifest's file name is a fingerprint, computed without importing anything, of

* the contents of every ``.py`` file of the packages that register entries (``harness``,
  ``methods``, ``baselines``) and of each plugin module's package;
* ``KEXUE_BENCH_PLUGINS`` as set;
* the ``kexue_bench.plugins`` entry points of every distribution on ``sys.path`` (each
  ``*.dist-info``/``*.egg-info`` directory name carries its version);
* the manifest format and the Python version.

Any change gives another fingerprint, so the next command rebuilds the manifest: a new method, a
changed default or a removed plugin can never be hidden by an old file. Manifests live in
``<cache>/manifest/<fingerprint>.json`` (several trees sharing a cache each keep their own); the
oldest are pruned.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import json
import os
import pkgutil
import sys
from pathlib import Path
from typing import Any

from harness.artifacts import atomic_write_bytes, cache_dir
from harness.entries import BUILTIN_PACKAGES, PLUGIN_GROUP, Entry, Param, Registry
from harness.errors import HarnessError

FORMAT = 1
KEEP = 24  # manifests kept in the cache (one per tree/plugin set that was used recently)
PLUGINS_ENV = "KEXUE_BENCH_PLUGINS"
_TYPES = {"int": int, "float": float, "str": str, "bool": bool}
_SCALARS = (bool, int, float, str, type(None))


def env_plugins() -> list[str]:
    """Module names listed in ``KEXUE_BENCH_PLUGINS`` (comma-separated)."""
    return [m.strip() for m in os.environ.get(PLUGINS_ENV, "").split(",") if m.strip()]


# --- fingerprint (imports nothing) ----------------------------------------------------------------
def plugin_entry_points() -> list[tuple[str, str, str]]:
    """(distribution directory, entry-point name, value) of every ``kexue_bench.plugins`` entry point
    on ``sys.path``, read straight from ``entry_points.txt`` (importlib.metadata costs ~0.1 s)."""
    header = f"[{PLUGIN_GROUP}]"
    out = []
    for base in sys.path:
        try:
            listing = os.scandir(base or ".")
        except OSError:
            continue
        with listing:
            dists = sorted(d.name for d in listing if d.name.endswith((".dist-info", ".egg-info")))
        for dist in dists:
            try:
                with open(os.path.join(base or ".", dist, "entry_points.txt"), encoding="utf-8") as fh:
                    text = fh.read()
            except OSError:
                continue
            if header in text:
                out += [(dist, name, value) for name, value in _section(text, header)]
    return out


def _section(text: str, header: str) -> list[tuple[str, str]]:
    lines, inside, out = text.splitlines(), False, []
    for line in lines:
        line = line.strip()
        if line.startswith("["):
            inside = line == header
        elif inside and "=" in line and not line.startswith(("#", ";")):
            name, _, value = line.partition("=")
            out.append((name.strip(), value.strip()))
    return out


def _module_sources(module: str) -> list[str]:
    """The files or package directories whose contents define ``module`` (its whole top-level
    package, so submodules a plugin imports count too), found without importing it."""
    top = module.partition(".")[0]
    try:
        spec = importlib.util.find_spec(top)
    except (ImportError, ValueError):
        spec = None
    if spec is None:
        return [f"missing:{module}"]
    if spec.submodule_search_locations:
        return sorted(str(p) for p in spec.submodule_search_locations)
    return [spec.origin or f"builtin:{top}"]


def _hash_sources(sources: list[str], h: Any) -> None:
    for src in sorted(set(sources)):
        h.update(f"\0{src}\0".encode())
        if os.path.isdir(src):
            for root, dirs, files in os.walk(src):
                dirs[:] = sorted(d for d in dirs if d != "__pycache__" and not d.startswith("."))
                for name in sorted(f for f in files if f.endswith(".py")):
                    path = os.path.join(root, name)
                    h.update(f"\0{os.path.relpath(path, src)}\0".encode())
                    _hash_file(path, h)
        elif os.path.isfile(src):
            _hash_file(src, h)


def _hash_file(path: str, h: Any) -> None:
    try:
        if path.endswith(".py"):
            with open(path, "rb") as fh:
                h.update(fh.read())
        else:  # compiled extension modules: size and mtime
            st = os.stat(path)
            h.update(f"{st.st_size}:{st.st_mtime_ns}".encode())
    except OSError:
        h.update(b"unreadable")


def fingerprint() -> str:
    """A hash of everything that decides the registry's content (see the module docstring)."""
    h = hashlib.blake2b(digest_size=12)
    h.update(f"format {FORMAT}; python {sys.version_info[:2]}; plugins {os.environ.get(PLUGINS_ENV, '')}".encode())
    eps = plugin_entry_points()
    h.update(json.dumps(eps).encode())
    modules = [p.partition(".")[0] for p in BUILTIN_PACKAGES] + env_plugins()
    modules += [value.partition(":")[0].strip() for _, _, value in eps]
    _hash_sources([src for m in modules for src in _module_sources(m)], h)
    return h.hexdigest()


# --- build (imports every entry module) -----------------------------------------------------------
def import_entry_modules(registry: Registry) -> None:
    """Import every built-in entry module and every plugin, recording which import registers what."""
    for pkg_name in BUILTIN_PACKAGES:
        pkg = importlib.import_module(pkg_name)
        for info in pkgutil.iter_modules(pkg.__path__):
            if not info.name.startswith("_"):
                module = f"{pkg_name}.{info.name}"
                try:
                    with registry.importing(module):
                        importlib.import_module(module)
                except Exception as exc:
                    raise HarnessError(f"reading the registry: importing {module} failed: {exc}") from exc
    for module in env_plugins():
        try:
            with registry.importing(module):
                importlib.import_module(module)
        except Exception as exc:
            raise HarnessError(f"{PLUGINS_ENV} module {module!r} failed to import: {exc}") from exc
    from importlib.metadata import entry_points

    for ep in entry_points(group=PLUGIN_GROUP):
        try:
            with registry.importing(ep.value.partition(":")[0].strip()):
                ep.load()
        except Exception as exc:  # a broken plugin must not take the harness down
            raise HarnessError(f"plugin {ep.name!r} ({ep.value}) failed to load: {exc}") from exc


def _origin(entry: Entry) -> str:
    return entry.origin or getattr(entry.target, "__module__", "") or ""


def build(registry: Registry) -> dict[str, Any]:
    """Import every entry module into ``registry`` and describe its entries as JSON-able data."""
    import_entry_modules(registry)
    entries = [e for e in registry.all_entries() if not e.lazy and _origin(e)]
    entries.sort(key=lambda e: (e.kind, e.scope, e.name))
    return {"format": FORMAT, "entries": [encode_entry(e) for e in entries]}


def encode_entry(e: Entry) -> dict[str, Any]:
    return {
        "kind": e.kind,
        "name": e.name,
        "version": e.version,
        "track": e.track,
        "tracks": list(e.tracks),
        "params": [
            {
                "name": p.name,
                "type": p.type.__name__,
                "default": p.default,
                "bounds": None if p.bounds is None else list(p.bounds),
                "choices": None if p.choices is None else list(p.choices),
            }
            for p in e.params.values()
        ],
        "doc": e.doc,
        "baseline": e.baseline,
        "meta": {k: _encode(v) for k, v in e.meta.items()},
        "origin": _origin(e),
    }


def _encode(v: Any) -> Any:
    """JSON for plain data; a marker for anything else (a function, say): read from the module."""
    if isinstance(v, _SCALARS):
        return v
    if isinstance(v, CodeRef):
        return {"$code": v.ref}
    if isinstance(v, (list, tuple)) and all(isinstance(x, _SCALARS) for x in v):
        return {"$tuple" if isinstance(v, tuple) else "$list": list(v)}
    return {"$code": f"{getattr(v, '__module__', '')}.{getattr(v, '__qualname__', type(v).__name__)}"}


def decode_entry(d: dict[str, Any], home: Registry | None = None) -> Entry:
    """The lazy entry a manifest row describes; ``home`` is the registry whose lookup finds its real
    registration once its module is imported (``Registry.add`` sets it too)."""
    params = {
        p["name"]: Param(
            p["name"],
            _TYPES[p["type"]],
            p["default"],
            None if p["bounds"] is None else tuple(p["bounds"]),
            None if p["choices"] is None else tuple(p["choices"]),
        )
        for p in d["params"]
    }
    entry = Entry(
        d["kind"],
        d["name"],
        None,
        d["version"],
        track=d["track"],
        tracks=tuple(d["tracks"]),
        params=params,
        doc=d["doc"],
        baseline=d["baseline"],
        origin=d["origin"],
        home=home,
    )
    entry.meta = {k: _decode(v, entry, k) for k, v in d["meta"].items()}
    return entry


def _decode(v: Any, entry: Entry, key: str) -> Any:
    if not isinstance(v, dict):
        return v
    if "$tuple" in v:
        return tuple(v["$tuple"])
    if "$list" in v:
        return list(v["$list"])
    return CodeRef(entry, key, str(v.get("$code", "")))


class CodeRef:
    """A meta value that only the entry's module holds (a function): calling it, or reading an
    attribute, imports the module and uses the real value."""

    def __init__(self, entry: Entry, key: str, ref: str):
        self._entry, self._key, self.ref = entry, key, ref

    def resolve(self) -> Any:
        self._entry.load()
        return self._entry.meta[self._key]

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.resolve()(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.resolve(), name)


# --- load or build ----------------------------------------------------------------------------------
def manifest_path(fp: str) -> Path:
    return cache_dir() / "manifest" / f"{fp}.json"


def read(path: Path) -> dict[str, Any] | None:
    """The manifest at ``path``, or None when missing, unreadable or of another format."""
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("format") == FORMAT else None


_CURRENT: list[str] = []  # the fingerprint this process's registry was filled from


def filled_from() -> str:
    """The fingerprint of the last manifest ``populate`` read or built in this process ("" before any)."""
    return _CURRENT[-1] if _CURRENT else ""


def populate(registry: Registry) -> str:
    """Fill ``registry`` from the manifest matching the code, building it if needed; returns
    ``"cached"`` or ``"built"`` (for tests and the benchmark)."""
    fp = fingerprint()
    _CURRENT.append(fp)
    try:
        path: Path | None = manifest_path(fp)
    except OSError:  # no writable cache directory: build every time
        path = None
    entries, how = _decoded(read(path)) if path else None, "cached"
    if entries is None:  # missing, or damaged: build it from the code
        data, how = build(registry), "built"
        if path is not None:
            try:
                atomic_write_bytes(path, json.dumps(data, sort_keys=True).encode())
                _prune(path.parent)
            except OSError:
                pass
        entries = _decoded(data) or []
    registry.drop_lazy()
    for entry in entries:
        registry.add(entry)
    return how


def _decoded(data: dict[str, Any] | None) -> list[Entry] | None:
    if data is None:
        return None
    try:
        return [decode_entry(d) for d in data["entries"]]
    except (KeyError, TypeError, ValueError):
        return None


def _prune(folder: Path) -> None:
    try:
        files = sorted(folder.glob("*.json"), key=lambda p: p.stat().st_mtime, reverse=True)
        for old in files[KEEP:]:
            old.unlink(missing_ok=True)
    except OSError:
        pass
