"""CLUE TNEWS and IFLYTEK (paper scale): the tasks WoBERT's accuracy is quoted on.

Neither ships on PyPI. By default both load through Hugging Face ``datasets`` from the hub
(``clue/clue``), which downloads, checks and caches them under ``$KEXUE_BENCH_DATA/hf-datasets``
(the one data folder, ``harness.data.download``); later runs read the cache, and with
``KEXUE_BENCH_OFFLINE=1`` no request is made. ``root`` (the dataset parameter ``root=DIR`` or
``$KEXUE_BENCH_CLUE``) may instead be a local copy: a folder holding ``tnews/`` and/or ``iflytek/``
(or ``tnews_public/``, ``iflytek_public/``, the names of CLUE's zip files), each with CLUE's JSON
lines files ``train.json`` and ``dev.json`` (``{"label": "102", "sentence": ...}``) or with a
``datasets`` copy saved by ``load_dataset(...).save_to_disk(...)``; the word ``hub`` is the default.

Protocol: CLUE's public test files carry no labels, so our test split is CLUE's ``dev`` (which is
where the published WoBERT numbers are measured), and a fixed ``n_valid`` texts of ``train`` are
held out for model selection. Labels are mapped to 0..K-1 in sorted order of the label ids.
"""

from __future__ import annotations

import json
import os
import random

from harness.data.chinese import SPLIT_SEED, TEXT_TRACKS, TextSplits
from harness.errors import HarnessError, first_line
from harness.registry import dataset

CLUE_ENV = "KEXUE_BENCH_CLUE"
HUB_ID = "clue/clue"  # the canonical hub repository of CLUE (parquet configs tnews, iflytek, ...)
_FOLDERS = {"tnews": ("tnews", "tnews_public"), "iflytek": ("iflytek", "iflytek_public")}


def clue_source(root: str = "") -> str:
    """Where CLUE comes from: the parameter, else $KEXUE_BENCH_CLUE, else ``hub`` (through datasets)."""
    return os.path.expanduser(root or os.environ.get(CLUE_ENV, "") or "hub")


def clue_dir(task: str, root: str = "") -> str:
    """The folder of ``task`` under the local copy ``root`` (or $KEXUE_BENCH_CLUE), with a clear error if absent."""
    root = clue_source(root)
    for name in _FOLDERS[task]:
        path = os.path.join(root, name)
        if os.path.isdir(path):
            return path
    raise HarnessError(f"CLUE {task}: no folder {' or '.join(_FOLDERS[task])} under {root}")


def read_clue_jsonl(path: str) -> list[tuple[str, str]]:
    """(sentence, label id) rows of a CLUE JSON-lines file; blank sentences are dropped."""
    if not os.path.isfile(path):
        raise HarnessError(f"CLUE file missing: {path}")
    rows = []
    try:
        with open(path, encoding="utf-8") as fh:
            for n, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                rec = json.loads(line)
                text = str(rec.get("sentence", "")).strip()
                if "label" not in rec:
                    raise HarnessError(f"CLUE file {path} line {n} has no label (CLUE's test files are unlabelled)")
                if text:
                    rows.append((text, str(rec["label"])))
    except UnicodeDecodeError:
        raise HarnessError(f"CLUE file {path} is corrupt (not UTF-8)") from None
    except json.JSONDecodeError as exc:
        raise HarnessError(f"CLUE file {path} is corrupt (bad JSON at line {n}: {exc.msg})") from None
    if not rows:
        raise HarnessError(f"CLUE file {path} is empty")
    return rows


def _label_key(label: str) -> tuple[int, str]:
    return (int(label), label) if label.lstrip("-").isdigit() else (1 << 30, label)


def rows_from_datasets(ds: dict, task: str) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(sentence, label id) rows of the ``train`` and ``validation`` splits of a ``datasets`` CLUE
    copy; a ClassLabel is mapped back to CLUE's label ids ("100", ...), unlabelled rows dropped."""
    out = []
    for split in ("train", "validation"):
        if split not in ds:
            raise HarnessError(f"CLUE {task}: the datasets copy has no {split!r} split (has {', '.join(ds)})")
        part = ds[split]
        if "sentence" not in part.column_names or "label" not in part.column_names:
            raise HarnessError(f"CLUE {task}: the {split} split lacks 'sentence'/'label' columns")
        names = getattr(part.features["label"], "names", None)
        rows = []
        for text, label in zip(part["sentence"], part["label"]):
            text = str(text).strip()
            if not text or label is None or (isinstance(label, int) and label < 0):
                continue
            rows.append((text, names[label] if names else str(label)))
        if not rows:
            raise HarnessError(f"CLUE {task}: the {split} split of the datasets copy is empty")
        out.append(rows)
    return out[0], out[1]


def _datasets():
    from harness.data.download import offline

    if offline():  # read before datasets (and huggingface_hub) is imported: no request, the cache only
        os.environ["HF_HUB_OFFLINE"] = os.environ["HF_DATASETS_OFFLINE"] = "1"
    try:
        import datasets
    except ImportError:
        raise HarnessError("this CLUE copy needs the `datasets` library: pip install 'kexue-bench[paper]'") from None
    if offline():  # imported earlier in this process: its flags were read then
        datasets.config.HF_HUB_OFFLINE = datasets.config.HF_DATASETS_OFFLINE = True
    return datasets


def clue_rows(task: str, root: str = "") -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """CLUE's labelled (train, dev) rows of ``task`` from the hub (through datasets), JSON files or a
    ``datasets`` copy."""
    if clue_source(root) == "hub":
        from harness.data.download import data_home

        load_dataset = _datasets().load_dataset
        cache = data_home() / "hf-datasets"
        try:
            return rows_from_datasets(load_dataset(HUB_ID, task, cache_dir=str(cache)), task)
        except HarnessError:
            raise
        except Exception as exc:
            raise HarnessError(
                f"CLUE {task}: loading {HUB_ID} through datasets into {cache} failed (needs the network once, "
                f"then its cache; or set {CLUE_ENV} to a local copy): {first_line(exc)}"
            ) from None
    folder = clue_dir(task, root)
    if os.path.isfile(os.path.join(folder, "dataset_dict.json")):
        return rows_from_datasets(_datasets().load_from_disk(folder), task)
    return read_clue_jsonl(os.path.join(folder, "train.json")), read_clue_jsonl(os.path.join(folder, "dev.json"))


def clue_splits(task: str, root: str = "", n_valid: int = 1000) -> TextSplits:
    """Train (minus a fixed validation hold-out) / valid / test (= CLUE dev) for ``task``."""
    train, dev = clue_rows(task, root)
    labels = sorted({lab for _, lab in train}, key=_label_key)
    index = {lab: i for i, lab in enumerate(labels)}
    unknown = {lab for _, lab in dev} - set(index)
    if unknown:
        raise HarnessError(f"CLUE {task}: dev labels {sorted(unknown)[:5]} never occur in train")
    rng = random.Random(SPLIT_SEED)
    order = list(range(len(train)))
    rng.shuffle(order)
    n_valid = min(n_valid, len(train) // 5)
    va, tr = order[:n_valid], order[n_valid:]
    return TextSplits(
        task,
        [train[i][0] for i in tr],
        [index[train[i][1]] for i in tr],
        [train[i][0] for i in va],
        [index[train[i][1]] for i in va],
        [t for t, _ in dev],
        [index[lab] for _, lab in dev],
        len(labels),
        label_names=tuple(labels),
        meta={"label_fraction": 1.0},
    )


_BOUNDS = {"n_valid": (1, None), "label_fraction": (1e-4, 1.0)}


@dataset("tnews", tracks=TEXT_TRACKS, bounds=_BOUNDS, downloads=("clue",))
def tnews(root: str = "", n_valid: int = 1000, label_fraction: float = 1.0) -> TextSplits:
    """CLUE TNEWS (15-class news titles; paper scale, hub or local copy): test = CLUE dev."""
    s = clue_splits("tnews", root, n_valid)
    s.meta["label_fraction"] = label_fraction
    return s


@dataset("iflytek", tracks=TEXT_TRACKS, bounds=_BOUNDS, downloads=("clue",))
def iflytek(root: str = "", n_valid: int = 1000, label_fraction: float = 1.0) -> TextSplits:
    """CLUE IFLYTEK (119-class app descriptions; paper scale, hub or local copy): test = CLUE dev."""
    s = clue_splits("iflytek", root, n_valid)
    s.meta["label_fraction"] = label_fraction
    return s
