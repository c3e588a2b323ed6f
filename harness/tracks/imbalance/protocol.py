"""The imbalance track: which loss or decision rule to use when classes are long-tailed.

Sources: Su 2020 (kexue.fm 7708 and 7615), Menon et al. 2020 (logit adjustment), Lin et al. 2017
(focal), Li et al. 2020 (dice), Ren et al. 2020 (balanced softmax).

Protocol. A method is a loss ``fn(logits, targets, prior, **params) -> scalar`` (methods/imbalance.py);
``prior`` is the training class frequency vector. Registry metadata may add a training sampler
(``sampler="class-balanced"``) or a prediction rule (``adjust=fn(logits, prior, **params)``, used by
post-hoc logit adjustment); otherwise the prediction is argmax f. The model (linear or a small ReLU
MLP), optimiser, schedule and budget are the track's Settings, identical for every method, and the
init and batch order come from the cell seed only, so methods are compared paired over seeds.

Metrics are computed on the test split, which is balanced for the EXP-profile sets (and
long-tailed for R52): balanced accuracy (mean per-class recall; primary), macro-F1, plain
accuracy, and the mean recall over the head / middle / tail third of the classes ranked by
training count (``acc_many`` / ``acc_medium`` / ``acc_few``). Terciles instead of Liu et al.'s
absolute thresholds (>100, 20-100, <20 training rows) because those leave groups empty on small sets.
Balanced accuracy is also measured on the validation split (same distribution as the test split,
disjoint rows), where the claims choose tau inside each seed; the test split never chooses anything.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from harness.engine.context import seeded_init, stack_key
from harness.errors import HarnessError
from harness.registry import REGISTRY, track
from harness.track import Metric, Track
from harness.tracks.imbalance import paper

MODELS = ("linear", "mlp", "cnn", *paper.PAPER_MODELS)
# (classes, input dim, default head size) of the EXP-profile sets; R52 is fixed (52 topics, ``max_features``).
SHAPES = {
    "digits-lt": (10, 64, 120),
    "mnist-lt": (10, 784, 1000),
    "mnist1d-lt": (10, 40, 394),
    "cifar10-lt": (10, 3072, 5000),
    "cifar100-lt": (100, 3072, 500),
}


def input_dim(cell: Any) -> int:
    """Features per row of a cell's dataset, known without loading it (``cost``)."""
    return SHAPES[cell.dataset][1] if cell.dataset in SHAPES else int(cell.dataset_params.get("max_features", 1000))


# Published balanced test accuracy of the official logit-adjustment run (google-research/
# logit_adjustment README; ResNet-32, EXP profile, rho=100): ERM, post-hoc LA, LA loss (tau=1).
PUBLISHED = {
    "cifar10-lt": {"ce": 0.7136, "posthoc-la": 0.7732, "logit-adjusted": 0.7789},
    "cifar100-lt": {"ce": 0.3987, "posthoc-la": 0.4407, "logit-adjusted": 0.4406},
}


def train_prior(y_train: Any, num_classes: int) -> np.ndarray:
    """Training class frequencies; a class without training rows is an error (log prior undefined)."""
    counts = np.bincount(np.asarray(y_train, dtype=np.int64), minlength=num_classes)
    empty = np.flatnonzero(counts == 0)
    if len(empty):
        raise HarnessError(
            f"class {int(empty[0])} has zero training rows ({len(empty)} empty classes); "
            "every class needs at least one (lower rho or raise n_max)"
        )
    return counts / counts.sum()


def class_groups(train_counts: np.ndarray) -> list[np.ndarray]:
    """Head / middle / tail thirds of the classes ranked by training count (ties by class id)."""
    order = np.argsort(-np.asarray(train_counts), kind="stable")
    return [g for g in np.array_split(order, 3)]


def imbalance_metrics(pred: np.ndarray, y: np.ndarray, train_counts: np.ndarray) -> dict[str, float]:
    """Balanced accuracy, macro-F1, accuracy and per-group mean recall over the test classes.

    Through ``harness.metrics`` (scikit-learn), so every track computes them the same way; macro-F1
    averages over the classes present in the test labels (a class that is only predicted, never
    true, has no F1 to average)."""
    from harness.metrics import accuracy, balanced_accuracy, macro_f1, per_class_recall

    pred, y = np.asarray(pred), np.asarray(y)
    k = len(train_counts)
    present = np.flatnonzero(np.bincount(y, minlength=k) > 0)
    recall = per_class_recall(y, pred, k)
    out = {
        "balanced_accuracy": balanced_accuracy(y, pred),
        "macro_f1": macro_f1(y, pred, labels=present),
        "accuracy": accuracy(y, pred),
    }
    for name, g in zip(("acc_many", "acc_medium", "acc_few"), class_groups(train_counts)):
        vals = recall[g][~np.isnan(recall[g])]
        out[name] = float(vals.mean()) if len(vals) else float("nan")
    return out


@track("imbalance")
class Imbalance(Track):
    """Long-tailed classification: re-weighting, re-sampling, focal, dice, logit adjustment."""

    primary = "balanced_accuracy"
    # no dropout; a balanced accuracy moves more than a plain one when a rare class's few test images flip
    device_tolerance = (0.03, 0.0)
    metrics = (
        Metric("balanced_accuracy", True, "balanced accuracy (mean per-class recall)"),
        Metric("valid_balanced_accuracy", True, "validation balanced accuracy (chooses tau)"),
        Metric("macro_f1", True, "macro-F1"),
        Metric("accuracy", True, "plain test accuracy"),
        Metric("acc_many", True, "recall, head third of classes"),
        Metric("acc_medium", True, "recall, middle third of classes"),
        Metric("acc_few", True, "recall, tail third of classes"),
        Metric("train_loss", False, "final training loss (the method's own)", ".4f"),
    )
    secondary = ("acc_few", "macro_f1", "accuracy")

    @dataclasses.dataclass
    class Settings:
        model: str = "mlp"
        width: int = 128
        depth: int = 1
        optimizer: str = "sgd"
        lr: float = 0.1
        momentum: float = 0.9
        weight_decay: float = 5e-4
        schedule: str = "cosine"
        batch_size: int = 128
        epochs: int = 30
        eval_batch: int = 4096
        augment: str = "none"  # crop-flip: the paper's pad-4 crop + flip on the device (resnet32)

    settings_bounds = {
        "width": (1, None),
        "depth": (1, None),
        "lr": (0, None),
        "momentum": (0, 1),
        "weight_decay": (0, None),
        "batch_size": (0, None),
        "epochs": (1, None),
        "eval_batch": (1, None),
    }
    settings_choices = {
        "model": MODELS,
        "optimizer": ("sgd", "adam", "sgd-nesterov"),
        "schedule": ("constant", "cosine", "warmup-step"),
        "augment": paper.AUGMENT,
    }

    def check_settings(self, settings: Any) -> None:
        paper.check_paper_settings(settings)

    # ------------------------------------------------------------------------------------------
    def build_model(self, s: Any, input_shape: tuple[int, ...], num_classes: int):
        """linear / ReLU MLP (``width`` units x ``depth``) / small CNN (``width``, 2x``width`` channels)."""
        from harness.models.mlp import make_mlp

        if s.model == "cnn":
            from harness.models.cnn import make_cnn

            return make_cnn(input_shape, num_classes, (s.width, 2 * s.width))
        hidden = [] if s.model == "linear" else [s.width] * s.depth
        return make_mlp(math.prod(input_shape), hidden, num_classes)

    # --- cell groups ------------------------------------------------------------------------------
    def group_key(self, cell: Any) -> str | None:
        """Same dataset and settings (model, optimizer, budget); members differ by seed, loss and its
        parameters (tau...), and sampler. CNN cells train alone (the stacked network is an MLP)."""
        model = self.Settings(**cell.settings).model
        return None if model == "cnn" or model in paper.PAPER_MODELS else stack_key(cell)

    def group_pays_on_cpu(self, cell: Any) -> bool:
        """Every stacked model (measured, ``benchmarks/bench_groups.py``: stacking gives 1.25x on MNIST-LT
        and 1.22x on R52 beyond the shared ``ce`` trainings, 3x in all on MNIST-1D-LT): the steps are
        small (a 128-wide hidden layer or a linear model, batch 128), so one process's overheads dominate."""
        return self.group_key(cell) is not None

    def shared_training(self, cell: Any) -> str | None:
        """A method registered with ``trains_as="ce"`` (post-hoc logit adjustment: tau acts only at
        prediction) trains exactly the model of the method it names: both return that name, and the
        cells of one seed train it once (``run_group``)."""
        target = REGISTRY.get("method", cell.method, self.name).meta.get("trains_as")
        if target:
            return str(target)
        named = {e.meta.get("trains_as") for e in REGISTRY.entries("method", self.name)}
        return cell.method if cell.method in named and not cell.method_params else None

    def training(self, cell: Any) -> Any:
        """What a cell's trained model depends on: its seed and shared training, else the cell itself."""
        shared = self.shared_training(cell)
        return (cell.seed, shared) if shared else cell.key

    def run(self, cell: Any, ctx: Any) -> dict[str, float]:
        from harness.engine.context import only_result

        return only_result(self.run_group([cell], [ctx]))

    def run_group(self, cells: list[Any], ctxs: list[Any]) -> list[dict[str, float] | BaseException]:
        """Train each distinct training once, as one stacked network (``harness.tracks.imbalance.train``),
        then apply every cell's prediction rule to its training's model. A paper network (Menon et
        al.'s ResNet-32, ``paper.py``) never stacks: each of its trainings runs alone."""
        from harness.models.stacked import run_stacks

        if self.settings(cells[0]).model in paper.PAPER_MODELS:

            def run_paper(members: list[Any], contexts: list[Any], prepared: list[tuple]) -> list[Any]:
                return paper.run_paper_shared(self, members, contexts, prepared, imbalance_metrics, train_prior)

            return run_stacks(cells, ctxs, self.training, run_paper, self._prepare)

        def key(cell: Any) -> str:  # a network that does not stack trains alone
            return cell.key if self.Settings(**cell.settings).model == "cnn" else stack_key(cell)

        return run_stacks(cells, ctxs, key, self._run_stack, self._prepare)

    def _prepare(self, cell: Any) -> tuple[Any, Any, Any]:
        """A member's loss (its parameters bound), sampler and prediction rule."""
        entry = REGISTRY.get("method", cell.method, self.name)
        sampler = entry.meta.get("sampler")
        if sampler not in (None, "class-balanced"):
            raise HarnessError(f"method {cell.method!r}: unknown sampler {sampler!r}")
        return self.recipe(cell), sampler, entry.meta.get("adjust")

    def _run_stack(self, cells: list[Any], ctxs: list[Any], prepared: list[tuple]) -> list[Any]:
        import torch

        from harness.models.stacked import StackedNet, each_member, groups_of
        from harness.tracks.imbalance.train import replay, train

        s = self.settings(cells[0])
        data = self.load_data(cells[0]).to(ctxs[0].device)
        if len(data.y_train) == 0 or len(data.y_test) == 0:
            raise HarnessError(f"imbalance needs non-empty train and test splits ({cells[0].dataset_selector})")
        k = data.num_classes
        prior_np = train_prior(data.y_train.cpu().numpy(), k)  # the prior's check, once, before any step
        counts = np.bincount(data.y_train.cpu().numpy(), minlength=k)
        prior = torch.tensor(prior_np, dtype=torch.float32, device=ctxs[0].device)
        trainings = groups_of([self.training(c) for c in cells])
        lead = [t[0] for t in trainings]
        modules = []
        for i in lead:
            with seeded_init(ctxs[i].seed("init")):
                modules.append(self.build_model(s, data.input_shape, k))
        net = StackedNet(modules, ctxs[0].device)
        losses = [prepared[i][0] for i in lead]
        values = train(net, data, s, losses, [prepared[i][1] for i in lead], prior, [ctxs[i] for i in lead], ctxs)
        models = net.unstack()
        training_of = {i: t for t, members in enumerate(trainings) for i in members}
        n = len(data.y_train)
        bs = n if s.batch_size <= 0 else min(s.batch_size, n)

        def finish(i: int) -> dict[str, float]:
            cell, ctx, model = cells[i], ctxs[i], models[training_of[i]]
            train_loss = replay(values[training_of[i]], n, bs, s.epochs, ctx)
            model.eval()
            adjust = prepared[i][2]

            def predict(x: Any) -> np.ndarray:
                with torch.no_grad():
                    scores = torch.cat([model(x[j : j + s.eval_batch]) for j in range(0, len(x), s.eval_batch)])
                if adjust is not None:
                    scores = adjust(scores, prior, **cell.method_params)
                return scores.argmax(1).cpu().numpy()

            test_pred = predict(data.x_test)
            ctx.record_predictions(test_pred, data.y_test)
            out = imbalance_metrics(test_pred, data.y_test.cpu().numpy(), counts)
            if len(data.y_valid):  # where a tau (or any parameter) is chosen; the test split never is
                valid = imbalance_metrics(predict(data.x_valid), data.y_valid.cpu().numpy(), counts)
                out["valid_balanced_accuracy"] = valid["balanced_accuracy"]
            out["train_loss"] = float(train_loss)
            return out

        return each_member(range(len(cells)), finish)

    def cost(self, cell: Any) -> float:
        """Seconds on one core: multiply-adds per row x rows x epochs, calibrated on timing runs here
        (MNIST-LT rho=100, MLP 128, 20 epochs: 0.7 s of training uncontended)."""
        s = self.settings(cell)
        if s.model in paper.PAPER_MODELS:  # measured speed (harness/models/timings.py); this CPU, one core
            from harness.models.timings import cpu_name

            return paper.device_seconds(cell, cpu_name(1)) or 0.0
        p = cell.dataset_params
        if cell.dataset in SHAPES:
            k, dim, head = SHAPES[cell.dataset]
            n_max = int(p.get("n_max", head)) or head
            rho = float(p.get("rho", 100.0))
            rows = sum(n_max * rho ** (-c / (k - 1)) for c in range(k))
        else:
            k, dim, rows = 52, input_dim(cell), 6532
        w = s.width
        if s.model == "cnn":  # two 3x3 conv stages with pooling; the second sees a quarter of the pixels
            macs = 9 * w * dim + 1.5 * w * w * dim
        else:
            macs = dim * k if s.model == "linear" else dim * w + (s.depth - 1) * w * w + w * k
        return 1.0 + s.epochs * rows * (macs * 2.5e-10 + 5e-6)

    def memory(self, cell: Any) -> int:  # a paper network's from its sizes (paper.memory)
        return paper.memory(cell)[0] if cell.settings.get("model") in paper.PAPER_MODELS else super().memory(cell)

    def gpu_memory(self, cell: Any) -> int:
        return paper.memory(cell)[1] if cell.settings.get("model") in paper.PAPER_MODELS else super().gpu_memory(cell)

    def device_seconds(self, cell: Any, device: str) -> float | None:
        """Seconds of a paper-network cell on ``device`` from measured timings (None: not measured)."""
        return paper.device_seconds(cell, device)

    def figures(self, table: Any) -> list[tuple[str, Any]]:
        """Tau sweeps: balanced accuracy and head/tail recall against tau (tau = 0 would be ERM)."""
        from harness.report.plots import sweep_figure

        out = []
        for name, what in (("logit-adjusted", "logit-adjusted loss"), ("posthoc-la", "post-hoc logit adjustment")):
            fig = sweep_figure(table, [name], "tau", ["balanced_accuracy", "acc_many", "acc_few"])
            if fig:
                out.append((f"{what}: metrics against tau, one line per dataset (mean and 95% CI over seeds)", fig))
        return out

    def claims(self) -> list[Any]:
        from harness.tracks.imbalance.claims import track_claims

        return track_claims()
