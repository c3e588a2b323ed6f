"""Re-read the published quick results under the corrected ``--decide`` procedure, from the seeds alone.

Why a script: the results folder behind ``leaderboards/`` is not in git, but every cell's metrics
are in ``leaderboards/<track>.seeds.csv`` and the design that produced the tables is known (stop 25:
one design, at most 12 seeds, a look every 3 seeds, O'Brien-Fleming-type spending at one-sided
0.025; the rows it registered are the published rows with a look). The script

1. rebuilds each track's results table from its seeds file (method and dataset names and the
   method parameters parsed from the labels, the exact checks from the published claims file) and
   checks it: every published row of the design must have the estimate the published table shows
   at its look, computed from the rebuilt seeds, and every row outside the design the same text;
2. re-registers the design's rows (each at the seeds of its first look: the schedule whose look
   number matches the published look and seed count; the quick suite's seed count of its track
   where two schedules do) and runs the production engine's look-taking over the same seeds:
   every look the corrected design would take with those seeds, against the exact t-scale
   boundaries, Holm's step-down in the order rows stop, each verdict frozen where its row stops;
3. writes ``leaderboards/<track>.claims.csv`` and the claims section of ``<track>.md`` from that
   reading (q-values across all tracks; the tables' notes say it is a re-read), and prints every
   verdict that changed, with the published and the new look, seeds and reason.

    .venv/bin/python benchmarks/reread_published.py            # check, re-read, print the changes
    .venv/bin/python benchmarks/reread_published.py --write    # ... and rewrite the published files
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import re
import sys
import tempfile
from pathlib import Path

import pandas as pd

from harness.claims.reading import DesignReading
from harness.claims.simple import EXACT
from harness.exact_results import reading as exact_reading
from harness.registry import REGISTRY, parse_selector
from harness.report.publish import claims_table, evaluate_claims, with_q
from harness.sequential.design import Design, DesignRow, DesignSettings
from harness.sequential.engine import Engine, RowView
from harness.sequential.ledger import Ledger
from harness.sequential.t_boundaries import METHOD

ROOT = Path(__file__).resolve().parent.parent
BOARDS = ROOT / "leaderboards"
TRACKS = ("igr", "fewshot", "tokenization", "imbalance", "weightreg", "vae", "embdim", "dialogue")
KEY = ("track", "dataset", "method", "seed", "status")
NOT_METRICS = (*KEY, "delta_examples", "delta_value", "delta_baseline_value")
SETTINGS = DesignSettings(12, 3)  # stop 25's design
POOLED, MCNEMAR = "all datasets", "McNemar exact"
NOTE = (
    f"Re-read (issue 27): the published quick results' seeds ({{track}}.seeds.csv) read again under the "
    f"corrected --decide procedure: exact t-scale boundaries ({METHOD}), Holm in the order rows stop, verdicts "
    "frozen where rows stop, rows the design did not register exploratory; the design of stop 25 (at most 12 "
    "seeds, a look every 3, O'Brien-Fleming-type spending at one-sided 0.025); no new seeds were run "
    "(benchmarks/reread_published.py)."
)


def table_from_seeds(track: str) -> pd.DataFrame:
    """The results table ``harness.engine.store.collect`` would give, rebuilt from a seeds file."""
    seeds = pd.read_csv(BOARDS / f"{track}.seeds.csv")
    metrics = [c for c in seeds.columns if c not in NOT_METRICS]
    rows = []
    for r in seeds.to_dict("records"):
        name, raw = parse_selector(r["method"])
        params = REGISTRY.get("method", name, track).resolve_params(raw)
        label = str(r["dataset"])
        head, _, setting = label.partition(" · ")
        key = hashlib.sha256(f"{track}|{label}|{r['method']}|{r['seed']}".encode()).hexdigest()[:16]
        row = {"key": key, "track": track, "dataset": label, "setting": setting, "dataset_name": head.split("[")[0]}
        row |= {"method": r["method"], "method_name": name, "seed": int(r["seed"]), "scale": "quick"}
        row |= {"status": r["status"], "error": "", "finished_at": ""}
        row |= {f"p.{k}": v for k, v in params.items()}
        row |= {f"m.{c}": float(r[c]) for c in metrics if r[c] == r[c]}
        rows.append(row)
    return pd.DataFrame(rows)


def published(track: str) -> pd.DataFrame:
    return pd.read_csv(BOARDS / f"{track}.claims.csv")


def write_exact(folder: Path, track: str, cls: type) -> None:
    """The published outcomes of the track's stored exact checks, where ``harness report`` reads them."""
    old = published(track)
    notes = {c.text: c.note for c in cls().claims() if getattr(c, "exact_check", None)}
    checks = {}
    for r in old[old["dataset"] == EXACT].to_dict("records"):
        if r["claim"] in notes:
            ours, note = str(r["ours"]), notes[r["claim"]]
            ours = ours.removesuffix(f" (note: {note})") if note else ours
            checks[r["claim"]] = {"ours": ours, "ok": r["verdict"] == "reproduced"}
    (folder / ".exact").mkdir(parents=True, exist_ok=True)
    (folder / ".exact" / f"{track}.json").write_text(json.dumps({"checks": checks}), encoding="utf-8")


def first_look_seeds(n: int, look: int, suite_seeds: int) -> int:
    """The seeds a row had when it was registered, from its published (seeds, look)."""
    fits = [n0 for n0 in range(2, SETTINGS.max_seeds + 1) if len(SETTINGS.schedule(n0)) >= look]
    fits = [n0 for n0 in fits if SETTINGS.schedule(n0)[look - 1] == n]
    if not fits:
        raise SystemExit(f"no schedule of the design has look {look} at {n} seeds")
    return suite_seeds if suite_seeds in fits else min(fits)


def reread(classes: dict[str, type], tables: dict[str, pd.DataFrame]) -> tuple[dict, Ledger, Design]:
    """The design re-registered from the published looks, and the engine's looks over the same seeds."""
    design = Design(SETTINGS, scale="quick", method=METHOD)
    views = []
    for track, cls in classes.items():
        old = published(track).set_index(["claim", "dataset"])
        for r in evaluate_claims(tables[track], cls):
            if r.sample is None or (r.claim, r.dataset) not in old.index:
                continue
            pub = old.loc[(r.claim, r.dataset)]
            if pub["look"] != pub["look"]:
                continue
            suite_seeds = int(tables[track]["seed"].nunique() and _suite_seeds(tables[track]))
            n0 = first_look_seeds(int(pub["n"]), int(pub["look"]), suite_seeds)
            s = r.sample
            design.rows[r.row_id] = DesignRow(
                r.row_id, track, r.claim, r.dataset, s.kind, n0, SETTINGS.schedule(n0), *_thresholds(s)
            )
            views.append(RowView(r.row_id, r.family, s))
    ledger = Ledger()
    engine = Engine(design, ledger, _Fixed(views), _Fixed(views), budget=0.0)
    engine.catch_up(views)
    return {r.row_id: r for r in views}, ledger, design


def _suite_seeds(t: pd.DataFrame) -> int:
    """The seeds most cells of a track have in the quick suite's own run: the smallest per-cell count."""
    return int(t.groupby(["dataset", "method"])["seed"].nunique().min())


def _thresholds(s) -> tuple:
    return tuple(None if x != x else float(x) for x in (s.smallest_effect, s.margin, s.band))


class _Fixed:
    """Rows whose seeds are all there already: a source that never changes and a runner that runs nothing."""

    def __init__(self, views: list[RowView]):
        self.views = views

    def rows(self) -> list[RowView]:
        return self.views

    def run(self, targets: dict, rows: dict) -> float:
        return 0.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="rewrite leaderboards/*.claims.csv and the .md claims")
    args = parser.parse_args()
    from harness.report.markdown import claims_markdown
    from harness.report.summary import RULE

    classes = {t: REGISTRY.get("track", t).load() for t in TRACKS}
    tables = {t: table_from_seeds(t) for t in TRACKS}
    with tempfile.TemporaryDirectory() as tmp:
        for t, cls in classes.items():
            write_exact(Path(tmp), t, cls)
        with exact_reading(tmp):
            check(classes, tables)
            views, ledger, design = reread(classes, tables)
            looks = ledger.row_looks(design)
            reading = DesignReading(looks, frozenset(r.track for r in design.rows.values()), "")
            claims = {t: evaluate_claims(tables[t], classes[t], reading) for t in TRACKS}
    for t in TRACKS:
        carry_over(t, claims[t])
    controlled = with_q([c for rows in claims.values() for c in rows])
    low = [c for rows in claims.values() for c in rows if c.verdict == "reproduced" and c.ci_hi < c.smallest_effect]
    assert not low, [(c.claim, c.dataset) for c in low]  # no "reproduced" with its interval below its smallest effect
    changes = report_changes(claims, ledger)
    print(f"{len(design.rows)} design rows re-registered; {sum(len(v) for v in ledger.looks.values())} looks taken")
    print("\n".join(controlled))
    print(f"{len(changes)} verdicts changed:")
    print("\n".join(changes))
    if args.write:
        for t in TRACKS:
            claims_table(claims[t]).to_csv(BOARDS / f"{t}.claims.csv", index=False)
            md = (BOARDS / f"{t}.md").read_text(encoding="utf-8").split("## Claims", 1)[0]
            body = [RULE, "", NOTE.format(track=t), "", *(f"- {line}" for line in controlled), ""]
            body.append(claims_markdown(claims[t]))
            (BOARDS / f"{t}.md").write_text(md + "## Claims\n\n" + "\n".join(body), encoding="utf-8")
    return 0


def check(classes: dict[str, type], tables: dict[str, pd.DataFrame]) -> None:
    """The rebuilt tables give the published estimates: rows of the design at their looks, others as
    printed; the known exceptions are named (McNemar rows need the prediction files, carried over;
    a pooled row's per-seed value is an average over the datasets that have that seed, so it moved
    when a later round gave another dataset that seed)."""
    bad, known = [], []
    for t, cls in classes.items():
        old = published(t).set_index(["claim", "dataset"])
        for r in evaluate_claims(tables[t], cls):
            if (r.claim, r.dataset) not in old.index:
                bad.append(f"{t}: {r.claim} | {r.dataset}: not in the published table")
                continue
            pub = old.loc[(r.claim, r.dataset)]
            if pub["look"] == pub["look"] and r.sample is not None:
                mean = r.sample.first(int(pub["n"])).mean
                if not math.isclose(mean, pub["estimate"], rel_tol=1e-9, abs_tol=1e-12):
                    what = f"{t}: {r.claim} | {r.dataset}: estimate at look {int(pub['look'])} {mean:.6g}"
                    what += f", published {pub['estimate']:.6g}"
                    (known if r.dataset == POOLED else bad).append(what)
            elif MCNEMAR in str(pub["ours"]):
                known.append(f"{t}: {r.claim} | {r.dataset}: McNemar row carried over (needs the prediction files)")
            elif not str(pub["ours"]).startswith(r.ours.split("; sequential")[0][:60]):
                bad.append(f"{t}: {r.claim} | {r.dataset}: ours differs:\n  {r.ours[:150]}\n  {str(pub['ours'])[:150]}")
    if bad:
        print("\n".join(bad))
        raise SystemExit(f"{len(bad)} published rows do not rebuild from the seeds files")
    print("every published row rebuilds from the seeds files, but for:")
    print("\n".join(f"  {k}" for k in known))


def carry_over(track: str, rows: list) -> None:
    """Rows tested with McNemar's test on the prediction files (not in the seeds files): their published
    p-values, read again by the rule with the other rows of their claim (all of them such rows)."""
    from harness.claims.row_tests import GivenTests
    from harness.claims.rule import RowInput, decide

    old = published(track).set_index(["claim", "dataset"])

    def mcnemar(r) -> bool:
        return (r.claim, r.dataset) in old.index and MCNEMAR in str(old.loc[(r.claim, r.dataset)]["ours"])

    for family in sorted({r.family for r in rows if mcnemar(r)}):
        members = [
            r for r in rows if r.family == family and r.verdict in ("reproduced", "not reproduced", "inconclusive")
        ]
        assert all(mcnemar(r) for r in members), family
        pubs = [old.loc[(r.claim, r.dataset)] for r in members]
        deltas = [float(re.search(r"delta ([-+][0-9.]+)", str(p["ours"])).group(1)) for p in pubs]
        inputs = [
            RowInput(r.kind, GivenTests(p["p"] / 1.0, d > 0, p["p_small"])) for r, p, d in zip(members, pubs, deltas)
        ]
        for r, p, d in zip(members, pubs, decide(inputs)):
            r.ours, r.p, r.p_holm, r.p_small = str(p["ours"]), d.p, d.p_holm, d.p_small
            r.verdict, r.decided_by = d.verdict, d.decided_by


def report_changes(claims: dict[str, list], ledger: Ledger) -> list[str]:
    out = []
    for t, rows in claims.items():
        old = published(t).set_index(["claim", "dataset"])
        for r in rows:
            pub = old.loc[(r.claim, r.dataset)]
            before = (pub["verdict"], pub["decided_by"] if pub["decided_by"] == pub["decided_by"] else "")
            same_look = (_int(pub["n"]), _int(pub["look"])) == (_int(r.n), _int(r.look))
            if before == (r.verdict, r.decided_by) and (same_look or r.verdict == "inconclusive"):
                continue
            was = f"{before[0]} ({before[1] or '-'}; n {_int(pub['n'])}, look {_int(pub['look'])})"
            now = f"{r.verdict} ({r.decided_by or '-'}; n {_int(r.n)}, look {_int(r.look)})"
            out.append(f"- {t} | {r.claim} | {r.dataset}: {was} -> {now}")
    return out


def _int(x) -> str:
    return "-" if x is None or x != x else str(int(x))


if __name__ == "__main__":
    sys.exit(main())
