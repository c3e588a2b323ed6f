"""K small networks of one architecture trained as one: every parameter stacked on a leading member axis.

Why: a claim's seeds (and an lr or tau sweep) are many tiny models, and one tiny model leaves a GPU,
or even a CPU core, mostly idle. Stacked weights ``[K, out, in]`` turn K matrix products into one
batched product (``baddbmm``), and an elementwise optimizer (``torch.optim.Adam``, SGD with momentum
and weight decay) over stacked parameters is exactly K independent ones: each element is updated
from its own gradient and state only. The summed loss of the members has a block-diagonal Hessian
(no parameter of one member enters another's loss), so its gradient gives every member its own.

Members stay the single cells they stand for: each is built by the track under its own seed, stacked
(bit-identical initial weights), and copied back into its own module for evaluation (``unstack``).
A group of one runs the plain layers (``F.linear`` on the member's slice), so a single cell computes
exactly what it did before groups existed; larger groups differ from their single cells only in the
summation order of the batched products (measured per track in ``tests/test_groups_*.py``).

``MemberCalls`` applies per-member functions (a loss with its own tau, a penalty with its own lambda)
to stacked tensors: one ``torch.func.vmap`` per shared function, with the keywords that differ as
tensors, and a call per member where a function does not vmap.
"""

from __future__ import annotations

import functools
import numbers
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils._pytree import tree_map

# Modules without parameters that act on the last dimension or elementwise: the batched forward
# applies them to [K, B, ...] activations as they are.
_ELEMENTWISE = (nn.ReLU, nn.Identity)


def stackable(module: nn.Module) -> bool:
    """Whether K copies of ``module`` can train as one batched network: a ``Sequential`` of Linear
    layers, elementwise activations and a leading Flatten (the MLPs of the image tracks)."""
    if not isinstance(module, nn.Sequential):
        return False
    return all(isinstance(m, (nn.Linear, nn.Flatten, *_ELEMENTWISE)) for m in module)


class StackedNet:
    """K members of one architecture (built by the caller, each under its own seed) as stacked leaves.

    ``params[i]`` is the i-th parameter of every member, stacked: ``[K, *shape]``, a leaf on ``device``
    for autograd and ``torch.optim``. ``__call__(x)`` takes per-member inputs ``[K, B, ...]`` (or one
    input for all members with ``shared=True``) and returns ``[K, B, out]``.
    """

    def __init__(self, modules: Sequence[nn.Module], device: Any = "cpu"):
        if not modules:
            raise ValueError("StackedNet needs at least one member")
        self.modules = [m.to(device) for m in modules]
        self.template = self.modules[0]
        self.names = [n for n, _ in self.template.named_parameters()]
        self.members = len(self.modules)
        if self.members > 1 and not stackable(self.template):
            raise ValueError(f"cannot stack {type(self.template).__name__} members: only Linear/ReLU MLPs batch")
        with torch.no_grad():
            self.params = [  # one member keeps its parameter's layout (a channels-last convolution stays so)
                p.detach()[None].clone().requires_grad_()
                if self.members == 1
                else torch.stack([dict(m.named_parameters())[n].detach() for m in self.modules]).requires_grad_()
                for n, p in self.template.named_parameters()
            ]
        self._by_name = dict(zip(self.names, self.params))

    @property
    def device(self) -> torch.device:
        return self.params[0].device

    def __call__(self, x: torch.Tensor, shared: bool = False) -> torch.Tensor:
        if self.members == 1:
            return self._single(x if shared else x[0]).unsqueeze(0)
        h = x
        for name, layer in self.template.named_children():
            if isinstance(layer, nn.Linear):
                w = self._by_name[f"{name}.weight"]
                b = self._by_name.get(f"{name}.bias")
                if shared:  # one input for all members: one wide product, [B, K * out]
                    wide = F.linear(h, w.reshape(-1, w.shape[-1]), None if b is None else b.reshape(-1))
                    h = wide.view(*h.shape[:-1], self.members, w.shape[1]).movedim(-2, 0)
                    shared = False
                else:
                    wt = w.transpose(1, 2)
                    h = torch.bmm(h, wt) if b is None else torch.baddbmm(b.unsqueeze(1), h, wt)
            elif isinstance(layer, nn.Flatten):
                h = h.flatten(1 if shared else 2)
            else:
                h = layer(h)
        return h

    def _single(self, x: torch.Tensor) -> torch.Tensor:
        """One member through the module's own layers, its parameters being slice 0 of the leaves."""
        params = {n: p.squeeze(0) for n, p in zip(self.names, self.params)}  # a view: no copy back
        if not isinstance(self.template, nn.Sequential):
            return torch.func.functional_call(self.template, params, (x,))
        h = x
        for name, layer in self.template.named_children():
            if isinstance(layer, nn.Linear):
                h = F.linear(h, params[f"{name}.weight"], params.get(f"{name}.bias"))
            elif any(True for _ in layer.parameters()):
                own = {k.split(".", 1)[1]: v for k, v in params.items() if k.startswith(f"{name}.")}
                h = torch.func.functional_call(layer, own, (h,))
            else:
                h = layer(h)
        return h

    def named(self, suffix: str) -> list[torch.Tensor]:
        """The stacked parameters whose names end with ``suffix`` (e.g. ``"weight"``), in order."""
        return [p for n, p in zip(self.names, self.params) if n.endswith(suffix)]

    def unstack(self) -> list[nn.Module]:
        """Each member's module holding its trained parameters (copies, for evaluation)."""
        with torch.no_grad():
            for k, module in enumerate(self.modules):
                for name, p in module.named_parameters():
                    p.copy_(self._by_name[name][k])
        return self.modules

    def subset(self, members: Sequence[int]) -> StackedNet:
        """A new stack of some members with copies of their current parameters."""
        modules = self.unstack()
        return StackedNet([modules[k] for k in members], self.device)


def member_cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy of each member, ``[K]`` from logits ``[K, B, C]`` and targets ``[K, B]`` or
    ``[B]`` (shared); one member gets exactly ``F.cross_entropy`` of a single cell."""
    k, b = logits.shape[0], logits.shape[1]
    if targets.dim() == 1:
        targets = targets.expand(k, b)
    if k == 1:
        return F.cross_entropy(logits[0], targets[0]).reshape(1)
    flat = F.cross_entropy(logits.reshape(k * b, -1), targets.reshape(-1), reduction="none")
    return flat.view(k, b).mean(1)


def member_view(values: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """``values`` ``[K]`` shaped to broadcast over ``like`` ``[K, ...]`` (one number per member)."""
    return values.view(-1, *([1] * (like.dim() - 1)))


def groups_of(keys: Sequence[Any]) -> list[list[int]]:
    """Positions with equal keys, in order of first appearance (members that can share one stack)."""
    out: dict[Any, list[int]] = {}
    for i, key in enumerate(keys):
        out.setdefault(key, []).append(i)
    return list(out.values())


def out_of_memory(exc: BaseException) -> bool:
    """A host ``MemoryError`` or torch's CUDA out-of-memory error."""
    return isinstance(exc, MemoryError) or (
        "out of memory" in str(exc).lower() and type(exc).__name__ in ("OutOfMemoryError", "RuntimeError")
    )


def each_member(members: Any, fn: Callable[[Any], Any]) -> list[Any]:
    """``fn`` of each member, or the exception that ended it: one member's failure ends only that one."""
    out: list[Any] = []
    for member in members:
        try:
            out.append(fn(member))
        except Exception as exc:  # recorded per member by the engine (Diverged, HarnessError...)
            out.append(exc)
    return out


def run_stacks(
    cells: Sequence[Any],
    ctxs: Sequence[Any],
    key: Callable[[Any], Any],
    run_stack: Callable[[list, list, list], list],
    prepare: Callable[[Any], Any],
) -> list[Any]:
    """A track's ``run_group``: cells with equal ``key`` train as one stack. ``prepare(cell)`` (the
    method's recipe) runs per member first, so a member whose parameters fail ends alone;
    ``run_stack(cells, ctxs, prepared)`` returns one entry per member, and a failure of the stack as a
    whole (data that fails to load) is every one of its members' entry, except running out of memory,
    which is raised: the engine splits the group and runs the halves."""
    out: list[Any] = [None] * len(cells)
    for idx in groups_of([key(c) for c in cells]):
        prepared = each_member([cells[i] for i in idx], prepare)
        for i, p in zip(idx, prepared):
            out[i] = p  # the exception of a member that failed to prepare
        ok = [(i, p) for i, p in zip(idx, prepared) if not isinstance(p, BaseException)]
        if not ok:
            continue
        try:
            results = run_stack([cells[i] for i, _ in ok], [ctxs[i] for i, _ in ok], [p for _, p in ok])
        except Exception as exc:  # the whole stack
            if out_of_memory(exc):
                raise  # the engine splits a group that ran out of memory and runs the halves
            results = [exc] * len(ok)
        for (i, _), result in zip(ok, results):
            out[i] = result
    return out


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


class MemberCalls:
    """Member k's function ``fns[k]`` applied to its slice of stacked arguments; returns ``[K]`` (0 for
    a member whose function is None).

    Members whose functions are ``functools.partial`` of one function with the same non-numeric
    keywords form one part: a single ``vmap`` call, numeric keywords that differ passed as tensors
    (one per member), equal ones as the numbers themselves. A part whose function does not vmap
    (data-dependent control flow...) falls back to one call per member, and so does a part of one
    member, which is then exactly the single cell's call.
    """

    def __init__(self, fns: Sequence[Callable[..., Any] | None]):
        self.members = len(fns)
        self.parts: list[dict[str, Any]] = []
        keys = [self._key(fn) for fn in fns]
        for idx in groups_of(keys):
            first = fns[idx[0]]
            part: dict[str, Any] = {"idx": idx, "fns": [fns[k] for k in idx], "vmap": len(idx) > 1}
            if first is None:  # members without this term: an exact zero each
                part["vmap"] = False
            elif isinstance(first, functools.partial) and len(idx) > 1:
                kws = [fns[k].keywords for k in idx]
                varying = sorted(n for n in kws[0] if _is_number(kws[0][n]) and any(kw[n] != kws[0][n] for kw in kws))
                part.update(
                    func=first.func,
                    args=first.args,
                    const={n: v for n, v in kws[0].items() if n not in varying},
                    varying={n: [float(kw[n]) for kw in kws] for n in varying},
                )
            elif len(idx) > 1:
                part.update(func=first, args=(), const={}, varying={})
            self.parts.append(part)
        self._order: torch.Tensor | None = None

    @staticmethod
    def _key(fn: Callable[..., Any]) -> Any:
        if isinstance(fn, functools.partial):
            kw = tuple(sorted((n, repr(v)) for n, v in fn.keywords.items() if not _is_number(v)))
            return (fn.func, repr(fn.args), kw, tuple(sorted(fn.keywords)))
        return fn

    def __call__(self, *batched: Any, shared: tuple[Any, ...] = ()) -> torch.Tensor:
        results = [self._part(part, batched, shared) for part in self.parts]
        if len(results) == 1:
            return results[0]
        out = torch.cat(results)
        if self._order is None:
            order = [k for part in self.parts for k in part["idx"]]
            self._order = torch.argsort(torch.tensor(order)).to(out.device)
        return out[self._order]

    def _part(self, part: dict[str, Any], batched: tuple[Any, ...], shared: tuple[Any, ...]) -> torch.Tensor:
        idx = part["idx"]
        if part["fns"][0] is None:
            return _first_tensor(batched).new_zeros(len(idx))
        if len(idx) == self.members:
            args = batched
        else:
            where = torch.tensor(idx, device=_first_tensor(batched).device)
            args = tree_map(lambda t: t.index_select(0, where) if isinstance(t, torch.Tensor) else t, batched)
        if part["vmap"]:
            try:
                return self._vmapped(part, args, shared)
            except (RuntimeError, ValueError, TypeError, NotImplementedError):
                part["vmap"] = False  # not vmappable: one call per member from now on
        return torch.stack(
            [
                fn(*tree_map(lambda t, i=i: t[i] if isinstance(t, torch.Tensor) else t, args), *shared)
                for i, fn in enumerate(part["fns"])
            ]
        )

    @staticmethod
    def _vmapped(part: dict[str, Any], args: tuple[Any, ...], shared: tuple[Any, ...]) -> torch.Tensor:
        like = _first_tensor(args)
        if "tensors" not in part:
            part["tensors"] = {
                n: torch.tensor(v, dtype=like.dtype, device=like.device) for n, v in part["varying"].items()
            }
        names = list(part["tensors"])
        func, fixed, const = part["func"], part["args"], part["const"]

        def one(*a: Any) -> torch.Tensor:
            own = dict(zip(names, a[len(args) :]))
            return func(*fixed, *a[: len(args)], *shared, **const, **own)

        return torch.func.vmap(one)(*args, *part["tensors"].values())


def _first_tensor(tree: Any) -> torch.Tensor:
    from torch.utils._pytree import tree_flatten

    return next(t for t in tree_flatten(tree)[0] if isinstance(t, torch.Tensor))
