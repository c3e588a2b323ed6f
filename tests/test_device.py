"""The GPU path without a GPU: every track's smoke cells on ``harness.engine.device_guard``'s pretend CUDA
device, device provenance, precision, GPU memory admission and the one-line refusals.

``pytest -k device`` runs this file (and ``test_device_gpu.py``, whose tests need a real GPU).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from conftest import FAKE_SUITE, write_suite

from harness.cli import main
from harness.engine.cell import Cell
from harness.engine.device_guard import fake_cuda, is_tagged
from harness.engine.runner import run_cell
from harness.suite import expand, load_suite, with_precision

TRACKS = ("igr", "weightreg", "imbalance", "tokenization", "fewshot", "embdim", "vae", "dialogue")
GIB = 1024**3


def _smoke(track: str) -> list[Cell]:
    return expand(load_suite("smoke"), [track], None, None, 1)


# --- the guard itself -------------------------------------------------------------------------------
def test_device_guard_catches_what_a_gpu_would_refuse():
    model = torch.nn.Sequential(torch.nn.Embedding(10, 4), torch.nn.Linear(4, 2))
    ids = torch.randint(0, 10, (3, 5))
    with fake_cuda() as report:
        model.to("cuda")
        assert all(is_tagged(p) for p in model.parameters()) and model[1].weight.device.type == "cuda"
        with pytest.raises(RuntimeError, match="same device"):
            model(ids)  # a CPU batch into a GPU model
        out = model(ids.to("cuda"))
        with pytest.raises(TypeError, match="cuda:0 device type tensor to numpy"):
            out.detach().numpy()
        assert not is_tagged(out.cpu()) and out.detach().cpu().numpy().shape == (3, 5, 2)
        with pytest.raises(RuntimeError, match="same device"):
            _ = out + torch.randn(3, 5, 2)  # CPU noise mixed into GPU activations
        assert is_tagged(out[torch.tensor([0, 2])])  # a CPU index into a GPU tensor is fine
        gen = torch.Generator().manual_seed(0)
        with pytest.raises(RuntimeError, match="device type for generator"):
            torch.randn(3, generator=gen, device=out.device)  # vae drew its noise so before the fix
        assert is_tagged(torch.randn(3, generator=gen).to(out.device))  # drawn on the CPU, then moved
        opt = torch.optim.AdamW(model.parameters(), lr=0.1)
        out.sum().backward()
        opt.step()  # gradients and optimizer state follow the parameters
        assert is_tagged(model[1].weight.grad) and not report.cpu_ops
        torch.nn.Linear(4, 2)(torch.randn(2, 4))  # work left on the CPU is counted
        assert report.cpu_ops["addmm"] == 1


def test_device_guard_reproduces_the_fewshot_masked_lm_crash():
    """The bug issue 20 found by reading: batches padded on the CPU reached a GPU model in pet_predict,
    pet_loss and head_predict. The guard raises exactly there without a GPU."""
    from harness.models.pretrain import pad_rows
    from harness.models.tinybert import TinyBertConfig, make_mlm, masked_logits

    model = make_mlm(TinyBertConfig(layers=1, hidden=16, heads=2, max_positions=16), vocab_size=30)
    ids, att, _ = pad_rows([[2, 7, 8, 3], [2, 9, 3]])
    sel = torch.zeros_like(ids, dtype=torch.bool)
    sel[:, 1] = True
    with fake_cuda():
        model.to("cuda")
        with pytest.raises(RuntimeError, match="same device"):
            masked_logits(model, ids, att, sel)  # what pet_predict did before the fix
        assert masked_logits(model, ids.to("cuda"), att.to("cuda"), sel.to("cuda")).shape[0] == 2


# --- every track on the device ------------------------------------------------------------------------
@pytest.mark.parametrize("track", TRACKS)
def test_device_smoke_cells_run_on_the_device(track):
    """Each smoke cell of the track (one seed) on the pretend GPU: ok, no device mixing, no matrix
    product left on the CPU outside the parts the track declares CPU-only, recorded on cuda."""
    cells = _smoke(track)
    assert cells
    for cell in cells:
        with fake_cuda() as report:
            rec = run_cell(cell, device="cuda", threads=1)
        where = cell.describe()
        assert rec["status"] == "ok", f"{where}: {rec['error']}"
        assert not report.cpu_ops, f"{where}: CPU work outside declared CPU parts: {dict(report.cpu_ops)}"
        prov = rec["provenance"]
        assert prov["device"] == "cuda" and prov["precision"] == "fp32", f"{where}: {prov}"
        assert prov["gpu"]["peak_allocated"] > 0 and "device_note" not in prov


def test_device_cpu_only_parts_are_named_in_provenance():
    cell = _smoke("tokenization")[0]
    with fake_cuda():
        rec = run_cell(cell, device="cuda", threads=1)
    assert rec["status"] == "ok" and "MLM pretraining" in rec["provenance"]["cpu_parts"][0]
    assert "cpu_parts" not in run_cell(cell, device="cpu", threads=1)["provenance"]


def test_device_cpu_only_cell_makes_no_cuda_call(monkeypatch, tmp_path):
    """An '+int8' causal-LM cell runs on the CPU on a GPU run: said in one line before the run, recorded
    on cpu with the reason, and never touching torch.cuda (which raises here if called)."""
    suite = load_suite("smoke")
    block = next(b for b in suite.blocks if b.settings.get("backbone") == "tiny-random-qwen2")
    block.settings = {**block.settings, "backbone": "tiny-random-qwen2+int8"}
    cells = expand(suite, ["fewshot"], ["pet-zero"], None, 1)
    cell = next(c for c in cells if "int8" in c.settings["backbone"] and c.method_label == "pet-zero")

    def no_cuda(*a, **k):
        raise AssertionError("a CPU-only cell called torch.cuda")

    for name in ("synchronize", "max_memory_allocated", "reset_peak_memory_stats", "empty_cache", "set_device"):
        monkeypatch.setattr(torch.cuda, name, no_cuda)
    rec = run_cell(cell, device="cuda", threads=1)
    assert rec["status"] == "ok", rec["error"]
    prov = rec["provenance"]
    assert prov["device"] == "cpu" and prov["requested_device"] == "cuda" and "int8" in prov["device_note"]


def test_device_cpu_only_cells_are_announced_by_the_cli(tmp_path):
    toml = (Path(__file__).parent.parent / "harness/suites/smoke.toml").read_text(encoding="utf-8")
    body = toml.replace('backbone = "tiny-random-qwen2"', 'backbone = "tiny-random-qwen2+int8"')
    suite = write_suite(tmp_path / "int8.toml", body)
    args = ["run", "--suite", str(suite), "--track", "fewshot", "--method", "pet-zero[pattern=p1]", "--seeds", "1"]
    args += ["--device", "cuda", "--executor", "inline", "-q", "--results", str(tmp_path / "r")]
    with fake_cuda():
        out = CliRunner().invoke(main, args)
    notes = [line for line in out.output.splitlines() if line.startswith("note: fewshot")]
    assert len(notes) == 1 and "2 cell(s) run on the CPU" in notes[0] and "int8" in notes[0], out.output


# --- provenance, precision, run keys ----------------------------------------------------------------
def _fake_cell(method: str = "on-device", seed: int = 0) -> Cell:
    return Cell("fake", "const", {"offset": 1.0}, method, {}, {"sleep": 0.0, "memory_mb": 0.0}, seed, "smoke")


def test_device_provenance_is_measured_not_assumed():
    with fake_cuda():
        used = run_cell(_fake_cell("on-device"), device="cuda", threads=1)["provenance"]
        idle = run_cell(_fake_cell("plain"), device="cuda", threads=1)["provenance"]
    assert used["device"] == "cuda" and used["gpu"]["name"] == "fake-cuda (CPU)"
    assert idle["device"] == "cpu" and idle["requested_device"] == "cuda" and "no GPU memory" in idle["device_note"]


def test_device_cuda_oom_is_oom_and_frees_the_cache(monkeypatch):
    with fake_cuda():
        freed = []
        monkeypatch.setattr(torch.cuda, "empty_cache", lambda: freed.append(1))
        rec = run_cell(_fake_cell("cuda-oom"), device="cuda", threads=1)
    assert rec["status"] == "oom" and "out of memory" in rec["error"] and freed


def test_device_precision_is_in_the_key_unless_fp32():
    cell = _fake_cell()
    assert with_precision([cell], "fp32")[0].key == cell.key and "precision" not in cell.to_dict()
    bf16 = with_precision([cell], "bf16")[0]
    assert bf16.key != cell.key and Cell.from_dict(bf16.to_dict()).key == bf16.key
    rec = run_cell(bf16, device="cpu", threads=1)
    assert rec["status"] == "ok" and rec["provenance"]["precision"] == "bf16" and rec["cell"]["precision"] == "bf16"


def test_device_bf16_autocast_reaches_the_track():
    cell = _smoke("embdim")[0]
    fp32 = run_cell(cell, threads=1)
    bf16 = run_cell(with_precision([cell], "bf16")[0], threads=1)
    assert fp32["status"] == bf16["status"] == "ok"
    assert fp32["metrics"]["heldout_loss"] != bf16["metrics"]["heldout_loss"]  # bf16 products round differently


# --- one-line refusals before any cell runs -----------------------------------------------------------
def _one_line(out, needle: str, results: Path) -> None:
    assert out.exit_code == 2, out.output
    lines = [line for line in out.output.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and needle in lines[0], out.output
    assert not list(results.glob("*/*.json")), "a cell ran before the refusal"


def _run(tmp_path, *extra: str) -> tuple:
    suite = write_suite(tmp_path / "s.toml", FAKE_SUITE)
    res = tmp_path / "res"
    args = ["run", "--suite", str(suite), "--results", str(res), "--executor", "inline", "-q", *extra]
    return CliRunner().invoke(main, args), res


def test_device_index_past_the_host_is_one_line(tmp_path):
    with fake_cuda():
        out, res = _run(tmp_path, "--device", "cuda:3")
    _one_line(out, "this host has 1 CUDA device(s)", res)
    out, res = _run(tmp_path, "--device", "cuda:x")
    _one_line(out, "--device must be", res)


def test_device_cell_larger_than_the_gpu_is_one_line(tmp_path, monkeypatch):
    from fake_plugin import FakeTrack

    monkeypatch.setattr(FakeTrack, "gpu_memory", lambda self, cell: 200 * GIB, raising=False)
    with fake_cuda():
        out, res = _run(tmp_path, "--device", "cuda")
    _one_line(out, "of GPU memory, more than cuda:0 (fake-cuda (CPU)) has (80.0 GiB)", res)


def test_device_precisions_a_device_cannot_run_are_one_line(tmp_path, monkeypatch):
    out, res = _run(tmp_path, "--device", "cpu", "--precision", "tf32")
    _one_line(out, "the CPU has none", res)
    out, res = _run(tmp_path, "--device", "cpu", "--precision", "fp16")
    _one_line(out, "--precision must be one of", res)
    with fake_cuda():
        monkeypatch.setattr(torch.cuda, "get_device_capability", lambda *a: (7, 0))
        monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
        out, res = _run(tmp_path, "--device", "cuda", "--precision", "tf32")
        _one_line(out, "needs compute capability 8.0+", res)
        out, res = _run(tmp_path, "--device", "cuda", "--precision", "bf16")
        _one_line(out, "no native bfloat16 support", res)
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: False)
    out, res = _run(tmp_path, "--device", "cpu", "--precision", "bf16")
    _one_line(out, "this CPU has no bfloat16 kernels", res)


# --- GPU-aware execution ------------------------------------------------------------------------------
def test_device_default_jobs_are_what_fits(monkeypatch):
    from harness.engine import gpus
    from harness.engine.estimate import estimate

    cells = _smoke("igr")
    est = estimate(cells)
    with fake_cuda():
        monkeypatch.setattr(gpus, "free_memory", lambda i: 5 * GIB)
        jobs, lines = gpus.plan_gpu_run(cells, est, "cuda", None, cores=16)
        assert jobs == 3 and "holds 3 cell(s)" in lines[-1]  # 5 GiB / (1 GiB + a 0.5 GiB context)
        assert gpus.plan_gpu_run(cells, est, "cuda", 7, cores=16)[0] == 7  # --jobs wins
        monkeypatch.setattr(gpus, "free_memory", lambda i: 100 * GIB)
        assert gpus.plan_gpu_run(cells, est, "cuda", None, cores=16)[0] == 16  # never more than the cores


def test_device_workers_see_one_gpu_each(monkeypatch, tmp_path):
    from harness.engine import gpus, worker_process

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,5")
    with fake_cuda():
        monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
        found = gpus.visible_gpus("cuda")
        assert [g.visible_id for g in found] == ["2", "5"] and gpus.visible_gpus("cuda:1")[0].visible_id == "5"
        gates = gpus.GpuGates(found, free=lambda i: 10 * GIB)
        assert [gates.gpu_of_slot(s).visible_id for s in range(4)] == ["2", "5", "2", "5"]
    envs = []

    class FakePopen:
        def __init__(self, cmd, env, **kw):
            envs.append((cmd, env))
            raise OSError("not started in this test")

    monkeypatch.setattr(worker_process.subprocess, "Popen", FakePopen)
    with pytest.raises(OSError):
        worker_process.WorkerProcess(0, "cuda:1", 2, tmp_path, tmp_path / "logs", visible_gpu="5")
    cmd, env = envs[0]
    assert env["CUDA_VISIBLE_DEVICES"] == "5" and cmd[cmd.index("--device") + 1] == "cuda"


def test_device_local_executor_end_to_end_on_the_pretend_gpu(tmp_path, monkeypatch):
    """Workers on the pretend GPU (KEXUE_BENCH_FAKE_CUDA): one GPU each, provenance from the worker."""
    monkeypatch.setenv("KEXUE_BENCH_FAKE_CUDA", "1")
    body = FAKE_SUITE.replace('["plain", "good"]', '["plain", "on-device"]').replace("seeds = 3", "seeds = 1")
    suite = write_suite(tmp_path / "s.toml", body)
    res = tmp_path / "res"
    with fake_cuda():
        out = CliRunner().invoke(main, ["run", "--suite", str(suite), "--results", str(res), "--device", "cuda", "-q"])
    assert out.exit_code == 0, out.output
    assert "GPU(s): cuda:0 fake-cuda (CPU) 80.0 GiB" in out.output and "jobs: 2 " in out.output
    recs = {json.loads(p.read_text())["cell"]["method"]: json.loads(p.read_text()) for p in res.glob("fake/*.json")}
    on = recs["on-device"]["provenance"]
    assert on["device"] == "cuda" and on["gpu"]["visible_devices"] == "0" and on["fake_cuda"]["cpu_ops"] == {}
    assert recs["plain"]["provenance"]["device"] == "cpu"  # a cell that never used the GPU says so


def test_device_ray_asks_for_its_share_of_a_gpu():
    from harness.engine.ray_executor import gpu_share

    assert gpu_share(0, 80 * GIB) == 0.0
    assert gpu_share(GIB, 80 * GIB) == 0.02  # (1 GiB + a 0.5 GiB context) / 80 GiB, rounded up
    assert gpu_share(GIB, 0) == 1.0 and gpu_share(200 * GIB, 80 * GIB) == 1.0


# --- same randomness on both devices -------------------------------------------------------------------
def test_device_fork_rng_covers_the_gpu_and_init_touches_only_the_cpu(monkeypatch):
    from harness.engine.context import RunContext, seeded_init

    calls = []
    with fake_cuda():
        state = torch.zeros(8, dtype=torch.uint8)
        monkeypatch.setattr(torch.cuda, "get_rng_state", lambda d="cuda": calls.append(("get", str(d))) or state)
        monkeypatch.setattr(torch.cuda, "set_rng_state", lambda s, d="cuda": calls.append(("set", str(d))))
        with RunContext(0, device="cuda").fork_rng():
            pass
        assert ("get", "0") in calls and ("set", "0") in calls
        monkeypatch.setattr(torch.cuda, "manual_seed_all", lambda s: pytest.fail("init reseeded the GPU"))
        before = torch.get_rng_state()
        with seeded_init(3):
            a = torch.rand(2)
        assert torch.equal(torch.get_rng_state(), before)
    with seeded_init(3):
        assert torch.equal(torch.rand(2), a)


def test_device_train_timer_never_opens_a_cuda_context(monkeypatch):
    from harness.engine.context import RunContext

    monkeypatch.setattr(torch.cuda, "synchronize", lambda *a: pytest.fail("synchronised without a context"))
    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: False)
    for device in ("cpu", "cuda"):
        with RunContext(0, device=device).train_timer():
            pass
