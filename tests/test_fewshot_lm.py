"""The fewshot track on a causal LM (a tiny random Qwen2, built in the test cache): every method end to end,
what each trains, the shared state cache, bad models through the CLI, declared memory."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from harness.cli import main
from harness.engine.cell import Cell
from harness.engine.context import RunContext
from harness.engine.store import Store
from harness.errors import HarnessError
from harness.registry import REGISTRY, load_builtins
from harness.tracks.fewshot import lm, lm_train, sampling
from harness.tracks.fewshot import protocol as fs

load_builtins()

DATA = {"train_per_class": 40, "eval_per_class": 15}
SETTINGS = {
    "k": 8,
    "steps": 4,
    "full_steps": 4,
    "eval_every": 2,
    "batch_size": 4,
    "valid_texts": 20,
    "backbone": "tiny-random-qwen2",
    "pattern": "review",
    "train_layers": "lora-top1",
    "max_chars": 30,
    "subset_texts": 10,
    "unlabelled_texts": 16,
    "full_texts": 24,
}


def _cell(method: str, params: dict | None = None, settings: dict | None = None, seed: int = 0) -> Cell:
    entry = REGISTRY.get("method", method, "fewshot")
    return Cell(
        "fewshot",
        "sentiment",
        dict(DATA),
        method,
        entry.resolve_params(params or {}),
        {**SETTINGS, **(settings or {})},
        seed,
        "smoke",
    )


def _run(
    method: str, params: dict | None = None, settings: dict | None = None, seed: int = 0
) -> tuple[dict, RunContext]:
    ctx = RunContext(seed)
    return fs.FewShot().run(_cell(method, params, settings, seed), ctx), ctx


def _state_files() -> set[str]:
    from harness.artifacts import cache_dir

    return {p.name for p in (cache_dir() / "lm-states").glob("*.safetensors")}


CASES = [
    ("pet-zero", {}, 0),
    ("pet-zero", {"calibrate": True}, 0),
    ("pet-zero", {"pattern": "p1"}, 0),
    ("icl", {"demos": 2}, 2),
    ("pet", {}, 8),
    ("pet-semi", {}, 8),
    ("head-finetune", {}, 8),
    ("full", {}, 24),
]


@pytest.mark.parametrize(("method", "params", "labelled"), CASES)
def test_every_method_runs_on_a_tiny_causal_lm(method, params, labelled):
    out, ctx = _run(method, params)
    assert 0.0 <= out["test_accuracy"] <= 1.0 and out["labelled_texts"] == labelled
    assert out["predicted_labels"] in (1.0, 2.0) and 0.0 <= out["positive_rate"] <= 1.0
    assert out["test_texts"] == (10 if method == "icl" else 30) and 0.0 <= out["subset_accuracy"] <= 1.0
    test = ctx.predictions["test"]  # icl: the first 10 test texts, under the ids they have in the full set
    assert test.ids.tolist() == list(range(int(out["test_texts"])))
    assert test.correct.mean() == pytest.approx(out["test_accuracy"], abs=1e-12)
    assert test.correct[:10].mean() == pytest.approx(out["subset_accuracy"], abs=1e-12)
    trains = method not in ("pet-zero", "icl")
    assert ("trained_parameters" in out) == trains and ("valid_accuracy" in out) == (method != "icl")
    if trains:
        assert ctx.train_seconds > 0 and ctx.curves.get("valid_accuracy") and out["trained_parameters"] > 0


def test_zero_shot_through_cached_states_equals_the_full_model_scorer():
    from harness.models.lm_reference import compare, naive_option_scores, plain_sequence_logprobs
    from harness.models.lm_scoring import score_plan
    from harness.tracks.fewshot.pattern import resolve_pattern
    from harness.tracks.fewshot.recipe import FewShotRecipe

    texts = ["很满意的评论", "差，不好", "总之我觉得好", "失望"]
    for name in ("review", "p1", "p2"):
        env = lm.setup(
            "tiny-random-qwen2", FewShotRecipe("pet", name, train=False), fs.FewShot.Settings(**SETTINGS), "smoke"
        )
        plan = lm.plan_of(env, texts)
        fast = lm.frozen_scores(env, texts)
        assert torch.allclose(fast, score_plan(env.model, plan, 8, env.pad_id), atol=1e-4)
        assert torch.allclose(fast, naive_option_scores(env.model, plan), atol=1e-4)
        assert torch.allclose(lm.frozen_scores(env, texts), fast)  # second call: from the disk cache
        plain = plain_sequence_logprobs(env.model, env.tok, texts, resolve_pattern(name), env.words, env.cut)
        found = compare(fast, plain)  # the outside check: no build_plan, the same start-token rule
        assert found["max_abs_diff_nats"] < 2e-4 and found["argmax_agreement"] == 1.0, (name, found)


def test_pet_and_head_train_the_same_top_layers_and_reuse_the_test_states():
    from harness.models.lm_backbones import load_backbone

    model, _ = load_backbone("tiny-random-qwen2")
    top, n = lm_train.make_trainable(model, 2, lora=False, seed=0)
    names = {k for k, p in model.named_parameters() if p.requires_grad}
    assert names and all(k.startswith(("model.layers.2.", "model.norm.")) for k in names)
    assert n == sum(p.numel() for p in model.model.layers[2].parameters()) + model.model.norm.weight.numel()
    model, _ = load_backbone("tiny-random-qwen2")
    _, n_lora = lm_train.make_trainable(model, 2, lora=True, seed=0)
    lora = {k for k, p in model.named_parameters() if p.requires_grad}
    assert lora and all("lora_" in k and k.startswith("model.layers.2.") for k in lora) and n_lora < n

    label_last = {"pattern": "{x}总之我觉得__"}  # 很/不 are one token each in the tiny vocabulary
    pet, _ = _run("pet", settings=label_last, seed=3)
    before = _state_files()
    head, _ = _run("head-finetune", settings=label_last, seed=3)
    assert _state_files() == before  # the head read PET's cached train/valid/test states: nothing new built
    assert head["trained_parameters"] == pet["trained_parameters"] + 2 * (32 + 1)  # + the linear head


def test_same_seed_same_k_texts_and_demos_from_them(monkeypatch):
    seen: dict[str, list[str]] = {}
    real = sampling.sample_k

    def spy(texts, labels, k, seed, *a):
        out = real(texts, labels, k, seed, *a)
        seen.setdefault(current, []).append(out[0])
        return out

    monkeypatch.setattr(sampling, "sample_k", spy)
    for current in ("pet", "icl"):
        _run(current, {"demos": 4} if current == "icl" else {}, seed=5)
    assert seen["pet"][0] == seen["icl"][0] and set(seen["icl"][1]) <= set(seen["icl"][0])


@pytest.mark.parametrize(
    ("settings", "params", "method", "match"),
    [
        ({"train_layers": "top9"}, {}, "pet", "only 3 layers"),
        ({}, {"demos": 9}, "icl", "demos=9"),
        ({"pattern": "p1"}, {}, "head-finetune", "label word first"),
        ({"backbone": "tiny-random-qwen2+int8"}, {}, "pet", "inference-only"),
        ({}, {"calibrate": True}, "icl", None),
    ],
)
def test_bad_combinations_are_one_line_errors(settings, params, method, match):
    if match is None:  # calibrated icl is allowed
        assert _run(method, params, settings)[0]["test_texts"] == 10
        return
    with pytest.raises(HarnessError, match=match) as err:
        _run(method, params, settings)
    assert "\n" not in str(err.value)


def test_settings_checked_before_cells_run():
    track = fs.FewShot()
    for bad, match in (
        ({"backbone": "qwen-typo"}, "unknown backbone"),
        ({"backbone": "tiny-char-mlm"}, "masked LM"),
        ({"train_layers": "all"}, "top<N>"),
        ({"backbone": "char", "train_layers": "top2"}, "every layer"),
        ({"pattern": "no mask {x}"}, "exactly one mask"),
    ):
        with pytest.raises(HarnessError, match=match):
            track.check_settings(fs.FewShot.Settings(**{**SETTINGS, **bad}))
    track.check_settings(fs.FewShot.Settings(**{**SETTINGS, "backbone": "/no/such/folder"}))  # the cell reports it


def test_declared_memory_lets_two_qwen_jobs_share_24_gib_and_a_full_finetune_would_not():
    track = fs.FewShot()
    qwen = {**SETTINGS, "backbone": "qwen2.5-0.5b", "train_layers": "lora-top2", "batch_size": 8, "max_chars": 120}
    sizes = {m: track.memory(_cell(m, settings={**qwen, "k": 0})) for m in ("pet-zero", "pet", "pet-semi", "icl")}
    assert all(2.5 * 2**30 < v < 8 * 2**30 for v in sizes.values()), sizes
    assert sizes["pet-semi"] > sizes["pet"] > sizes["pet-zero"]
    full_top = track.memory(_cell("pet", settings={**qwen, "train_layers": "top24"}))
    assert full_top > 12 * 2**30  # every layer trained: two would not fit in 24 GiB
    assert track.memory(_cell("pet", settings={**qwen, "backbone": "/no/such/model"})) == 512 * 2**20


SUITE = """
[suite]
name = "bad-models"
scale = "smoke"
seeds = 1

[[run]]
track = "fewshot"
datasets = ["sentiment[train_per_class=40,eval_per_class=15]"]
methods = ["pet-zero"]
[run.settings]
backbone = "{backbone}"
pattern = "review"
train_layers = "lora-top1"
valid_texts = 10
"""


def _broken_models(root: Path) -> dict[str, Path]:
    from lm_tiny import save_tiny

    good = root / "good"
    save_tiny(good)
    truncated = root / "truncated"
    save_tiny(truncated)
    weights = truncated / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    wrong = root / "wrong.gguf"
    wrong.write_bytes(b"not a gguf file at all" * 10)
    return {"missing": root / "missing-folder", "truncated": truncated, "wrong": wrong, "good": good}


def test_missing_truncated_and_wrong_model_files_are_one_line_error_cells(tmp_path):
    runner = CliRunner()
    models = _broken_models(tmp_path)
    for what, path in models.items():
        suite = tmp_path / f"{what}.toml"
        suite.write_text(SUITE.replace("{backbone}", str(path)), encoding="utf-8")
        res = tmp_path / f"res-{what}"
        out = runner.invoke(main, ["run", "--suite", str(suite), "--results", str(res), "--executor", "inline", "-q"])
        recs = Store(res).records()
        assert {r["cell"]["method"] for r in recs} == {"pet-zero", "head-finetune"}  # + the block's baseline
        if what == "good":
            assert out.exit_code == 0 and {r["status"] for r in recs} == {"ok"}, out.output
            continue
        assert out.exit_code == 1 and {r["status"] for r in recs} == {"error"}, (what, out.output)
        for rec in recs:
            assert "\n" not in rec["error"] and "Traceback" not in out.output, rec["error"]
            assert str(path.name) in rec["error"], rec["error"]


def test_leaderboard_names_the_backbone_exactly(tmp_path):
    """Provenance lines say which model a backbone name stands for (family, variant, the source file's
    quantisation, the dtype used), read from the backbone's records; masked-LM blocks add none."""
    from report_fixtures import _record

    from harness.engine.store import Store, collect
    from harness.report.provenance import provenance

    store = Store(tmp_path)
    blocks = ({"backbone": "qwen2.5-0.5b", "k": 16}, {"k": 16}, {"backbone": "tiny-random-qwen2"}, {"k": 8})
    for i, settings in enumerate(blocks):
        cell = Cell("fewshot", "sentiment", {}, "head-finetune", {}, settings, i, "quick", {"track": 3})
        store.write(_record(cell, {"test_accuracy": 0.5}, i))
    lines = provenance(str(tmp_path), collect(tmp_path), "fewshot").lines()
    qwen = [line for line in lines if "`qwen2.5-0.5b`" in line]
    assert len(qwen) == 1 and "Qwen2.5-Coder-0.5B-Instruct" in qwen[0] and "Q4_K_M" in qwen[0]
    assert "float32" in qwen[0] and "sha256 1d9614638d18" in qwen[0]
    assert sum("Backbone" in line for line in lines) == 2  # qwen and the tiny random model; not `char`
