"""Cell groups, track side: K members trained as one stacked model give each member what it gives alone.

``Track.run_group`` is called directly here (the engine calls exactly this method), each member with
its own ``RunContext``, and compared with ``Track.run`` of the same cell alone. Measured gaps at the
smoke scale: none beyond float rounding (the primary metric of every member equal, or within 2e-7 for
vae's MMD); at the quick scale ``benchmarks/bench_groups.py`` prints them per block.
"""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from harness.engine.context import RunContext
from harness.errors import Diverged
from harness.registry import REGISTRY
from harness.suite import expand, load_suite
from harness.track import within_device_tolerance


def _smoke(track: str, seeds: int = 2) -> list:
    return expand(load_suite("smoke"), [track], None, None, seeds)


def _alone(track, cell):
    ctx = RunContext(cell.seed)
    ctx.seed_everything("init")
    return track.run(cell, ctx), ctx


@pytest.mark.parametrize("name", ["igr", "weightreg", "imbalance", "vae"])
def test_every_member_of_a_group_matches_its_cell_alone(name):
    track = REGISTRY.get("track", name).load()()
    cells = _smoke(name)
    assert len({track.group_key(c) for c in cells}) < len(cells)  # some of them do group
    ctxs = [RunContext(c.seed) for c in cells]
    grouped = track.run_group(cells, ctxs)
    for cell, got, ctx in zip(cells, grouped, ctxs):
        assert not isinstance(got, BaseException), f"{cell.describe()}: {got!r}"
        want, alone = _alone(track, cell)
        p = track.primary
        assert within_device_tolerance(track, want[p], got[p]), f"{cell.describe()}: {want[p]} vs {got[p]}"
        assert set(got) == set(want)
        assert ctx.samples_seen == alone.samples_seen and set(ctx.curves) == set(alone.curves)
        assert set(ctx.predictions) == set(alone.predictions) and ctx.train_seconds > 0


def test_a_member_that_diverges_ends_alone_and_the_others_finish():
    track = REGISTRY.get("track", "weightreg").load()()
    cells = [c for c in _smoke("weightreg", 1) if c.method in ("none", "weissi")]
    wild = dataclasses.replace(cells[0], method="l2", method_params={"lam": 1e300}, method_label="")
    cells.insert(1, wild)  # its penalty overflows at the first step
    ctxs = [RunContext(c.seed) for c in cells]
    calm, blown, other = track.run_group(cells, ctxs)
    assert isinstance(blown, Diverged) and str(blown) == "loss became inf at step 0"
    for cell, got in ((cells[0], calm), (cells[2], other)):
        want, _ = _alone(track, cell)
        assert got == want  # the diverged member never touched them: bit-identical to each cell alone
    with pytest.raises(Diverged, match="loss became inf at step 0"):  # alone, it diverges at the same step
        _alone(track, wild)


def test_posthoc_la_shares_the_ce_training_of_its_seed(monkeypatch):
    from harness.tracks.imbalance import train as imbalance_train

    track = REGISTRY.get("track", "imbalance").load()()
    cells = [c for c in _smoke("imbalance") if c.method in ("ce", "posthoc-la", "focal")]
    cells += [
        dataclasses.replace(c, method_params={"tau": 2.0}, method_label="") for c in cells if c.method == "posthoc-la"
    ]
    shared = {c.key: track.shared_training(c) for c in cells}
    assert {shared[c.key] for c in cells if c.method != "focal"} == {"ce"}
    assert all(shared[c.key] is None for c in cells if c.method == "focal")
    trained: list[int] = []
    real = imbalance_train.train

    def counting(net, *args, **kwargs):
        trained.append(net.members)
        return real(net, *args, **kwargs)

    monkeypatch.setattr(imbalance_train, "train", counting)
    ctxs = [RunContext(c.seed) for c in cells]
    out = track.run_group(cells, ctxs)
    assert trained == [4]  # 2 seeds x (ce's training, focal's): 8 cells, 4 models
    for cell, got, ctx in zip(cells, out, ctxs):
        want, alone = _alone(track, cell)
        assert got["balanced_accuracy"] == pytest.approx(want["balanced_accuracy"], abs=0.03)
        flat = [v for point in ctx.curves["train_loss"] for v in point]
        assert flat == pytest.approx([v for point in alone.curves["train_loss"] for v in point], rel=1e-5)
    by = {(c.method, c.seed, c.method_params.get("tau")): m for c, m in zip(cells, out)}
    for seed in (0, 1):  # one training: the same train loss for ce and every tau of its seed
        losses = {by[k]["train_loss"] for k in by if k[1] == seed and k[0] != "focal"}
        assert len(losses) == 1


def test_group_keys_are_torch_free_and_separate_what_cannot_share_a_stack():
    igr = REGISTRY.get("track", "igr").load()()
    cells = _smoke("igr", 2)
    keys = {c.method_selector: igr.group_key(c) for c in cells}
    assert keys["egr[mu=0.125]"] != keys["cosine"]  # double backward trains apart
    assert keys["cosine"] == keys["flooding"]  # the same T / effective lr: one step budget
    wr = REGISTRY.get("track", "weightreg").load()()
    cell = _smoke("weightreg", 1)[0]
    assert (
        wr.group_key(cell)
        and wr.group_key(dataclasses.replace(cell, settings={**cell.settings, "model": "cnn"})) is None
    )
    vae = REGISTRY.get("track", "vae").load()()
    by = {c.method: vae.group_key(c) for c in _smoke("vae", 1)}
    assert by["vae-kl"] == by["vae-simple"] != by["ae"]  # a plain AE's code layer is half a VAE's
    for name in ("embdim", "tokenization", "dialogue", "fewshot"):  # these train alone
        t = REGISTRY.get("track", name).load()()
        assert all(t.group_key(c) is None for c in _smoke(name, 1))


def test_group_pays_on_cpu_where_it_was_measured_to():
    cells = expand(load_suite("quick"), None, None, None, 1)
    tracks = {name: REGISTRY.get("track", name).load()() for name in {c.track for c in cells}}
    for c in cells:
        pays = tracks[c.track].group_pays_on_cpu(c)
        if c.track == "igr":  # only SGD at a fixed budget (one block)
            assert pays == (c.settings["optimizer"] == "sgd" and c.settings["protocol"] == "epochs"), c.describe()
        elif c.track == "imbalance":
            assert pays, c.describe()
        elif c.track == "weightreg":
            assert pays == c.dataset.startswith("mnist1d"), c.describe()
        elif c.track == "vae":
            assert pays == c.dataset.startswith("digits"), c.describe()
        else:
            assert not pays, c.describe()


# --- the pieces -----------------------------------------------------------------------------------
def test_stacked_members_start_bit_identical_and_one_member_runs_the_plain_layers():
    from harness.engine.context import seeded_init
    from harness.models.mlp import make_mlp
    from harness.models.stacked import StackedNet, member_cross_entropy

    modules = []
    for seed in (3, 4, 5):
        with seeded_init(seed):
            modules.append(make_mlp(7, 5, 3))
    alone = [m.state_dict() for m in modules]
    net = StackedNet(modules)
    for k, state in enumerate(alone):
        for name, p in zip(net.names, net.params):
            assert torch.equal(p[k], state[name])
    x, y = torch.randn(3, 6, 7), torch.randint(0, 3, (3, 6))
    out = net(x)
    for k, m in enumerate(modules):
        assert torch.allclose(out[k], m(x[k]), atol=1e-6)
    one = StackedNet([modules[1]])
    loss = member_cross_entropy(one(x[1:2]), y[1:2])
    grads = torch.autograd.grad(loss.sum(), one.params)
    ref = torch.nn.functional.cross_entropy(modules[1](x[1]), y[1])
    ref_grads = torch.autograd.grad(ref, list(modules[1].parameters()))
    assert torch.equal(loss[0], ref) and all(torch.equal(g[0], r) for g, r in zip(grads, ref_grads))
    with torch.no_grad():
        net.params[0][2].fill_(0.5)
    assert torch.all(net.unstack()[2][1].weight == 0.5)


def test_member_calls_vmap_each_function_with_its_own_numbers_and_fall_back_when_they_do_not_vmap():
    import functools

    from harness.models.stacked import MemberCalls

    def scaled(x, k):
        return k * x.sum()

    def branchy(x, k):
        return x.sum() if float(x.sum()) > 0 else -x.sum() * k  # data-dependent: no vmap

    fns = [
        functools.partial(scaled, k=1.0),
        functools.partial(branchy, k=2.0),
        functools.partial(scaled, k=3.0),
        None,
        functools.partial(branchy, k=5.0),
    ]
    calls = MemberCalls(fns)
    x = torch.randn(5, 4)
    got = calls(x)
    want = torch.stack([fns[i](x[i]) if fns[i] else torch.tensor(0.0) for i in range(5)])
    assert torch.allclose(got, want)
    assert [p["vmap"] for p in calls.parts] == [True, False, False]  # branchy fell back to a loop


def test_lambda_max_of_a_stack_is_each_members_own():
    from harness.engine.context import seeded_init
    from harness.models.hessian import top_eigenvalue, top_eigenvalues
    from harness.models.mlp import make_mlp
    from harness.models.stacked import StackedNet, member_cross_entropy

    modules = []
    for seed in (0, 1, 2):
        with seeded_init(seed):
            modules.append(make_mlp(6, 8, 3))
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(40, 6, generator=g), torch.randint(0, 3, (40,), generator=g)
    net = StackedNet(modules)
    gens = [torch.Generator().manual_seed(10 + k) for k in range(3)]
    batched = top_eigenvalues(
        lambda: member_cross_entropy(net(x, shared=True), y), net.params, gens, iters=50, tol=1e-6
    )
    for k, m in enumerate(modules):
        fn = lambda m=m: torch.nn.functional.cross_entropy(m(x), y)  # noqa: E731
        alone = top_eigenvalue(
            fn, list(m.parameters()), iters=50, tol=1e-6, generator=torch.Generator().manual_seed(10 + k)
        )
        assert batched[k].value == pytest.approx(alone.value, rel=1e-4)
        assert abs(batched[k].iterations - alone.iterations) <= 1  # converged on its own schedule


def test_train_loop_names_the_first_bad_step_and_shares_its_time():
    from harness.engine.context import TrainLoop

    ctxs = [RunContext(0), RunContext(1), RunContext(2)]
    with TrainLoop(ctxs, 10, ("train_loss",), "cpu", every=4) as loop:
        for step in range(10):
            loss = torch.tensor([1.0, float("nan") if step >= 6 else 1.0, float("inf") if step == 2 else 2.0])
            loop.record(step, train_loss=loss)
            if loop.due(step):
                alive, _ = loop.poll()
    assert alive == [True, False, False] and loop.bad_steps == [None, 6, 2]
    values = loop.host_values()["train_loss"]
    assert values[0] == [1.0] * 10 and math.isinf(values[2][2])
    with pytest.raises(Diverged, match="train loss became nan at step 6"):
        for step, v in enumerate(values[1]):
            ctxs[1].check_finite(v, "train loss", step)
    assert all(c.train_seconds > 0 for c in ctxs) and len({c.train_seconds for c in ctxs}) == 1


@pytest.mark.parametrize("name", ["igr", "weightreg", "imbalance", "vae"])
def test_a_group_trains_on_the_device(name):
    """The grouped path on the pretend GPU: no device mixing, no matrix product left on the CPU."""
    from harness.engine.device_guard import fake_cuda

    track = REGISTRY.get("track", name).load()()
    cells = _smoke(name, 1)[:4]
    with fake_cuda() as report:
        ctxs = [RunContext(c.seed, device="cuda") for c in cells]
        out = track.run_group(cells, ctxs)
    assert all(isinstance(m, dict) for m in out), out
    assert not report.cpu_ops, dict(report.cpu_ops)


def test_a_stack_that_runs_out_of_memory_raises_so_the_engine_can_split_it(monkeypatch):
    from harness.tracks.weightreg import train as weightreg_train

    def no_room(*args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(weightreg_train, "train", no_room)
    track = REGISTRY.get("track", "weightreg").load()()
    cells = _smoke("weightreg", 1)[:2]
    with pytest.raises(torch.OutOfMemoryError):
        track.run_group(cells, [RunContext(c.seed) for c in cells])


def test_polling_the_device_never_stops_a_loop_early():
    """The host reads the device every CHECK_EVERY steps; a budget of many more steps is spent whole."""
    from harness.engine.context import CHECK_EVERY

    track = REGISTRY.get("track", "igr").load()()
    cell = next(c for c in _smoke("igr", 1) if c.method == "constant-lr")  # lr 0.5
    cell = dataclasses.replace(cell, settings={**cell.settings, "time": 0.5 * 3 * CHECK_EVERY, "hessian_iters": 0})
    metrics, ctx = _alone(track, cell)
    assert metrics["steps"] == 3 * CHECK_EVERY and ctx.samples_seen == 3 * CHECK_EVERY * 200
