"""The paper networks and their training: Menon et al.'s ResNet-32 (imbalance), the 10-1 Wide-ResNet
(igr), the on-device augmentation, the warmup-step schedule, channels-last, and smoke-size paper runs
end to end on CPU on tiny CIFAR copies written here in the official archive format."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from harness.data.augment import crop_flip, draw_epoch
from harness.engine.precision import channels_last, check_precision_name, split_precision
from harness.errors import HarnessError
from harness.models.resnet import TFSameConv, decayed_parameters, resnet32, to_memory_format, wide_resnet
from harness.tracks.imbalance.paper import warmup_step_factor


def write_class_balanced_cifar10(root, per_class_batch: int = 4, test_per_class: int = 4) -> None:
    """CIFAR-10 in the python-version layout, every class equally often in every batch (so the
    long-tailed profile has rows to draw), with class-dependent mean colours (something to learn)."""
    base = root / "cifar-10-batches-py"
    base.mkdir(parents=True)
    rng = np.random.default_rng(0)

    def batch(n_per_class: int) -> dict:
        labels = np.repeat(np.arange(10), n_per_class)
        x = rng.integers(0, 96, (len(labels), 3072)) + (labels[:, None] * 16)
        return {b"data": x.astype(np.uint8), b"labels": [int(v) for v in labels]}

    for name in [f"data_batch_{i}" for i in range(1, 6)]:
        with open(base / name, "wb") as fh:
            pickle.dump(batch(per_class_batch), fh)
    with open(base / "test_batch", "wb") as fh:
        pickle.dump(batch(test_per_class), fh)
    with open(base / "batches.meta", "wb") as fh:
        pickle.dump({b"label_names": [f"c{i}".encode() for i in range(10)]}, fh)


# --- networks ----------------------------------------------------------------------------------------
def test_resnet32_is_the_official_layout():
    torch.manual_seed(0)
    m = resnet32(10)
    convs = [c for c in m.modules() if isinstance(c, torch.nn.Conv2d)]
    assert len(convs) == 1 + 15 * 3 + 2  # stem, three convs per block, the two projecting shortcuts
    assert {c.weight.shape[0] for c in convs} == {16, 32, 64} and all(c.bias is None for c in convs)
    feats = m[:-3](torch.zeros(2, 3, 32, 32))  # before the final BN, mean and dense
    assert feats.shape == (2, 64, 9, 9)  # zero-pad 3 + valid 3x3: 36x36, then strides 2, 2
    assert m(torch.zeros(2, 3, 32, 32)).shape == (2, 10)
    head = m[-1]
    assert float(head.bias.detach().abs().max()) == 0.0 and 0.005 < float(head.weight.detach().std()) < 0.015
    for c in convs:  # Keras he_normal: truncated at two standard deviations of sqrt(2 / fan_in) / 0.8796
        bound = 2 * (2.0 / c.weight[0].numel()) ** 0.5 / 0.87962566103423978
        assert float(c.weight.detach().abs().max()) <= bound + 1e-6
    decay, keep = decayed_parameters(m)
    bns = [b for b in m.modules() if isinstance(b, torch.nn.BatchNorm2d)]
    assert len(keep) == 2 * len(bns) and len(decay) == len(convs) + 2  # + dense kernel and bias
    assert all(b.momentum == 0.1 and b.eps == 1e-5 for b in bns)


def test_tf_same_padding_puts_the_extra_row_bottom_right():
    torch.manual_seed(0)
    conv = TFSameConv(2, 3, 3, stride=2, bias=False)
    x = torch.randn(1, 2, 36, 36)
    expected = F.conv2d(F.pad(x, (0, 1, 0, 1)), conv.weight, None, 2)
    assert conv(x).shape == (1, 3, 18, 18) and torch.allclose(conv(x), expected)
    plain = TFSameConv(2, 3, 3, stride=1, bias=False)
    assert torch.allclose(plain(x), F.conv2d(x, plain.weight, None, 1, 1))


def test_wide_resnet_10_1():
    m = wide_resnet(10, 1, 10)
    convs = [c for c in m.modules() if isinstance(c, torch.nn.Conv2d)]
    assert len(convs) == 1 + 3 * 2 + 2 and m(torch.zeros(3, 3, 32, 32)).shape == (3, 10)
    with pytest.raises(ValueError, match="6n \\+ 4"):
        wide_resnet(12, 1, 10)


# --- augmentation, schedule, precision names ------------------------------------------------------
def test_crop_flip_matches_a_per_image_reference():
    gen = torch.Generator().manual_seed(3)
    x = torch.arange(4 * 2 * 6 * 6, dtype=torch.float32).reshape(4, 2, 6, 6)
    draws = draw_epoch(10, gen, "cpu", pad=2)
    rows = torch.tensor([7, 0, 3, 9])
    out = crop_flip(x, rows, draws, pad=2)
    for i, r in enumerate(rows.tolist()):
        padded = F.pad(x[i], (2, 2, 2, 2))
        dy, dx = int(draws.dy[r]), int(draws.dx[r])
        ref = padded[:, dy : dy + 6, dx : dx + 6]
        if bool(draws.flip[r]):
            ref = ref.flip(-1)
        assert torch.equal(out[i], ref)
    assert 0 <= int(draws.dy.min()) and int(draws.dy.max()) <= 4 and draws.flip.any() and not draws.flip.all()


def test_warmup_step_schedule_is_menon_et_al():
    f = warmup_step_factor("cifar10-lt", 1241)
    assert f(0) == 0 and f(10) == pytest.approx(0.5) and f(20) == 1.0 and f(603.9) == 1.0
    assert f(604) == pytest.approx(0.1) and f(926) == pytest.approx(0.01) and f(1128) == pytest.approx(0.001)
    g = warmup_step_factor("cifar100-lt", 1419)
    assert g(21.9) < 1.0 and g(22) == 1.0 and g(1059) == pytest.approx(0.01)
    short = warmup_step_factor("cifar10-lt", 2)  # the same shape over two epochs
    assert short(2 * 20 / 1241) == 1.0 and short(2 * 604 / 1241) == pytest.approx(0.1)


def test_channels_last_is_a_precision_suffix():
    check_precision_name("bf16+channels-last")
    assert split_precision("fp32+channels-last") == ("fp32", True) and not channels_last("bf16")
    with pytest.raises(HarnessError, match="optionally with \\+channels-last"):
        check_precision_name("fp16+channels-last")
    m = to_memory_format(resnet32(10), "fp32+channels-last")
    assert m[1].weight.is_contiguous(memory_format=torch.channels_last)
    x = to_memory_format(torch.zeros(2, 3, 32, 32), "fp32+channels-last")
    assert x.is_contiguous(memory_format=torch.channels_last) and not to_memory_format(x[0], "fp32").dim() == 4


# --- settings the small models do not implement are refused before a run -----------------------------
def test_paper_only_settings_are_one_line_errors(tmp_path):
    from harness.suite import check_methods, expand, load_suite

    cases = [
        ('track = "imbalance"\ndatasets = ["digits-lt"]', 'optimizer = "sgd-nesterov"', "resnet32"),
        ('track = "imbalance"\ndatasets = ["digits-lt"]', 'augment = "crop-flip"', "resnet32"),
        ('track = "igr"\ndatasets = ["cifar10"]', 'model = "wrn-10-1"\noptimizer = "gd"', "full-batch GD"),
        ('track = "igr"\ndatasets = ["cifar10"]', 'model = "wrn-10-1"\noptimizer = "sgd"', "hessian_rows"),
    ]
    for i, (head, settings, match) in enumerate(cases):
        path = tmp_path / f"s{i}.toml"
        path.write_text(
            f'[suite]\nname = "x"\nscale = "smoke"\n[[run]]\n{head}\nmethods = []\n'.replace(
                "methods = []", 'methods = ["small-lr"]' if "igr" in head else 'methods = ["ce"]'
            )
            + f"[run.settings]\n{settings}\n"
        )
        with pytest.raises(HarnessError, match=match) as err:
            check_methods(expand(load_suite(str(path)), seeds=1))
        assert "\n" not in str(err.value)


# --- smoke-size paper runs, end to end on CPU ---------------------------------------------------------
def _block(track: str, dataset: str, method: str, **settings: object) -> str:
    """One [[run]] block of a smoke suite (JSON scalars are TOML scalars)."""
    lines = [f"[[run]]\ntrack = {json.dumps(track)}", f"datasets = [{json.dumps(dataset)}]"]
    lines += [f"methods = [{json.dumps(method)}]", "[run.settings]"]
    return "\n".join(lines + [f"{k} = {json.dumps(v)}" for k, v in settings.items()]) + "\n"


RESNET = dict(model="resnet32", optimizer="sgd-nesterov", schedule="warmup-step", lr=0.1, weight_decay=2e-4)
WRN = dict(model="wrn-10-1", optimizer="sgd", protocol="epochs", hessian_rows=16, hessian_iters=2, noise_draws=1)


def smoke_suite(epochs: int) -> str:
    """ResNet-32 on a tiny CIFAR-10-LT and the Wide-ResNet on a tiny CIFAR-10, ``epochs`` each."""
    head = '[suite]\nname = "paper-smoke"\nscale = "smoke"\nseeds = 1\n'
    imbalance = _block(
        "imbalance", "cifar10-lt[rho=10]", "ce", **RESNET, batch_size=8, epochs=epochs, augment="crop-flip"
    )
    igr = _block("igr", "cifar10[n_valid=20,n_train=48]", "small-lr", **WRN, epochs=epochs, batch_size=16)
    return "\n".join([head, imbalance, igr])


@pytest.mark.slow
def test_paper_networks_train_end_to_end_on_cpu(tmp_path, monkeypatch):
    """Two epochs of ResNet-32 (CIFAR-10-LT, the paper's optimiser, schedule and augmentation) and of
    the Wide-ResNet (igr's SGD loop and every igr metric), through ``harness run`` in this process,
    channels-last (the memory-format path; fp32 is the same code without the conversions)."""
    import json

    from click.testing import CliRunner

    from harness.cli import main

    precision = "fp32+channels-last"
    write_class_balanced_cifar10(tmp_path / "cifar", per_class_batch=2)
    suite = tmp_path / "suite.toml"
    suite.write_text(smoke_suite(epochs=2), encoding="utf-8")
    monkeypatch.setenv("KEXUE_BENCH_CIFAR", str(tmp_path / "cifar"))
    results = tmp_path / "res"
    args = ["run", "--suite", str(suite), "--results", str(results), "--executor", "inline", "--device", "cpu"]
    run = CliRunner().invoke(main, [*args, "--precision", precision, "-q"])
    assert run.exit_code == 0, run.output[-3000:]
    records = {}
    for path in results.glob("*/*.json"):
        rec = json.loads(path.read_text())
        if "cell" in rec:  # results/.exact/ holds the exact checks, not cells
            records[f"{rec['cell']['track']}/{rec['cell']['method']}"] = rec
    imb = records["imbalance/ce"]
    assert imb["status"] == "ok" and 0 <= imb["metrics"]["balanced_accuracy"] <= 1
    assert len(imb["curves"]["train_loss"]) == 2 and imb["provenance"]["precision"] == precision
    assert imb["samples_seen"] == 2 * 8 * (36 // 8)  # two epochs of floor(36 / 8) full batches
    igr = records["igr/small-lr"]
    assert igr["status"] == "ok" and igr["metrics"]["lambda_max"] > 0 and igr["metrics"]["grad_norm_sq"] > 0
    assert igr["metrics"]["epochs"] == pytest.approx(2, abs=0.4) and "sharpness_0.05" in igr["metrics"]
    assert igr["metrics"]["lambda_max_init"] > 0  # the baseline measures it at init


def test_chunked_metrics_equal_the_whole_batch_ones(monkeypatch):
    """The Wide-ResNet's end-of-training metrics over chunks (checkpointed with gradients on) equal
    those of one pass over the whole set; egr's double backward goes through BatchNorm."""
    from harness.data.base import TensorSplits
    from harness.engine.context import RunContext
    from harness.models.stacked import StackedNet
    from harness.tracks.igr import paper
    from harness.tracks.igr.evaluation import evaluate, lambda_max
    from harness.tracks.igr.settings import IGRSettings

    torch.manual_seed(0)
    x, y = torch.randn(26, 3, 32, 32), torch.randint(0, 10, (26,))
    data = TensorSplits("t", x[:20], y[:20], x[20:23], y[20:23], x[23:], y[23:], 10)
    net = wide_resnet(10, 1, 10)
    net(x)  # one step of BatchNorm statistics, then evaluation mode as run_paper measures
    net.eval()
    s = IGRSettings(model="wrn-10-1", optimizer="sgd", hessian_iters=2, hessian_rows=8, noise_draws=1)

    def measure(model):  # every metric, lambda_max as the paper path measures it (a stack of one)
        lam = lambda_max(StackedNet([model]), data, s, [RunContext(0)])[0]
        return evaluate(model, data, s, RunContext(0), lam)

    whole = measure(net)
    monkeypatch.setattr(paper, "CHUNK", 7)
    monkeypatch.setattr(paper, "MAX_HESSIAN_ROWS", 8)
    chunked = measure(paper._chunked_module()(net))
    for k in ("train_loss", "grad_norm_sq", "test_accuracy", "lambda_max", "sharpness_0.05"):
        assert chunked[k] == pytest.approx(whole[k], rel=1e-4), k
    obj = F.cross_entropy(net.train()(x[:8]), y[:8])
    grads = torch.autograd.grad(obj, list(net.parameters()), create_graph=True)
    penalty = sum((g * g).sum() for g in grads)
    assert all(g is not None for g in torch.autograd.grad(obj + 0.01 * penalty, list(net.parameters())))


def test_paper_cells_keep_everything_on_the_device(tmp_path, monkeypatch):
    """On the pretend GPU (harness.engine.device_guard): no batch, draw or metric of the paper trainers
    mixes devices, no convolution stays on the CPU, and the records say cuda."""
    from harness.engine.device_guard import fake_cuda
    from harness.engine.runner import run_cell
    from harness.suite import expand, load_suite

    write_class_balanced_cifar10(tmp_path / "cifar", per_class_batch=2)
    monkeypatch.setenv("KEXUE_BENCH_CIFAR", str(tmp_path / "cifar"))
    suite = tmp_path / "suite.toml"
    suite.write_text(smoke_suite(epochs=1), encoding="utf-8")
    for cell in expand(load_suite(str(suite)), seeds=1):
        with fake_cuda() as report:
            rec = run_cell(cell, device="cuda", threads=1)
        assert rec["status"] == "ok", f"{cell.describe()}: {rec['error']}"
        assert not report.cpu_ops, f"{cell.describe()}: CPU work: {dict(report.cpu_ops)}"
        assert rec["provenance"]["device"] == "cuda" and rec["provenance"]["gpu"]["peak_allocated"] > 0


@pytest.mark.slow
def test_paper_posthoc_la_shares_the_resnet_training_of_its_seed(tmp_path, monkeypatch):
    """ResNet-32 cells of ce and posthoc-la[tau] of one seed: the group trains one network (not one per
    tau), and each member's metrics equal its cell run alone (CPU training is deterministic)."""
    from harness.engine.context import RunContext
    from harness.registry import REGISTRY
    from harness.suite import expand, load_suite
    from harness.tracks.imbalance import paper

    write_class_balanced_cifar10(tmp_path / "cifar", per_class_batch=2)
    monkeypatch.setenv("KEXUE_BENCH_CIFAR", str(tmp_path / "cifar"))
    head = '[suite]\nname = "paper-shared"\nscale = "smoke"\nseeds = 1\n'
    block = _block("imbalance", "cifar10-lt[rho=10]", "ce", **RESNET, batch_size=8, epochs=1)
    block = block.replace('methods = ["ce"]', 'methods = ["ce", "posthoc-la[tau=1.0]", "posthoc-la[tau=2.0]"]')
    (tmp_path / "suite.toml").write_text(head + block, encoding="utf-8")
    cells = expand(load_suite(str(tmp_path / "suite.toml")), ["imbalance"], None, None, 1)
    track = REGISTRY.get("track", "imbalance").load()()
    assert len(cells) == 3 and {track.shared_training(c) for c in cells} == {"ce"}
    assert all(track.group_key(c) is None for c in cells)  # never stacked
    trained: list[str] = []
    real = paper.train_resnet

    def counting(cell, *args, **kwargs):
        trained.append(cell.method)
        return real(cell, *args, **kwargs)

    monkeypatch.setattr(paper, "train_resnet", counting)
    grouped = track.run_group(cells, [RunContext(c.seed) for c in cells])
    assert len(trained) == 1
    for cell, got in zip(cells, grouped):
        ctx = RunContext(cell.seed)
        ctx.seed_everything("init")
        want = track.run(cell, ctx)
        assert got["balanced_accuracy"] == want["balanced_accuracy"] and got["train_loss"] == want["train_loss"]
    assert len(trained) == 4  # and once per cell alone
