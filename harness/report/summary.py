"""The report's first screen: per-track verdict counts, the rule, the scale, each track's headline claim.

Why a summary: a reader should learn in one screen what was checked, how, on what scale, and
what held, before any table.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from harness.claims import COUNTED, INCONCLUSIVE, NOT_REPRODUCED, REPRODUCED, ClaimResult, counts

TESTED = (REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE)

OURS_HEADER = "ours (first testable row)"
SHORT_OURS = 110  # characters: the summary cell stays a line or two; the claims table keeps the whole text
# A numeric interval "[lo, hi]": the one a paired, ratio or trend row prints beside its estimate.
_INTERVAL = re.compile(r"\[\s*[-+]?\d[\d.e+-]*,\s*[-+]?\d[\d.e+-]*\]")
_PROTOCOL = re.compile(r"^\[[^\]]*\]\s+")  # igr's "[GD, converge: ...] " lead: the claims table shows it
RULE = (
    "Each claim row is tested paired over seeds (over test examples where stated) with one-sided tests at "
    "0.025 (two-sided 0.05), so a single row's verdict agrees with its printed 95% interval. The rows of a claim "
    "form one family: Holm's step-down reads every test of the rows still open at 0.025 / (rows open), which "
    "keeps the chance of any false verdict within a claim at or below 0.05. Reproduced: significant on the "
    "claimed side (above -margin, inside the band). Not reproduced: significant on the other side, below "
    "-margin, outside the band, or smaller than the claim's smallest effect of interest (', on the claimed "
    "side' when also above 0); no row reads reproduced with its 95% interval below its smallest effect. "
    "Otherwise inconclusive; untestable when a declared precondition fails; exploratory (no verdict) when a "
    "`--decide` design did not register the row. Rows of a `harness run --decide` design read repeated "
    "p-values against exact t-scale boundaries (Lan-DeMets O'Brien-Fleming-type spending, looks fixed before "
    "the first added seed), Holm in the order rows stop (Maurer & Bretz 2013), each verdict frozen at the look "
    "where its row stopped; their intervals are repeated 95% intervals. `p` is the row's p-value (twice its "
    "smallest one-sided p), `q` its Benjamini-Yekutieli q-value across every testable row published together."
)
ALPHA_FDR = 0.05


def assign_q(claims: list[ClaimResult]) -> None:
    """Benjamini-Yekutieli q-values across every testable row of ``claims`` (all tracks published
    together): valid under any dependence between rows, such as shared baselines and seeds."""
    from harness.stats import by_qvalues

    tested = [c for c in claims if c.verdict in TESTED and c.p == c.p]
    for c, q in zip(tested, by_qvalues([c.p for c in tested])):
        c.q = q


def guarantees(claims: list[ClaimResult]) -> list[str]:
    """What the verdicts of ``claims`` control, in words and numbers (the q-values must be assigned)."""
    tested = [c for c in claims if c.verdict in TESTED and c.q == c.q]
    decided = [c for c in tested if c.verdict in (REPRODUCED, NOT_REPRODUCED)]
    families = {c.family for c in decided}
    lines = [
        f"Within each claim: the chance of any false verdict among its rows is at most 0.05 (family-wise; "
        f"{len(decided)} decided rows in {len(families)} claims)."
    ]
    if not tested:
        return lines
    kept = [c for c in decided if c.q <= ALPHA_FDR]
    q_max = max((c.q for c in decided), default=float("nan"))
    line = (
        f"Across all {len(tested)} testable rows (Benjamini-Yekutieli q-values, valid under any dependence between "
        f"rows): {len(kept)} of the {len(decided)} decided rows have q <= {ALPHA_FDR:g}, so the expected share of "
        f"false decisions among them (the FDR) is at most {ALPHA_FDR:g}: about {ALPHA_FDR * len(kept):.1f} of them."
    )
    if decided and len(kept) < len(decided):
        line += (
            f" Taken together, all {len(decided)} decided rows have q <= {q_max:.2g}: an FDR of at most {q_max:.2g}, "
            f"about {q_max * len(decided):.1f} false decisions expected among them; the {len(decided) - len(kept)} "
            f"rows with q > {ALPHA_FDR:g} are decided within their claim only."
        )
    return lines + [line]


@dataclass
class TrackSummary:
    """One row of the summary table; ``ours_verdict`` and ``ours_dataset`` belong to the ``ours`` row."""

    name: str
    counts: dict[str, int]
    headline: str
    published: str
    ours: str  # the short form (short_ours); the track's claims table has the row's whole text
    verdicts: str
    scale: str
    ours_verdict: str = ""
    ours_dataset: str = ""


def short_ours(text: str, limit: int = SHORT_OURS, interval: bool = True) -> str:
    """The part of a claim row's ``ours`` text a summary reader needs: the clause (``; ``-separated)
    that holds the estimate's interval (else, or with ``interval=False``, the first clause: an
    untestable row's reason), without the note, without igr's protocol lead, at most ``limit``
    characters (cut at a word, marked with an ellipsis).

    Why from the text: a row's estimate and interval exist only inside ``ours`` (each claim kind
    writes its own wording), and the whole text stays in the track's claims table."""
    text = text.split(" (note: ")[0]
    clauses = _clauses(text) or [""]
    clause = next((c for c in clauses if interval and _INTERVAL.search(c)), clauses[0])
    clause = _PROTOCOL.sub("", clause)
    if len(clause) <= limit:
        return clause
    cut = clause[: limit - 1].rsplit(" ", 1)[0].rstrip(",;:")
    return cut + "…"


def _clauses(text: str) -> list[str]:
    """``text`` split at the semicolons outside parentheses and brackets (``(n = 2048..4096; ...)`` is one)."""
    out, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth = max(0, depth - 1)
        elif ch == ";" and depth == 0:
            out.append(text[start:i])
            start = i + 1
    out.append(text[start:])
    return [c.strip() for c in out if c.strip()]


def short_dataset(label: str) -> str:
    """``mnist[n_train=1000] · epochs=50 protocol=epochs`` -> ``mnist``: the dataset's name only."""
    return label.split(" · ")[0].split("[")[0].strip().strip("()")


def headline_rows(claims: list[ClaimResult]) -> list[ClaimResult]:
    """Rows of the track's headline claim: the one marked ``headline``, else the first claim with a
    published value, else the first claim with a verdict."""
    for pick in (
        lambda c: c.headline,
        lambda c: bool(c.published) and c.verdict in COUNTED,
        lambda c: c.verdict in COUNTED,
    ):
        first = next((c for c in claims if pick(c)), None)
        if first is not None:
            return [c for c in claims if c.claim == first.claim]
    return claims[:1]


def summarize_track(name: str, claims: list[ClaimResult], scale: str) -> TrackSummary:
    rows = headline_rows(claims)
    tally = counts(claims)
    # The row a reader sees first: the first one a verdict could be read from (an untestable row
    # says only why not; its reason stays in the track's claims table).
    head = next((r for r in rows if r.verdict != "untestable"), rows[0]) if rows else None
    verdicts = ", ".join(f"{n} {v}" for v, n in counts(rows).items() if n) if rows else ""
    return TrackSummary(
        name,
        {v: tally.get(v, 0) for v in COUNTED},
        head.claim if head else "(no claims)",
        f"{head.published} [{head.comparable}]" if head and head.published else "-",
        short_ours(head.ours, interval=head.verdict != "untestable") if head else "",
        verdicts,
        scale,
        head.verdict if head else "",
        short_dataset(head.dataset) if head else "",
    )


def ours_cell(s: TrackSummary) -> str:
    """``delta 0.02 [-0.23, 0.27], n=2: inconclusive (digits-lt)`` (the Markdown summary's cell)."""
    where = f" ({s.ours_dataset})" if s.ours_dataset else ""
    return f"{s.ours}: {s.ours_verdict}{where}" if s.ours_verdict else f"{s.ours}{where}"


def summary_markdown(summaries: list[TrackSummary], scale_lines: list[str], controlled: list[str] = ()) -> list[str]:
    from tabulate import tabulate

    table = [
        [s.name, *(s.counts[v] for v in COUNTED), s.headline, s.published, ours_cell(s), s.verdicts] for s in summaries
    ]
    headers = ["track", *COUNTED, "headline claim", "published", OURS_HEADER, "headline verdicts"]
    return [
        "## Summary",
        "",
        RULE,
        "",
        "What is controlled:",
        "",
        *[f"- {line}" for line in controlled],
        "",
        *[f"- {line}" for line in scale_lines],
        "",
        tabulate(table, headers=headers, tablefmt="github", disable_numparse=True),
        "",
    ]


def scale_line(scale: str, provs: list[Any], hardware: str) -> str:
    """ "quick scale (Default suite: ...): 3 seeds; device cpu, 1 thread per cell; 2 CPU cores ..."."""
    from harness.suite import load_suite

    try:
        desc = load_suite(scale).description
    except Exception:  # a scale without a built-in suite of that name
        desc = ""
    seeds = sorted({s for p in provs for s in p.seeds})
    seeds_text = f"{seeds[0]} seeds" if len(seeds) == 1 else f"{seeds[0]}-{seeds[-1]} seeds" if seeds else "no seeds"
    devices = sorted({d for p in provs for d in p.devices})
    threads = sorted({t for p in provs for t in p.threads})
    about = f" ({desc.rstrip('.')})" if desc else ""
    return (
        f"Scale {scale}{about}: small models (see each track), {seeds_text}; "
        f"device {', '.join(devices) or '?'}, {', '.join(map(str, threads)) or '?'} torch thread(s) per cell; "
        f"{hardware}."
    )
