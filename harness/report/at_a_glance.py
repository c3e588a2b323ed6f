"""Results at a glance: per track, its claim rows, how many were testable and decided, and its headline verdict.

Why generated: the README's first table must say what the published leaderboards say, and they are
republished; a table typed by hand drifts. It is built from ``<track>.claims.csv`` alone (no
results folder, no torch), so it can be rebuilt from the committed leaderboards at any time.
``harness publish`` writes it to ``<out>/summary.md``; ``harness publish --readme README.md`` also
rewrites the README's block between the two marker comments, and
``python -m harness.report.at_a_glance`` does both from the leaderboards folder without results
(``--check``: exit 1 when either differs, for CI and the tests).
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.claims import COUNTED, DESCRIPTIVE, INCONCLUSIVE, NOT_REPRODUCED, REPRODUCED
from harness.errors import HarnessError
from harness.report.provenance import ordered
from harness.report.summary import TESTED, headline_rows

BEGIN = "<!-- at-a-glance:begin (generated from leaderboards/*.claims.csv by `harness publish --readme README.md`) -->"
END = "<!-- at-a-glance:end -->"
SUMMARY = "summary.md"
REGENERATE = "harness publish --readme README.md"
OFFLINE = "python -m harness.report.at_a_glance"
NEEDED = ("claim", "dataset", "kind", "published", "verdict")
SHORT_ASIDE = 20  # characters: a parenthetical's first clause up to this length stays in the headline
README_LINK = "docs/tracks/{track}.md"  # the README links each track to its docs page
SUMMARY_LINK = "{track}.md"  # summary.md sits beside the leaderboards it links


@dataclass
class Row:
    """One row of ``<track>.claims.csv``, with what ``summary.headline_rows`` reads."""

    claim: str
    verdict: str
    published: str
    headline: bool = False


def read_claims(path: Path) -> list[Row]:
    """The rows of one ``<track>.claims.csv``; a file without the claims columns is a one-line error."""
    try:
        with path.open(newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            missing = [c for c in NEEDED if c not in (reader.fieldnames or [])]
            if missing:
                raise HarnessError(f"{path}: not a claims table (no column {', '.join(missing)})")
            return [Row(r["claim"], r["verdict"], r["published"]) for r in reader]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise HarnessError(f"{path}: cannot read it ({exc})") from None


def declared_headline(track: str) -> str | None:
    """The text of the claim ``track`` marks as its headline (``claims.headline``), None when it
    marks none or is not registered. Reading the declarations imports no torch."""
    from harness.registry import REGISTRY

    try:
        claims = REGISTRY.get("track", track).load()().claims()
    except HarnessError:
        return None
    return next((c.text for c in claims if c.headline), None)


def short_claim(text: str, aside: int = SHORT_ASIDE) -> str:
    """The claim's text with each spaced parenthetical cut to its first clause when that is at most
    ``aside`` characters (``(full-batch GD; Barrett & Dherin 2021)`` -> ``(full-batch GD)``) and
    dropped otherwise; unspaced parentheses (``N(0, I)``) stay."""
    out, i = [], 0
    while i < len(text):
        if text.startswith(" (", i):
            depth, j = 0, i + 1
            while j < len(text):
                depth += {"(": 1, ")": -1}.get(text[j], 0)
                if depth == 0:
                    break
                j += 1
            inner = text[i + 2 : j]
            first = inner.replace(";", ",").split(",")[0].strip()
            if len(first) <= aside:
                out.append(f" ({first})")
            i = j + 1
            continue
        out.append(text[i])
        i += 1
    return "".join(out)


def verdict_words(verdicts: Sequence[str]) -> str:
    """``reproduced`` (one row), ``reproduced on all 4 rows``, or ``2 reproduced, 1 inconclusive``."""
    tally = Counter(verdicts)
    if len(tally) == 1:
        (verdict, n) = next(iter(tally.items()))
        return verdict if n == 1 else f"{verdict} on all {n} rows"
    order = [*COUNTED, DESCRIPTIVE]
    return ", ".join(f"{tally[v]} {v}" for v in sorted(tally, key=lambda v: (order.index(v) if v in order else 99, v)))


def track_line(track: str, rows: list[Row], link: str = README_LINK) -> list[str]:
    """One table row: track, rows, testable, decided, the three tested verdicts, the headline."""
    named = declared_headline(track)
    for r in rows:
        r.headline = r.claim == named
    head = headline_rows(rows)
    tally = Counter(r.verdict for r in rows)
    testable = sum(tally[v] for v in TESTED)
    headline = f"{short_claim(head[0].claim)}: **{verdict_words([r.verdict for r in head])}**" if head else "-"
    counts = [len(rows), testable, tally[REPRODUCED] + tally[NOT_REPRODUCED]]
    counts += [tally[REPRODUCED], tally[NOT_REPRODUCED], tally[INCONCLUSIVE]]
    return [f"[{track}]({link.format(track=track)})", *map(str, counts), headline]


def glance_lines(folder: Path | str, link: str = README_LINK) -> list[str]:
    """The at-a-glance block for the leaderboards in ``folder`` (Markdown lines, no title); ``link``
    formats each track's link (its docs page from the README, its leaderboard from summary.md)."""
    folder = Path(folder)
    files = {p.name[: -len(".claims.csv")]: p for p in folder.glob("*.claims.csv")}
    if not files:
        raise HarnessError(f"{folder}/ holds no <track>.claims.csv; run `harness publish` first")
    header = ["track", "claim rows", "testable", "decided", REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE]
    table = [track_line(t, read_claims(files[t]), link) for t in ordered(list(files))]
    totals = [sum(int(line[i]) for line in table) for i in range(1, 7)]
    table.append(["**all**", *(f"**{n}**" for n in totals), ""])
    lines = [
        "| " + " | ".join([*header, "headline claim: its verdict"]) + " |",
        "|" + "---|" * len(header) + "---|",
        *("| " + " | ".join(cells) + " |" for cells in table),
    ]
    scales = sorted({s for t in files for s in _scales(folder / f"{t}.csv")})
    return [
        f"Scale {', '.join(scales) or '(not recorded)'}; from `{folder.name}/*.claims.csv`. A row is one dataset "
        "(or setting) of a claim; *testable* rows (exact checks included) get a verdict (reproduced, not reproduced, "
        "inconclusive), the "
        "others are untestable (a precondition failed), descriptive or exploratory; *decided* = reproduced + "
        "not reproduced. The headline is the claim each track marks as such (else its first claim with a "
        "published value).",
        "",
        *lines,
    ]


def _scales(board: Path) -> set[str]:
    """The ``scale`` values of a ``<track>.csv`` leaderboard (empty when it is missing)."""
    if not board.is_file():
        return set()
    with board.open(newline="", encoding="utf-8") as f:
        return {r["scale"] for r in csv.DictReader(f) if r.get("scale")}


def summary_text(folder: Path | str) -> str:
    """``<folder>/summary.md``: a title, then the at-a-glance block."""
    return "\n".join(["# Results at a glance", "", *glance_lines(folder, SUMMARY_LINK), ""])


def write_summary(folder: Path | str) -> Path:
    """Write ``<folder>/summary.md`` from the claims tables there; returns its path."""
    path = Path(folder) / SUMMARY
    path.write_text(summary_text(folder), encoding="utf-8")
    return path


def check_markers(readme: str, where: str = "README") -> None:
    """A one-line error unless ``readme`` holds the begin marker once and, after it, the end marker once."""
    if readme.count(BEGIN) != 1 or readme.count(END) != 1 or readme.index(BEGIN) > readme.index(END):
        raise HarnessError(f"{where}: needs one line `{BEGIN}` and, after it, one line `{END}`")


def readable_readme(readme: Path | str) -> str:
    """The README's text, checked for its markers (``harness publish --readme`` checks before it writes)."""
    readme = Path(readme)
    if not readme.is_file():
        raise HarnessError(f"--readme {readme}: no such file")
    text = readme.read_text(encoding="utf-8")
    check_markers(text, str(readme))
    return text


def readme_with_block(readme: str, folder: Path | str, where: str = "README") -> str:
    """``readme`` with the text between the marker comments replaced by the block of ``folder``."""
    check_markers(readme, where)
    head, rest = readme.split(BEGIN, 1)
    tail = rest.split(END, 1)[1]
    return "\n".join([head + BEGIN, *glance_lines(folder), END]) + tail


def rewrite_readme(readme: Path | str, folder: Path | str) -> bool:
    """Rewrite the README's at-a-glance block from ``folder``; True when it changed."""
    old = readable_readme(readme)
    new = readme_with_block(old, folder, str(readme))
    if new != old:
        Path(readme).write_text(new, encoding="utf-8")
    return new != old


def main(argv: Sequence[str] | None = None) -> int:
    """Rebuild ``summary.md`` and the README block from a leaderboards folder (no results needed)."""
    parser = argparse.ArgumentParser(prog=OFFLINE, description=main.__doc__)
    parser.add_argument("--leaderboards", default="leaderboards", help="folder of <track>.claims.csv")
    parser.add_argument("--readme", default="README.md", help="README with the two marker comments")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 when either file differs")
    args = parser.parse_args(argv)
    summary, readme = Path(args.leaderboards) / SUMMARY, Path(args.readme)
    try:
        wanted = {summary: summary_text(args.leaderboards)}
        wanted[readme] = readme_with_block(readable_readme(readme), args.leaderboards, str(readme))
    except HarnessError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    stale = [p for p, text in wanted.items() if not p.is_file() or p.read_text(encoding="utf-8") != text]
    if args.check:
        if stale:
            names = ", ".join(map(str, stale))
            print(f"out of date: {names}; run `{OFFLINE}` (or `{REGENERATE}`)", file=sys.stderr)
        return 1 if stale else 0
    for path in stale:
        path.write_text(wanted[path], encoding="utf-8")
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
