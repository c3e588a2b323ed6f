"""dialogue: the two sample formats, the loaders (chatterbot files, LCCC local copy), and the track
end to end with a very small budget."""

from __future__ import annotations

import importlib.util
import json
import math

import pytest

from harness.data.dialogue import clean_dialogue, lccc, read_chatterbot, split_dialogues
from harness.errors import HarnessError
from harness.tracks.dialogue.format import (
    CLS,
    PAD,
    S1,
    S2,
    SEP,
    CharVocab,
    DialogueFormat,
    cdial_sample,
    distinct_n,
    fit,
    scoring_samples,
    su_sample,
    training_samples,
)

DIALOGUES = [["你好", "你好吗", "很好"], ["吃了吗", "吃了"]]
HAS_CHATTERBOT = importlib.util.find_spec("chatterbot_corpus") is not None


def test_su_format_targets_every_turn_with_alternating_segments():
    v = CharVocab(DIALOGUES)
    s = su_sample(v, DIALOGUES[0])
    assert s.ids[0] == CLS and s.ids.count(SEP) == 3
    assert len(s.ids) == 1 + 3 + 4 + 3
    assert s.types[1:4] == [S1] * 3 and s.types[4:8] == [S2] * 4 and s.types[8:] == [S1] * 3
    assert s.mask == [0] + [1] * 10
    last = su_sample(v, DIALOGUES[0], last_only=True)
    assert last.mask == [0] + [0] * 7 + [1] * 3
    flat = su_sample(v, DIALOGUES[0], segments=False)
    assert set(flat.types) == {PAD}


def test_cdial_format_targets_only_the_last_response():
    v = CharVocab(DIALOGUES)
    s = cdial_sample(v, DIALOGUES[0])
    assert s.ids[:2] == [CLS, S1] and s.ids[-1] == SEP and s.ids.count(S2) == 1
    assert sum(s.mask) == len("很好") + 1
    assert s.mask[-3:] == [1, 1, 1]


def test_both_formats_score_the_same_tokens():
    v = CharVocab(DIALOGUES)
    su = scoring_samples(DialogueFormat("su"), v, DIALOGUES, ctx=64)
    cd = scoring_samples(DialogueFormat("cdial"), v, DIALOGUES, ctx=64)
    assert len(su) == len(cd) == 3  # every turn from the second
    for a, b in zip(su, cd):
        ta = [i for i, m in zip(a.ids, a.mask) if m]
        tb = [i for i, m in zip(b.ids, b.mask) if m]
        assert ta == tb


def test_fit_keeps_cls_and_the_scored_tail():
    v = CharVocab(DIALOGUES)
    s = cdial_sample(v, DIALOGUES[0])
    cut = fit(s, 6, "tail")
    assert len(cut.ids) == 6 and cut.ids[0] == CLS and cut.ids[-1] == SEP and sum(cut.mask) == 3
    head = fit(su_sample(v, DIALOGUES[0]), 5, "head")
    assert head.ids == su_sample(v, DIALOGUES[0]).ids[:5]
    assert len(training_samples(DialogueFormat("cdial"), v, DIALOGUES, 64)) == 2


def test_vocab_and_distinct():
    v = CharVocab(DIALOGUES)
    assert v.decode(v.encode("你好")) == "你好"
    assert v.encode("龙")[0] == 3  # unseen character -> [UNK]
    assert distinct_n(["好好", "好"], 1) == pytest.approx(1 / 3)
    assert distinct_n(["ab", "ab"], 2) == pytest.approx(0.5)
    assert distinct_n([], 2) == 0.0


def test_split_is_fixed_and_drops_short_dialogues():
    dialogues = [[f"问{i}", f"答{i}"] for i in range(200)] + [["只有一句"]]
    a = split_dialogues("x", dialogues, 15, {})
    b = split_dialogues("x", list(reversed(dialogues)), 15, {})
    assert sorted(map(tuple, a.valid)) == sorted(map(tuple, b.valid))
    assert 10 < len(a.valid) < 60 and len(a.train) + len(a.valid) == 200
    assert clean_dialogue([" 你 好 ", "", 3]) == ["你好", "3"]


def test_lccc_local_copy_list_and_dict(tmp_path):
    dialogues = [[f"你 好 {i}", f"我 很 好 {i}", "谢谢"] for i in range(60)]
    p = tmp_path / "lccc.json"
    p.write_text(json.dumps(dialogues, ensure_ascii=False), encoding="utf-8")
    d = lccc(path=str(p), valid_percent=20)
    assert d.train and d.valid and d.train[0][0].startswith("你好")
    p2 = tmp_path / "lccc_split.json"
    p2.write_text(json.dumps({"train": dialogues[:50], "valid": dialogues[50:]}, ensure_ascii=False), "utf-8")
    d2 = lccc(path=str(p2), max_dialogues=5)
    assert len(d2.train) == 5 and len(d2.valid) == 5
    with pytest.raises(HarnessError, match="needs path"):
        lccc()
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    with pytest.raises(HarnessError, match="not valid JSON"):
        lccc(path=str(bad))


def test_chatterbot_reader_on_fake_files(tmp_path):
    (tmp_path / "a.yml").write_text(
        "categories:\n- x\nconversations:\n- - 你好\n  - 你好呀\n- - 在吗\n  - 在\n", encoding="utf-8"
    )
    assert read_chatterbot(str(tmp_path)) == [["你好", "你好呀"], ["在吗", "在"]]
    with pytest.raises(HarnessError, match="no .yml"):
        read_chatterbot(str(tmp_path / "missing"))


@pytest.mark.skipif(not HAS_CHATTERBOT, reason="chatterbot-corpus not installed")
@pytest.mark.parametrize("method", ["cdial", "su-lm"])
def test_track_runs_on_chatterbot_with_a_tiny_budget(method):
    from harness.engine.cell import Cell
    from harness.engine.runner import run_cell
    from harness.registry import REGISTRY

    track = REGISTRY.get("track", "dialogue").load()
    settings = {n: p.default for n, p in track.settings_params().items()}
    settings.update(
        train_tokens=3000, hidden=16, layers=1, heads=2, eval_points=2, replies=5, reply_max_len=8, target_ppl=1e6
    )
    ds = REGISTRY.get("dataset", "chatterbot-zh").resolve_params({})
    params = REGISTRY.get("method", method, "dialogue").resolve_params({})
    rec = run_cell(Cell("dialogue", "chatterbot-zh", ds, method, params, settings, 0, "smoke"), threads=1)
    assert rec["status"] == "ok", rec["error"]
    m = rec["metrics"]
    assert math.isfinite(m["response_ppl"]) and m["response_ppl"] > 1
    assert m["tokens"] >= 3000 and m["tokens_to_target"] <= m["tokens"]
    assert 0 <= m["distinct_1"] <= 1 and 0 <= m["distinct_2"] <= 1
    if method == "su-lm":
        assert m["supervised_tokens"] > 0.9 * m["tokens"]
    else:
        assert m["supervised_tokens"] < 0.8 * m["tokens"]


def test_claims_and_figure_on_a_synthetic_table():
    import pandas as pd

    from harness.claims import REPRODUCED
    from harness.registry import REGISTRY

    track = REGISTRY.get("track", "dialogue").load()()
    rows = [
        {
            "dataset": "chatterbot-zh",
            "method": m,
            "method_name": m,
            "seed": seed,
            "status": "ok",
            "m.response_ppl": ppl + seed,
            "m.response_nll": math.log(ppl + seed),
            "m.tokens_to_target": 1000.0 * ppl,
            "m.target_share": ppl / 1000.0,
            "m.distinct_2": 0.2,
            "m.supervised_tokens": sup + seed,
            "m.supervised_share": (sup + seed) / 10000.0,
        }
        for seed in range(3)
        for m, ppl, sup in (("su-lm", 180.0, 9000.0), ("cdial", 200.0, 6000.0))
    ]
    table = pd.DataFrame(rows)
    verdicts = {c.text: c.evaluate(table, track)[0].verdict for c in track.claims()}
    assert verdicts[next(t for t in verdicts if "lower held-out" in t)] == REPRODUCED
    assert verdicts[next(t for t in verdicts if "supervises" in t)] == REPRODUCED
    figs = track.figures(table)
    assert len(figs) == 1
