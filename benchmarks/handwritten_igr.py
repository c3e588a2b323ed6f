"""A hand-written PyTorch loop for one igr cell: the reference the harness's overhead is measured against.

Same data subset, model, initialisation seed, learning rate and step count as the harness cell
`mnist[n_train=1000,n_valid=1000,n_test=5000]` / `small-lr` / T=60 / seed 0; prints train-only seconds.
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F
from torch import nn

from harness.data.images import mnist
from harness.engine.context import derive_seed


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lr", type=float, default=0.02)
    ap.add_argument("--time", type=float, default=60.0)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    data = mnist(n_train=1000, n_valid=1000, n_test=5000)
    torch.manual_seed(derive_seed(0, "init"))
    model = nn.Sequential(
        nn.Flatten(), nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(), nn.Linear(128, 10)
    )
    steps = int(round(args.time / args.lr))
    t0 = time.perf_counter()
    for _ in range(steps):
        loss = F.cross_entropy(model(data.x_train), data.y_train)
        grads = torch.autograd.grad(loss, list(model.parameters()))
        with torch.no_grad():
            for p, g in zip(model.parameters(), grads):
                p.add_(g, alpha=-args.lr)
        if not torch.isfinite(loss):
            raise SystemExit("diverged")
    train = time.perf_counter() - t0
    with torch.no_grad():
        acc = (model(data.x_test).argmax(1) == data.y_test).float().mean().item()
    print(f"steps={steps} train_seconds={train:.3f} final_loss={loss.item():.4f} test_accuracy={acc:.4f}")


if __name__ == "__main__":
    main()
