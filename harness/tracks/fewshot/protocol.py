"""The fewshot track: PET (cloze patterns on a language model) versus a classifier head (Su 2020, Schick & Schuetze).

Question: with K labelled reviews, is it better to turn classification into the language model's own
task (a pattern such as ``__满意。{x}`` whose slot the model fills with 很 "very" or 不 "not") than to
put a fresh linear head on the text's summary state? Does the pattern alone, with no labels, already
classify? And does a small tuned model beat in-context demonstrations of the same model?

Backbones (setting ``backbone``):

* masked LMs (``harness/tracks/fewshot/mlm.py``): ``char`` (the text stack's tiny char MLM, pretrained
  in-harness: the from-scratch contrast), ``wobert``, or ``bert:<hub id or folder>`` (a released Chinese
  BERT, paper scale). Every layer is fine-tuned.
* causal LMs (``lm.py``): any ``harness.models.lm_backbones`` spec (``qwen2.5-0.5b``, ``gemma3-270m``, a
  ``save_pretrained`` folder, a ``.gguf`` file, ``hub:<id>``). Labels are scored by the log-likelihood
  of the filled pattern; training runs the top layers named by ``train_layers`` over lower-layer
  states cached on disk and shared by every cell.

Protocol (identical for every method of a block; only the objective differs): K labelled texts
(``k``; 0 = 1% of the train split, Su's share) are drawn from the train split per seed (axis
"sample"), class-balanced, the same for every method of a seed, with the same batch order (axis
"data") and initialisation (axis "init"). Fine-tune ``steps`` steps (AdamW, warmup/decay), score the
first ``valid_texts`` validation texts every ``eval_every`` steps and test the best checkpoint (Su
keeps the best-valid epoch). ``pet-zero`` and ``icl`` train nothing; ``full`` trains the head on every
train label (a causal LM: the first ``full_texts``) for ``full_steps`` steps (the supervised ceiling).
The methods' ``pattern`` parameter defaults to the block's ``pattern`` setting (Su's P1 unless a block
sets another, e.g. the prompt chosen on validation texts for a causal LM).

Why K is a Settings knob rather than a dataset or method parameter: K is protocol shared by all
methods of a comparison (methods are compared at equal K, seed by seed); a setting enters the run key
and the leaderboard and claims treat each K as its own comparison. One suite block per K.

Track version 2 (issue 15): new settings (backbone specs, ``pattern``, ``train_layers``, ``max_chars``,
``subset_texts``, ``unlabelled_texts``, ``full_texts``) and method parameters changed every run key,
so the tiny-MLM cells of version 1 are re-run; their code path is unchanged.

Track version 3 (issue 21): a causal LM scores every pattern under one rule (a newline start token
before every sequence; before, only patterns whose label word came first had a start token), which
changes every causal-LM cell's scores and states; the tiny-MLM cells' code path is unchanged (their
keys change with the version). New settings ``patience`` (early stopping on validation) and metric
``trained_steps``.

Track version 4 (issue 29): causal-LM runs are packed (no padding; the top layer only at the positions a
loss or score reads: the same numbers up to float rounding), and each arm trains with its own settings
(``head_layers``/``head_lr``; the ceiling's ``full_layers``/``full_lr``/``full_eval_every``), chosen per arm
on validation. The training loop reads the loss's finiteness every ``eval_every`` steps, not every step.

Metrics: ``test_accuracy`` (primary), ``valid_accuracy`` (best, the selection criterion),
``labelled_texts`` (K used; icl: demonstrations), ``best_step``, ``test_texts``, ``positive_rate``,
``predicted_labels`` (distinct labels predicted on the test texts: 1 = a constant predictor),
``subset_accuracy`` (causal LMs: the first ``subset_texts`` test texts, the ones icl scores),
``trained_parameters``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from harness.errors import HarnessError
from harness.registry import track
from harness.track import DEFAULT_GPU_MEMORY, Metric, Track
from harness.tracks.fewshot import sampling
from harness.tracks.fewshot.recipe import FewShotRecipe

SU_LABEL_SHARE = 0.01  # Su's train_frac: the default K is this share of the train split


@track("fewshot", version=4)
class FewShot(Track):
    """PET pattern fine-tuning, zero-shot, in-context and semi-supervised, versus a linear head."""

    primary = "test_accuracy"
    # masked LMs: BERT dropout draws from the GPU's generator; accuracies over 30-60 smoke texts
    device_tolerance = (0.15, 0.0)
    metrics = (
        Metric("test_accuracy", True, "test accuracy"),
        Metric("valid_accuracy", True, "best validation accuracy"),
        Metric("subset_accuracy", True, "accuracy on the first subset_texts test texts (icl's texts)"),
        Metric("labelled_texts", True, "labelled training texts (K; icl: demonstrations)", ".0f"),
        Metric("best_step", True, "step of the best validation accuracy", ".0f"),
        Metric("trained_steps", True, "steps trained (fewer than `steps` when `patience` stopped it)", ".0f"),
        Metric("test_texts", True, "test texts", ".0f"),
        # Diagnostics: 0 or 1 / a single label means the model answers one label for every text.
        Metric("positive_rate", True, "share of test texts predicted positive", ".3f"),
        Metric("predicted_labels", True, "distinct labels predicted on the test texts", ".0f"),
        Metric("trained_parameters", False, "trained parameters", ".0f"),
    )
    secondary = ("valid_accuracy",)
    recipe_type = FewShotRecipe

    @dataclasses.dataclass
    class Settings:
        k: int = 0  # labelled texts drawn per seed; 0 = 1% of the train split (Su's train_frac)
        steps: int = 100  # fine-tuning steps (pattern or head)
        full_steps: int = 300  # steps of the all-labels ceiling
        batch_size: int = 16
        lr: float = 2e-3  # tiny from-scratch MLM: 5e-4 barely moves it in 100 steps (measured)
        max_len: int = 128  # masked LMs: tokens per patterned text
        eval_every: int = 20
        patience: int = 0  # stop after this many evaluations without a new best validation accuracy (0: never)
        valid_texts: int = 500
        backbone: str = "char"  # char | wobert | bert:<hub id or folder> | a causal LM spec (lm_backbones)
        pattern: str = "p1"  # the pattern of methods whose own `pattern` parameter is empty
        train_layers: str = "all"  # masked LMs: all; causal LMs: top<N> or lora-top<N> over cached states
        max_chars: int = 120  # causal LMs: texts cut to this many characters (0 = whole texts)
        subset_texts: int = 300  # causal LMs: icl scores the first N test texts; all report subset_accuracy
        unlabelled_texts: int = 512  # causal LMs: pet-semi's pool, the first N train texts (labels unread)
        full_texts: int = 2000  # causal LMs: `full` trains on the first N train texts (0 = all)
        # Causal LMs, per arm (each chosen on validation, benchmarks/pilot_lm_training.py): the head's own
        # trained layers and lr ("" / 0: train_layers / lr), and the all-labels ceiling's ("" / 0: the head's),
        # its evaluation interval (0: eval_every). train_layers and lr are the pattern arms' (pet, pet-semi).
        head_layers: str = ""
        head_lr: float = 0.0
        full_layers: str = ""
        full_lr: float = 0.0
        full_eval_every: int = 0

    settings_bounds = {
        "k": (0, None),
        "steps": (1, None),
        "full_steps": (1, None),
        "batch_size": (1, None),
        "lr": (0, None),
        "max_len": (8, 512),
        "eval_every": (1, None),
        "patience": (0, None),
        "valid_texts": (1, None),
        "max_chars": (0, None),
        "subset_texts": (1, None),
        "unlabelled_texts": (1, None),
        "full_texts": (0, None),
        "head_lr": (0, None),
        "full_lr": (0, None),
        "full_eval_every": (0, None),
    }

    def check_settings(self, settings: Any) -> None:
        """Backbone spec syntax (a missing path is left to the cell: an ``error`` cell, one line),
        the block pattern, and the trained layers (every arm's) against the backbone family."""
        from harness.tracks.fewshot.budget import check_backbone
        from harness.tracks.fewshot.lm_train import parse_train_layers
        from harness.tracks.fewshot.mlm import is_mlm
        from harness.tracks.fewshot.pattern import parse_pattern

        check_backbone(settings.backbone)
        parse_pattern(settings.pattern)
        per_arm = {
            k: getattr(settings, k) for k in ("head_layers", "head_lr", "full_layers", "full_lr", "full_eval_every")
        }
        if is_mlm(settings.backbone):
            if settings.train_layers != "all":
                raise HarnessError(f"train_layers={settings.train_layers!r}: a masked-LM backbone trains every layer")
            if any(per_arm.values()):
                set_ = ", ".join(k for k, v in per_arm.items() if v)
                raise HarnessError(
                    f"{set_}: per-arm settings are for causal-LM backbones; a masked LM trains every layer"
                )
            return
        for layers in (settings.train_layers, settings.head_layers, settings.full_layers):
            if layers:
                parse_train_layers(layers)

    # --- one cell ----------------------------------------------------------------------------------
    def run(self, cell: Any, ctx: Any) -> dict[str, float]:
        from harness.tracks.fewshot.mlm import is_mlm, run_mlm

        s = self.settings(cell)
        data = self.load_data(cell)
        if not data.train_texts or not data.valid_texts or not data.test_texts:
            raise HarnessError(f"fewshot needs non-empty train/valid/test splits ({cell.dataset_selector})")
        recipe: FewShotRecipe = self.recipe(cell)
        texts, labels = self.labelled_sample(s, data, ctx.seed("sample"))
        if is_mlm(s.backbone):
            return run_mlm(cell, ctx, data, recipe, s, texts, labels)
        from harness.tracks.fewshot.lm import run_lm

        return run_lm(cell, ctx, data, recipe, s, texts, labels)

    def labelled_sample(self, s: Any, data: Any, seed: int) -> tuple[list[str], list[int]]:
        """The cell's K labelled texts (seed = the cell's axis "sample"): the same for every method."""
        k = s.k or max(data.num_classes, round(SU_LABEL_SHARE * len(data.train_texts)))
        return sampling.sample_k(data.train_texts, data.train_labels, k, seed, data.num_classes)

    def cost(self, cell: Any) -> float:
        from harness.tracks.fewshot.budget import cell_cost

        return cell_cost(self.settings(cell), self.recipe(cell), cell)

    def shared_cost(self, cells: list[Any]) -> dict[str, float]:
        from harness.tracks.fewshot.prep import shared_cost

        return shared_cost(self, cells)

    def provenance_notes(self, settings: list[dict[str, Any]]) -> list[str]:
        """One line per causal-LM backbone the cells ran on: model family and variant, the source file's
        quantisation, the dtype used (``lm_backbones.describe_backbone``)."""
        from harness.models.lm_backbones import describe_backbone
        from harness.tracks.fewshot.mlm import is_mlm

        specs = sorted({str(s.get("backbone", self.Settings.backbone)) for s in settings})
        return [f"Backbone {describe_backbone(b)}" for b in specs if not is_mlm(b)]

    def memory(self, cell: Any) -> int:
        from harness.tracks.fewshot.budget import cell_memory

        return cell_memory(self.settings(cell), self.recipe(cell), cell)

    def cpu_only(self, cell: Any) -> str:
        from harness.models.lm_backbones import INT8_SUFFIX

        if str(cell.settings.get("backbone", "")).endswith(INT8_SUFFIX):
            return "an '+int8' backbone's dynamic quantisation (torch.ao quantize_dynamic) runs on the CPU only"
        return ""

    def gpu_memory(self, cell: Any) -> int:
        """The host estimate (weights, cached states, activations, optimizer state) holds on the GPU too,
        less the interpreter's share; never under the default."""
        if self.cpu_only(cell):
            return 0
        return max(DEFAULT_GPU_MEMORY, self.memory(cell))

    # --- claims and figures ------------------------------------------------------------------------
    def claims(self) -> list[Any]:
        from harness.tracks.fewshot.claims import track_claims

        return track_claims()

    def figures(self, table: Any) -> list[tuple[str, Any]]:
        from harness.tracks.fewshot.figures import k_figure

        fig = k_figure(table, self.name)
        caption = (
            "Test accuracy against the number of labelled texts K (mean and 95% CI over seeds; "
            "dashed: zero-shot and all-labels references)"
        )
        return [(caption, fig)] if fig else []
