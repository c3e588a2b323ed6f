from __future__ import annotations

import pytest

from harness.errors import HarnessError
from harness.registry import REGISTRY, Registry, format_selector, params_of, parse_selector


def test_builtin_entries_are_registered():
    assert "igr" in {e.name for e in REGISTRY.entries("track")}
    names = {e.name for e in REGISTRY.entries("method", "igr")}
    assert {"small-lr", "constant-lr", "egr", "flooding", "cosine"} <= names
    assert REGISTRY.baseline("igr").name == "small-lr"


def test_plugin_from_environment_is_loaded():
    assert REGISTRY.get("track", "fake").load().primary == "score"
    assert REGISTRY.baseline("fake").name == "plain"


def test_params_from_signature_with_types_and_bounds():
    def fn(x, tau: float = 1.0, k: int = 3, name: str = "a", flag: bool = False):
        return x

    ps = params_of(fn, bounds={"tau": (0, None)})
    assert set(ps) == {"tau", "k", "name", "flag"}
    assert ps["tau"].coerce("0.5", "w") == 0.5
    assert ps["k"].coerce("4", "w") == 4
    assert ps["flag"].coerce("true", "w") is True
    with pytest.raises(HarnessError, match="outside"):
        ps["tau"].coerce(-1, "w")
    with pytest.raises(HarnessError, match="must be int"):
        ps["k"].coerce("2.5", "w")
    with pytest.raises(HarnessError, match="finite"):
        ps["tau"].coerce("nan", "w")


def test_unannotated_non_scalar_parameter_is_rejected():
    def fn(x=[1]):  # noqa: B006
        return x

    with pytest.raises(TypeError):
        params_of(fn)


def test_selector_round_trip():
    assert parse_selector("egr[mu=0.25, lr=0.02]") == ("egr", {"mu": "0.25", "lr": "0.02"})
    assert parse_selector("cosine") == ("cosine", {})
    assert format_selector("egr", {"mu": 0.25, "lr": 0.02}, {"lr": 0.02}) == "egr[mu=0.25]"
    with pytest.raises(HarnessError, match="malformed"):
        parse_selector("egr[mu]")
    with pytest.raises(HarnessError, match="malformed"):
        parse_selector("bad name!")


def test_unknown_names_suggest_close_matches():
    with pytest.raises(HarnessError, match="did you mean 'cosine'"):
        REGISTRY.get("method", "cosin", "igr")
    with pytest.raises(HarnessError, match="allowed:"):
        REGISTRY.get("track", "nope")
    entry = REGISTRY.get("method", "egr", "igr")
    with pytest.raises(HarnessError, match="did you mean 'mu'"):
        entry.resolve_params({"muu": 1})


def test_duplicate_registration_is_an_error():
    from harness.registry import Entry

    reg = Registry()
    reg._loaded = True
    reg.add(Entry("method", "m", lambda: 1, track="t"))
    with pytest.raises(HarnessError, match="registered twice"):
        reg.add(Entry("method", "m", "other:thing", track="t"))


def test_entry_point_plugins_are_imported(monkeypatch, tmp_path):
    """An installed distribution declaring the entry-point group is imported (here: a dist-info
    directory on sys.path, which is what pip writes)."""
    import sys

    import harness.registry as reg

    (tmp_path / "ep_plugin_mod.py").write_text(
        "from harness.registry import method\n\n"
        "@method('from-entry-point', track='fake')\n"
        "def from_entry_point(level: int = 2) -> str:\n"
        '    """Registered by an installed package."""\n'
        "    return 'plain'\n"
    )
    dist = tmp_path / "ep_plugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: ep-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(f"[{reg.PLUGIN_GROUP}]\ndemo = ep_plugin_mod\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(REGISTRY, "_loaded", False)
    reg.load_builtins()
    assert REGISTRY.get("method", "from-entry-point", "fake").params["level"].default == 2
    sys.modules.pop("ep_plugin_mod", None)


def test_broken_plugin_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("KEXUE_BENCH_PLUGINS", "no_such_plugin_module")
    monkeypatch.setattr(REGISTRY, "_loaded", False)
    from harness.registry import load_builtins

    with pytest.raises(HarnessError, match="no_such_plugin_module"):
        load_builtins()
