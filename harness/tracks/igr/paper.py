"""The igr track at paper scale: SGD learning rates on CIFAR-10 with a 10-1 Wide-ResNet.

Which paper: the igr block on CIFAR-10 tests the SGD rows of the track's claims, which cite Smith,
Dherin, Barrett & De (2021), "On the Origin of Implicit Regularization in Stochastic Gradient
Descent" (ICLR 2021): larger SGD learning rates at equal epochs reach flatter minima and better test
accuracy, and adding their modified loss's mini-batch gradient penalty explicitly (the ``egr``
method) raises the test accuracy of a small learning rate. Their deep-network experiment is "a 10-1
Wide-ResNet model (Zagoruyko & Komodakis, 2016) for classification on CIFAR-10" trained with SGD
without momentum (quoted from the paper by the reproducibility summary at ri.k117.org; the paper's
own text was not retrievable here). Barrett & Dherin (2021), the GD rows' source, train "ResNets" on
CIFAR-10 in Haiku without a depth or schedule we could confirm, so their setting is not rebuilt.

What is fixed here and what is ours: the network (``harness.models.resnet.wide_resnet(10, 1)``) and
plain SGD (the track's own update rule, no momentum, no weight decay, so the learning rate is the
only regulariser the claims vary) are the paper's; the batch size, the epoch budget, the learning
rate grid and no data augmentation (the modified loss is defined on the fixed training set) are the
suite block's choices, not confirmed from the paper. Protocols ``time`` and ``epochs`` use the
track's training loop unchanged (BatchNorm in training mode, batch statistics); every end-of-training
metric is computed with BatchNorm in evaluation mode (running statistics, so the loss is one fixed
function of the weights and its Hessian is defined), over the whole training set in chunks whose
activations are recomputed during the backward pass (``Chunked``), and lambda_max on the first
``hessian_rows`` training rows. Full-batch GD over 45,000 images is not implemented (a one-line
error before any cell runs), nor is ``converge`` (its full-batch loss check would run BatchNorm in
training mode over the whole set).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from harness.errors import HarnessError
from harness.tracks.igr.train import plan_steps

PAPER_MODELS = ("wrn-10-1",)
MAX_HESSIAN_ROWS = 4096  # lambda_max keeps the double-backward graph of these rows at once
CHUNK = 1024  # rows per forward pass when a metric covers a whole split


def check_paper_settings(s: Any) -> None:
    """The protocol rules of the Wide-ResNet path, in one line each, before any cell runs."""
    if s.model not in PAPER_MODELS:
        return
    if s.optimizer != "sgd":
        raise HarnessError(
            f'igr: model = "{s.model}" trains with optimizer = "sgd" (Smith et al. 2021); full-batch GD over '
            "CIFAR-10 is not implemented"
        )
    if s.protocol == "converge":
        raise HarnessError(f'igr: model = "{s.model}" supports protocol = "time" or "epochs", not "converge"')
    if s.hessian_iters and not 0 < s.hessian_rows <= MAX_HESSIAN_ROWS:
        raise HarnessError(
            f'igr: model = "{s.model}" measures lambda_max on a subset: set hessian_rows to 1..{MAX_HESSIAN_ROWS} '
            "(or hessian_iters = 0)"
        )


def _chunked_module() -> type:
    import torch
    from torch import nn
    from torch.utils.checkpoint import checkpoint

    class Chunked(nn.Module):
        """The wrapped network applied ``CHUNK`` rows at a time to a batch larger than
        ``MAX_HESSIAN_ROWS`` (smaller ones go through whole). With gradients on, each chunk is
        checkpointed: only its inputs and outputs are kept and its activations are recomputed in the
        backward pass, so a gradient over 45,000 images needs one chunk's activations at a time."""

        def __init__(self, model: nn.Module):
            super().__init__()
            self.model = model

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            if len(x) <= MAX_HESSIAN_ROWS:  # lambda_max's rows: one pass (its double backward needs the graph)
                return self.model(x)
            parts = [x[i : i + CHUNK] for i in range(0, len(x), CHUNK)]
            if torch.is_grad_enabled():
                return torch.cat([checkpoint(self.model, p, use_reentrant=False) for p in parts])
            return torch.cat([self.model(p) for p in parts])

    return Chunked


def run_paper(track: Any, cell: Any, ctx: Any) -> dict[str, float]:
    """One igr cell with the Wide-ResNet: the track's SGD loop, then its metrics in evaluation mode."""
    from harness.engine.context import only_result, seeded_init
    from harness.models.resnet import make_paper_model, to_memory_format
    from harness.models.stacked import StackedNet
    from harness.registry import REGISTRY
    from harness.tracks.igr import evaluation
    from harness.tracks.igr.train import train

    s = track.settings(cell)
    check_paper_settings(s)
    recipe = track.recipe(cell)
    data = track.load_data(cell).to(ctx.device)
    if data.x_train.dim() != 4:
        raise HarnessError(
            f"model = {s.model!r} needs image inputs (N, C, H, W); {cell.dataset} has {data.input_shape}"
        )
    images = {k: to_memory_format(getattr(data, k), ctx.precision) for k in ("x_train", "x_valid", "x_test")}
    data = dataclasses.replace(data, **images)
    n = data.x_train.shape[0]
    plan = plan_steps(s, recipe, n)
    with seeded_init(ctx.seed("init")):
        net = make_paper_model(s.model, data.num_classes)
    net = to_memory_format(net.to(ctx.device), ctx.precision)
    measured = _chunked_module()(net)

    def lam() -> float:  # lambda_max of the network as it is now (one member: harness.models.stacked)
        return evaluation.lambda_max(StackedNet([measured], ctx.device), data, s, [ctx])[0]

    init = {}
    if s.hessian_iters > 0 and cell.method == REGISTRY.baseline(track.name).name:  # as the MLP path: baseline only
        net.eval()
        init["lambda_max_init"] = ctx.check_finite(lam(), "lambda_max at init")
    net.train()
    stack = StackedNet([net], ctx.device)  # the track's loop (no host sync per step) over a group of one
    result = only_result(train(stack, data, s, [recipe], [plan], [ctx]))
    stack.unstack()  # the trained parameters back into the network
    net.eval()
    metrics = evaluation.evaluate(measured, data, s, ctx, lam() if s.hessian_iters > 0 else None)
    metrics.update(init, steps=float(result.steps), physical_time=result.physical_time, epochs=ctx.samples_seen / n)
    if metrics.get("reached_target") == 1.0:  # SGD checks the full-batch loss only at the end
        metrics["steps_to_target"] = float(result.steps)
    return metrics


def memory(cell: Any) -> tuple[int, int]:
    """(host, GPU) bytes of a Wide-ResNet cell: CIFAR-10 on the device, a batch's activations,
    lambda_max's rows under a double backward and a checkpointed chunk (timings.memory_bytes)."""
    from harness.models.timings import memory_bytes
    from harness.tracks.igr.settings import IGRSettings

    s = IGRSettings(**cell.settings)
    images = 60000 if not cell.dataset_params.get("n_train") else int(cell.dataset_params["n_train"]) + 15000
    grad_rows = max(s.hessian_rows if s.hessian_iters else 0, CHUNK)
    return memory_bytes(s.model, images, s.batch_size, grad_rows, CHUNK)


def device_seconds(cell: Any, recipe: Any, device: str) -> float | None:
    """Seconds of one Wide-ResNet cell on ``device`` from the measured timings (None: not measured):
    its SGD steps (x3 with egr's double backward) and its evaluation passes in forward-pass units
    (the full-set loss and gradient ~3, accuracy 1, the noise draws, validation and test; lambda_max
    ~6 per iteration on its rows, twice in the baseline's cell)."""
    from harness.models.timings import seconds
    from harness.tracks.igr.settings import IGRSettings

    s = IGRSettings(**cell.settings)
    if s.model not in PAPER_MODELS:
        return None
    n = int(cell.dataset_params.get("n_train") or 45000)
    plan = plan_steps(s, recipe, n)
    train_images = plan.steps * s.batch_size * (3 if recipe.egr_mu else 1)
    evals = n * (4 + 2 * s.noise_draws) + 15000 + 2 * 6 * s.hessian_iters * min(n, s.hessian_rows)
    return seconds(s.model, device, cell.precision, train_images, evals)
