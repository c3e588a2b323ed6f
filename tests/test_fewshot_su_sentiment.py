"""The su-sentiment dataset (Su's own split, read from a local copy): a small fake copy of his three files."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.data.su_sentiment import SU_ENV, su_sentiment
from harness.engine.cell import Cell
from harness.engine.context import RunContext
from harness.errors import HarnessError
from harness.registry import REGISTRY, load_builtins
from harness.tracks.fewshot import protocol as fs

load_builtins()
POS = ["这家酒店很好，服务周到", "质量不错，物流很快", "非常满意，还会再来", "性价比高，推荐购买"]
NEG = ["太差了，再也不来", "质量不好，很失望", "服务态度恶劣", "东西坏了，退货麻烦"]


def _fake_copy(root: Path, n: int = 6) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for split, reps in (("train", n), ("valid", 2), ("test", 2)):
        lines = [f"{t}{i}\t1" for i in range(reps) for t in POS] + [f"{t}{i}\t0" for i in range(reps) for t in NEG]
        (root / f"sentiment.{split}.data").write_text("\n".join(lines) + "\n\n", encoding="utf-8")
    return root


def test_reads_the_three_files_from_a_parameter_or_the_environment(tmp_path, monkeypatch):
    root = _fake_copy(tmp_path / "su")
    d = su_sentiment(root=str(root))
    assert (len(d.train_texts), len(d.valid_texts), len(d.test_texts)) == (48, 16, 16)
    assert d.train_labels[0] == 1 and d.train_texts[0] == "这家酒店很好，服务周到0" and set(d.test_labels) == {0, 1}
    monkeypatch.setenv(SU_ENV, str(root))
    assert su_sentiment(eval_per_class=3).valid_labels.count(0) == 3


@pytest.mark.parametrize(
    ("setup", "match"),
    [
        ("none", "KEXUE_BENCH_SU_SENTIMENT"),
        ("missing-dir", "does not exist"),
        ("missing-file", "file missing: .*sentiment.test.data"),
        ("bad-label", "line 2 is not 'text<TAB>0|1'"),
        ("no-tab", "line 1 is not"),
        ("not-utf8", "not UTF-8"),
    ],
)
def test_bad_copies_are_one_line_errors(tmp_path, monkeypatch, setup, match):
    monkeypatch.delenv(SU_ENV, raising=False)
    monkeypatch.setenv("KEXUE_BENCH_OFFLINE", "1")  # no copy means a download: never the network in tests
    root = _fake_copy(tmp_path / "su")
    test_file = root / "sentiment.test.data"
    if setup == "missing-dir":
        root = tmp_path / "nowhere"
    elif setup == "missing-file":
        test_file.unlink()
    elif setup == "bad-label":
        test_file.write_text("好\t1\n差\t2\n", encoding="utf-8")
    elif setup == "no-tab":
        test_file.write_text("好 1\n", encoding="utf-8")
    elif setup == "not-utf8":
        test_file.write_bytes("好\t1\n".encode("gbk"))
    with pytest.raises(HarnessError, match=match) as err:
        su_sentiment(root="" if setup == "none" else str(root))
    assert "\n" not in str(err.value)


def test_a_fewshot_cell_runs_on_the_fake_copy(tmp_path):
    root = _fake_copy(tmp_path / "su")
    entry = REGISTRY.get("method", "pet-zero", "fewshot")
    settings = {"k": 4, "valid_texts": 8, "backbone": "tiny-random-qwen2", "pattern": "{x}总之我觉得__"}
    settings |= {"train_layers": "lora-top1", "subset_texts": 8}
    cell = Cell(
        "fewshot", "su-sentiment", {"root": str(root)}, "pet-zero", entry.resolve_params({}), settings, 0, "smoke"
    )
    out = fs.FewShot().run(cell, RunContext(0))
    assert out["test_texts"] == 16 and 0 <= out["test_accuracy"] <= 1
