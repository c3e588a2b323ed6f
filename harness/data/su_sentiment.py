"""Su's own sentiment split (bert4keras ``sentiment.zip``: 16,883 / 2,111 / 2,111 reviews).

Su's PET post (kexue.fm 7764) reports every number on this split; it does not ship on PyPI and is
not in this repository, so ``sentiment.zip`` is downloaded once from bert4keras at a pinned commit,
checked against its sha256 and cached (``harness.data.download``). A local copy keeps working:
``root`` (the dataset parameter ``root=DIR`` or ``$KEXUE_BENCH_SU_SENTIMENT``) is the folder
holding ``sentiment.train.data``, ``sentiment.valid.data`` and ``sentiment.test.data``, one
``text<TAB>label`` per line with label ``0`` (negative) or ``1`` (positive), as Su's code reads
them. The files are used as they are (his split, his order); blank lines are skipped, anything else
malformed is a one-line error naming the file and line.
"""

from __future__ import annotations

import os

from harness.data.chinese import TEXT_TRACKS, TextSplits, take_balanced
from harness.errors import HarnessError
from harness.registry import dataset

SU_ENV = "KEXUE_BENCH_SU_SENTIMENT"
SPLITS = ("train", "valid", "test")


def su_dir(root: str = "") -> str:
    """The folder with Su's three files: the parameter, else the environment variable, else the
    download cache (fetched and checked on first use)."""
    folder = os.path.expanduser(root or os.environ.get(SU_ENV, ""))
    if not folder:
        from harness.data.download import ensure

        return str(ensure("su-sentiment"))
    if not os.path.isdir(folder):
        raise HarnessError(f"su-sentiment: folder {folder} does not exist")
    return folder


def read_su_file(path: str) -> tuple[list[str], list[int]]:
    """Texts and 0/1 labels of one ``text<TAB>label`` file."""
    if not os.path.isfile(path):
        raise HarnessError(f"su-sentiment file missing: {path}")
    texts, labels = [], []
    try:
        with open(path, encoding="utf-8") as fh:
            for n, line in enumerate(fh, 1):
                line = line.rstrip("\r\n")
                if not line.strip():
                    continue
                text, sep, label = line.rpartition("\t")
                if not sep or label.strip() not in ("0", "1") or not text.strip():
                    raise HarnessError(f"su-sentiment file {path} line {n} is not 'text<TAB>0|1': {line[:40]!r}")
                texts.append(text.strip())
                labels.append(int(label))
    except UnicodeDecodeError:
        raise HarnessError(f"su-sentiment file {path} is corrupt (not UTF-8)") from None
    if not texts:
        raise HarnessError(f"su-sentiment file {path} is empty")
    return texts, labels


@dataset(
    "su-sentiment",
    tracks=TEXT_TRACKS,
    bounds={"train_per_class": (0, None), "eval_per_class": (0, None), "label_fraction": (1e-4, 1.0)},
    downloads=("su-sentiment",),
)
def su_sentiment(
    root: str = "", train_per_class: int = 0, eval_per_class: int = 0, label_fraction: float = 1.0
) -> TextSplits:
    """Su's sentiment split, downloaded once or from a local copy (binary, 0 = negative). ``*_per_class``
    > 0 keeps the first texts of each class in file order (a fixed subset; 0 keeps all);
    ``label_fraction`` is recorded for the tracks, as for ``sentiment``."""
    folder = su_dir(root)
    parts = {s: read_su_file(os.path.join(folder, f"sentiment.{s}.data")) for s in SPLITS}
    tr, trl = take_balanced(*parts["train"], train_per_class)
    va, val = take_balanced(*parts["valid"], eval_per_class)
    te, tel = take_balanced(*parts["test"], eval_per_class)
    meta = {"source": folder, "sizes": {s: len(parts[s][0]) for s in SPLITS}, "label_fraction": label_fraction}
    return TextSplits("su-sentiment", tr, trl, va, val, te, tel, 2, meta=meta)
