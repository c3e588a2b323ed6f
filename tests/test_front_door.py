"""The front door: a README of at most 300 lines whose results table is generated from the published
claims tables, links that resolve, and a docs site whose navigation holds every page.

Why: the README once grew to 1,046 lines, and a table typed by hand drifts from the leaderboards
it summarises. The generator (harness/report/at_a_glance.py) reads only ``<track>.claims.csv``, so
these checks run on the committed leaderboards in well under a second, without results or torch.
"""

from __future__ import annotations

import csv
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from harness.cli import main
from harness.errors import HarnessError
from harness.report import at_a_glance as glance

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
LEADERBOARDS = ROOT / "leaderboards"
DOCS = ROOT / "docs"
LINK = re.compile(r"\]\(([^)\s]+)\)")
COLUMNS = ["claim", "dataset", "kind", "published", "comparable", "ours", "verdict"]


def _claims(path: Path, rows: list[tuple[str, str, str]]) -> None:
    """A ``<track>.claims.csv`` with (claim, published, verdict) rows, the other columns filled."""
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(COLUMNS)
        for claim, published, verdict in rows:
            w.writerow([claim, "d", "superiority", published, "", "x", verdict])


def _block(text: str) -> str:
    return text.split(glance.BEGIN, 1)[1].split(glance.END, 1)[0]


def test_readme_is_at_most_300_lines():
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 300, f"README.md has {len(lines)} lines; move the detail into docs/"


def test_readme_block_is_what_the_generator_writes_for_the_committed_leaderboards():
    text = README.read_text(encoding="utf-8")
    fix = f"out of date: run `{glance.OFFLINE}` (or `{glance.REGENERATE}` after republishing)"
    assert glance.readme_with_block(text, LEADERBOARDS) == text, fix
    assert (LEADERBOARDS / glance.SUMMARY).read_text(encoding="utf-8") == glance.summary_text(LEADERBOARDS), fix
    # the block is not empty: one row per published track, counts read from the files
    tracks = sorted(p.name.split(".")[0] for p in LEADERBOARDS.glob("*.claims.csv"))
    assert tracks and all(f"| [{t}](docs/tracks/{t}.md) |" in _block(text) for t in tracks)


def test_block_counts_each_verdict_and_reads_the_headline(tmp_path):
    """Counts come from the file, row by row; the headline is the declared one (imbalance marks
    "Logit-adjusted loss (tau=1) beats ERM ..."), else the first claim with a published value."""
    la = "Logit-adjusted loss (tau=1) beats ERM on balanced accuracy"
    _claims(
        tmp_path / "imbalance.claims.csv",
        [("an exact identity", "", "reproduced"), (la, "0.77", "reproduced"), (la, "0.77", "inconclusive")]
        + [("other (a long aside that is dropped; more)", "", "not reproduced"), ("d", "", "untestable")],
    )
    _claims(tmp_path / "mytrack.claims.csv", [("first", "", "inconclusive"), ("second (p1; x)", "1.0", "reproduced")])
    lines = glance.glance_lines(tmp_path)
    imb = next(line for line in lines if line.startswith("| [imbalance]"))
    assert imb.split(" | ")[1:7] == ["5", "4", "3", "2", "1", "1"]  # rows, testable, decided, rep, not rep, inconcl.
    assert imb.endswith(f"{la}: **1 reproduced, 1 inconclusive** |")
    mine = next(line for line in lines if line.startswith("| [mytrack]"))  # not registered: first published claim
    assert mine.endswith("second (p1): **reproduced** |")
    total = next(line for line in lines if line.startswith("| **all**"))
    assert "| **7** | **6** | **4** | **3** | **1** | **2** |" in total
    assert lines.index(imb) < lines.index(mine)  # report order: registered tracks first


def test_short_claim_and_verdict_words():
    assert glance.short_claim("a (full-batch GD; Barrett & Dherin 2021)") == "a (full-batch GD)"
    assert glance.short_claim("codes near N(0, I) than the AE's (MMD)") == "codes near N(0, I) than the AE's (MMD)"
    assert glance.short_claim("x (inference, time of the char twin / own time)") == "x (inference)"
    assert glance.short_claim("x (a clause much longer than twenty characters)") == "x"
    assert glance.verdict_words(["reproduced"]) == "reproduced"
    assert glance.verdict_words(["not reproduced"] * 3) == "not reproduced on all 3 rows"
    assert glance.verdict_words(["untestable", "reproduced"]) == "1 reproduced, 1 untestable"


def test_bad_input_is_one_line(tmp_path):
    with pytest.raises(HarnessError, match="holds no <track>.claims.csv"):
        glance.glance_lines(tmp_path)
    (tmp_path / "igr.claims.csv").write_text("claim,verdict\nx,reproduced\n", encoding="utf-8")
    with pytest.raises(HarnessError, match=r"igr.claims.csv: not a claims table \(no column dataset, kind"):
        glance.glance_lines(tmp_path)
    with pytest.raises(HarnessError, match="needs one line"):
        glance.readme_with_block("# a README without markers\n", LEADERBOARDS)
    with pytest.raises(HarnessError, match="needs one line"):
        glance.readme_with_block(f"{glance.END}\n{glance.BEGIN}\n", LEADERBOARDS)  # wrong order
    with pytest.raises(HarnessError, match="no such file"):
        glance.rewrite_readme(tmp_path / "missing.md", LEADERBOARDS)


def test_offline_command_rewrites_then_checks_clean(tmp_path):
    """`python -m harness.report.at_a_glance`: --check exits 1 on a stale README and writes nothing;
    the plain command rewrites only the block (the text around it is kept) and is idempotent."""
    lb = tmp_path / "leaderboards"  # the folder's name is in the block's first line
    shutil.copytree(LEADERBOARDS, lb, ignore=shutil.ignore_patterns("gpu", "*.seeds.csv", "*.tex"))
    (lb / glance.SUMMARY).unlink()
    readme = tmp_path / "README.md"
    stale = f"# title\n\nbefore\n\n{glance.BEGIN}\n| old table |\n{glance.END}\n\nafter\n"
    readme.write_text(stale, encoding="utf-8")
    args = ["--leaderboards", str(lb), "--readme", str(readme)]
    assert glance.main([*args, "--check"]) == 1
    assert readme.read_text(encoding="utf-8") == stale and not (lb / glance.SUMMARY).exists()
    assert glance.main(args) == 0
    text = readme.read_text(encoding="utf-8")
    assert text.startswith("# title\n\nbefore\n\n") and text.endswith(f"{glance.END}\n\nafter\n")
    assert "| old table |" not in text and _block(text) == _block(README.read_text(encoding="utf-8"))
    assert glance.main([*args, "--check"]) == 0
    assert glance.main(["--leaderboards", str(tmp_path / "none"), "--readme", str(readme)]) == 2


def test_offline_command_runs_as_a_module(tmp_path):
    """The documented command itself, in a fresh process: a missing README is one line, exit 2."""
    cmd = [sys.executable, "-m", "harness.report.at_a_glance", "--readme", str(tmp_path / "no.md"), "--check"]
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and out.stderr.strip().count("\n") == 0, out.stderr
    assert "no such file" in out.stderr


def test_publish_writes_summary_and_the_readme_block(tmp_path):
    """`harness publish --readme` publishes, writes summary.md and rewrites the block; a README
    without markers stops it before anything is written (one line, exit 2)."""
    from report_fixtures import write_results

    res, lb = tmp_path / "res", tmp_path / "lb"
    write_results(res, ("imbalance", "vae"))
    bad = tmp_path / "plain.md"
    bad.write_text("# no markers\n", encoding="utf-8")
    out = CliRunner().invoke(main, ["publish", "--results", str(res), "--out", str(lb), "--readme", str(bad)])
    assert out.exit_code == 2 and "needs one line" in out.output and not lb.exists()
    readme = tmp_path / "README.md"
    readme.write_text(f"{glance.BEGIN}\n{glance.END}\n", encoding="utf-8")
    out = CliRunner().invoke(main, ["publish", "--results", str(res), "--out", str(lb), "--readme", str(readme)])
    assert out.exit_code == 0, out.output
    assert f"wrote {lb / glance.SUMMARY}" in out.output and f"wrote {readme}" in out.output
    summary = (lb / glance.SUMMARY).read_text(encoding="utf-8")
    assert "| [imbalance](imbalance.md) |" in summary and "| [vae](vae.md) |" in summary
    assert "| [imbalance](docs/tracks/imbalance.md) |" in readme.read_text(encoding="utf-8")


def test_every_readme_link_into_docs_resolves():
    from markdown.extensions.toc import slugify

    links = [m for m in LINK.findall(README.read_text(encoding="utf-8")) if m.startswith("docs/")]
    assert len(links) >= 15
    for link in links:
        path, _, anchor = link.partition("#")
        assert (ROOT / path).is_file(), f"README links to {path}, which does not exist"
        if anchor:
            heads = re.findall(r"^#+ (.+)$", (ROOT / path).read_text(encoding="utf-8"), flags=re.M)
            slugs = {slugify(re.sub(r"`", "", h), "-") for h in heads}
            assert anchor in slugs, f"README links to {link}: no such heading in {path}"


def test_every_docs_page_is_in_the_nav():
    """Strict builds fail on an omitted page too (mkdocs.yml's validation), but this needs no mkdocs."""
    yaml = pytest.importorskip("yaml")
    nav = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))["nav"]

    def pages(node: object) -> list[str]:
        if isinstance(node, str):
            return [node]
        if isinstance(node, list):
            return [p for item in node for p in pages(item)]
        return [p for v in node.values() for p in pages(v)] if isinstance(node, dict) else []

    listed = pages(nav)
    assert sorted(listed) == sorted(str(p.relative_to(DOCS)) for p in DOCS.rglob("*.md"))
    tracks = ("igr", "fewshot", "tokenization", "imbalance", "weightreg", "vae", "embdim", "dialogue")
    assert {f"tracks/{t}.md" for t in tracks} <= set(listed)  # one page per track
