"""embdim: Su's h_n table, slope and worked examples (exact), the co-occurrence counts, the knee
rule, and the track end to end on a tiny fake corpus (no jieba run: the tokenized corpus is faked)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from harness.tracks.embdim import exact as ex


@pytest.mark.parametrize("n", sorted(ex.SU_TABLE))
def test_h_n_matches_su_table(n):
    assert ex.h_n(n) == pytest.approx(ex.SU_TABLE[n], abs=1e-3)


def test_headline_values_and_constant():
    assert ex.h_n(64) == pytest.approx(-15.4734, abs=1e-4)
    assert ex.h_n(512) == pytest.approx(-123.264, abs=1e-3)
    s = ex.slope()
    assert s == pytest.approx(-0.5 * math.log((1 + math.sqrt(5)) / 2), abs=1e-5)
    assert ex.constant(s) == pytest.approx(8.312, abs=1e-3)  # Su's 8.33 rounds the slope to 0.24
    assert ex.constant(0.24) == pytest.approx(8.33, abs=0.01)


def test_worked_examples():
    assert ex.entropy_estimate(100_000, 64) == pytest.approx(7.55245, abs=1e-4)
    assert ex.min_dim(100_000) == pytest.approx(95.9, abs=0.05)
    assert ex.smallest_dim_with_negative_entropy(100_000) == 96
    assert ex.smallest_dim_with_negative_entropy(5_000_000) == 128


def test_h_n_rejects_tiny_n():
    with pytest.raises(ValueError):
        ex.h_n(1)


def test_cooccurrence_counts_window_pairs_and_skips_oov_and_boundaries():
    from harness.data.zhwords import cooccurrence

    m = cooccurrence([np.array([0, 1, -1, 2]), np.array([2, 0])], n=3, window=2).toarray()
    # doc 1 pairs: (0,1) d1, (1,-1) dropped, (-1,2) dropped, (0,-1) dropped, (1,2) d2; doc 2: (2,0)
    expected = np.zeros((3, 3))
    for a, b in [(0, 1), (1, 2), (2, 0)]:
        expected[a, b] += 1
        expected[b, a] += 1
    assert np.array_equal(m, expected)


def test_knee_rule():
    from harness.tracks.embdim.claims import knee

    assert knee([(4, 6.0), (16, 5.5), (64, 5.02), (256, 5.0)]) == 64
    assert knee([(4, 6.0), (16, 5.0), (64, 5.3)]) == 16  # overfitting after the best n
    assert knee([(4, 5.0), (8, 5.1)]) == 4


def _fake_tokens() -> dict:
    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(60)]
    # two "topics": words 0-29 co-occur, 30-59 co-occur, so a 2-d+ model beats the unigram
    pieces = []
    for k in range(400):
        base = 0 if k % 2 else 30
        pieces.append([words[base + int(j)] for j in rng.integers(0, 30, 12)])
    docs = [[words[int(j)] for j in rng.integers(0, 60, 6)] for _ in range(40)]
    labels = [i % 2 for i in range(40)]
    return {"pieces": pieces, "probe_train": (docs, labels), "probe_test": (docs, labels)}


@pytest.fixture()
def fake_corpus(monkeypatch):
    import harness.data.zhwords as zw

    monkeypatch.setattr(zw, "tokenized_corpus", lambda max_chars: _fake_tokens())
    from harness.data import cache

    cache.clear()
    yield
    cache.clear()


def _cell(method: str, dim: int, vocab: int = 50):
    from harness.engine.cell import Cell
    from harness.registry import REGISTRY

    track = REGISTRY.get("track", "embdim").load()
    settings = {n: p.default for n, p in track.settings_params().items()}
    settings.update(steps=30, batch_size=16)
    ds = REGISTRY.get("dataset", "zh-words").resolve_params({"vocab": vocab, "max_chars": 1000})
    params = REGISTRY.get("method", method, "embdim").resolve_params({"dim": dim})
    return Cell("embdim", "zh-words", ds, method, params, settings, 0, "smoke")


def test_track_runs_and_beats_unigram_on_topic_corpus(fake_corpus):
    from harness.engine.runner import run_cell

    for method in ("skipgram", "skipgram-tied"):
        rec = run_cell(_cell(method, 8), threads=1)
        assert rec["status"] == "ok", rec["error"]
        m = rec["metrics"]
        assert m["vocab_size"] == 50
        assert m["gain_over_unigram"] > 0.1
        assert 0 <= m["probe_accuracy"] <= 1
        probe = rec["predictions"]["probe_test"]  # the probe's test reviews, not the track's primary test
        assert (
            probe.correct.mean() == pytest.approx(m["probe_accuracy"], abs=1e-12) and "test" not in rec["predictions"]
        )
        assert m["dim_over_bound"] == pytest.approx(8 / (8.33 * math.log(50)))


def test_vocab_larger_than_corpus_is_a_clear_error(fake_corpus):
    from harness.engine.runner import run_cell

    rec = run_cell(_cell("skipgram", 4, vocab=500), threads=1)
    assert rec["status"] == "error" and "distinct words" in rec["error"]


def test_claims_on_a_synthetic_table():
    import pandas as pd

    from harness.claims import DESCRIPTIVE, REPRODUCED
    from harness.registry import REGISTRY

    track = REGISTRY.get("track", "embdim").load()()
    rows = []
    for seed in range(2):
        for dim, loss in [(4, 6.0), (16, 5.6), (64, 5.41), (256, 5.40)]:
            rows.append(
                {
                    "dataset": "zh-words[vocab=2000]",
                    "method": f"skipgram[dim={dim}]",
                    "method_name": "skipgram",
                    "seed": seed,
                    "status": "ok",
                    "p.dim": dim,
                    "m.heldout_loss": loss + 0.001 * seed,
                    "m.vocab_size": 2000.0,
                }
            )
    table = pd.DataFrame(rows)
    results = {c.text: c.evaluate(table, track) for c in track.claims()}
    verdicts = {t: [r.verdict for r in rs] for t, rs in results.items()}
    exact_rows = [rs[0] for t, rs in results.items() if rs[0].dataset == "(exact)"]
    assert len(exact_rows) == 3 and all(r.verdict == REPRODUCED for r in exact_rows)
    knee_text = next(t for t in verdicts if "flattens" in t)
    assert verdicts[knee_text] == [DESCRIPTIVE]  # knee 64 vs 8.33 ln 2000 = 63.3, reported without a verdict
    assert "knee at n = 64" in results[knee_text][0].ours
    from harness.tracks.embdim.claims import knee_figure

    assert knee_figure(table) is not None and track.figures(table)
    table2 = table.copy()
    table2["m.heldout_loss"] = table2["p.dim"].map({4: 9.0, 16: 5.0, 64: 5.0, 256: 5.0})  # flat from n = 16
    knee_claim = next(c for c in track.claims() if "flattens" in c.text)
    assert "knee at n = 16" in knee_claim.evaluate(table2, track)[0].ours
    table3 = table.copy()
    table3["m.heldout_loss"] = table3["p.dim"].map({4: 9.0, 16: 8.0, 64: 7.0, 256: 6.0})  # never flattens
    assert "still falling at the largest n" in knee_claim.evaluate(table3, track)[0].ours
    trend_rows = next(rs for t, rs in results.items() if "falls as" in t)
    assert [r.claim.endswith("(skipgram)") for r in trend_rows] == [True]
