from __future__ import annotations

import pytest
from conftest import FAKE_SUITE, write_suite

from harness.errors import HarnessError
from harness.suite import builtin_suites, expand, load_suite


def test_builtin_suites_validate():
    assert {"smoke", "quick", "paper"} <= set(builtin_suites())
    for name in ("smoke", "quick", "paper"):
        suite = load_suite(name)
        assert suite.blocks


def test_expand_grid_baseline_and_seeds(tmp_path):
    p = write_suite(tmp_path / "s.toml", FAKE_SUITE.replace('"good"]', '{ name = "good", strength = [0.1, 0.2] }]'))
    cells = expand(load_suite(str(p)))
    assert len(cells) == 3 * 3  # plain + 2 grid points, 3 seeds
    assert {c.method_label for c in cells} == {"plain", "good[strength=0.1]", "good[strength=0.2]"}
    # the baseline is added when a block forgets it
    p2 = write_suite(tmp_path / "s2.toml", FAKE_SUITE.replace('["plain", "good"]', '["good"]'))
    assert "plain" in {c.method for c in expand(load_suite(str(p2)))}


def test_run_key_is_stable_and_order_free(tmp_path):
    a = write_suite(tmp_path / "a.toml", FAKE_SUITE.replace('"good"]', '"good[strength=0.3]"]'))
    b = write_suite(tmp_path / "b.toml", FAKE_SUITE.replace('"good"]', '{ name = "good", strength = 0.3 }]'))
    ka = {c.key for c in expand(load_suite(str(a)))}
    kb = {c.key for c in expand(load_suite(str(b)))}
    assert ka == kb
    # a version bump or a different seed changes the key
    cell = expand(load_suite(str(a)))[0]
    from dataclasses import replace

    assert replace(cell, seed=99).key != cell.key
    assert replace(cell, versions={**cell.versions, "method": 2}).key != cell.key


def test_cli_style_filters(tmp_path):
    p = write_suite(tmp_path / "s.toml", FAKE_SUITE)
    suite = load_suite(str(p))
    cells = expand(suite, methods=["good[strength=0.9]"], seeds=1)
    assert {c.method_label for c in cells} == {"plain", "good[strength=0.9]"}
    with pytest.raises(HarnessError, match="did you mean 'good'"):
        expand(suite, methods=["god"])


@pytest.mark.parametrize(
    "body, message",
    [
        ("[suite]\nseeds = 0\n[[run]]\ntrack='fake'\ndatasets=['const']\nmethods=['plain']", "positive integer"),
        ("[suite]\nseeds = 'x'\n[[run]]\ntrack='fake'\ndatasets=['const']\nmethods=['plain']", "positive integer"),
        ("[suite]\nscale = 'huge'\n[[run]]\ntrack='fake'\ndatasets=['const']\nmethods=['plain']", "unknown scale"),
        ("[suite]\n[[run]]\ntrack='fake'\ndatasets=[]\nmethods=['plain']", "non-empty list"),
        ("[suite]\n[[run]]\ntrack='fake'\ndatasets=['const']\nmethods=[{ name='good', strength=[] }]", "empty grid"),
        ("[suite]\n[[run]]\ntrack='fake'\ndatasets=['const']\nmethods=['plan']", "did you mean 'plain'"),
        ("[suite]\n[[run]]\ntrack='fak'\ndatasets=['const']\nmethods=['plain']", "did you mean 'fake'"),
        ("[suite]\n[[run]]\ntrack='fake'\ndatasets=['const']\nmethods=['plain']\nextra=1", "unknown key 'extra'"),
        ("[suite]\n[[run]]\ntrack='fake'\ndatasets=['const[offset=-1]']\nmethods=['plain']", "outside"),
        ("[suite]\n[[run]]\ntrack='fake'\ndatasets=['const']\nmethods=['plain']\n[run.settings]\nslep=1", "slep"),
        ("[suite]\n[[run]]\ntrack='fake'\ndatasets=['const']\nmethods=[3]", "selector string"),
        ("[suite]\n", "at least one"),
        ("[suite\n", "malformed TOML"),
        ("[suite]\nnmae='x'\n[[run]]\ntrack='fake'\ndatasets=['const']\nmethods=['plain']", "did you mean 'name'"),
    ],
)
def test_bad_suites_give_one_line_errors_naming_file_and_key(tmp_path, body, message):
    p = write_suite(tmp_path / "bad.toml", body)
    with pytest.raises(HarnessError, match=message) as exc:
        load_suite(str(p))
    assert "bad.toml" in str(exc.value)
    assert "\n" not in str(exc.value)


def test_huge_grid_is_refused(tmp_path):
    grid = ", ".join(str(i / 1000) for i in range(2000))
    p = write_suite(
        tmp_path / "huge.toml",
        FAKE_SUITE.replace('"good"]', f'{{ name = "good", strength = [{grid}] }}]').replace("seeds = 3", "seeds = 20"),
    )
    with pytest.raises(HarnessError, match="more than"):
        expand(load_suite(str(p)))


def test_unknown_suite_name():
    with pytest.raises(HarnessError, match="did you mean 'quick'"):
        load_suite("quik")
