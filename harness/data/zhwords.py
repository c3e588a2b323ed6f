"""Jieba-word co-occurrence data for the embdim track (word-vector dimension vs vocabulary size).

Why this shape: Su's bound concerns the skip-gram joint p(w_i, w_j) over N words. We tokenize the
shared Chinese pretraining corpus (``harness.data.chinese.corpus_slice``: People's Daily 1998,
Three Kingdoms, train-split reviews) with jieba once (cached on disk), keep the N most frequent
words (punctuation and digits dropped), and count window co-occurrences into sparse N x N
matrices. A fixed 10% of corpus pieces (every tenth piece of the fixed shuffle) is held out, so the
held-out loss measures generalisation of p(context | word), not memorisation.

The sentiment probe uses the fixed review split of ``chinese.sentiment_splits`` (first 1,000 train
and 1,000 test texts per class); test reviews are never in the corpus.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from harness.artifacts import cached_pickle
from harness.data.chinese import take_balanced
from harness.errors import HarnessError
from harness.registry import dataset

EMB_TRACKS = ("embdim",)
HELDOUT_EVERY = 10  # every 10th corpus piece is held out
PROBE_PER_CLASS = 1000
_WORD = re.compile(r"[\u4e00-\u9fffa-z]")  # a kept token has a CJK character or a latin letter


def keep_token(tok: str) -> bool:
    """Words only: drop punctuation, spaces and pure digits (they carry no co-occurrence meaning)."""
    return bool(_WORD.search(tok))


def _cut(texts: list[str]) -> list[list[str]]:
    import jieba

    jieba.setLogLevel(logging.WARNING)
    from harness.data.chinese import normalize

    return [[t for t in jieba.lcut(normalize(s)) if keep_token(t)] for s in texts]


def tokenized_corpus(max_chars: int) -> dict[str, Any]:
    """jieba words of the corpus slice and of the probe reviews, cached per slice content."""
    from harness.data.chinese import corpus_slice, sentiment_splits, texts_digest

    pieces = corpus_slice(max_chars)
    key = f"{texts_digest(pieces)}-v1"

    def build() -> dict[str, Any]:
        sp = sentiment_splits()
        tr = take_balanced(sp.train_texts, sp.train_labels, PROBE_PER_CLASS)
        te = take_balanced(sp.test_texts, sp.test_labels, PROBE_PER_CLASS)
        return {
            "pieces": _cut(pieces),
            "probe_train": (_cut(tr[0]), tr[1]),
            "probe_test": (_cut(te[0]), te[1]),
        }

    return cached_pickle("zhwords", key, build)


@dataclass
class CoocData:
    """Sparse co-occurrence counts over the top-N words, train and held-out, plus probe texts."""

    name: str
    vocab: list[str]
    train: Any  # scipy.sparse.csr_matrix (N, N) float32: counts of (word, context)
    heldout: Any  # same, from the held-out pieces
    probe_train: tuple[list[np.ndarray], list[int]]
    probe_test: tuple[list[np.ndarray], list[int]]
    meta: dict = field(default_factory=dict)

    @property
    def size(self) -> int:
        return len(self.vocab)


def cooccurrence(docs: list[np.ndarray], n: int, window: int) -> Any:
    """Symmetric window counts: (i, j) for every pair at distance 1..window (both orders).

    ``docs`` hold word ids with -1 for out-of-vocabulary words; OOV words keep their position (so
    distances are true corpus distances) but pairs touching them are dropped. Documents are joined
    with ``window`` -1 separators, so no pair crosses a document boundary (vectorised)."""
    from scipy.sparse import coo_matrix

    sep = np.full(window, -1, np.int64)
    stream = np.concatenate([x for d in docs for x in (d, sep)]) if docs else np.zeros(0, np.int64)
    rows, cols = [], []
    for k in range(1, window + 1):
        a, b = stream[:-k], stream[k:]
        ok = (a >= 0) & (b >= 0)
        rows += [a[ok], b[ok]]
        cols += [b[ok], a[ok]]
    r, c = np.concatenate(rows), np.concatenate(cols)
    m = coo_matrix((np.ones(len(r), np.float32), (r, c)), shape=(n, n)).tocsr()
    m.sum_duplicates()
    return m


def build_cooc(tok: dict[str, Any], vocab_size: int, window: int, name: str) -> CoocData:
    """Top-``vocab_size`` words of the train pieces, and train/held-out co-occurrence matrices."""
    pieces = tok["pieces"]
    train_docs = [p for i, p in enumerate(pieces) if i % HELDOUT_EVERY != 0]
    held_docs = [p for i, p in enumerate(pieces) if i % HELDOUT_EVERY == 0]
    counts = Counter(w for d in train_docs for w in d)
    if len(counts) < vocab_size:
        raise HarnessError(
            f"zh-words: the corpus slice has only {len(counts)} distinct words, fewer than vocab={vocab_size} "
            "(raise max_chars)"
        )
    vocab = [w for w, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:vocab_size]]
    index = {w: i for i, w in enumerate(vocab)}

    def ids(doc: list[str]) -> np.ndarray:
        return np.fromiter((index.get(w, -1) for w in doc), np.int64, len(doc))

    train = cooccurrence([ids(d) for d in train_docs], vocab_size, window)
    held = cooccurrence([ids(d) for d in held_docs], vocab_size, window)

    def probe(split: tuple[list[list[str]], list[int]]) -> tuple[list[np.ndarray], list[int]]:
        docs = [ids(d) for d in split[0]]
        return [d[d >= 0] for d in docs], list(split[1])

    tokens = sum(counts.values())
    covered = sum(counts[w] for w in vocab)
    meta = {
        "train_tokens": tokens,
        "distinct_words": len(counts),
        "coverage": covered / max(tokens, 1),
        "train_pairs": float(train.sum()),
        "heldout_pairs": float(held.sum()),
    }
    return CoocData(name, vocab, train, held, probe(tok["probe_train"]), probe(tok["probe_test"]), meta)


@dataset(
    "zh-words",
    tracks=EMB_TRACKS,
    bounds={"vocab": (10, 200000), "max_chars": (0, None), "window": (1, 10)},
)
def zh_words(vocab: int = 2000, max_chars: int = 0, window: int = 2) -> CoocData:
    """jieba words of the Chinese corpus (3.4M chars: People's Daily, Three Kingdoms, reviews): window
    co-occurrences of the top-``vocab`` words, every 10th piece held out; ``max_chars`` > 0 uses a
    prefix of the fixed shuffle (smoke); 0 = all. First load runs jieba (~2 min, then cached)."""
    tok = tokenized_corpus(max_chars)
    return build_cooc(tok, vocab, window, "zh-words")
