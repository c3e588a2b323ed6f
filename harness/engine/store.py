"""One JSON file per cell under ``<results>/<track>/<run key>.json``, written atomically.

Beside each record: ``<run key>.pred.npz``, the cell's per-example predictions when its track
records them (``harness.prediction_files``). Beside the track folders: ``.logs/`` (worker logs) and
``.exact/`` (exact claims computed by ``harness run``, see ``harness.exact_results``).

Why one file per cell: every writer writes a distinct file, so concurrent runs and a killed driver
can never corrupt or half-write a finished result (temp file + fsync + rename), resume is a
directory listing, and the same layout works on a shared filesystem.
"""

from __future__ import annotations

import json
import math
import os
import sys
from pathlib import Path
from typing import Any

from harness.artifacts import atomic_write_bytes

PRED_SUFFIX = ".pred.npz"  # a cell's per-example predictions (harness.prediction_files), beside its JSON

FINISHED = ("ok", "diverged")  # honest outcomes: cached and skipped on rerun
FAILED = ("timeout", "oom", "error")  # rerun only with --retry-failed


class Store:
    def __init__(self, root: str | os.PathLike[str]):
        self.root = Path(root)

    def path(self, track: str, key: str) -> Path:
        return self.root / track / f"{key}.json"

    def prediction_path(self, track: str, key: str) -> Path:
        return self.root / track / f"{key}{PRED_SUFFIX}"

    def write(self, record: dict[str, Any]) -> Path:
        """Atomically write one cell's record (it must carry ``cell.track`` and ``key``).

        In-memory per-example predictions (``record["predictions"]``, what ``run_cell`` puts there
        for an ``ok`` cell) go first to ``<key>.pred.npz``, atomically; then the JSON, the commit
        point, keeps only their summary. A crash between the two leaves a result-less file that the
        rerun replaces, never a record pointing to a missing file. A record without predictions
        removes an older cell's file after the JSON is written. The caller's record is not changed.
        """
        track, key = record["cell"]["track"], record["key"]
        path = self.path(track, key)
        pred_path = self.prediction_path(track, key)
        preds = record.get("predictions")
        if preds is not None and not is_summary(preds):
            record = {k: v for k, v in record.items() if k != "predictions"}
            if preds and record.get("status") == "ok":
                blob = encode_predictions(preds)
                atomic_write_bytes(pred_path, blob)
                record["predictions"] = prediction_summary(pred_path.name, preds, blob)
        data = json.dumps(record, indent=1, sort_keys=True, default=_jsonable).encode()
        atomic_write_bytes(path, data)
        if not is_summary(record.get("predictions")):
            pred_path.unlink(missing_ok=True)
        return path

    def predictions(self, track: str, key: str) -> dict[str, Any] | None:
        """The stored predictions of a cell by split (``Predictions``), or None when it has none.

        Raises ``PredictionFileError`` when the record names a file that is missing or corrupt."""
        rec = self.read(track, key)
        summary = (rec or {}).get("predictions")
        if not is_summary(summary):
            return None
        from harness.prediction_files import load

        return load(self.root / track / summary["file"], summary.get("sha256"))

    def read(self, track: str, key: str) -> dict[str, Any] | None:
        """The record for ``key``, or None when missing or unreadable (a torn file is not a result)."""
        path = self.path(track, key)
        try:
            with open(path, encoding="utf-8") as fh:
                rec = json.load(fh)
        except (OSError, ValueError):
            return None
        return rec if isinstance(rec, dict) and rec.get("key") == key else None

    def status(self, track: str, key: str) -> str | None:
        rec = self.read(track, key)
        return None if rec is None else rec.get("status")

    def find(self, key_prefix: str) -> list[Path]:
        """Result files whose run key starts with ``key_prefix`` (for ``harness show``)."""
        if not self.root.exists():
            return []
        return sorted(p for p in self.root.glob(f"*/{key_prefix}*.json") if _is_track_dir(p.parent))

    def records(self, warn: bool = True) -> list[dict[str, Any]]:
        """Every readable record. Corrupt or truncated files are reported on stderr and skipped."""
        out = []
        if not self.root.exists():
            return out
        for path in sorted(p for p in self.root.glob("*/*.json") if _is_track_dir(p.parent)):
            try:
                with open(path, encoding="utf-8") as fh:
                    rec = json.load(fh)
                if not isinstance(rec, dict) or "cell" not in rec or "status" not in rec:
                    raise ValueError("not a result record")
            except (OSError, ValueError) as exc:
                if warn:
                    print(f"warning: skipping unreadable result {path}: {exc}", file=sys.stderr)
                continue
            out.append(rec)
        return out


def is_summary(value: Any) -> bool:
    """A stored predictions summary (it names its file), not in-memory predictions."""
    return isinstance(value, dict) and "file" in value


def encode_predictions(preds: dict[str, Any]) -> bytes:
    from harness.prediction_files import encode

    return encode(preds)


def prediction_summary(name: str, preds: dict[str, Any], blob: bytes) -> dict[str, Any]:
    from harness.prediction_files import summary

    return summary(name, preds, blob)


def _is_track_dir(folder: Path) -> bool:
    """Result folders are named after tracks; ``.logs``, ``.exact`` and the like hold other files."""
    return not folder.name.startswith((".", "_"))


def _jsonable(obj: Any) -> Any:
    try:
        import numpy as np

        if isinstance(obj, np.generic):
            return obj.item()
        if isinstance(obj, np.ndarray):
            return obj.tolist()
    except ImportError:  # pragma: no cover
        pass
    return str(obj)


def collect(root: str | os.PathLike[str], warn: bool = True) -> Any:
    """All results as a pandas DataFrame: one row per cell, metrics as ``m.<name>`` columns, and
    ``pred_file`` / ``pred_sha256`` / ``pred_n`` / ``pred_ids`` for cells with per-example predictions."""
    import pandas as pd

    rows = []
    for rec in Store(root).records(warn=warn):
        cell = rec["cell"]
        dataset = cell.get("dataset_label") or cell["dataset"]
        setting = settings_label(cell["track"], cell.get("settings", {}))
        precision = cell.get("precision", "fp32")
        if precision != "fp32":  # another floating-point mode is another comparison, never pooled with fp32
            setting = f"{setting} · {precision}" if setting else precision
        row = {
            "key": rec["key"],
            "track": cell["track"],
            # cells of one dataset under different protocol settings are different comparisons
            "dataset": f"{dataset} · {setting}" if setting else dataset,
            "setting": setting,
            "dataset_name": cell["dataset"],
            "method": cell.get("method_label") or cell["method"],
            "method_name": cell["method"],
            "seed": cell["seed"],
            "scale": cell["scale"],
            "status": rec["status"],
            "error": rec.get("error", ""),
            "train_seconds": rec.get("train_seconds"),
            "wall_seconds": rec.get("wall_seconds"),
            "device": rec.get("provenance", {}).get("device"),
            "precision": precision,
            "finished_at": rec.get("finished_at"),
            **_prediction_columns(Path(root) / cell["track"], rec.get("predictions")),
        }
        for k, v in cell.get("method_params", {}).items():
            row[f"p.{k}"] = v
        for k, v in cell.get("versions", {}).items():
            row[f"v.{k}"] = v
        for k, v in (rec.get("metrics") or {}).items():
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                row[f"m.{k}"] = float(v)
        rows.append(row)
    return _label_varying_params(pd.DataFrame(rows))


def _prediction_columns(folder: Path, summary: Any) -> dict[str, Any]:
    """``pred_file`` (path, or empty), its ``pred_sha256``, and the test split's ``pred_n`` and
    ``pred_ids`` (a digest of its example-id set: equal digests, same examples, without opening files)."""
    if not is_summary(summary):
        return {"pred_file": "", "pred_sha256": "", "pred_n": math.nan, "pred_ids": ""}
    test = (summary.get("splits") or {}).get("test") or {}
    return {
        "pred_file": str(folder / summary["file"]),
        "pred_sha256": summary.get("sha256", ""),
        "pred_n": float(test["n"]) if "n" in test else math.nan,
        "pred_ids": test.get("ids", ""),
    }


def _label_varying_params(df: Any) -> Any:
    """Show a parameter in every label of a method once the results vary it.

    Labels leave out default-valued parameters, so in a sweep ``constant-lr`` (the default lr)
    would sit beside ``constant-lr[lr=0.5]``; naming the swept parameter everywhere is clearer.
    """
    from harness.registry import format_selector, parse_selector

    if not len(df):
        return df
    pcols = [c for c in df.columns if c.startswith("p.")]
    labels = list(df["method"])
    for (_, name), group in df.groupby(["track", "method_name"]):
        varying = [c for c in pcols if group[c].notna().any() and group[c].nunique(dropna=True) > 1]
        if not varying:
            continue
        for i, row in group.iterrows():
            shown = set(parse_selector(row["method"])[1]) | {c[2:] for c in varying}
            labels[df.index.get_loc(i)] = format_selector(name, {k: row[f"p.{k}"] for k in sorted(shown)})
    df["method"] = labels
    return df


def settings_label(track: str, settings: dict[str, Any]) -> str:
    """The settings that differ from the track's defaults, as ``k=v`` text (empty when none)."""
    from harness.registry import REGISTRY

    try:
        defaults = {n: p.default for n, p in REGISTRY.get("track", track).params.items()}
    except Exception:  # a track that is no longer registered: show every setting
        defaults = {}
    return " ".join(
        f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}"
        for k, v in sorted(settings.items())
        if defaults.get(k, object()) != v
    )


def to_parquet(root: str | os.PathLike[str], out: str | os.PathLike[str]) -> Path:
    """Write the collected table to parquet (for notebooks and other tools)."""
    df = collect(root)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    df.to_parquet(out, index=False)
    return out
