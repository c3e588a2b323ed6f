"""Exact claims computed by ``harness run`` and stored with the results, so reports never compute them.

An exact claim (``harness.claims.exact``) is a deterministic check that needs no cell results:
an identity verified in float64, a table recomputed by quadrature. Some need torch (they run the
registered method's code), and ``report``/``publish``/``compare`` must not import torch, so
``harness run`` computes the exact checks of every track it covers and writes
``<results>/.exact/<track>.json``; the report reads them there.

A stored check is recomputed when the code changed (the registry manifest's fingerprint, a hash
of every entry module, differs from the one it was computed with). A check with no stored result
reads "not computed" (verdict n.a.) in a report. Outside a report (tests, notebooks), with no
results directory in use, an exact claim computes its check on the spot as before.
"""

from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from harness.artifacts import atomic_write_bytes

NOT_COMPUTED = "not computed: run `harness run` on these results (it computes and stores the exact checks)"
FOLDER = ".exact"
_READING: ContextVar[Path | None] = ContextVar("exact_results_dir", default=None)


def path(results: str | Path, track: str) -> Path:
    return Path(results) / FOLDER / f"{track}.json"


def read(results: str | Path, track: str) -> dict[str, Any]:
    """The stored exact checks of ``track`` (empty when none or unreadable)."""
    try:
        data = json.loads(path(results, track).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


@contextmanager
def reading(results: str | Path) -> Iterator[None]:
    """While active, exact claims read their stored outcome from ``results`` instead of computing."""
    token = _READING.set(Path(results))
    try:
        yield
    finally:
        _READING.reset(token)


def outcome(track: Any, text: str, check: Callable[[], tuple[str, bool]]) -> tuple[str, bool | None]:
    """(ours, ok) of one exact claim: stored when a results directory is being read (ok None:
    not computed), else computed now."""
    root = _READING.get()
    if root is None:
        return check()
    stored = read(root, str(getattr(track, "name", track))).get("checks", {}).get(text)
    if stored is None:
        return NOT_COMPUTED, None
    if stored.get("error"):
        raise RuntimeError(stored["error"])  # shown as "check failed: ..." like a failing live check
    return str(stored["ours"]), bool(stored["ok"])


def exact_checks(track_cls: Any) -> list[tuple[str, Callable[[], tuple[str, bool]]]]:
    """(text, check) of each exact claim of a track (claims built by ``harness.claims.exact``)."""
    return [(c.text, c.exact_check) for c in track_cls().claims() if getattr(c, "exact_check", None)]


def refresh(results: str | Path, tracks: list[str], fingerprint: str) -> list[str]:
    """Compute and store the exact checks of ``tracks`` whose stored results are missing or were
    computed by other code; returns the tracks computed. Cheap when nothing changed: one small
    file read per track, no track code imported."""
    from harness.registry import REGISTRY

    done = []
    for track in sorted(set(tracks)):
        if read(results, track).get("fingerprint") == fingerprint:
            continue
        checks: dict[str, dict[str, Any]] = {}
        for text, check in exact_checks(REGISTRY.get("track", track).load()):
            try:
                ours, ok = check()
                checks[text] = {"ours": ours, "ok": bool(ok)}
            except Exception as exc:  # a broken check is stored as such; it never stops the run
                checks[text] = {"error": f"{type(exc).__name__}: {exc}"}
        record = {
            "track": track,
            "version": REGISTRY.get("track", track).version,
            "fingerprint": fingerprint,
            "computed_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "checks": checks,
        }
        atomic_write_bytes(path(results, track), json.dumps(record, indent=1, sort_keys=True).encode())
        done.append(track)
    return done
