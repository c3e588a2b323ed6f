"""Drawing the K labelled texts of a seed, shared by the protocol (a cell's K) and ``lm`` (icl's
demonstrations drawn from that K); its own module so that neither imports the other for it. Both call
it as ``sampling.sample_k``, so a test that replaces it here sees every draw."""

from __future__ import annotations

from harness.errors import HarnessError


def sample_k(
    texts: list[str], labels: list[int], k: int, seed: int, num_classes: int = 2
) -> tuple[list[str], list[int]]:
    """K class-balanced labelled texts drawn with a seed (axis "sample"): K // C per class, the
    remainder to randomly chosen classes; shuffled. Identical for every method of a seed."""
    import torch

    if k > len(texts):
        raise HarnessError(f"fewshot: K={k} labelled texts requested but the train split has only {len(texts)}")
    if k < num_classes:
        raise HarnessError(f"fewshot: K={k} is smaller than the number of classes ({num_classes})")
    g = torch.Generator()
    g.manual_seed(seed)
    per = [k // num_classes] * num_classes
    for c in torch.randperm(num_classes, generator=g)[: k % num_classes].tolist():
        per[c] += 1
    keep: list[int] = []
    for c in range(num_classes):
        idx = [i for i, y in enumerate(labels) if y == c]
        if len(idx) < per[c]:
            raise HarnessError(f"fewshot: K={k} needs {per[c]} texts of class {c}; the train split has {len(idx)}")
        keep += [idx[j] for j in torch.randperm(len(idx), generator=g)[: per[c]].tolist()]
    keep = [keep[j] for j in torch.randperm(len(keep), generator=g).tolist()]
    return [texts[i] for i in keep], [labels[i] for i in keep]
