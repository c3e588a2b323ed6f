"""The cost estimate of causal-LM cells counts the states and scores a run still has to build (the disk
cache says which exist), once per run, and prints it: "~N min, of which M building states and scores"."""

from __future__ import annotations

import pytest

from harness.engine.cell import Cell
from harness.engine.context import RunContext
from harness.engine.estimate import estimate
from harness.models import lm_cost
from harness.models.lm_scoring import Pattern, build_plan
from harness.registry import REGISTRY, load_builtins
from harness.tracks.fewshot import prep
from harness.tracks.fewshot import protocol as fs
from harness.tracks.fewshot.pattern import pattern_words, resolve_pattern

load_builtins()

DATA = {"train_per_class": 40, "eval_per_class": 15}
SETTINGS = {
    "k": 8,
    "steps": 2,
    "eval_every": 2,
    "batch_size": 4,
    "valid_texts": 20,
    "backbone": "tiny-random-qwen2",
    "pattern": "review",
    "train_layers": "lora-top1",
    "max_chars": 30,
    "subset_texts": 10,
}


def _cell(method: str, params: dict | None = None, seed: int = 0) -> Cell:
    entry = REGISTRY.get("method", method, "fewshot")
    version = {"track": REGISTRY.get("track", "fewshot").version, "dataset": 1, "method": entry.version}
    return Cell(
        "fewshot", "sentiment", dict(DATA), method, entry.resolve_params(params or {}), SETTINGS, seed, "smoke", version
    )


@pytest.fixture
def fresh_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("KEXUE_BENCH_CACHE", str(tmp_path / "cache"))


def _token_layers(cell: Cell, seqs_of, layer: int = 3 - 1) -> int:
    """Tokens x lower layers of the cell's K, validation and test texts, computed here from the cell's plan
    (``layer``: tiny-random-qwen2 has 3 layers; lora-top1 caches the states entering layer 2)."""
    track = fs.FewShot()
    s, recipe = track.settings(cell), track.recipe(cell)
    data = track.load_data(cell)
    k_texts, _ = track.labelled_sample(s, data, RunContext(cell.seed).seed("sample"))
    tok = prep.tokenizer_if_ready(s.backbone)
    assert tok is not None and not recipe.pattern
    words = pattern_words(s.pattern)
    texts = [*k_texts, *data.valid_texts[: s.valid_texts], *data.test_texts]
    seqs = []
    for part in (k_texts, list(data.valid_texts[: s.valid_texts]), list(data.test_texts)):
        seqs += seqs_of(build_plan(tok, Pattern(resolve_pattern(s.pattern)), part, words, max_text_chars=s.max_chars))
    assert len(seqs) == len(texts)
    return sum(len(q) for q in seqs) * layer


def test_cold_states_are_counted_exactly_then_not_at_all(fresh_cache, monkeypatch):
    """A fake cost model (one second per token and layer) makes the count visible: the head cell's cold
    builds are exactly its K, validation and test texts' tokens x the layers below the trained one."""
    from harness.models.lm_backbones import shape_of
    from harness.tracks.fewshot.lm_train import head_sequences

    shape = shape_of("tiny-random-qwen2")
    layer_params = (shape.parameters - 2 * shape.vocab * shape.hidden) // shape.layers
    monkeypatch.setattr(lm_cost, "RATES", lm_cost.Rates(forward=2.0 * layer_params))  # 1 s per token-layer
    track = fs.FewShot()
    head = _cell("head-finetune")
    want = _token_layers(head, head_sequences)
    assert track.shared_cost([head]) == {"building states and scores": pytest.approx(want)}
    # Cells that read the same states count them once (pet-semi reads pet's, plus its unlabelled pool);
    # a label-first zero-shot pattern adds whole-model scores, no states.
    pet, semi, p1 = _cell("pet"), _cell("pet-semi"), _cell("pet-zero", {"pattern": "p1"})
    alone = {c.method: track.shared_cost([c])["building states and scores"] for c in (head, pet, semi)}
    together = track.shared_cost([head, pet, semi, pet])["building states and scores"]
    assert alone["pet-semi"] > alone["pet"] and together == pytest.approx(alone["head-finetune"] + alone["pet-semi"])
    assert prep.pending_builds(track, [p1]).score_chunks and not prep.pending_builds(track, [p1]).state_chunks
    # Once the cells ran, the cache holds everything: nothing left to build.
    for cell in (head, p1):
        track.run(cell, RunContext(cell.seed))
    assert track.shared_cost([head, p1]) == {}
    assert track.shared_cost([head, pet, p1]) == {"building states and scores": pytest.approx(alone["pet"])}


def test_the_printed_estimate_says_how_much_is_building(fresh_cache, monkeypatch):
    monkeypatch.setattr(lm_cost, "RATES", lm_cost.Rates(forward=1.0))
    cells = [_cell("head-finetune"), _cell("pet")]
    est = estimate(cells)
    shared = est.shared["building states and scores"]
    assert shared > 0
    assert est.minutes(2) * 60 == pytest.approx(
        max((sum(est.seconds.values()) + shared) / 2, max(est.seconds.values()))
    )
    line = est.lines(2, "plan")[-1]
    assert f"of which ~{shared / 2 / 60:.1f} min building states and scores" in line


def test_a_track_that_cannot_count_its_shared_work_says_so(monkeypatch):
    def broken(self, cells):
        raise RuntimeError("no tokenizer\nsecond line")

    monkeypatch.setattr(fs.FewShot, "shared_cost", broken)
    est = estimate([_cell("pet")])
    assert est.shared == {} and est.lines(1, "plan")[-1] == "  note: fewshot: shared work not counted (no tokenizer)"


def test_a_cold_estimate_reads_the_tokenizer_from_the_gguf_before_the_model_folder(fresh_cache, tmp_path, monkeypatch):
    """Issue 29: without the model folder the estimate charged every text at an upper token count (2.2x high on
    the cold fewshot block). Now the tokenizer comes from the GGUF alone (no model built), so the cold estimate
    counts exactly the tokens of a warm-folder estimate plus one folder build, and the run then builds exactly
    the chunks it counted (nothing left). A GGUF that cannot be read falls back to the upper count, no error."""
    from lm_tiny import fake_gguf_source, save_tiny, write_gguf

    from harness.artifacts import cache_dir
    from harness.models import lm_backbones, lm_gguf
    from harness.tracks.fewshot.lm_train import head_sequences

    model, _ = save_tiny(tmp_path / "folder")
    fake_gguf_source(tmp_path, monkeypatch, write_gguf(tmp_path / "tiny.gguf", model).read_bytes())
    shape = lm_backbones.shape_of(str(tmp_path / "folder"))
    monkeypatch.setitem(lm_backbones.KNOWN_SHAPES, "kxfake", shape)
    layer_params = (shape.parameters - 2 * shape.vocab * shape.hidden) // shape.layers
    rates = lm_cost.Rates(forward=2.0 * layer_params, folder_s=1000.0)  # 1 s per token-layer
    monkeypatch.setattr(lm_cost, "RATES", rates)
    monkeypatch.setitem(SETTINGS, "backbone", "kxfake")
    track, head = fs.FewShot(), _cell("head-finetune")

    cold = track.shared_cost([head])["building states and scores"]
    assert lm_gguf.folder_problem(cache_dir() / "lm" / "kxfake") is not None  # the model is not built
    assert lm_gguf.folder_problem(lm_gguf.tokenizer_folder(lm_gguf.SOURCES["kxfake"])) is None
    assert not (cache_dir() / "lm" / "kxfake.gguf").exists()  # the assembled GGUF is not kept
    assert cold == pytest.approx(_token_layers(head, head_sequences, shape.layers - 1) + 1000.0)
    with lm_cost.metered() as meter:
        track.run(head, RunContext(head.seed))
    assert meter.folders == 1 and track.shared_cost([head]) == {}  # built what was counted, the folder once

    import shutil

    shutil.rmtree(cache_dir())
    monkeypatch.setattr(lm_gguf, "assemble", lambda *a: (_ for _ in ()).throw(lm_gguf.HarnessError("corrupt part")))
    guessed = track.shared_cost([head])
    assert list(guessed) == ["building states and scores (no tokenizer on disk yet: every text counted)"]
