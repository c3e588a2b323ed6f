"""`harness publish` files (provenance, per-seed and claims CSVs, LaTeX), scales kept apart, and the
report (summary first, track order, size) checked in a real browser (headless Chromium).

The results are written straight to a store (tests/report_fixtures.py): nothing is trained.
"""

from __future__ import annotations

import shutil
import subprocess

import pytest

pd = pytest.importorskip("pandas")

from report_fixtures import TRACKS, write_results  # noqa: E402

from harness.errors import HarnessError  # noqa: E402
from harness.exact_results import reading  # noqa: E402
from harness.report.build import build_report, publish_leaderboards  # noqa: E402
from harness.stats import paired_test  # noqa: E402

CLAIMS_COLUMNS = ["claim", "dataset", "kind", "published", "comparable", "ours", "p", "p_holm", "q", "verdict"]
CLAIMS_COLUMNS += ["smallest_effect", "n", "look", "decided_by", "p_small", "estimate"]
CLAIMS_COLUMNS += ["ci95_lo", "ci95_hi", "n_updated", "estimate_updated", "seed_var", "test_var"]


def _publish(res, out, **kw):
    with reading(res):  # exact claims read from the results (not computed here)
        return publish_leaderboards(str(res), str(out), **kw)


def test_publish_writes_provenance_seeds_and_claims(tmp_path):
    res, lb = tmp_path / "res", tmp_path / "lb"
    write_results(res, ("imbalance", "vae"))
    written = {p.name for p in _publish(res, lb)}
    assert {"imbalance.md", "imbalance.csv", "imbalance.seeds.csv", "imbalance.claims.csv"} <= written
    md = (lb / "imbalance.md").read_text()
    assert "Suite / scale: `quick`; 3 seeds" in md and "git commit 0123456789ab" in md
    assert "Reproduce: `harness run --suite quick --track imbalance && harness publish --track imbalance`" in md
    board = pd.read_csv(lb / "imbalance.csv")
    assert set(board["scale"]) == {"quick"} and set(board["git_commit"]) == {"0123456789abcdef0123456789abcdef01234567"}
    claims = pd.read_csv(lb / "imbalance.claims.csv")
    assert list(claims.columns) == CLAIMS_COLUMNS and len(claims)
    seeds = pd.read_csv(lb / "imbalance.seeds.csv")
    assert list(seeds.columns)[:5] == ["track", "dataset", "method", "seed", "status"]
    assert set(seeds["dataset"]) == set(board["dataset"]) and set(seeds["method"]) == set(board["method"])


def test_an_outside_script_recomputes_every_paired_delta_from_the_seeds_csv(tmp_path):
    res, lb = tmp_path / "res", tmp_path / "lb"
    write_results(res, ("imbalance", "weightreg"))
    _publish(res, lb)
    for track in ("imbalance", "weightreg"):
        board, seeds = pd.read_csv(lb / f"{track}.csv"), pd.read_csv(lb / f"{track}.seeds.csv")
        for _, row in board.iterrows():
            ds = seeds[(seeds["dataset"] == row["dataset"]) & (seeds["status"] == "ok")]
            base = board[(board["dataset"] == row["dataset"]) & board["baseline"]].iloc[0]["method"]
            by_seed = {m: dict(zip(g["seed"], g[row["metric"]])) for m, g in ds.groupby("method")}
            if row["method"] == base:
                continue
            pr = paired_test(by_seed[row["method"]], by_seed[base])
            assert pr.delta == pytest.approx(row["delta_vs_baseline"], abs=1e-12)
            assert pr.ci_lo == pytest.approx(row["delta_ci95_lo"], abs=1e-12)
            assert pr.ci_hi == pytest.approx(row["delta_ci95_hi"], abs=1e-12)


def test_scales_never_replace_each_other(tmp_path):
    """What `make run SUITE=smoke` does after a quick run (run, report, publish into the same
    folders) must leave the published quick leaderboards byte-for-byte untouched."""
    res, lb = tmp_path / "res", tmp_path / "lb"
    write_results(res, ("imbalance",))
    _publish(res, lb)
    before = {p.name: p.read_bytes() for p in lb.glob("*.*")}
    write_results(res, ("imbalance",), scale="smoke", seeds=2)  # newer cells of another scale
    paths = _publish(res, lb)
    assert all(p.parent == lb / "smoke" for p in paths)
    assert {p.name: p.read_bytes() for p in lb.glob("*.*")} == before
    assert "`smoke`" in (lb / "smoke" / "imbalance.md").read_text()
    _publish(res, lb, scale="quick")  # republishing the quick scale from the same cells: identical bytes
    assert {p.name: p.read_bytes() for p in lb.glob("*.*")} == before
    with pytest.raises(HarnessError, match="refusing to replace"):
        _publish(res, lb / "smoke", scale="quick")  # quick into a folder that holds smoke tables
    _publish(res, lb / "smoke", scale="quick", force=True)
    with pytest.raises(HarnessError, match="--scale 'paper'"):
        _publish(res, lb, scale="paper")


def test_latex_tables_are_booktabs(tmp_path):
    res, lb = tmp_path / "res", tmp_path / "lb"
    write_results(res, ("imbalance",))
    _publish(res, lb, formats=("md", "latex"))
    tex = (lb / "imbalance.tex").read_text()
    assert "\\toprule" in tex and "\\midrule" in tex and "\\bottomrule" in tex and "\\begin{tabular}" in tex
    assert "$\\pm$" in tex and "95\\% CI" in tex  # special characters escaped


def _report(tmp_path):
    res, rep = tmp_path / "res", tmp_path / "rep"
    write_results(res)
    with reading(res):
        html, md = build_report(str(res), str(rep))
    return html, md


def test_report_leads_with_the_summary_in_track_order_and_is_small(tmp_path):
    html_path, md_path = _report(tmp_path)
    html = html_path.read_text()
    assert html.index('id="summary"') < html.index('id="toc"') < html.index('id="track-')
    assert "within a claim at or below 0.05" in html and "seeds" in html
    assert "What is controlled" in html and "Benjamini-Yekutieli" in html  # both guarantees, stated up front
    positions = [html.index(f'<section id="track-{t}"') for t in TRACKS]
    assert positions == sorted(positions)  # igr, fewshot, tokenization, imbalance, weightreg, vae, embdim, dialogue
    assert html_path.stat().st_size <= 1_000_000
    md = md_path.read_text()
    assert md.index("## Summary") < md.index("## Contents") < md.index("## Track `igr`")
    assert md.index("Within each claim: the chance of any false verdict") < md.index("## Contents")
    assert "Across all" in md and "q <= 0.05" in md


def _chromium() -> str | None:
    return next((p for p in (shutil.which(n) for n in ("chromium", "chromium-browser")) if p), None)


@pytest.mark.skipif(
    _chromium() is None,
    reason="headless Chromium not installed (Debian: apt-get install -y chromium; .ci/ensure-chromium does it)",
)
def test_report_renders_in_headless_chromium(tmp_path):
    html_path, _ = _report(tmp_path)
    cmd = [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--window-size=1400,1000"]
    dom = subprocess.run(
        [*cmd, "--dump-dom", html_path.as_uri()], capture_output=True, text=True, timeout=120, check=True
    ).stdout
    assert '<section id="summary">' in dom and '<nav id="toc">' in dom
    for track in TRACKS:
        assert f'<section id="track-{track}" class="track">' in dom, track
    assert dom.count("<img") >= len(TRACKS)  # every track has at least its per-method bars
    shot = tmp_path / "shot.png"
    subprocess.run([*cmd, f"--screenshot={shot}", html_path.as_uri()], capture_output=True, timeout=120, check=True)
    assert shot.exists() and shot.stat().st_size > 10_000  # a rendered page, not a blank one


def test_each_block_compares_with_its_own_baseline(tmp_path):
    """igr runs small-lr at a block-specific lr; each dataset/settings group's baseline is the
    baseline method as that group runs it, so every group gets deltas (not only the default one)."""
    from report_fixtures import _record

    from harness.engine.cell import Cell
    from harness.engine.store import Store, collect
    from harness.registry import REGISTRY
    from harness.report.leaderboard import track_rows

    store = Store(tmp_path)
    igr = REGISTRY.get("track", "igr")
    versions = {"track": igr.version, "dataset": REGISTRY.get("dataset", "digits").version}
    blocks = (({"epochs": 5, "protocol": "epochs"}, 0.03), ({"epochs": 9, "protocol": "epochs"}, 0.05))
    for settings, base_lr in blocks:
        for method, params, value in (("small-lr", {"lr": base_lr}, 0.5), ("constant-lr", {"lr": 0.2}, 0.6)):
            for seed in range(3):
                cell = Cell("igr", "digits", {}, method, params, settings, seed, "quick", {**versions, "method": 1})
                store.write(_record(cell, {"test_accuracy": value + 0.01 * seed * (method == "small-lr")}, seed))
    rows = track_rows(collect(tmp_path), igr.load())
    groups = {r.dataset for r in rows}
    assert len(groups) == 2
    for group in groups:
        base = [r for r in rows if r.dataset == group and r.is_baseline]
        assert len(base) == 1 and base[0].method.startswith("small-lr")
        other = [r for r in rows if r.dataset == group and not r.is_baseline]
        assert other and all(r.delta == r.delta for r in other)  # a delta against this block's baseline


def test_summary_shows_the_first_testable_row_of_the_headline_claim():
    """A headline claim whose first row is untestable (a tiny backbone) shows the row a verdict was read from."""
    from harness.claims import ClaimResult
    from harness.report.summary import summarize_track

    rows = [
        ClaimResult("P1 above chance", "84.27", "one label for every text", "untestable", dataset="tiny"),
        ClaimResult("P1 above chance", "84.27", "0.577 vs chance 0.5", "reproduced", dataset="qwen"),
    ]
    summary = summarize_track("fewshot", rows, "quick")
    assert (summary.ours, summary.ours_verdict, summary.ours_dataset) == ("0.577 vs chance 0.5", "reproduced", "qwen")
    assert summary.verdicts == "1 reproduced, 1 untestable"
    only_untestable = summarize_track("fewshot", rows[:1], "quick")
    assert only_untestable.ours.startswith("one label for every text")


def test_summary_ours_is_the_estimate_interval_and_verdict_not_the_paragraph(tmp_path):
    """The summary cell shows the clause with the estimate's interval, the verdict and the dataset's
    name; the whole text (choices per seed, protocol, note) stays in the track's claims table."""
    from harness.claims import ClaimResult
    from harness.report.summary import SHORT_OURS, short_ours, summarize_track, summary_markdown

    weightreg = (
        "0.6120 -> 0.6130 (delta 0.001 [-0.00796, 0.00996], margin 0.01, n=3); weight-decay chosen per seed on "
        "valid_accuracy: weight-decay[wd=0.1] x1, weight-decay[wd=0.3] x1, weight-decay[wd=3] x1; weissi chosen per "
        "seed on valid_accuracy: weissi[lam1=0.03,lam2=0.0001] x2, weissi[lam1=0.1,lam2=0.001] x1 (note: Su 7681)"
    )
    row = ClaimResult("WEISSI >= weight decay", "", weightreg, "reproduced", dataset="mnist1d · epochs=30 model=mlp")
    summary = summarize_track("weightreg", [row], "quick")
    assert summary.ours == "0.6120 -> 0.6130 (delta 0.001 [-0.00796, 0.00996], margin 0.01, n=3)"
    assert (summary.ours_verdict, summary.ours_dataset) == ("reproduced", "mnist1d")
    md = "\n".join(summary_markdown([summary], []))
    assert "0.00996], margin 0.01, n=3): reproduced (mnist1d) |" in md and "chosen per seed" not in md
    # igr: the protocol lead goes, and the interval is in the second clause, not the first
    igr = (
        "[GD, converge: to train loss 0.1 (cap 8000 steps)] smallest lr 0.04: 0.00323; egr[lr=0.04,mu=0.04]: 0.00336 "
        "(delta 0.000131 [5.45e-06, 0.000257], n=5); largest lr 0.16: 0.00501 (delta 0.00178, p=0.00184)"
    )
    assert short_ours(igr) == "egr[lr=0.04,mu=0.04]: 0.00336 (delta 0.000131 [5.45e-06, 0.000257], n=5)"
    # a semicolon inside parentheses does not end the clause; an untestable row shows its reason
    assert short_ours("slope -0.2406 (n = 2048..4096; -1/2 ln phi = -0.2406); constant 8.31") == (
        "slope -0.2406 (n = 2048..4096; -1/2 ln phi = -0.2406)"
    )
    assert short_ours("only 2 lr values reached the target; 0.5 -> 0.6 (delta 0.1 [0.0, 0.2])", interval=False) == (
        "only 2 lr values reached the target"
    )
    long = short_ours("Spearman " + "rho=0.9 " * 40)
    assert len(long) <= SHORT_OURS and long.endswith("…")
    html_path, _ = _report(tmp_path)  # the HTML cell: the short text, then the coloured verdict
    html = html_path.read_text()
    assert ': <span class="verdict-' in html and "the row's\nwhole text" in html


def test_claims_csv_counts_stay_integers_beside_empty_rows(tmp_path):
    from harness.claims.core import ClaimResult
    from harness.report.publish import claims_table

    rows = [
        ClaimResult("a beats b", "", "+0.1", "reproduced", kind="superiority", n=5, look=2),
        ClaimResult("the table matches", "", "ok", "reproduced", kind="exact"),  # no seeds: n empty
    ]
    claims_table(rows).to_csv(tmp_path / "t.claims.csv", index=False)
    read = pd.read_csv(tmp_path / "t.claims.csv", dtype=str, keep_default_na=False)
    assert list(read["n"]) == ["5", ""] and list(read["look"]) == ["2", ""]
