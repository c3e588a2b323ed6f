"""Scoring label options on a causal LM: whole-sequence log-likelihood, computed fast.

Why: PET on a causal LM classifies a text by which verbalizer makes the filled pattern most
likely. Su's patterns put the label word anywhere (``{y}满意。{x}`` before the text, ``{x}{y}满意。``
after it), so a label is scored by the log-likelihood of the whole filled sequence. Tokens before
the first position where the options differ have the same context and the same value for every
label, so they are dropped: a score is the log-likelihood summed from that divergence point to the
end (equal to the whole-sequence score up to a per-text constant, which no argmax, softmax over
labels or calibration can see).

Speed (the naive loop ``lm_reference.naive_option_scores`` is the reference the tests compare against):

* one forward pass of the global prefix (start token, in-context demonstrations, fixed pattern
  text before the first slot), its keys/values reused by every text;
* texts sorted by length, batched, padded to the batch's longest;
* per text, the part shared by all options (text and pattern up to the divergence point) run once;
  the options' differing suffixes continue from its keys/values. When every option differs only in
  its last token (a prompt whose label word is last) there is no suffix pass: one forward per text
  scores all labels;
* the output layer (151k words for Qwen, ~28% of the FLOPs) only at the scored positions; inference mode.

One scoring rule for every pattern: every sequence starts with one start token (``start_token_id``).
A label word at the very start (Su's P1) can only be scored after it, and a rule that added it only
where needed scored P1 with it and P2 without: two patterns of one comparison under different rules
(on Qwen a start token moves P2's score gap by up to 2.1 nats). ``start_token=False`` is left for
experiments and tests, never chosen per pattern. Tokenization is of the whole filled string by default
or per segment (``build_plan``); the fast path and the reference score the same token sequences.
"""

from __future__ import annotations

import copy
import inspect
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from harness.errors import HarnessError
from harness.models.lm_packed import last_states, packable

CONTENT_FREE = ("N/A", "", "[MASK]")  # Zhao et al. 2021's content-free inputs


# --- patterns and the token sequences they make --------------------------------------------------
@dataclass(frozen=True)
class Pattern:
    """A template with one ``{x}`` (the text) and one ``{y}`` (the label word); Su's ``__`` is read as ``{y}``."""

    template: str

    def __post_init__(self) -> None:
        t = self.template if "{y}" in self.template else self.template.replace("__", "{y}")
        if t.count("{x}") != 1 or t.count("{y}") != 1:
            raise HarnessError(
                f"pattern {self.template!r} needs exactly one {{x}} (text) and one {{y}} or __ (label word)"
            )
        object.__setattr__(self, "_normal", t)

    def pieces(self) -> list[str]:
        """Literal strings and the markers ``{x}``/``{y}``, in order (empty literals dropped)."""
        out, rest = [], self._normal  # type: ignore[attr-defined]
        while rest:
            cut = min((i for i in (rest.find("{x}"), rest.find("{y}")) if i >= 0), default=-1)
            if cut < 0:
                out.append(rest)
                break
            if cut:
                out.append(rest[:cut])
            out.append(rest[cut : cut + 3])
            rest = rest[cut + 3 :]
        return out

    def fill(self, text: str, word: str) -> str:
        return self._normal.replace("{x}", text).replace("{y}", word)  # type: ignore[attr-defined]


START_TEXT = "\n"


def start_token_id(tokenizer: Any) -> int:
    """The token every sequence starts with, so its first real token is scored too: a newline when the
    tokenizer writes it as one token (the text starts a line), else BOS, EOS or pad.

    Why not BOS: Qwen2.5-Coder-0.5B-Instruct's BOS is ``<|endoftext|>``, a document boundary, after which
    it reads reviews differently. Zero-shot accuracy on the quick suite's 200 validation texts, raw /
    calibrated (``benchmarks/bench_lm_patterns.py --start bos|im_start|none``; docs/tracks/fewshot.md):

    ============== ============ ============ ============
    start          ``review``   Su's P2      Su's P1
    ============== ============ ============ ============
    <|endoftext|>  0.555/0.585  0.540/0.555  0.575/0.560
    <|im_start|>   0.715/0.745  0.545/0.555
    newline        0.770/0.745  0.595/0.590  0.635/0.615
    none           0.770/0.760  0.585/-      (unscorable)
    ============== ============ ============ ============
    """
    newline = tokenizer(START_TEXT, add_special_tokens=False)["input_ids"]
    if len(newline) == 1:
        return int(newline[0])
    for tid in (tokenizer.bos_token_id, tokenizer.eos_token_id, tokenizer.pad_token_id):
        if tid is not None:
            return int(tid)
    raise HarnessError("the tokenizer has no single newline token and no BOS, EOS or pad to start a sequence with")


def icl_context(pattern: Pattern, demos: Sequence[tuple[str, str]], separator: str = "\n\n") -> str:
    """GPT-3-style demonstrations: each (text, label word) filled into the pattern, separated, ending
    with the separator so the query's filled pattern follows."""
    return "".join(pattern.fill(text, word) + separator for text, word in demos)


@dataclass
class Plan:
    """Token sequences of every (text, label) option: ``options[i][j]``; ``split[i]`` is where text i's
    options first differ; ``prefix`` is the leading part shared by every option of every text."""

    prefix: list[int]
    options: list[list[list[int]]]
    split: list[int]

    @property
    def last_token_only(self) -> bool:
        """Every option of every text differs from its siblings only in its final token."""
        return all(len(seq) == d + 1 for opts, d in zip(self.options, self.split) for seq in opts)


def _common_prefix_len(seqs: Sequence[Sequence[int]]) -> int:
    n = min(len(s) for s in seqs)
    for k in range(n):
        if any(s[k] != seqs[0][k] for s in seqs[1:]):
            return k
    return n


TOKENIZATIONS = ("whole", "segments")


def build_plan(
    tokenizer: Any,
    pattern: Pattern,
    texts: Sequence[str],
    verbalizers: Sequence[str],
    context: str = "",
    max_text_chars: int = 0,
    tokenization: str = "whole",
    start_token: bool = True,
) -> Plan:
    """Tokenize every (text, verbalizer) option after one start token.

    ``tokenization="whole"`` tokenizes ``context + filled pattern`` as one string (the model's own,
    canonical tokens: Qwen writes 很满意 as one token); ``"segments"`` tokenizes the context, each
    literal, the text and the label word separately and concatenates them (a label is then exactly
    its word's tokens). ``max_text_chars`` > 0 cuts each text to that many characters first.
    ``start_token`` (default, the one rule) puts ``start_token_id`` first, for every pattern alike;
    without it a pattern whose options differ at their first token is an error.
    """
    if len(verbalizers) < 2:
        raise HarnessError(f"scoring needs at least two label words, got {list(verbalizers)}")
    if tokenization not in TOKENIZATIONS:
        raise HarnessError(f"tokenization must be one of {', '.join(TOKENIZATIONS)}, got {tokenization!r}")

    def enc(s: str) -> list[int]:
        return list(tokenizer(s, add_special_tokens=False)["input_ids"]) if s else []

    word_ids = [enc(w) for w in verbalizers]
    if any(not w for w in word_ids) or len({tuple(w) for w in word_ids}) < len(word_ids):
        raise HarnessError(f"label words {list(verbalizers)} must be non-empty and tokenize differently")
    start = [start_token_id(tokenizer)] if start_token else []
    head = [*start, *enc(context)]
    literals = {p: enc(p) for p in pattern.pieces() if p not in ("{x}", "{y}")}
    options, split = [], []
    for text in texts:
        text = text[:max_text_chars] if max_text_chars > 0 else text
        if tokenization == "whole":
            opts = [[*start, *enc(context + pattern.fill(text, w))] for w in verbalizers]
        else:
            x = enc(text)
            opts = [
                head + [t for p in pattern.pieces() for t in (x if p == "{x}" else w if p == "{y}" else literals[p])]
                for w in word_ids
            ]
        options.append(opts)
        split.append(_common_prefix_len(opts))
        if split[-1] == 0:
            raise HarnessError(
                f"pattern {pattern.template!r}: the options differ at the first token, which is only "
                "scored after a start token (start_token=True)"
            )
    if not options:
        return Plan(head, [], [])
    shared = min(_common_prefix_len([o[0] for o in options]), min(split))
    return Plan(options[0][0][:shared], options, split)


# --- the model pieces --------------------------------------------------------------------------------
def base_model(model: Any) -> Any:
    """The decoder stack of a causal LM (``model.model`` for Qwen2/Gemma3/Llama-style models)."""
    base = getattr(model, "model", None)
    if base is None or not hasattr(base, "layers"):
        raise HarnessError(f"{type(model).__name__} is not a decoder LM with model.layers (cannot score on it)")
    return base


def head_logits(model: Any, hidden: Any) -> Any:
    """Output-layer logits of final hidden states (Gemma's final soft-capping applied when configured)."""
    import torch

    from harness.models.lm_cost import charge_head

    charge_head(model, hidden.numel() // hidden.shape[-1], torch.is_grad_enabled() and hidden.requires_grad)
    logits = model.lm_head(hidden)
    cap = getattr(model.config, "final_logit_softcapping", None)
    if cap:
        logits = torch.tanh(logits / cap) * cap
    return logits


def _cache_kw(base: Any) -> str:
    return "cache" if "cache" in inspect.signature(base.forward).parameters else "past_key_values"


def _new_cache(model: Any) -> Any:
    from transformers import DynamicCache

    return DynamicCache(config=model.config)


def pad_ids(rows: Sequence[Sequence[int]], pad_id: int) -> tuple[Any, Any]:
    """Right-padded [B, T] ids and the matching 0/1 attention mask."""
    import torch

    width = max((len(r) for r in rows), default=0)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = torch.tensor(list(r), dtype=torch.long)
        mask[i, : len(r)] = 1
    return ids, mask


def _run(model: Any, ids: Any, mask: Any, start: Any, cache: Any) -> Any:
    """Final hidden states of ``ids`` continuing ``cache`` (whose 2D mask ``mask`` starts with);
    positions continue from ``start`` (one per row)."""
    import torch

    from harness.models.lm_cost import charge_layers

    base = base_model(model)
    charge_layers(base.layers[0], int(mask[:, mask.shape[1] - ids.shape[1] :].sum()), len(base.layers), None, False)
    dev = next(base.parameters()).device  # ids are built on the CPU; the model may be on a GPU
    positions = start[:, None] + torch.arange(ids.shape[1])[None, :]
    ids, mask, positions = ids.to(dev), mask.to(dev), positions.to(dev)
    out = base(input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=True, **{_cache_kw(base): cache})
    return out.last_hidden_state


def _logprobs_at(model: Any, hidden: Any, targets: Any) -> Any:
    """log p(targets[i, j]) at each row i of ``hidden`` [n, H] — the output layer only at these positions."""
    import torch

    return torch.log_softmax(head_logits(model, hidden).float(), dim=-1).gather(1, targets)


# --- fast scoring ------------------------------------------------------------------------------------
def _score_batch(model: Any, plan: Plan, rows: list[int], prefix_cache: Any, prefix_last: Any, pad_id: int) -> Any:
    """Scores [len(rows), n_labels] for the texts ``rows`` of ``plan`` (the global prefix already run)."""
    import torch

    g = len(plan.prefix)
    n_labels = len(plan.options[rows[0]])
    middles = [plan.options[i][0][g : plan.split[i]] for i in rows]
    mid_ids, mid_mask = pad_ids(middles, pad_id)
    if prefix_cache is None:  # no shared prefix (no start token, texts differ from the first token)
        cache = _new_cache(model)
    else:
        cache = copy.deepcopy(prefix_cache)
        cache.batch_repeat_interleave(len(rows))
    full_mask = torch.cat([torch.ones(len(rows), g, dtype=torch.long), mid_mask], dim=1)
    lengths = torch.tensor([len(m) for m in middles])
    if mid_ids.shape[1]:
        hidden = _run(model, mid_ids, full_mask, torch.full((len(rows),), g), cache)
        idx = (lengths - 1).clamp(min=0)
        last = hidden[torch.arange(len(rows)), idx]
        if prefix_last is not None:  # texts whose options differ right after the shared prefix
            last = torch.where((lengths > 0).to(last.device)[:, None], last, prefix_last.expand_as(last))
    else:
        last = prefix_last.expand(len(rows), -1)
    dev = last.device
    first_targets = torch.tensor([[plan.options[i][j][plan.split[i]] for j in range(n_labels)] for i in rows])
    logp_first = torch.log_softmax(head_logits(model, last).float(), dim=-1).gather(1, first_targets.to(dev)).cpu()
    suffixes = [plan.options[i][j][plan.split[i] :] for i in rows for j in range(n_labels)]
    if all(len(s) == 1 for s in suffixes):
        return logp_first
    # Each option's suffix continues from its text's keys/values (rows repeated once per label).
    cache.batch_repeat_interleave(n_labels)
    suf_ids, suf_mask = pad_ids([s[:-1] for s in suffixes], pad_id)
    mask = torch.cat([full_mask.repeat_interleave(n_labels, dim=0), suf_mask], dim=1)
    start = (g + lengths).repeat_interleave(n_labels)
    hidden = _run(model, suf_ids, mask, start, cache)
    tgt_ids, tgt_mask = pad_ids([s[1:] for s in suffixes], pad_id)
    keep = tgt_mask.bool()
    rest = torch.zeros(len(suffixes))
    if keep.any():
        lp = _logprobs_at(model, hidden[keep.to(dev)], tgt_ids[keep].to(dev)[:, None])[:, 0].cpu()
        row_of = torch.arange(len(suffixes))[:, None].expand_as(keep)[keep]
        rest.index_add_(0, row_of, lp)
    return logp_first + rest.view(len(rows), n_labels)


def score_plan(model: Any, plan: Plan, batch_size: int = 8, pad_id: int = 0) -> Any:
    """[n_texts, n_labels] option log-likelihoods (from each text's divergence point), in text order."""
    import torch

    if not plan.options:
        return torch.zeros(0, 0)
    if len(plan.prefix) > min(plan.split) or min(plan.split) < 1:
        raise HarnessError("internal: the shared prefix must end before every divergence point, which must be > 0")
    order = sorted(range(len(plan.options)), key=lambda i: max(len(s) for s in plan.options[i]))
    out = torch.zeros(len(plan.options), len(plan.options[0]))
    with torch.inference_mode():
        prefix_cache, prefix_last = None, None
        if plan.prefix:
            prefix_cache = _new_cache(model)
            ids = torch.tensor([plan.prefix])
            hidden = _run(model, ids, torch.ones_like(ids), torch.zeros(1, dtype=torch.long), prefix_cache)
            prefix_last = hidden[:, -1]
        if plan.last_token_only and prefix_cache is not None and packable(base_model(model)):
            g = len(plan.prefix)  # packed: no padding, the last layer only at each text's last token
            hidden = last_states(
                base_model(model),
                [plan.options[i][0][g : plan.split[i]] for i in order],
                prefix_cache,
                prefix_last,
                batch_size,
            )
            targets = torch.tensor([[o[plan.split[i]] for o in plan.options[i]] for i in order]).to(hidden.device)
            out[order] = torch.cat(
                [_logprobs_at(model, hidden[c : c + 64], targets[c : c + 64]) for c in range(0, len(order), 64)]
            ).cpu()
            return out
        for b in range(0, len(order), batch_size):
            rows = order[b : b + batch_size]
            out[rows] = _score_batch(model, plan, rows, prefix_cache, prefix_last, pad_id)
    return out


def option_scores(
    model: Any,
    tokenizer: Any,
    texts: Sequence[str],
    pattern: Pattern | str,
    verbalizers: Sequence[str],
    *,
    context: str = "",
    batch_size: int = 8,
    calibrate: Sequence[str] | None = None,
    max_text_chars: int = 0,
    tokenization: str = "whole",
    start_token: bool = True,
) -> Any:
    """Label scores [n_texts, n_labels] of ``texts`` under ``pattern``.

    ``context`` is prepended once (in-context demonstrations, see ``icl_context``). ``calibrate``
    lists content-free inputs (e.g. ``CONTENT_FREE``): the scores become contextually calibrated
    log-probabilities (Zhao et al. 2021).
    """
    pattern = pattern if isinstance(pattern, Pattern) else Pattern(pattern)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else start_token_id(tokenizer)
    plan = build_plan(tokenizer, pattern, texts, verbalizers, context, max_text_chars, tokenization, start_token)
    scores = score_plan(model, plan, batch_size, pad_id)
    if calibrate:
        cf_plan = build_plan(
            tokenizer, pattern, list(calibrate), verbalizers, context, max_text_chars, tokenization, start_token
        )
        scores = calibrated(scores, score_plan(model, cf_plan, batch_size, pad_id))
    return scores


def calibrated(scores: Any, content_free: Any) -> Any:
    """Contextual calibration: label log-probabilities minus the log of the mean content-free label
    distribution (Zhao et al. 2021: W = diag(p_cf)^-1, b = 0), renormalised over the labels."""
    import torch

    p_cf = torch.softmax(content_free, dim=-1).mean(0)
    out = torch.log_softmax(scores, dim=-1) - torch.log(p_cf / p_cf.sum())
    return torch.log_softmax(out, dim=-1)


def accuracy(scores: Any, labels: Sequence[int]) -> float:
    """Share of texts whose highest-scoring option is the true label."""
    if not len(labels):
        return math.nan
    pred = scores.argmax(dim=-1).tolist()
    return sum(int(p == y) for p, y in zip(pred, labels)) / len(labels)
