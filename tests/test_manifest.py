"""The registry manifest: read without importing entry modules, identical to what importing gives,
and never stale (a changed default, a new method, a new or removed plugin show at once)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from harness import manifest
from harness.registry import PLUGIN_GROUP

PLUGIN_V1 = '''
from harness.registry import method


@method("probe", track="fake")
def probe(level: int = 2) -> str:
    """A plugin method whose default the test changes."""
    return "plain"
'''


def _harness(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "harness.cli", *args], capture_output=True, text=True, env=env, timeout=300
    )


def _env(tmp_path: Path, plugins: str, extra_path: Path | None = None) -> dict[str, str]:
    env = dict(os.environ, KEXUE_BENCH_CACHE=str(tmp_path / "cache"), KEXUE_BENCH_PLUGINS=plugins)
    if extra_path is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(extra_path), env.get("PYTHONPATH", "")])
    return env


def _methods(out: str) -> list[str]:
    return [line.split()[1] for line in out.splitlines() if line.strip().startswith("method")]


def test_stale_manifest_never_hides_a_change(tmp_path):
    plugins = tmp_path / "plugins"
    (plugins / "probe_pkg").mkdir(parents=True)
    (plugins / "probe_pkg" / "__init__.py").write_text("from probe_pkg import methods  # noqa: F401\n")
    (plugins / "probe_pkg" / "methods.py").write_text(PLUGIN_V1)
    env = _env(tmp_path, "fake_plugin,probe_pkg", plugins)
    first = _harness(["list", "--track", "fake", "--kind", "methods"], env)
    assert first.returncode == 0, first.stderr
    assert "probe[level=2]" in _methods(first.stdout)
    assert len(list((tmp_path / "cache" / "manifest").glob("*.json"))) == 1

    # a changed default in a submodule of the plugin package (same file size: only the content differs)
    (plugins / "probe_pkg" / "methods.py").write_text(PLUGIN_V1.replace("level: int = 2", "level: int = 7"))
    assert "probe[level=7]" in _methods(_harness(["list", "--track", "fake"], env).stdout)

    # a new method
    (plugins / "probe_pkg" / "methods.py").write_text(
        PLUGIN_V1.replace("level: int = 2", "level: int = 7")
        + '\n\n@method("probe-two", track="fake")\ndef probe_two() -> str:\n    """Added later."""\n    return "good"\n'
    )
    listed = _methods(_harness(["list", "--track", "fake"], env).stdout)
    assert "probe[level=7]" in listed and "probe-two" in listed

    # the plugin dropped from KEXUE_BENCH_PLUGINS: its methods are gone
    listed = _methods(_harness(["list", "--track", "fake"], _env(tmp_path, "fake_plugin", plugins)).stdout)
    assert not any(m.startswith("probe") for m in listed) and "plain" in listed

    # an installed distribution with an entry point appears, and its version bump rebuilds
    (plugins / "ep_probe.py").write_text(PLUGIN_V1.replace('"probe"', '"ep-probe"').replace("def probe", "def ep"))
    dist = plugins / "ep_probe-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: ep-probe\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(f"[{PLUGIN_GROUP}]\nprobe = ep_probe\n")
    listed = _methods(_harness(["list", "--track", "fake"], _env(tmp_path, "fake_plugin", plugins)).stdout)
    assert "ep-probe[level=2]" in listed
    before = set((tmp_path / "cache" / "manifest").glob("*.json"))
    dist.rename(plugins / "ep_probe-1.1.dist-info")
    listed = _methods(_harness(["list", "--track", "fake"], _env(tmp_path, "fake_plugin", plugins)).stdout)
    assert "ep-probe[level=2]" in listed
    assert set((tmp_path / "cache" / "manifest").glob("*.json")) - before  # a new manifest was built


def test_manifest_entries_equal_the_imported_ones(tmp_path):
    """Build the manifest in one process; in another, read it (lazy entries), then import every entry
    module and compare the two descriptions entry by entry."""
    env = _env(tmp_path, "fake_plugin")
    script = textwrap.dedent(
        """
        import json, sys
        from harness import manifest
        from harness.registry import REGISTRY
        how = manifest.populate(REGISTRY)
        lazy = {(e.kind, e.scope, e.name): manifest.encode_entry(e) for e in REGISTRY.all_entries()}
        loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "methods", "baselines"))
        manifest.import_entry_modules(REGISTRY)
        real = {(e.kind, e.scope, e.name): manifest.encode_entry(e) for e in REGISTRY.all_entries()}
        same = sorted(k for k in real if lazy.get(k) == real[k])
        print(json.dumps({"how": how, "n": len(real), "same": len(same), "lazy_only": len(set(lazy) - set(real)),
                          "differ": [list(k) for k in real if lazy.get(k) != real[k]], "loaded": loaded}))
        """
    )
    runs = [subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env) for _ in range(2)]
    built, cached = (json.loads(r.stdout) if r.returncode == 0 else pytest.fail(r.stderr) for r in runs)
    assert built["how"] == "built" and cached["how"] == "cached"
    assert cached["loaded"] == []  # reading the manifest imported no entry module (nor torch)
    assert cached["differ"] == [] and cached["lazy_only"] == 0 and cached["same"] == cached["n"] > 60


def test_lazy_entry_loads_its_code_and_meta(monkeypatch, tmp_path):
    from harness.registry import REGISTRY, load_builtins

    load_builtins()
    entry = manifest.decode_entry(manifest.encode_entry(REGISTRY.get("method", "posthoc-la", "imbalance")), REGISTRY)
    assert entry.lazy and isinstance(entry.meta["adjust"], manifest.CodeRef)
    fn = entry.load()
    assert callable(fn) and fn.__name__ == "posthoc_la" and callable(entry.meta["adjust"])
    assert not isinstance(entry.meta["adjust"], manifest.CodeRef)


def test_fingerprint_reads_entry_points_without_importlib_metadata(tmp_path, monkeypatch):
    dist = tmp_path / "x-2.0.dist-info"
    dist.mkdir()
    (dist / "entry_points.txt").write_text(f"[console_scripts]\nx = x:main\n\n[{PLUGIN_GROUP}]\n a = pkg.mod:thing \n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert ("x-2.0.dist-info", "a", "pkg.mod:thing") in manifest.plugin_entry_points()
    before = manifest.fingerprint()
    (dist / "entry_points.txt").write_text(f"[{PLUGIN_GROUP}]\na = pkg.mod:other\n")
    assert manifest.fingerprint() != before


def test_damaged_manifest_is_rebuilt(tmp_path, monkeypatch):
    from harness.registry import REGISTRY

    monkeypatch.setenv("KEXUE_BENCH_CACHE", str(tmp_path / "cache"))
    path = manifest.manifest_path(manifest.fingerprint())
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('{"format": 1, "entries": [{"kind": "method"}]}')
    monkeypatch.setattr(REGISTRY, "_loaded", True)
    assert manifest.populate(REGISTRY) == "built"
    assert manifest.populate(REGISTRY) == "cached"
