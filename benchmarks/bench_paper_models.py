"""Time an epoch of each paper network on the device at hand; record the speed the paper suite is priced with.

What it measures, per network, on random data of CIFAR's shape (3 x 32 x 32, the whole "training set"
on the device, as the paper trainers keep it): training steps exactly as the paper trainer takes them
(ResNet-32: Nesterov SGD at batch 128 with the on-device crop + flip; the 10-1 Wide-ResNet: plain SGD
at batch 128), after warm-up steps, and evaluation passes (eval mode, no gradient, batches of 1,000).
It prints images per second and the seconds of one paper epoch (CIFAR-10-LT's 12,406 images for
ResNet-32, CIFAR-10's 45,000 for the Wide-ResNet), and records images per second in
``harness/models/paper_timings.json`` under the network, the device name and the precision, which
``harness run --suite paper --dry-run [--device cuda]`` prices blocks from.

On a CPU it runs one thread (the tracks' ``cost`` is seconds on one core) and the key says so.
Timings on a shared machine are noisy: run it on an idle one, and rerun to see the spread.

    python benchmarks/bench_paper_models.py                      # this device, fp32, recorded
    python benchmarks/bench_paper_models.py --device cuda --precision bf16+channels-last
    python benchmarks/bench_paper_models.py --quick --table /tmp/t.json   # a smoke check
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

# (network, optimizer, augment, rows of one paper epoch)
NETWORKS = {
    "resnet32": ("sgd-nesterov", True, 12406),
    "wrn-10-1": ("sgd", False, 45000),
}


def _sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize(device)


def measure(network: str, device: str, precision: str, batch: int, steps: int, warmup: int) -> dict[str, float]:
    """Training and evaluation images per second of ``network`` on ``device`` in ``precision``."""
    import torch
    import torch.nn.functional as F

    from harness.data.augment import crop_flip, draw_epoch
    from harness.engine.precision import precision_scope
    from harness.models.resnet import chunked_logits, decayed_parameters, make_paper_model, to_memory_format

    optimizer, augment, _ = NETWORKS[network]
    torch.manual_seed(0)
    model = to_memory_format(make_paper_model(network, 10).to(device), precision)
    decay, keep = decayed_parameters(model)
    opt = torch.optim.SGD(
        [{"params": decay, "weight_decay": 2e-4}, {"params": keep, "weight_decay": 0.0}],
        lr=0.01,
        momentum=0.9 if optimizer == "sgd-nesterov" else 0.0,
        nesterov=optimizer == "sgd-nesterov",
    )
    n = batch * (steps + warmup)
    x = torch.randn(n, 3, 32, 32, device=device)
    y = torch.randint(0, 10, (n,), device=device)
    draws = draw_epoch(n, torch.Generator().manual_seed(0), device)
    order = torch.arange(n, device=device)

    def step(i: int) -> None:
        idx = order[i * batch : (i + 1) * batch]
        xb = crop_flip(x[idx], idx, draws) if augment else x[idx]
        loss = F.cross_entropy(model(to_memory_format(xb, precision)), y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    with precision_scope(precision, device):
        model.train()
        for i in range(warmup):
            step(i)
        _sync(device)
        t0 = time.perf_counter()
        for i in range(warmup, warmup + steps):
            step(i)
        _sync(device)
        train_s = time.perf_counter() - t0
        chunked_logits(model, x, 1000, precision)  # warm-up: every batch shape of the timed pass
        _sync(device)
        t0 = time.perf_counter()
        chunked_logits(model, x, 1000, precision)
        _sync(device)
        eval_s = time.perf_counter() - t0
    return {"train_images_per_s": steps * batch / train_s, "eval_images_per_s": n / eval_s}


def main(argv: list[str] | None = None) -> list[str]:
    import torch

    from harness.models import timings

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--precision", default="fp32")
    ap.add_argument("--networks", nargs="*", default=list(NETWORKS), choices=list(NETWORKS))
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--steps", type=int, default=0, help="timed steps (default: 50 on a GPU, 8 on a CPU)")
    ap.add_argument("--quick", action="store_true", help="batch 8, 2 steps: checks the script, measures nothing")
    ap.add_argument("--table", type=Path, default=timings.TABLE, help="where to record (default: the committed table)")
    ap.add_argument("--no-record", action="store_true")
    args = ap.parse_args(argv)

    from harness.engine.precision import check_precision
    from harness.engine.runner import resolve_device

    device = resolve_device(args.device)
    check_precision(args.precision, device)
    on_gpu = device.startswith("cuda")
    if on_gpu:
        name = torch.cuda.get_device_name(torch.device(device))
    else:
        torch.set_num_threads(1)
        name = timings.cpu_name(1)
    batch, steps, warmup = (8, 2, 1) if args.quick else (args.batch, args.steps or (50 if on_gpu else 8), 3)
    lines = [f"device {name} ({device}), precision {args.precision}, batch {batch}, {steps} timed steps"]
    for network in args.networks:
        speed = measure(network, device, args.precision, batch, steps, warmup)
        epoch_rows = NETWORKS[network][2]
        epoch_s = epoch_rows / speed["train_images_per_s"]
        lines.append(
            f"  {network}: train {speed['train_images_per_s']:.1f} images/s (one paper epoch of {epoch_rows:,} "
            f"images: {epoch_s:.1f} s), eval {speed['eval_images_per_s']:.1f} images/s"
        )
        if not args.no_record:
            entry = {k: round(v, 2) for k, v in speed.items()}
            entry.update(batch=batch, steps=steps, torch=torch.__version__, quick=bool(args.quick))
            entry["measured"] = time.strftime("%Y-%m-%d")
            timings.record(network, name, args.precision, entry, args.table)
    if not args.no_record:
        lines.append(f"recorded in {args.table}")
    for line in lines:
        print(line)
    return lines


if __name__ == "__main__":
    main()
