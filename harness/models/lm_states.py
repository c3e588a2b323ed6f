"""Frozen lower layers, trained top layers: hidden states after layer L computed once, reused.

Why: on a 2-core CPU a forward + backward through all 24 layers of Qwen-0.5B costs ~40 s per batch
of 8, which no quick suite can afford. When only the top layers (and the output layer or a head)
are trained, the states entering layer L are the same for a given (backbone, pattern, text) in every
epoch, every seed and every cell that trains on those texts, so they are computed once
(``lower_states``) and the training step runs only ``TopLayers``: layers L..N-1, the final norm,
and the output layer at the scored positions.

Both halves are the model's own modules (shared parameters, so training ``TopLayers`` trains the
model), run as a shallow copy of the decoder stack with a sliced layer list; masks and rotary
positions are rebuilt from the same right-padded attention mask and positions ``0..T-1``, so
``TopLayers(lower_states(x))`` equals the full forward (tested).
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from harness.errors import HarnessError
from harness.models.lm_cost import charge_layers
from harness.models.lm_scoring import Plan, base_model, head_logits, pad_ids


def _sub_stack(base: nn.Module, start: int, end: int, final_norm: bool) -> nn.Module:
    """The decoder stack running only layers ``start..end-1`` (and the final norm if asked), parameters shared."""
    n = len(base.layers)
    if not 0 <= start <= end <= n:
        raise HarnessError(f"layer range {start}..{end} outside the model's {n} layers")
    sub = copy.copy(base)
    sub._modules = dict(base._modules)
    sub.layers = nn.ModuleList(list(base.layers)[start:end])
    if not final_norm:
        sub.norm = nn.Identity()
    cfg = copy.deepcopy(base.config)
    cfg.num_hidden_layers = end - start
    if getattr(cfg, "layer_types", None):
        cfg.layer_types = list(base.config.layer_types)[start:end]
    sub.config = cfg
    return sub


def _positions(mask: torch.Tensor) -> torch.Tensor:
    return torch.arange(mask.shape[1], device=mask.device)[None, :].expand_as(mask)


def lower_states(
    model: Any,
    sequences: Sequence[Sequence[int]],
    layer: int,
    *,
    batch_size: int = 8,
    pad_id: int = 0,
    start: Sequence[torch.Tensor] | None = None,
    start_layer: int = 0,
) -> list[torch.Tensor]:
    """Hidden states entering layer ``layer`` (i.e. after layers 0..layer-1), one [T_i, H] tensor per sequence.

    Sequences are batched by length (``batch_size`` per batch), packed without padding where the model
    allows it (``lm_packed``), else right-padded; the result is in input order, cut to each sequence's
    length, on the CPU (states are cached on disk; a GPU run moves them back once per cell, ``to_device``).
    ``start``: the sequences' states entering ``start_layer`` (e.g. cached for a deeper trained top), so
    only layers ``start_layer..layer-1`` run; the batches are the same, so the result is the same.
    """
    from harness.models import lm_packed

    base = base_model(model)
    lower = _sub_stack(base, start_layer, layer, final_norm=False)
    if start is not None:
        lower.embed_tokens = nn.Identity()  # fed states, not ids
    dev = next(model.parameters()).device
    order = sorted(range(len(sequences)), key=lambda i: len(sequences[i]))
    out: list[torch.Tensor | None] = [None] * len(sequences)
    packed = lm_packed.packable(base)
    with torch.inference_mode():
        for b in range(0, len(order), batch_size):
            rows = order[b : b + batch_size]
            seqs = [sequences[i] for i in rows]
            if start is not None:
                given = [start[i].to(dev) for i in rows]
            if packed:
                packing = lm_packed.pack([len(q) for q in seqs], dev)
                if start is not None:
                    flat = torch.cat(given)
                else:
                    flat = base.embed_tokens(torch.tensor([t for q in seqs for t in q], device=dev))
                parts = packing.split(lm_packed.run_layers(base, list(lower.layers), flat, packing).cpu())
            else:
                charge_layers(lower.layers[0], sum(len(q) for q in seqs), len(lower.layers), None, False)
                ids, mask = pad_ids(seqs, pad_id)
                ids, mask = ids.to(dev), mask.to(dev)
                feed = {"input_ids": ids} if start is None else {"inputs_embeds": pad_states(given)[0]}
                hidden = lower(
                    **feed, attention_mask=mask, position_ids=_positions(mask), use_cache=False
                ).last_hidden_state.cpu()
                parts = [hidden[k, : len(q)] for k, q in enumerate(seqs)]
            for i, part in zip(rows, parts):
                out[i] = part.clone()
    return out  # type: ignore[return-value]


def to_device(states: Sequence[torch.Tensor], device: Any) -> list[torch.Tensor]:
    """Cached [T_i, H] states on ``device``, moved in one copy (thousands of small copies cost more)."""
    if not states or states[0].device == torch.device(device):
        return list(states)
    lengths = [s.shape[0] for s in states]
    return list(torch.cat(list(states)).to(device).split(lengths))


def pad_states(states: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad [T_i, H] states to [B, T, H] with the matching attention mask."""
    width = max(s.shape[0] for s in states)
    hidden = states[0].new_zeros(len(states), width, states[0].shape[1])
    mask = torch.zeros(len(states), width, dtype=torch.long, device=hidden.device)
    for i, s in enumerate(states):
        hidden[i, : s.shape[0]] = s
        mask[i, : s.shape[0]] = 1
    return hidden, mask


def label_logits(model: Any, hidden: Any, ids: Any) -> Any:
    """Output-layer logits of ``hidden`` [n, H], row k at vocabulary id ``ids[k]`` only [n]; None where the
    output layer is not a plain linear layer (an '+int8' backbone's is quantised): use ``head_logits``.

    Why: a score that only ranks a text's labels needs their rows of the output layer (2 of Qwen's
    151,936), not the whole vocabulary; evaluating a trained PET top on 500 validation texts every 10
    steps spent most of its time there."""
    from harness.models.lm_cost import charge

    head = model.lm_head
    if type(head) is not torch.nn.Linear:
        return None
    charge("head", 2.0 * hidden.shape[0] * hidden.shape[-1])
    logits = (hidden * head.weight[ids]).sum(-1)
    if head.bias is not None:
        logits = logits + head.bias[ids]
    cap = getattr(model.config, "final_logit_softcapping", None)
    return torch.tanh(logits / cap) * cap if cap else logits


class TopLayers(nn.Module):
    """Layers ``layer..N-1`` + final norm of a causal LM, run on cached lower states; the output layer
    is applied by the caller only where needed (``option_scores``). Parameters are the model's own."""

    def __init__(self, model: Any, layer: int):
        super().__init__()
        from harness.models.lm_packed import packable

        base = base_model(model)
        self.layer = layer
        self.stack = _sub_stack(base, layer, len(base.layers), final_norm=True)
        self.stack.embed_tokens = nn.Identity()  # fed states, not ids: the embeddings are not part of the top
        self._model = (model,)  # a tuple, not a submodule: parameters() are the top stack's only
        self.packed = packable(base)

    @property
    def lm(self) -> Any:
        """The whole model (its ``lm_head`` is the output layer; train it by adding its parameters)."""
        return self._model[0]

    def forward(self, hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Final hidden states [B, T, H] from right-padded lower states and their attention mask."""
        out = self.stack(inputs_embeds=hidden, attention_mask=mask, position_ids=_positions(mask), use_cache=False)
        return out.last_hidden_state

    def final_at(self, states: Sequence[torch.Tensor], rows: Sequence[int], cols: Sequence[int]) -> torch.Tensor:
        """Final hidden states [len(rows), H] at position ``cols[k]`` of sequence ``rows[k]``, from the
        sequences' lower states: packed, the top layer run only at the asked positions (``lm_packed``),
        where the model allows it; else right-padded through the whole stack."""
        if not self.packed:
            grad = torch.is_grad_enabled() and any(p.requires_grad for p in self.parameters())
            charge_layers(self.stack.layers[0], sum(s.shape[0] for s in states), len(self.stack.layers), None, grad)
            hidden, mask = pad_states(states)
            return self(hidden, mask)[list(rows), list(cols)]
        from harness.models import lm_packed

        packing = lm_packed.pack([s.shape[0] for s in states], states[0].device)
        wanted = packing.at(rows, cols)
        select, back = torch.unique(wanted, sorted=True, return_inverse=True)
        final = lm_packed.run_layers(
            self.stack, list(self.stack.layers), torch.cat(list(states)), packing, select=select, norm=self.stack.norm
        )
        return final[back]

    def option_scores(self, plan: Plan, states: Sequence[torch.Tensor], among_labels: bool = False) -> torch.Tensor:
        """Differentiable [n_texts, n_labels] option scores from ``states = lower_states(model,
        state_sequences(plan), layer)`` (same order), equal to ``lm_scoring.score_plan``; ``among_labels``:
        see ``scores_at``."""
        seqs = state_sequences(plan)
        if len(states) != len(seqs):
            raise HarnessError(f"got {len(states)} cached states for a plan of {len(seqs)} sequences")
        picks = label_picks(plan)
        return self.scores_at(plan, self.final_at(states, picks.rows, picks.cols), picks, among_labels)

    def scores_at(self, plan: Plan, final: torch.Tensor, picks: Picks, among_labels: bool = False) -> torch.Tensor:
        """[n_texts, n_labels] option scores from the final states at ``picks``' positions (one row each:
        the output layer runs once per position, however many labels read it).

        ``among_labels``: for a label-last plan (a text's labels read one position), the labels' log-probs
        renormalised over the labels, from their rows of the output layer alone: the same ranking (the
        vocabulary's normaliser is shared by the labels of a text) and the same calibrated scores, at a
        75,000th of the output layer's work on Qwen. Other plans (and a quantised output layer) get the
        whole-vocabulary log-probs."""
        dev = final.device
        slots, targets = torch.tensor(picks.slot, device=dev), torch.tensor(picks.targets, device=dev)
        picked = label_logits(self.lm, final[slots], targets) if among_labels and plan.last_token_only else None
        if picked is None:
            among_labels = False
            picked = torch.log_softmax(head_logits(self.lm, final).float(), dim=-1)[slots, targets]
        n_texts, n_labels = len(plan.options), len(plan.options[0])
        owners = torch.tensor(picks.owner, device=dev)
        out = torch.zeros(n_texts * n_labels, dtype=picked.dtype, device=dev).index_add(0, owners, picked.float())
        out = out.view(n_texts, n_labels)
        return torch.log_softmax(out, dim=-1) if among_labels else out


@dataclass
class Picks:
    """The positions a plan's scores read: distinct (sequence, position) pairs ``rows``/``cols``, and per
    scored token its pair (``slot``), option (``owner`` = text * n_labels + label) and target token."""

    rows: list[int]
    cols: list[int]
    slot: list[int]
    owner: list[int]
    targets: list[int]


def label_picks(plan: Plan) -> Picks:
    """Every scored position of ``plan``'s ``state_sequences``: the state at (sequence, position) predicts
    the target, which counts toward its option. A label-last text's labels share one position."""
    _, picks = _layout(plan)
    where: dict[tuple[int, int], int] = {}
    slot, owner, targets = [], [], []
    for k, p in enumerate(picks):
        for col, own, target in p:
            slot.append(where.setdefault((k, col), len(where)))
            owner.append(own)
            targets.append(target)
    pairs = sorted(where, key=where.get)
    return Picks([r for r, _ in pairs], [c for _, c in pairs], slot, owner, targets)


def _layout(plan: Plan) -> tuple[list[list[int]], list[list[tuple[int, int, int]]]]:
    """The sequences whose lower states are needed and, for each, the scored (position, option, target
    token) triples: the state at ``position`` predicts ``target``, which counts toward option
    ``text * n_labels + label``.

    When every option of a text differs only in its last token, one sequence per text (the shared
    part) serves all labels; otherwise each (text, label) option, less its last token, is a sequence.
    """
    n_labels = len(plan.options[0]) if plan.options else 0
    seqs: list[list[int]] = []
    picks: list[list[tuple[int, int, int]]] = []
    for i, (opts, d) in enumerate(zip(plan.options, plan.split)):
        if all(len(s) == d + 1 for s in opts):
            seqs.append(opts[0][:d])
            picks.append([(d - 1, i * n_labels + j, s[d]) for j, s in enumerate(opts)])
        else:
            for j, s in enumerate(opts):
                seqs.append(s[:-1])
                picks.append([(t - 1, i * n_labels + j, s[t]) for t in range(d, len(s))])
    return seqs, picks


def state_sequences(plan: Plan) -> list[list[int]]:
    """The token sequences ``lower_states`` must run for ``TopLayers.option_scores(plan, ...)``."""
    return _layout(plan)[0]


def _sequences_per_text(plan: Plan) -> list[int]:
    return [1 if all(len(s) == d + 1 for s in opts) else len(opts) for opts, d in zip(plan.options, plan.split)]


def batched_option_scores(
    top: TopLayers, plan: Plan, states: Sequence[torch.Tensor], batch_size: int = 8
) -> torch.Tensor:
    """``top.option_scores`` over length-sorted batches of texts (less padding), in text order.

    Differentiable unless called under ``torch.inference_mode``; for training, call
    ``top.option_scores`` on each minibatch instead.
    """
    counts = _sequences_per_text(plan)
    starts = [sum(counts[:i]) for i in range(len(counts))]
    order = sorted(range(len(counts)), key=lambda i: max(states[starts[i] + k].shape[0] for k in range(counts[i])))
    out = torch.zeros(len(plan.options), len(plan.options[0]) if plan.options else 0)
    for b in range(0, len(order), batch_size):
        rows = order[b : b + batch_size]
        sub = Plan(plan.prefix, [plan.options[i] for i in rows], [plan.split[i] for i in rows])
        sub_states = [states[starts[i] + k] for i in rows for k in range(counts[i])]
        out[rows] = top.option_scores(sub, sub_states).cpu()
    return out


class StateCache:
    """Lower-layer states keyed by (backbone, layer, token sequence): computed once per process and
    reused across cells, seeds and epochs. ``get`` computes only the missing sequences."""

    def __init__(self, backbone: str, model: Any, layer: int, pad_id: int = 0, batch_size: int = 8):
        self.backbone, self.model, self.layer, self.pad_id, self.batch_size = backbone, model, layer, pad_id, batch_size
        self._store: dict[str, torch.Tensor] = {}
        self.computed = 0

    def key(self, seq: Sequence[int]) -> str:
        raw = f"{self.backbone}|{self.layer}|" + ",".join(map(str, seq))
        return hashlib.sha1(raw.encode()).hexdigest()

    def get(self, sequences: Sequence[Sequence[int]]) -> list[torch.Tensor]:
        keys = [self.key(s) for s in sequences]
        todo = sorted({k: i for i, k in enumerate(keys) if k not in self._store}.items(), key=lambda kv: kv[1])
        if todo:
            fresh = lower_states(
                self.model, [sequences[i] for _, i in todo], self.layer, batch_size=self.batch_size, pad_id=self.pad_id
            )
            for (k, _), s in zip(todo, fresh):
                self._store[k] = s
            self.computed += len(todo)
        return [self._store[k] for k in keys]

    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in self._store.values())


def states_key(backbone: str, layer: int, sequences: Sequence[Sequence[int]]) -> str:
    h = hashlib.sha1(f"v1|{backbone}|{layer}|{len(sequences)}".encode())
    for seq in sequences:
        h.update((",".join(map(str, seq)) + ";").encode())
    return h.hexdigest()[:24]


def stored_lower_states(
    backbone: str,
    model: Any,
    sequences: Sequence[Sequence[int]],
    layer: int,
    *,
    batch_size: int = 8,
    pad_id: int = 0,
) -> list[torch.Tensor]:
    """``lower_states`` cached on disk across processes (``<cache>/lm-states/<key>.safetensors``), keyed by
    (backbone name, layer, the exact token sequences): every cell of a suite that scores or trains on the
    same texts under the same pattern reuses one build. Built under a file lock, written atomically; an
    unreadable or mismatched file is rebuilt. ``backbone`` must name the weights (a fine-tuned model is
    a different backbone)."""
    from safetensors.torch import load_file, save

    from harness.artifacts import artifact_lock, artifact_path, atomic_write_bytes

    key = states_key(backbone, layer, sequences)
    path = artifact_path("lm-states", key, ".safetensors")
    lengths = [len(s) for s in sequences]

    def read() -> list[torch.Tensor] | None:
        if not path.exists():
            return None
        try:
            data = load_file(str(path))
            flat, stored = data["states"], data["lengths"].tolist()
        except Exception:
            return None
        if stored != lengths or flat.shape[0] != sum(lengths):
            return None
        return list(torch.split(flat, lengths))

    found = read()
    if found is not None:
        return found
    with artifact_lock("lm-states", key):
        found = read()
        if found is not None:
            return found
        states = lower_states(model, sequences, layer, batch_size=batch_size, pad_id=pad_id)
        flat = torch.cat(states) if states else torch.zeros(0, 0)
        atomic_write_bytes(path, save({"states": flat.contiguous(), "lengths": torch.tensor(lengths)}))
        return list(torch.split(flat, lengths))
