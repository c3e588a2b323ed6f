"""Preconditions: what must hold before a claim's test means anything.

Why: a test run on the wrong evidence gives a confident-looking but empty verdict. A zero-shot
backbone that answers one label for every text is not "inconclusive" about a pattern, it cannot
tell; a comparison resting on one pretraining run per arm has n = 1 however many fine-tuning
seeds follow. When a precondition fails the row is ``untestable`` with the reason, counted apart
from ``inconclusive`` and left out of the Holm family.

A precondition is checked per row on the rows of each arm: ``check({arm label: rows}) -> reason``
(empty string when it holds).
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

_OPS = {">=": operator.ge, ">": operator.gt, "<=": operator.le, "<": operator.lt, "==": operator.eq}


@dataclass(frozen=True)
class Precondition:
    describe: str
    check: Callable[[dict[str, Any]], str]


def _ok(rows: Any) -> Any:
    return rows[rows["status"] == "ok"] if len(rows) else rows


def min_runs(n: int = 2, column: str | None = None, what: str = "independent runs") -> Precondition:
    """Each arm has ok runs on at least ``n`` seeds; with ``column`` (e.g. ``"m.pretrain_seed"``), at least
    ``n`` distinct values of it, i.e. ``n`` independent runs of whatever that column identifies."""

    def check(arms: dict[str, Any]) -> str:
        for label, rows in arms.items():
            ok = _ok(rows)
            if column is None:
                got = ok["seed"].nunique() if len(ok) else 0
            else:
                got = ok[column].dropna().nunique() if column in ok else 1 if len(ok) else 0
            if got < n:
                return f"n={got} {what} for {label} (needs {n})"
        return ""

    return Precondition(f"at least {n} {what} per arm", check)


def requires(metric: str, op: str, value: float | str, reason: str, arms: Sequence[str] | None = None) -> Precondition:
    """Every ok cell of the arms (or of the listed arm labels) has ``m.<metric> <op> value``.

    ``value`` is a number or another metric's name (``"target_loss"`` compares with that cell's
    ``m.target_loss``). A missing metric fails the precondition (nothing shows it holds).
    Example: ``requires("predicted_labels", ">=", 2, "the backbone predicts one label only")``.
    """
    if op not in _OPS:
        raise ValueError(f"op must be one of {', '.join(_OPS)}")
    compare = _OPS[op]

    def check(by_arm: dict[str, Any]) -> str:
        for label, rows in by_arm.items():
            if arms is not None and label not in arms:
                continue
            ok = _ok(rows)
            col = f"m.{metric}"
            if col not in ok:
                return f"{reason} ({label}: {metric} not recorded)"
            if isinstance(value, str) and f"m.{value}" not in ok:
                return f"{reason} ({label}: {value} not recorded)"
            for _, r in ok.iterrows():
                lhs = float(r[col])
                rhs = float(r[f"m.{value}"]) if isinstance(value, str) else value
                if math.isnan(lhs) or not compare(lhs, float(rhs)):
                    return f"{reason} ({label}, seed {int(r['seed'])}: {metric}={lhs:g})"
        return ""

    return Precondition(f"{metric} {op} {value}", check)


def check_all(preconditions: Sequence[Precondition], by_arm: dict[str, Any]) -> str:
    """The first failing precondition's reason, or "" when all hold."""
    for pre in preconditions:
        reason = pre.check(by_arm)
        if reason:
            return reason
    return ""


def min_grid(param: str, n: int = 2, arms: Sequence[str] | None = None) -> Precondition:
    """The arms (or the listed arm labels) swept ``param`` over at least ``n`` values among their
    ok cells: a choice "on validation" among fewer grid points is no choice."""

    def check(by_arm: dict[str, Any]) -> str:
        for label, rows in by_arm.items():
            if arms is not None and label not in arms:
                continue
            ok = _ok(rows)
            col = f"p.{param}"
            got = ok[col].dropna().nunique() if col in ok else 0
            if got < n:
                return f"{label}: {got} value(s) of {param} swept (needs {n})"
        return ""

    return Precondition(f"{param} swept over at least {n} values", check)
