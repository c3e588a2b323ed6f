"""MLM artifact folders ``<cache>/mlm/<key>/``: built once under a file lock, loaded once per process.

A folder holds ``model.pt`` (and ``early.pt`` for continued builds), ``vocab.json`` and
``info.json``, written last: a folder without ``info.json`` is an unfinished build (its
checkpoint lets the next build resume). A folder whose files cannot be read is rebuilt once.
"""

from __future__ import annotations

import copy
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.artifacts import artifact_lock, atomic_write_bytes, cache_dir
from harness.errors import HarnessError
from harness.models.tinybert import TinyBertConfig
from harness.models.zh_tokenizers import Vocab

Builder = Callable[[Path], dict[str, Any]]  # fills a folder, returns its info.json content


def build_once(key: str, build: Builder) -> Path:
    """Directory of the finished artifact ``mlm/<key>``, building it under a file lock if needed."""
    folder = cache_dir() / "mlm" / key
    done = folder / "info.json"
    if done.exists():
        return folder
    with artifact_lock("mlm", key):
        if not done.exists():
            folder.mkdir(parents=True, exist_ok=True)
            info = build(folder)
            atomic_write_bytes(done, json.dumps(info, indent=1).encode())
    return folder


def vocab_to_json(v: Vocab) -> bytes:
    return json.dumps(
        {"tokens": list(v.tokens), "n_chars": v.n_chars, "word_level": v.word_level}, ensure_ascii=False
    ).encode()


class _Corrupt(Exception):
    pass


def _load_folder(folder: Path, cfg: TinyBertConfig, weights: str = "model.pt") -> tuple[Any, Vocab, dict]:
    import torch

    from harness.models.tinybert import make_mlm

    try:
        d = json.loads((folder / "vocab.json").read_text(encoding="utf-8"))
        vocab = Vocab(tuple(d["tokens"]), int(d["n_chars"]), bool(d["word_level"]))
        info = json.loads((folder / "info.json").read_text(encoding="utf-8"))
        model = make_mlm(cfg, len(vocab))
        model.load_state_dict(torch.load(folder / weights, weights_only=True))
    except Exception as exc:
        raise _Corrupt(str(exc)) from exc
    model.eval()
    return model, vocab, info


_LOADED: dict[tuple[str, str], tuple[Any, Vocab, dict]] = {}


def load_cached(key: str, build: Builder, cfg: TinyBertConfig, weights: str = "model.pt") -> tuple[Any, Vocab, dict]:
    """Load an artifact (built if missing; rebuilt once if its files are corrupt); per-process cache.

    Returns a private copy of the model, so callers may fine-tune it freely.
    """
    if (key, weights) not in _LOADED:
        folder = build_once(key, build)
        try:
            loaded = _load_folder(folder, cfg, weights)
        except _Corrupt:
            with artifact_lock("mlm", key):
                shutil.rmtree(folder, ignore_errors=True)
            folder = build_once(key, build)
            try:
                loaded = _load_folder(folder, cfg, weights)
            except _Corrupt as exc:
                raise HarnessError(f"MLM artifact {folder} is unreadable after a rebuild: {exc}") from None
        _LOADED[(key, weights)] = loaded
    model, vocab, info = _LOADED[(key, weights)]
    return copy.deepcopy(model), vocab, info
