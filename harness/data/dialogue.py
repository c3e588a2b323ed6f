"""Multi-turn Chinese dialogues for the dialogue track: chatterbot-corpus (quick) and LCCC (paper).

* ``chatterbot-zh``: the ``chatterbot_corpus/data/chinese/*.yml`` files of ``chatterbot-corpus==1.3.3``
  (install with ``--no-deps``: its metadata pins an old PyYAML; we read the files by path with the
  installed PyYAML). 467 conversations, 1,019 turns, ~10.8k characters; 451 of them have exactly two
  turns. Tiny: it proves the protocol, it cannot reproduce LCCC-scale numbers.
* ``lccc``: LCCC (Wang et al. 2020) from a local copy, e.g. ``LCCC-base_train.json``: either a JSON
  list of dialogues (each a list of utterance strings, words separated by spaces) or a dict with
  ``train``/``valid``/``test`` lists. Spaces are removed (the track is character level).

Splits are fixed (independent of the cell seed): a hash of each dialogue's text decides whether it
is held out, so adding files never moves an existing dialogue between splits.
"""

from __future__ import annotations

import glob
import hashlib
import importlib.util
import json
import os
from dataclasses import dataclass, field

from harness.errors import HarnessError
from harness.registry import dataset

DIALOGUE_TRACKS = ("dialogue",)
INSTALL = "pip install --no-deps chatterbot-corpus==1.3.3"


@dataclass
class Dialogues:
    """Train and valid dialogues: each a list of utterances (>= 2 turns, non-empty strings)."""

    name: str
    train: list[list[str]]
    valid: list[list[str]]
    meta: dict = field(default_factory=dict)


def clean_dialogue(turns: list) -> list[str]:
    """Utterances as stripped strings with inner spaces removed; empty turns dropped."""
    out = []
    for t in turns:
        s = "".join(str(t).split())
        if s:
            out.append(s)
    return out


def held_out(dialogue: list[str], valid_percent: int) -> bool:
    """Fixed split by content hash: the same dialogue always lands in the same split."""
    h = int(hashlib.sha256("\n".join(dialogue).encode("utf-8")).hexdigest()[:8], 16)
    return h % 100 < valid_percent


def split_dialogues(name: str, dialogues: list[list[str]], valid_percent: int, meta: dict) -> Dialogues:
    dialogues = [d for d in (clean_dialogue(x) for x in dialogues) if len(d) >= 2]
    if not dialogues:
        raise HarnessError(f"{name}: no dialogues with at least two turns")
    train = [d for d in dialogues if not held_out(d, valid_percent)]
    valid = [d for d in dialogues if held_out(d, valid_percent)]
    if not train or not valid:
        raise HarnessError(f"{name}: split left an empty train or valid set ({len(train)}/{len(valid)})")
    meta = {
        **meta,
        "dialogues": len(dialogues),
        "train": len(train),
        "valid": len(valid),
        "turns": sum(len(d) for d in dialogues),
        "chars": sum(len(u) for d in dialogues for u in d),
    }
    return Dialogues(name, train, valid, meta)


def chatterbot_dir(language: str = "chinese") -> str:
    spec = importlib.util.find_spec("chatterbot_corpus")
    if spec is None or not spec.submodule_search_locations:
        raise HarnessError(f"data package 'chatterbot_corpus' is not installed; install it with: {INSTALL}")
    path = os.path.join(list(spec.submodule_search_locations)[0], "data", language)
    if not os.path.isdir(path):
        raise HarnessError(f"chatterbot-corpus has no {language!r} folder at {path} (reinstall: {INSTALL})")
    return path


def read_chatterbot(folder: str) -> list[list[str]]:
    """The ``conversations`` lists of every ``*.yml`` file in ``folder`` (sorted by file name)."""
    import yaml

    out: list[list[str]] = []
    files = sorted(glob.glob(os.path.join(folder, "*.yml")))
    if not files:
        raise HarnessError(f"no .yml files in {folder}")
    for f in files:
        try:
            with open(f, encoding="utf-8") as fh:
                doc = yaml.safe_load(fh) or {}
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            raise HarnessError(f"chatterbot file {f} is corrupt: {exc}") from None
        for conv in doc.get("conversations") or []:
            if isinstance(conv, list):
                out.append([str(u) for u in conv])
    return out


@dataset("chatterbot-zh", tracks=DIALOGUE_TRACKS, bounds={"valid_percent": (1, 50)})
def chatterbot_zh(valid_percent: int = 15) -> Dialogues:
    """chatterbot-corpus Chinese conversations (467 dialogues, ~10.8k chars; tiny), fixed hash split."""
    folder = chatterbot_dir("chinese")
    return split_dialogues("chatterbot-zh", read_chatterbot(folder), valid_percent, {"source": folder})


def read_lccc(path: str) -> tuple[list[list[str]], list[list[str]] | None]:
    """LCCC JSON: a list of dialogues, or {"train": [...], "valid": [...], ...}. Returns (train, valid or None)."""
    if not path:
        raise HarnessError("lccc needs path=<local LCCC json file> (the track never downloads it)")
    if not os.path.isfile(path):
        raise HarnessError(f"LCCC file not found: {path}")
    try:
        with open(path, encoding="utf-8") as fh:
            doc = json.load(fh)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise HarnessError(f"LCCC file {path} is not valid JSON: {exc}") from None
    if isinstance(doc, dict):
        if "train" not in doc:
            raise HarnessError(f"LCCC file {path}: a dict needs a 'train' list")
        valid = doc.get("valid") or doc.get("dev")
        return doc["train"], valid
    if isinstance(doc, list):
        return doc, None
    raise HarnessError(f"LCCC file {path}: expected a list of dialogues or a dict of splits")


@dataset("lccc", tracks=DIALOGUE_TRACKS, bounds={"valid_percent": (1, 50), "max_dialogues": (0, None)})
def lccc(path: str = "", valid_percent: int = 5, max_dialogues: int = 0) -> Dialogues:
    """LCCC from a local JSON copy (paper scale); its own valid split when present, else a hash split.
    ``max_dialogues`` > 0 keeps the first dialogues of each split."""
    train, valid = read_lccc(path)
    if valid is None:
        data = split_dialogues("lccc", train, valid_percent, {"source": path})
    else:
        tr = [d for d in (clean_dialogue(x) for x in train) if len(d) >= 2]
        va = [d for d in (clean_dialogue(x) for x in valid) if len(d) >= 2]
        if not tr or not va:
            raise HarnessError(f"LCCC file {path}: empty train or valid split after cleaning")
        data = Dialogues("lccc", tr, va, {"source": path, "train": len(tr), "valid": len(va)})
    if max_dialogues:
        data.train, data.valid = data.train[:max_dialogues], data.valid[:max_dialogues]
    return data
