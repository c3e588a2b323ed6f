"""LaTeX (booktabs) renderings of a leaderboard, for papers: ``harness publish --format latex``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "±": r"$\pm$",
    "Δ": r"$\Delta$",
    "·": r"$\cdot$",
}


def escape(text: Any) -> str:
    """Text safe inside a LaTeX table cell (special characters escaped, ± and Δ as math)."""
    return "".join(_SPECIAL.get(ch, ch) for ch in str(text))


def leaderboard_latex(rows: Sequence[Any], track_cls: Any, provenance_note: str = "") -> str:
    """One booktabs ``table`` per dataset: the same cells as the Markdown leaderboard."""
    from harness.report.markdown import leaderboard_cells

    headers, tables = leaderboard_cells(rows, track_cls)
    out = [f"% Leaderboard of track {track_cls.name}, written by `harness publish --format latex`."]
    if provenance_note:
        out.append(f"% {provenance_note}")
    out.append("% Needs \\usepackage{booktabs}.")
    for ds, table in tables:
        out += [
            "\\begin{table}[ht]",
            "\\centering",
            "\\small",
            f"\\caption{{{escape(track_cls.name)}: {escape(ds)}}}",
            "\\begin{tabular}{" + "l" * len(headers) + "}",
            "\\toprule",
            " & ".join(escape(h) for h in headers) + " \\\\",
            "\\midrule",
        ]
        out += [" & ".join(escape(c) for c in row) + " \\\\" for row in table]
        out += ["\\bottomrule", "\\end{tabular}", "\\end{table}", ""]
    return "\n".join(out)
