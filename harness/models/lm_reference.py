"""Label scores the plain way, written without the harness's scorer: the outside check of ``lm_scoring``.

Two references. ``naive_option_scores`` is the fast scorer's own (what the tests compare it with): a
plain ``model(input_ids)`` per text or option over the same ``Plan``, so it checks the key/value reuse,
packing, padding, batching and cached states, but not tokenization, the divergence point or the
start-token rule. ``plain_sequence_logprobs`` checks those too: it builds each filled string with
``str.replace``, tokenizes it with the tokenizer's own call, puts the start token first (the harness's
one rule, ``start_token_id``), runs ``model(input_ids)``
and sums the log-probabilities of every token after the start. Whole-sequence log-likelihoods differ
from the harness's scores (summed from the divergence point) by a per-text constant, so both are
compared after normalising over the labels (``label_log_softmax``): what argmax, softmax over labels
and calibration see.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from harness.models.lm_scoring import Plan


def filled(template: str, text: str, word: str) -> str:
    """``template`` with ``{x}`` = text and the label slot (``{y}`` or Su's ``__``) = word."""
    slot = "{y}" if "{y}" in template else "__"
    return template.replace("{x}", text).replace(slot, word)


def plain_sequence_logprobs(
    model: Any, tokenizer: Any, texts: Sequence[str], template: str, words: Sequence[str], max_chars: int = 0
) -> Any:
    """[n_texts, n_labels] log p(filled sequence | start token), one ``model(input_ids)`` per option."""
    import torch

    from harness.models.lm_scoring import start_token_id

    start = start_token_id(tokenizer)  # the rule itself (a definition); everything after it is computed here
    out = torch.zeros(len(texts), len(words))
    with torch.no_grad():
        for i, text in enumerate(texts):
            text = text[:max_chars] if max_chars > 0 else text
            for j, word in enumerate(words):
                ids = [start, *tokenizer(filled(template, text, word), add_special_tokens=False)["input_ids"]]
                x = torch.tensor([ids])
                logp = torch.log_softmax(model(input_ids=x).logits[0, :-1].double(), dim=-1)
                out[i, j] = logp.gather(1, x[0, 1:, None]).sum().float()
    return out


def label_log_softmax(scores: Any) -> Any:
    """Scores normalised over the labels (drops any per-text constant)."""
    import torch

    return torch.log_softmax(scores.double(), dim=-1)


def compare(harness_scores: Any, plain_scores: Any) -> dict[str, float]:
    """Max |difference| of the label-normalised scores (nats) and the share of equal argmaxes."""
    a, b = label_log_softmax(harness_scores), label_log_softmax(plain_scores)
    same = (a.argmax(-1) == b.argmax(-1)).double().mean().item() if len(a) else float("nan")
    return {"max_abs_diff_nats": float((a - b).abs().max()) if len(a) else 0.0, "argmax_agreement": same}


def naive_option_scores(model: Any, plan: Plan, one_pass_when_last: bool = True) -> Any:
    """The plain way, one sequence at a time: ``model(input_ids).logits`` over the whole filled sequence,
    log-softmax, sum from the divergence point. With ``one_pass_when_last``, texts whose options differ
    only in their last token take one pass that reads every label's logit at the last shared position
    (what anyone would do); otherwise every (text, label) option is its own pass."""
    import torch

    out = torch.zeros(len(plan.options), len(plan.options[0]) if plan.options else 0)
    with torch.inference_mode():
        for i, opts in enumerate(plan.options):
            d = plan.split[i]
            if one_pass_when_last and all(len(s) == d + 1 for s in opts):
                logits = model(input_ids=torch.tensor([opts[0][:d]])).logits[0, -1]
                logp = torch.log_softmax(logits.float(), dim=-1)
                out[i] = torch.stack([logp[s[d]] for s in opts])
                continue
            for j, seq in enumerate(opts):
                ids = torch.tensor([seq])
                logp = torch.log_softmax(model(input_ids=ids).logits[0, :-1].float(), dim=-1)
                picked = logp.gather(1, ids[0, 1:, None])[:, 0]
                out[i, j] = picked[d - 1 :].sum()
    return out
