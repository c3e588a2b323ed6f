"""The fewshot (PET) track: patterns, verbalizers, K sampling, every method on a smoke config."""

from __future__ import annotations

import pandas as pd
import pytest

from harness.engine.cell import Cell
from harness.engine.context import RunContext
from harness.errors import HarnessError
from harness.models.zh_tokenizers import SPECIAL_TOKENS, Vocab
from harness.registry import REGISTRY, load_builtins
from harness.tracks.fewshot import protocol as fs
from harness.tracks.fewshot import sampling
from harness.tracks.fewshot.pattern import PATTERNS, encode_pattern, parse_pattern, verbalizer_ids

load_builtins()

SMOKE_DATA = {"train_per_class": 40, "eval_per_class": 30}
SMOKE_SETTINGS = {"k": 8, "steps": 4, "full_steps": 4, "eval_every": 2, "batch_size": 8, "valid_texts": 30}
METHODS = ["pet-zero", "pet", "pet-semi", "head-finetune", "full"]  # masked-LM path (the tiny char MLM)


def _vocab(chars: str) -> Vocab:
    return Vocab(SPECIAL_TOKENS + tuple(chars), len(SPECIAL_TOKENS) + len(chars), False)


def _cell(
    method: str, seed: int = 0, settings: dict | None = None, params: dict | None = None, data: dict | None = None
) -> Cell:
    entry = REGISTRY.get("method", method, "fewshot")
    return Cell(
        "fewshot",
        "sentiment",
        dict(data or SMOKE_DATA),
        method,
        entry.resolve_params(params or {}),
        {**SMOKE_SETTINGS, **(settings or {})},
        seed,
        "smoke",
    )


# --- patterns and verbalizers ----------------------------------------------------------------------
@pytest.mark.parametrize("bad", ["满意。{x}", "__满意__{x}", "__满意。", "{x}{x}__"])
def test_pattern_without_one_mask_or_text_slot_is_a_clear_error(bad):
    with pytest.raises(HarnessError, match="exactly one"):
        parse_pattern(bad)


def test_pattern_without_mask_fails_when_the_method_is_resolved():
    entry = REGISTRY.get("method", "pet", "fewshot")
    with pytest.raises(HarnessError, match="mask"):
        entry.load()(**entry.resolve_params({"pattern": "很满意。{x}"}))


def test_named_patterns_parse_and_p1_is_prefix_p2_suffix():
    for name in PATTERNS:
        parse_pattern(name)
    assert parse_pattern("p1").is_prefix and not parse_pattern("p2").is_prefix


def test_mask_position_prefix_suffix_and_truncation():
    vocab = _vocab("满意。好很不的")
    index = vocab.index()
    rows, pos = encode_pattern(vocab, parse_pattern("p1"), ["好的"], max_len=16)
    assert rows[0][pos[0]] == index["[MASK]"] and pos[0] == 1
    assert rows[0][pos[0] + 1] == index["满"] and rows[0][-1] == index["[SEP]"]
    long_text = "好" * 50
    rows, pos = encode_pattern(vocab, parse_pattern("p2"), [long_text], max_len=12)
    assert len(rows[0]) == 12  # text truncated, the suffix pattern and its mask kept
    assert rows[0][pos[0]] == index["[MASK]"] and rows[0][pos[0] + 1 : -1] == [index[c] for c in "满意。"]


def test_verbalizer_token_missing_from_vocab_is_a_clear_error():
    vocab = _vocab("满意。很")
    assert verbalizer_ids(vocab, ("很",)) == [vocab.index()["很"]]
    with pytest.raises(HarnessError, match="not a token of the model's vocabulary"):
        verbalizer_ids(vocab, ("不", "很"))
    with pytest.raises(HarnessError, match="not a token"):
        verbalizer_ids(vocab, ("很好", "很"))


def test_verbalizer_missing_from_vocab_fails_the_cell():
    with pytest.raises(HarnessError, match="verbalizer token"):
        fs.FewShot().run(_cell("pet-zero", params={"neg": "\u2603"}), RunContext(0))


# --- K sampling --------------------------------------------------------------------------------------
def test_k_larger_than_train_split_is_a_clear_error():
    texts, labels = ["a", "b", "c", "d"], [0, 1, 0, 1]
    with pytest.raises(HarnessError, match="K=5 .* only 4"):
        sampling.sample_k(texts, labels, 5, seed=0)
    with pytest.raises(HarnessError, match="K=1000"):
        fs.FewShot().run(_cell("head-finetune", settings={"k": 1000}), RunContext(0))


def test_sample_is_balanced_seeded_and_method_independent(monkeypatch):
    texts = [f"t{i}" for i in range(100)]
    labels = [i % 2 for i in range(100)]
    a = sampling.sample_k(texts, labels, 9, seed=3)
    assert a == sampling.sample_k(texts, labels, 9, seed=3)
    assert a != sampling.sample_k(texts, labels, 9, seed=4)
    assert sorted(a[1]).count(0) in (4, 5) and len(a[0]) == 9 == len(set(a[0]))

    seen: dict[str, list[str]] = {}
    real = sampling.sample_k

    def spy(*args, **kw):
        out = real(*args, **kw)
        seen[current] = out[0]
        return out

    monkeypatch.setattr(sampling, "sample_k", spy)
    for current in ("head-finetune", "pet"):
        fs.FewShot().run(_cell(current, seed=5), RunContext(5))
    assert seen["head-finetune"] == seen["pet"]


# --- every method end to end ---------------------------------------------------------------------------
@pytest.mark.parametrize("method", METHODS)
def test_every_method_runs_on_a_smoke_config(method):
    ctx = RunContext(1)
    out = fs.FewShot().run(_cell(method, seed=1), ctx)
    assert 0.0 <= out["test_accuracy"] <= 1.0 and 0.0 <= out["valid_accuracy"] <= 1.0
    assert out["test_texts"] == 60 and 0.0 <= out["positive_rate"] <= 1.0
    expected_k = {"pet-zero": 0, "full": 80}.get(method, 8)
    assert out["labelled_texts"] == expected_k
    test = ctx.predictions["test"]
    assert test.n == 60 and test.correct.mean() == pytest.approx(out["test_accuracy"], abs=1e-12)
    if method != "pet-zero":
        assert ctx.train_seconds > 0 and ctx.curves.get("valid_accuracy")


def _row(dataset: str, method: str, seed: int, acc: float, **extra) -> dict:
    return {
        "track": "fewshot",
        "dataset": dataset,
        "dataset_name": "sentiment",
        "setting": dataset.split(" · ")[-1],
        "method": method,
        "method_name": method.split("[")[0],
        "seed": seed,
        "status": "ok",
        "m.labelled_texts": extra.pop("k", 16),
        "m.test_accuracy": acc,
        "m.test_texts": 2000,
        "m.predicted_labels": extra.pop("labels", 2),
        **extra,
    }


def test_figure_and_claims_on_a_synthetic_table():
    rows = []
    for k, base in ((16, 0.6), (64, 0.7)):
        ds = f"sentiment · k={k}"
        for seed in range(3):
            rows.append(
                _row(ds, "pet", seed, base + 0.05 + 0.01 * seed, k=k, **{"m.subset_accuracy": 0.8 + 0.01 * seed})
            )
            rows.append(_row(ds, "head-finetune", seed, base + 0.01 * seed - 0.001 * seed * seed, k=k))
            rows.append(_row(ds, "icl", seed, 0.5, k=4, **{"m.subset_accuracy": 0.6 + 0.02 * seed}))
        rows.append(_row(ds, "pet-zero[pattern=p1]", 0, 0.58, k=0))
        rows.append(_row(ds, "pet-zero[pattern=p2]", 0, 0.52 if k == 64 else 0.5, k=0, labels=2 if k == 64 else 1))
    table = pd.DataFrame(rows)
    track = fs.FewShot()
    assert track.figures(table)
    res = {(c.text.split(",")[0][:12], r.dataset): r for c in track.claims() for r in c.evaluate(table, track)}
    assert res[("with zero la", "sentiment · k=16")].verdict == "reproduced"  # 0.58 > 0.5 over 2000 texts
    assert res[("zero-shot", "sentiment · k=64")].verdict == "reproduced"  # 0.58 vs 0.52, z = 3.8
    p1p2_k16 = res[("zero-shot", "sentiment · k=16")]
    assert p1p2_k16.verdict == "untestable" and "one label for every text" in p1p2_k16.ours  # P2 constant
    assert res[("with few lab", "sentiment · k=16")].verdict == "reproduced"  # PET 5 points above the head
    pet_icl = res[("a small LM t", "sentiment · k=64")]
    assert pet_icl.verdict == "reproduced" and "margin 0.02" in pet_icl.ours


def test_default_k_is_one_percent_of_the_train_split():
    out = fs.FewShot().run(
        _cell("head-finetune", settings={"k": 0}, data={"train_per_class": 200, "eval_per_class": 20}), RunContext(0)
    )
    assert out["labelled_texts"] == 4  # round(0.01 * 400)


def test_wobert_backbone_runs_pet_on_a_smoke_config():
    out = fs.FewShot().run(_cell("pet", settings={"backbone": "wobert"}), RunContext(0))
    assert 0.0 <= out["test_accuracy"] <= 1.0 and out["labelled_texts"] == 8


def test_unknown_scale_is_a_clear_error():
    from harness.tracks.fewshot.mlm import mlm_backbone

    with pytest.raises(HarnessError, match="no pretrained MLM for scale 'paper'"):
        mlm_backbone("paper", "char")


def test_a_local_bert_runs_through_the_hub_path(tmp_path):
    """``bert:<folder>`` (the paper block's ``bert:hfl/chinese-roberta-wwm-ext`` with a local copy)."""
    from test_tokenization import _fake_hub

    folder = _fake_hub(tmp_path / "hub")
    for method in ("pet-zero", "head-finetune"):
        out = fs.FewShot().run(_cell(method, settings={"backbone": f"bert:{folder}", "max_len": 64}), RunContext(0))
        assert 0.0 <= out["test_accuracy"] <= 1.0 and out["test_texts"] == 60
    with pytest.raises(HarnessError, match="exceeds the backbone's 64 positions"):
        fs.FewShot().run(_cell("pet", settings={"backbone": f"bert:{folder}"}), RunContext(0))
    with pytest.raises(HarnessError, match="does not exist"):
        fs.FewShot().run(_cell("pet-zero", settings={"backbone": f"bert:{tmp_path}/missing/x"}), RunContext(0))
