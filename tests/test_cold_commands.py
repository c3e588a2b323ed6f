"""Commands that read results never import torch or transformers.

Finished cells are produced first in a normal environment (the fake plugin track plus two real
tracks whose exact claims need torch); then every reading command runs with a directory on
PYTHONPATH whose ``torch`` and ``transformers`` packages log the attempt and raise ImportError.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

SUITE = """
[suite]
name = "cold"
scale = "smoke"
seeds = 2

[[run]]
track = "fake"
datasets = ["const"]
methods = ["plain", "good"]

[[run]]
track = "imbalance"
datasets = ["digits-lt"]
methods = ["logit-adjusted"]
[run.settings]
epochs = 2
width = 32

[[run]]
track = "weightreg"
datasets = ["digits[n_train=200,n_valid=100]"]
methods = ["l2[lam=0.001]"]
[run.settings]
epochs = 2
width = 32
"""

BLOCKER = """import os
with open(os.environ["COLD_TEST_IMPORT_LOG"], "a") as fh:
    fh.write(__name__ + "\\n")
raise ImportError(f"{__name__} is blocked in this test")
"""


def _harness(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "harness.cli", *args], capture_output=True, text=True, env=env, timeout=600
    )


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    root = tmp_path_factory.mktemp("cold")
    suite = root / "cold.toml"
    suite.write_text(SUITE)
    res = root / "res"
    env = dict(os.environ, KEXUE_BENCH_CACHE=str(tmp_path_factory.getbasetemp() / "artifact-cache"))
    out = _harness(["run", "--suite", str(suite), "--results", str(res), "--executor", "inline", "-q"], env)
    assert out.returncode == 0, out.stderr[-3000:]
    assert {p.name for p in (res / ".exact").iterdir()} == {"fake.json", "imbalance.json", "weightreg.json"}
    blocker = root / "blocker"
    for name in ("torch", "transformers"):
        (blocker / name).mkdir(parents=True)
        (blocker / name / "__init__.py").write_text(BLOCKER)
    cold = dict(
        env,
        PYTHONPATH=os.pathsep.join([str(blocker), env.get("PYTHONPATH", "")]),
        COLD_TEST_IMPORT_LOG=str(root / "imports.log"),
    )
    return root, suite, res, env, cold


@pytest.mark.slow
def test_reading_commands_import_neither_torch_nor_transformers(finished):
    root, suite, res, env, cold = finished
    blocked = _harness(["run", "--suite", str(suite), "--results", str(res), "--seeds", "3", "--device", "cpu"], cold)
    assert blocked.returncode != 0 and "torch is blocked" in blocked.stderr + blocked.stdout  # the blocker works
    (root / "imports.log").unlink()

    commands = [
        ["list"],
        ["run", "--suite", str(suite), "--results", str(res), "--seeds", "3", "--dry-run"],
        ["run", "--suite", str(suite), "--results", str(res), "-q"],
        ["report", "--results", str(res), "--out", str(root / "rep")],
        ["publish", "--results", str(res), "--out", str(root / "lb")],
        ["compare", "--results", str(res), "--leaderboards", str(root / "lb" / "smoke")],
        ["show", next(res.glob("imbalance/*.json")).stem[:8], "--results", str(res)],
        ["collect", "--results", str(res), "--out", str(root / "all.parquet")],
    ]
    for args in commands:
        out = _harness(args, cold)
        assert out.returncode == 0, f"harness {' '.join(args)}: {out.stderr[-2000:]}"
        if args[0] == "run" and "--dry-run" not in args:
            assert " 0 to run" in out.stderr
        if "--dry-run" in args:
            assert "dry run: 6 cells to run" in out.stdout
    assert not (root / "imports.log").exists(), (root / "imports.log").read_text()

    # exact claims were computed by `harness run` and read from the results, not "not computed"
    md = (root / "lb" / "smoke" / "imbalance.md").read_text()  # a non-quick scale: its own folder
    row = next(line for line in md.splitlines() if "Logit-adjusted loss = log(1 +" in line)
    assert "reproduced" in row and "not computed" not in row
    assert "not computed" not in (root / "lb" / "smoke" / "weightreg.md").read_text()

    # the cold path publishes exactly what the normal environment publishes
    normal = _harness(["publish", "--results", str(res), "--out", str(root / "lb-normal")], env)
    assert normal.returncode == 0, normal.stderr
    for path in (root / "lb" / "smoke").iterdir():
        assert path.read_bytes() == (root / "lb-normal" / "smoke" / path.name).read_bytes(), path.name


@pytest.mark.slow
def test_missing_exact_results_read_not_computed(finished):
    import shutil

    root, suite, res, env, cold = finished
    copy = root / "res-no-exact"
    shutil.copytree(res, copy)
    shutil.rmtree(copy / ".exact")
    out = _harness(["publish", "--results", str(copy), "--out", str(root / "lb-missing")], cold)
    assert out.returncode == 0, out.stderr
    row = next(
        line
        for line in (root / "lb-missing" / "smoke" / "imbalance.md").read_text().splitlines()
        if "Logit-adjusted loss = log(1 +" in line
    )
    assert "not computed: run `harness run`" in row and "n.a." in row
    assert not Path(root / "imports.log").exists()
