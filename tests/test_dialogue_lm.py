"""dialogue on a pretrained causal LM: text speaker markers, identical targets in every format, per-turn
pairs cut from one state sequence, equal processed tokens, the cost said before it is spent, and bad
backbones or LoRA settings refused in one line before any cell runs."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest
from lm_tiny import tiny_tokenizer

from harness.engine.cell import Cell
from harness.engine.context import RunContext
from harness.errors import HarnessError
from harness.registry import REGISTRY, load_builtins
from harness.tracks.dialogue import budget
from harness.tracks.dialogue.lm import MARKERS, encode, scoring_samples, training_samples
from harness.tracks.dialogue.settings import DialogueSettings

load_builtins()
DIALOGUES = [["你好", "你好吗？", "很好"], ["吃了吗", "吃了"]]
HAS_CHATTERBOT = importlib.util.find_spec("chatterbot_corpus") is not None
SETTINGS = {
    "backbone": "tiny-random-qwen2",
    "train_layers": "lora-top1",
    "train_tokens": 300,
    "batch_size": 2,
    "ctx": 48,
    "lr": 1e-3,
    "eval_points": 2,
    "replies": 2,
    "reply_max_len": 3,
    "target_ppl": 1e6,
}


def _cell(method: str, settings: dict | None = None, seed: int = 0) -> Cell:
    entry = REGISTRY.get("method", method, "dialogue")
    version = {"track": REGISTRY.get("track", "dialogue").version, "dataset": 1, "method": entry.version}
    return Cell("dialogue", "chatterbot-zh", {}, method, {}, settings or SETTINGS, seed, "smoke", version)


def test_every_format_scores_the_same_turns_and_tokens():
    tok = tiny_tokenizer()
    with_markers = [encode(tok, d, True, 64) for d in DIALOGUES]
    without = [encode(tok, d, False, 64) for d in DIALOGUES]
    marker = tok(MARKERS[1], add_special_tokens=False)["input_ids"]
    a, b = with_markers[0], without[0]
    assert a.ids[a.spans[1][0] - len(marker) : a.spans[1][0]] == marker  # "B：" before the second turn
    assert len(a.ids) - len(b.ids) == 3 * len(marker)  # markers are the only difference
    for x, y in zip(scoring_samples(with_markers), scoring_samples(without)):
        assert [x_ids for x_ids in (with_markers[x.dialogue].ids[t] for t in x.targets)] == [
            without[y.dialogue].ids[t] for t in y.targets
        ]
    # a tight ctx cuts both modes after the same turn (decided with the markers' lengths)
    short = [encode(tok, DIALOGUES[0], m, 24) for m in (True, False)]
    assert len(short[0].spans) == len(short[1].spans) < 3


def test_su_trains_every_turn_once_and_cdial_each_pair_rereads_its_history():
    tok = tiny_tokenizer()
    enc = [encode(tok, d, True, 64) for d in DIALOGUES]
    su, cd = training_samples("su", enc), training_samples("cdial", enc)
    assert len(su) == 2 and len(cd) == 3  # (2 + 1) pairs: every turn from the second
    assert sum(len(s.targets) for s in su) == sum(b - a for e in enc for a, b in e.spans)
    assert [len(c.targets) for c in cd] == [b - a for e in enc for a, b in e.spans[1:]]
    assert cd[0].length == enc[0].spans[1][1] and cd[1].length == len(enc[0].ids)  # prefixes of one sequence
    processed = sum(c.length for c in cd)
    assert processed > sum(s.length for s in su)  # re-reading histories: what equal tokens charges
    with pytest.raises(HarnessError, match="unknown dialogue format"):
        training_samples("other", enc)


@pytest.mark.skipif(not HAS_CHATTERBOT, reason="chatterbot-corpus not installed")
def test_lm_cells_run_at_equal_tokens_and_the_estimate_counts_their_work(tmp_path, monkeypatch):
    """Every arm processes the same token budget (within one batch); the cost model's work counts match
    what the cells charged on the meter (a fake clock) within 1.5x both ways, the states once."""
    from harness.models import lm_cost
    from harness.tracks.dialogue.protocol import DialogueTrack

    monkeypatch.setenv("KEXUE_BENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(lm_cost, "RATES", lm_cost.Rates(forward=2e6, train=1e6, head=2e6, head_train=1e6, load_s=1.0))
    track = DialogueTrack()
    cells = [_cell(m) for m in ("cdial", "su-lm", "su-lm-noseg")]
    for phase in ("cold", "warm"):
        estimate = sum(track.cost(c) for c in cells) + sum(track.shared_cost(cells).values())
        out = {}
        with lm_cost.metered() as meter:
            for cell in cells:
                out[cell.method] = track.run(cell, RunContext(cell.seed))
        assert 1 / 1.5 <= estimate / meter.seconds() <= 1.5, (phase, estimate, meter)
    for m in out.values():
        assert SETTINGS["train_tokens"] <= m["tokens"] < SETTINGS["train_tokens"] + 2 * SETTINGS["ctx"]
        assert m["target_tokens"] == out["cdial"]["target_tokens"]  # the same held-out targets for all
    assert out["su-lm"]["supervised_share"] > out["cdial"]["supervised_share"]
    assert track.shared_cost(cells) == {}  # built by the cold run, nothing left


def test_bad_backbones_and_lora_settings_are_one_line_errors():
    check = budget.check_backbone
    check(DialogueSettings())  # the tiny GPT
    check(DialogueSettings(backbone="tiny-random-qwen2", train_layers="lora-top2"))
    for settings, match in [
        (DialogueSettings(backbone="tiny-char-mlm"), "is a masked LM"),
        (DialogueSettings(backbone="tiny-random-qwen2", train_layers="lora-top3"), "has 3 layers"),
        (DialogueSettings(backbone="tiny-random-qwen2", train_layers="all"), "top<N>"),
        (DialogueSettings(backbone="tiny-random-qwen2+int8"), "cannot train"),
        (DialogueSettings(backbone="no-such-model"), "unknown backbone"),
    ]:
        with pytest.raises(HarnessError, match=match):
            check(settings)


@pytest.mark.parametrize(
    "setting, message",
    [
        ('backbone = "tiny-char-mlm"', "is a masked LM"),
        ('backbone = "tiny-random-qwen2"\ntrain_layers = "lora-top5"', "has 3 layers"),
    ],
)
def test_the_cli_refuses_them_before_any_cell_runs(tmp_path, setting, message):
    suite = tmp_path / "bad.toml"
    suite.write_text(
        '[suite]\nname = "bad"\nscale = "smoke"\nseeds = 1\n\n[[run]]\ntrack = "dialogue"\n'
        f'datasets = ["chatterbot-zh"]\nmethods = ["su-lm"]\n[run.settings]\n{setting}\n',
        encoding="utf-8",
    )
    res = tmp_path / "res"
    out = subprocess.run(
        [sys.executable, "-m", "harness.cli", "run", "--suite", str(suite), "--results", str(res)],
        capture_output=True,
        text=True,
    )
    errors = [line for line in out.stderr.splitlines() if line.startswith("error:")]
    assert out.returncode == 2 and len(errors) == 1 and message in errors[0] and "Traceback" not in out.stderr
    assert not res.exists() or not any(res.rglob("*.json"))
