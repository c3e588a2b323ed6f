"""Encoding (remembered per process) and classifier accuracy on pre-encoded texts."""

from __future__ import annotations

from typing import Any

_ENCODED: dict[tuple[Any, tuple[str, ...]], list[list[int]]] = {}


def encode_ids(vocab: Any, texts: list[str]) -> list[list[int]]:
    """``zh_tokenizers.encode_ids`` remembered per process: a worker runs many cells on the same
    splits and vocabularies, and jieba-cutting the 12k training reviews again for each costs ~1 s."""
    from harness.models.zh_tokenizers import encode_ids as encode

    key = (vocab, tuple(texts))
    if key not in _ENCODED:
        if len(_ENCODED) >= 16:
            _ENCODED.pop(next(iter(_ENCODED)))
        _ENCODED[key] = encode(vocab, texts)
    return [list(ids) for ids in _ENCODED[key]]


def accuracy(clf: Any, ids: list[list[int]], labels: list[int], max_len: int, device: str, batch: int = 128) -> float:
    """Accuracy of ``clf`` on pre-encoded texts (see ``predict``), scored by ``harness.metrics``."""
    from harness.metrics import accuracy as score

    if not ids:
        return float("nan")
    return score(labels, predict(clf, ids, max_len, device, batch))


def predict(clf: Any, ids: list[list[int]], max_len: int, device: str, batch: int = 128) -> list[int]:
    """``clf``'s classes for pre-encoded texts (truncated to ``max_len`` tokens; empty -> [CLS][SEP]),
    predicted in length-sorted batches (less padding), in the texts' order."""
    import torch

    from harness.models.pretrain import pad_batch

    clf.eval()
    pred = [0] * len(ids)
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))  # less padding
    with torch.no_grad():
        for i in range(0, len(order), batch):
            idx = order[i : i + batch]
            inp, att, _ = pad_batch([ids[j] for j in idx], max_len)
            for j, p in zip(idx, clf(inp.to(device), att.to(device)).argmax(1).tolist()):
                pred[j] = p
    return pred
