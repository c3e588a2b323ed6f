"""Option scoring on a tiny random causal LM: the batched scorer (shared-prefix keys/values, output layer
at scored positions only) equals the naive per-sequence loop, and top layers over cached lower-layer
states equal the full forward. The tiny model's weights have a wide spread, so a wrong position id or
mask changes the scores by far more than the tolerance (checked below)."""

from __future__ import annotations

import pytest
import torch
from lm_tiny import tiny_model, tiny_tokenizer

from harness.artifacts import cache_dir
from harness.errors import HarnessError
from harness.models import lm_reference as R
from harness.models import lm_scoring as S
from harness.models import lm_states as L

TEXTS = ["好 phone, love it", "差", "meh. so so!", "abc def ghi jkl mno pqr stu", "x", "我觉得很好评论很多"]
TOL = dict(atol=2e-4, rtol=1e-5)
CASES = [  # (pattern, verbalizers): label last (one pass), label before the text (Su's P1), label then a word
    ("评论：{x}这条评论的情感是：{y}", ["差", "好"]),
    ("__满意。{x}", ["不", "很"]),
    ("{x}__满意。", ["不", "很"]),
    ("{x}总之我觉得{y}", ["失望 indeed", "满意 indeed"]),  # multi-token words sharing a tail
]


@pytest.fixture(scope="module")
def lm():
    tok = tiny_tokenizer()
    return tiny_model(len(tok), layers=3), tok


@pytest.mark.parametrize("pattern, words", CASES)
@pytest.mark.parametrize("tokenization", S.TOKENIZATIONS)
def test_batched_scores_equal_the_naive_loop(lm, pattern, words, tokenization):
    model, tok = lm
    plan = S.build_plan(tok, S.Pattern(pattern), TEXTS, words, tokenization=tokenization)
    naive = R.naive_option_scores(model, plan, one_pass_when_last=False)
    torch.testing.assert_close(R.naive_option_scores(model, plan), naive, **TOL)
    for batch_size in (1, 4):
        torch.testing.assert_close(S.score_plan(model, plan, batch_size, pad_id=tok.pad_token_id), naive, **TOL)


@pytest.mark.parametrize("pattern, words", [CASES[0], CASES[2]])
def test_without_a_start_token_too(lm, pattern, words):
    model, tok = lm
    plan = S.build_plan(tok, S.Pattern(pattern), TEXTS, words, start_token=False)
    assert plan.options[0][0][0] != S.start_token_id(tok)
    torch.testing.assert_close(
        S.score_plan(model, plan, 4, tok.pad_token_id), R.naive_option_scores(model, plan), **TOL
    )
    with pytest.raises(HarnessError, match="start token"):
        S.build_plan(tok, S.Pattern("__满意。{x}"), TEXTS, ["不", "很"], start_token=False)


def test_one_start_token_rule_for_every_pattern(lm):
    """Su's P1 (label first), P2 (label after the text) and a label-last prompt all start with the start
    token: no comparison scores its patterns or options under different rules."""
    _, tok = lm
    start = S.start_token_id(tok)
    for pattern, words in CASES:
        plan = S.build_plan(tok, S.Pattern(pattern), TEXTS, words)
        assert all(seq[0] == start for opts in plan.options for seq in opts), pattern
        assert plan.prefix[:1] == [start]


@pytest.mark.parametrize("pattern, words", CASES)
def test_scores_equal_plain_transformers_without_build_plan(lm, pattern, words):
    """The outside check: each filled string tokenized by the tokenizer itself, the start token first,
    one ``model(input_ids)`` per option (harness.models.lm_reference, which never calls build_plan)."""

    model, tok = lm
    plain = R.plain_sequence_logprobs(model, tok, TEXTS, pattern, words)
    fast = S.option_scores(model, tok, TEXTS, pattern, words, batch_size=4)
    found = R.compare(fast, plain)
    assert found["max_abs_diff_nats"] < 2e-4 and found["argmax_agreement"] == 1.0, found
    # The check can fail: dropping the start token changes a label-after-text pattern's scores.
    if not pattern.startswith("__"):
        other = S.option_scores(model, tok, TEXTS, pattern, words, start_token=False)
        assert R.compare(other, plain)["max_abs_diff_nats"] > 1e-2


def test_label_last_pattern_is_one_pass_and_prefix_pattern_is_not(lm):
    model, tok = lm
    assert S.build_plan(tok, S.Pattern(CASES[0][0]), TEXTS, CASES[0][1]).last_token_only
    plan = S.build_plan(tok, S.Pattern("__满意。{x}"), TEXTS, ["不", "很"])
    assert not plan.last_token_only and plan.split == [1] * len(TEXTS)  # differ right after the start token


def test_in_context_demonstrations_reuse_the_prefix_and_match_the_naive_loop(lm):
    model, tok = lm
    pattern = S.Pattern(CASES[0][0])
    context = S.icl_context(pattern, [("nice one", "好"), ("awful", "差"), ("fine", "好")])
    plan = S.build_plan(tok, pattern, TEXTS, CASES[0][1], context=context)
    assert len(plan.prefix) > len(tok(context, add_special_tokens=False)["input_ids"])  # demos + "评论："
    torch.testing.assert_close(
        S.score_plan(model, plan, 4, tok.pad_token_id), R.naive_option_scores(model, plan), **TOL
    )


def test_scores_are_sensitive_to_positions(lm, monkeypatch):
    """Guard for the tolerance above: continuing the cache at a wrong position changes the scores a lot,
    on the packed path (label-last plans of a Llama-style model) and on the padded one."""
    from harness.models import lm_packed

    model, tok = lm
    plan = S.build_plan(tok, S.Pattern(CASES[0][0]), TEXTS, CASES[0][1])
    assert plan.last_token_only and lm_packed.packable(S.base_model(model))
    right = S.score_plan(model, plan, 4, tok.pad_token_id)
    pack = lm_packed.pack
    monkeypatch.setattr(lm_packed, "pack", lambda lengths, device="cpu", prefix=0: pack(lengths, device, prefix + 1))
    assert (S.score_plan(model, plan, 4, tok.pad_token_id) - right).abs().max() > 100 * TOL["atol"]
    monkeypatch.undo()
    monkeypatch.setattr(S, "packable", lambda base: False)
    torch.testing.assert_close(S.score_plan(model, plan, 4, tok.pad_token_id), right, **TOL)
    run = S._run
    monkeypatch.setattr(
        S,
        "_run",
        lambda m, ids, mask, start, cache: run(m, ids, mask, start + (1 if cache.get_seq_length() else 0), cache),
    )
    assert (S.score_plan(model, plan, 4, tok.pad_token_id) - right).abs().max() > 100 * TOL["atol"]


def test_option_scores_and_calibration(lm):
    model, tok = lm
    raw = S.option_scores(model, tok, TEXTS, "{x}__满意。", ["不", "很"])
    cal = S.option_scores(model, tok, TEXTS, "{x}__满意。", ["不", "很"], calibrate=S.CONTENT_FREE)
    cf = S.option_scores(model, tok, list(S.CONTENT_FREE), "{x}__满意。", ["不", "很"])
    torch.testing.assert_close(cal, S.calibrated(raw, cf))
    torch.testing.assert_close(cal.exp().sum(1), torch.ones(len(TEXTS)))
    # Calibrating the single content-free input by itself leaves no preference at all.
    one = S.calibrated(cf[:1], cf[:1])
    torch.testing.assert_close(one, torch.full_like(one, -torch.log(torch.tensor(2.0)).item()))


def test_segment_tokenization_keeps_the_label_tokens(lm):
    _, tok = lm
    plan = S.build_plan(
        tok,
        S.Pattern("{x}总之我觉得{y}"),
        ["abc"],
        ["失望 indeed", "满意 indeed"],
        tokenization="segments",
        start_token=True,
    )
    word = tok("满意 indeed", add_special_tokens=False)["input_ids"]
    assert plan.options[0][1][-len(word) :] == word and plan.options[0][0][0] == S.start_token_id(tok)


@pytest.mark.parametrize("template", ["{x} only text", "__ and __ {x}", "no slots"])
def test_bad_patterns_are_one_line_errors(template):
    with pytest.raises(HarnessError, match="exactly one"):
        S.Pattern(template)


def test_bad_label_words_and_non_decoder_models(lm):
    model, tok = lm
    with pytest.raises(HarnessError, match="at least two"):
        S.build_plan(tok, S.Pattern("{x}{y}"), TEXTS, ["好"])
    with pytest.raises(HarnessError, match="tokenize differently"):
        S.build_plan(tok, S.Pattern("{x}{y}"), TEXTS, ["好", "好"])
    with pytest.raises(HarnessError, match="not a decoder LM"):
        S.base_model(torch.nn.Linear(2, 2))


# --- cached lower-layer states -------------------------------------------------------------------
@pytest.mark.parametrize("pattern, words", CASES[:3])
@pytest.mark.parametrize("layer", [0, 2, 3])
def test_top_layers_over_cached_states_equal_the_full_forward(lm, pattern, words, layer):
    model, tok = lm
    plan = S.build_plan(tok, S.Pattern(pattern), TEXTS, words)
    states = L.lower_states(model, L.state_sequences(plan), layer, batch_size=3, pad_id=tok.pad_token_id)
    top = L.TopLayers(model, layer)
    scores = top.option_scores(plan, states)
    torch.testing.assert_close(scores, R.naive_option_scores(model, plan), **TOL)
    with torch.inference_mode():
        torch.testing.assert_close(L.batched_option_scores(top, plan, states, 2), scores.detach(), **TOL)


@pytest.mark.parametrize("pattern, words", CASES[:3])
def test_scores_among_labels_rank_and_calibrate_as_the_whole_vocabulary(lm, pattern, words):
    """Evaluation reads a label-last plan's scores from the labels' rows of the output layer, renormalised
    over the labels: the same predictions and calibrated scores as the whole-vocabulary log-probs, at a
    fraction of the output layer's work (the meter). Other plans, and a quantised output layer, keep the
    whole vocabulary."""
    from harness.models import lm_cost

    model, tok = lm
    plan = S.build_plan(tok, S.Pattern(pattern), TEXTS, words)
    states = L.lower_states(model, L.state_sequences(plan), 2)
    top = L.TopLayers(model, 2)
    with torch.inference_mode(), lm_cost.metered() as whole_work:
        whole = top.option_scores(plan, states)
    with torch.inference_mode(), lm_cost.metered() as among_work:
        among = top.option_scores(plan, states, among_labels=True)
    cf = torch.randn(3, whole.shape[1])
    if not plan.last_token_only:
        torch.testing.assert_close(among, whole)
        return
    torch.testing.assert_close(among, torch.log_softmax(whole, dim=-1), **TOL)
    assert among.argmax(-1).tolist() == whole.argmax(-1).tolist()
    torch.testing.assert_close(S.calibrated(among, cf), S.calibrated(whole, cf), **TOL)
    assert among_work.flops["head"] * 10 < whole_work.flops["head"]
    head = model.lm_head
    try:
        model.lm_head = torch.ao.quantization.quantize_dynamic(
            torch.nn.Sequential(head), {torch.nn.Linear}, dtype=torch.qint8
        )[0]
        with torch.inference_mode():
            quantised = top.option_scores(plan, states, among_labels=True)
    finally:
        model.lm_head = head
    assert quantised.shape == whole.shape and not torch.allclose(quantised.exp().sum(-1), torch.ones(len(TEXTS)))


def test_training_the_top_layers_touches_only_them(lm):
    model, tok = lm
    plan = S.build_plan(tok, S.Pattern(CASES[0][0]), TEXTS, CASES[0][1])
    states = L.lower_states(model, L.state_sequences(plan), 2)
    top = L.TopLayers(model, 2)
    assert {id(p) for p in top.parameters()} == {
        id(p) for p in [*model.model.layers[2].parameters(), *model.model.norm.parameters()]
    }
    model.zero_grad()
    loss = torch.nn.functional.cross_entropy(top.option_scores(plan, states), torch.tensor([1, 0, 1, 0, 1, 0]))
    loss.backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in top.parameters())
    assert all(p.grad is None for p in model.model.layers[0].parameters())
    model.zero_grad()


def test_state_cache_computes_each_sequence_once(lm):
    model, tok = lm
    plan = S.build_plan(tok, S.Pattern(CASES[0][0]), TEXTS, CASES[0][1])
    cache = L.StateCache("tiny", model, layer=2)
    seqs = L.state_sequences(plan)
    first = cache.get(seqs[:4])
    again = cache.get(seqs)
    assert cache.computed == len(seqs) and cache.nbytes() > 0
    for a, b in zip(first, again[:4]):
        assert a is b
    with pytest.raises(HarnessError, match="layer range"):
        L.lower_states(model, seqs, layer=7)


def test_stored_states_are_built_once_and_rebuilt_when_corrupt(lm, monkeypatch):
    model, tok = lm
    plan = S.build_plan(tok, S.Pattern(CASES[1][0]), TEXTS, CASES[1][1])
    seqs = L.state_sequences(plan)
    calls = []
    real = L.lower_states
    monkeypatch.setattr(L, "lower_states", lambda *a, **k: calls.append(1) or real(*a, **k))
    first = L.stored_lower_states("tiny-test", model, seqs, 2)
    again = L.stored_lower_states("tiny-test", model, seqs, 2)
    assert len(calls) == 1 and all(torch.equal(a, b) for a, b in zip(first, again))
    torch.testing.assert_close(
        L.TopLayers(model, 2).option_scores(plan, again), R.naive_option_scores(model, plan), **TOL
    )
    L.stored_lower_states("tiny-test", model, seqs, 1)  # another layer is another entry
    assert len(calls) == 2
    path = next(
        p for p in (cache_dir() / "lm-states").glob("*.safetensors") if p.stem == L.states_key("tiny-test", 2, seqs)
    )
    path.write_bytes(path.read_bytes()[:100])
    rebuilt = L.stored_lower_states("tiny-test", model, seqs, 2)
    assert len(calls) == 3 and all(torch.equal(a, b) for a, b in zip(first, rebuilt))
