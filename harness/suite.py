"""Suite TOML -> validated spec -> cells.

A suite names, per track, which datasets and methods to cross and how many seeds. Validation
happens before anything runs: every error names the file, the key and the allowed values (with
close-match suggestions), so a typo costs a second, not a half-finished run.

Format::

    [suite]
    name = "quick"
    scale = "quick"          # smoke | quick | paper
    seeds = 3

    [[run]]
    track = "igr"
    datasets = ["mnist[n_train=1000]"]
    methods = ["constant-lr[lr=0.1]", { name = "constant-lr", lr = [0.2, 0.5] }]  # lists = grid
    seeds = 3                # optional
    runnable = true          # optional; false + reason lists paper-scale work not yet runnable
    [run.settings]           # optional: overrides of the track's Settings
    steps = 100
"""

from __future__ import annotations

import dataclasses
import itertools
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import tomllib

from harness.engine.cell import DEFAULT_PRECISION, Cell, canonical_json
from harness.errors import HarnessError, unknown_name
from harness.registry import REGISTRY, Entry, format_selector, parse_selector

SCALES = ("smoke", "quick", "paper")
SUITE_KEYS = {"name", "scale", "seeds", "description"}
RUN_KEYS = {"track", "datasets", "methods", "seeds", "settings", "runnable", "reason", "note"}
MAX_CELLS = 20000


@dataclass
class Block:
    """One validated [[run]] block."""

    track: str
    datasets: list[tuple[Entry, dict[str, Any]]]
    methods: list[tuple[Entry, dict[str, Any]]]
    seeds: int
    settings: dict[str, Any]
    runnable: bool = True
    reason: str = ""


@dataclass
class Suite:
    name: str
    path: str
    scale: str
    seeds: int
    description: str = ""
    blocks: list[Block] = field(default_factory=list)

    def not_runnable(self) -> list[Block]:
        return [b for b in self.blocks if not b.runnable]


def builtin_suites() -> list[str]:
    return sorted(p.name[:-5] for p in resources.files("harness.suites").iterdir() if p.name.endswith(".toml"))


def _read(name_or_path: str) -> tuple[str, dict[str, Any]]:
    path = Path(name_or_path)
    if path.suffix == ".toml" or path.exists():
        if not path.exists():
            raise HarnessError(f"suite file {name_or_path} does not exist")
        text, label = path.read_text(encoding="utf-8"), str(path)
    else:
        res = resources.files("harness.suites") / f"{name_or_path}.toml"
        if not res.is_file():
            raise unknown_name("suite", name_or_path, builtin_suites())
        text, label = res.read_text(encoding="utf-8"), f"suite {name_or_path!r} ({name_or_path}.toml)"
    try:
        return label, tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise HarnessError(f"{label}: malformed TOML: {exc}") from None


def _positive_int(value: Any, where: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise HarnessError(f"{where} must be a positive integer, got {value!r}")
    return value


def _str_list(value: Any, where: str, allow_tables: bool = False) -> list[Any]:
    if not isinstance(value, list) or not value:
        raise HarnessError(f"{where} must be a non-empty list, got {value!r}")
    for i, v in enumerate(value):
        if not (isinstance(v, str) or (allow_tables and isinstance(v, dict))):
            kinds = "a selector string or a table" if allow_tables else "a selector string"
            raise HarnessError(f"{where}[{i}] must be {kinds}, got {v!r}")
    return value


def expand_selector(kind: str, spec: Any, track: str, where: str) -> list[tuple[Entry, dict[str, Any]]]:
    """A selector string or {name=..., param=[grid]} table -> [(entry, resolved params)]."""
    if isinstance(spec, str):
        name, raw = parse_selector(spec, where)
        grid = {k: [v] for k, v in raw.items()}
    else:
        spec = dict(spec)
        name = spec.pop("name", None)
        if not isinstance(name, str):
            raise HarnessError(f'{where}: a table entry needs name = "..."')
        grid = {k: (v if isinstance(v, list) else [v]) for k, v in spec.items()}
        for k, vs in grid.items():
            if not vs:
                raise HarnessError(f"{where}: parameter {k!r} has an empty grid")
    entry = REGISTRY.get(kind, name, track, where)
    keys = sorted(grid)
    out = []
    for combo in itertools.product(*(grid[k] for k in keys)):
        out.append((entry, entry.resolve_params(dict(zip(keys, combo)), where)))
    return out


def _settings(track: Entry, given: Any, where: str) -> dict[str, Any]:
    """The block's settings over the track's defaults (a track entry's params are its Settings)."""
    if given is None:
        given = {}
    if not isinstance(given, dict):
        raise HarnessError(f"{where} must be a table, got {given!r}")
    params = track.params
    unknown = [k for k in given if k not in params]
    if unknown:
        raise unknown_name(f"setting of track {track.name!r}", unknown[0], params, where)
    return {n: (p.coerce(given[n], where) if n in given else p.default) for n, p in params.items()}


def load_suite(name_or_path: str) -> Suite:
    """Read and validate a suite (built-in name or path) without expanding it into cells."""
    label, data = _read(name_or_path)
    for key in data:
        if key not in ("suite", "run"):
            raise unknown_name("top-level key", key, ["suite", "run"], label)
    head = data.get("suite", {})
    if not isinstance(head, dict):
        raise HarnessError(f"{label}: [suite] must be a table")
    for key in head:
        if key not in SUITE_KEYS:
            raise unknown_name("key in [suite]", key, SUITE_KEYS, label)
    scale = head.get("scale", "quick")
    if scale not in SCALES:
        raise unknown_name("scale", str(scale), SCALES, f"{label}: suite.scale")
    seeds = _positive_int(head.get("seeds", 3), f"{label}: suite.seeds")
    suite = Suite(str(head.get("name", Path(name_or_path).stem)), label, scale, seeds, str(head.get("description", "")))
    runs = data.get("run", [])
    if not isinstance(runs, list) or not runs:
        raise HarnessError(f"{label}: needs at least one [[run]] block")
    for i, block in enumerate(runs):
        suite.blocks.append(_block(block, f"{label}: run[{i}]", seeds))
    return suite


def _block(block: Any, where: str, default_seeds: int) -> Block:
    if not isinstance(block, dict):
        raise HarnessError(f"{where} must be a table")
    for key in block:
        if key not in RUN_KEYS:
            raise unknown_name("key", key, RUN_KEYS, where)
    if "track" not in block:
        raise HarnessError(f"{where}: missing key 'track'")
    track_entry = REGISTRY.get("track", str(block["track"]), where=f"{where}.track")
    name = track_entry.name
    datasets = [
        x
        for j, d in enumerate(_str_list(block.get("datasets"), f"{where}.datasets", allow_tables=True))
        for x in expand_selector("dataset", d, name, f"{where}.datasets[{j}]")
    ]
    methods = [
        x
        for j, m in enumerate(_str_list(block.get("methods"), f"{where}.methods", allow_tables=True))
        for x in expand_selector("method", m, name, f"{where}.methods[{j}]")
    ]
    runnable = block.get("runnable", True)
    if not isinstance(runnable, bool):
        raise HarnessError(f"{where}.runnable must be true or false")
    return Block(
        track=name,
        datasets=datasets,
        methods=methods,
        seeds=_positive_int(block.get("seeds", default_seeds), f"{where}.seeds"),
        settings=_settings(track_entry, block.get("settings"), f"{where}.settings"),
        runnable=runnable,
        reason=str(block.get("reason", "")),
    )


def check_methods(cells: list[Cell]) -> None:
    """Validate each distinct (track, settings) of ``cells`` with ``Track.check_settings`` and each
    distinct (track, method, parameters) with ``Track.check_method``.

    Called for the cells about to run only: the check may import the method's module (it builds
    the recipe), which a fully cached run, a report or ``list`` never needs.
    """
    seen: set[tuple[str, str, str]] = set()
    tracks: dict[str, Any] = {}
    for cell in cells:
        if cell.track not in tracks:
            tracks[cell.track] = REGISTRY.get("track", cell.track).load()()
        settings_key = (cell.track, "", canonical_json(cell.settings))
        if settings_key not in seen:
            seen.add(settings_key)
            try:
                tracks[cell.track].check_settings(tracks[cell.track].settings(cell))
            except HarnessError as exc:
                raise HarnessError(f"track {cell.track!r}, settings {canonical_json(cell.settings)}: {exc}") from None
        key = (cell.track, cell.method, canonical_json(cell.method_params))
        if key in seen:
            continue
        seen.add(key)
        try:
            tracks[cell.track].check_method(REGISTRY.get("method", cell.method, cell.track), cell.method_params)
        except HarnessError as exc:
            raise HarnessError(f"track {cell.track!r}, method {cell.method_selector}: {exc}") from None


def check_claims(tracks: set[str]) -> None:
    """Build each track's claims once, so a malformed declaration (an unknown kind, a superiority or
    trend claim without its smallest effect, a smallest effect above the published one) is one line
    before any cell runs, not a failure after the suite's compute is spent."""
    for name in sorted(tracks):
        try:
            REGISTRY.get("track", name).load()().claims()
        except HarnessError as exc:
            raise HarnessError(f"track {name!r}: {exc}") from None


def _with_baseline(track: str, methods: list[tuple[Entry, dict]]) -> list[tuple[Entry, dict]]:
    base = REGISTRY.baseline(track)
    if not any(e.name == base.name for e, _ in methods):
        methods = [(base, base.resolve_params({}))] + methods
    return methods


def expand(
    suite: Suite,
    tracks: list[str] | None = None,
    methods: list[str] | None = None,
    datasets: list[str] | None = None,
    seeds: int | None = None,
) -> list[Cell]:
    """Cells of the runnable blocks, filtered by the CLI's --track/--method/--dataset/--seeds.

    ``methods``/``datasets`` are selectors: a bare name keeps the suite's entries of that name,
    a selector with parameters (``egr[mu=0.25]``) replaces them with exactly that one. The
    track's baseline is always included so every method has its comparison.
    """
    if tracks:
        known = {b.track for b in suite.blocks}
        for t in tracks:
            REGISTRY.get("track", t, where="--track")
            if t not in known:
                raise HarnessError(
                    f"--track {t!r}: suite {suite.name!r} has no block for it (it has: {', '.join(sorted(known))})"
                )
    planned = sum(
        len(b.datasets) * (len(b.methods) + 1) * (seeds or b.seeds)
        for b in suite.blocks
        if b.runnable and (not tracks or b.track in tracks)
    )
    if planned > MAX_CELLS:
        raise HarnessError(
            f"{suite.path}: grid expands to about {planned} cells (more than {MAX_CELLS}); split the suite"
        )
    cells: list[Cell] = []
    seen: set[str] = set()
    matched_methods: set[str] = set()
    for block in suite.blocks:
        if not block.runnable or (tracks and block.track not in tracks):
            continue
        mlist = _filter(block.methods, methods, "method", block.track, matched_methods)
        if methods and not mlist:
            continue
        dlist = _filter(block.datasets, datasets, "dataset", block.track, None)
        if not dlist:
            continue
        mlist = _with_baseline(block.track, mlist)
        n_seeds = seeds or block.seeds
        track_version = REGISTRY.get("track", block.track).version
        for (dent, dparams), (ment, mparams), seed in itertools.product(dlist, mlist, range(n_seeds)):
            cell = Cell(
                track=block.track,
                dataset=dent.name,
                dataset_params=dparams,
                method=ment.name,
                method_params=mparams,
                settings=block.settings,
                seed=seed,
                scale=suite.scale,
                versions={"track": track_version, "dataset": dent.version, "method": ment.version},
                method_label=format_selector(ment.name, mparams, {k: p.default for k, p in ment.params.items()}),
                dataset_label=format_selector(dent.name, dparams, {k: p.default for k, p in dent.params.items()}),
            )
            if cell.key not in seen:
                seen.add(cell.key)
                cells.append(cell)
            if len(cells) > MAX_CELLS:
                raise HarnessError(f"{suite.path}: grid expands to more than {MAX_CELLS} cells; split the suite")
    if methods:
        missing = [m for m in methods if parse_selector(m)[0] not in matched_methods]
        if missing:
            all_methods = {e.name for e in REGISTRY.entries("method")}
            name = parse_selector(missing[0])[0]
            if name not in all_methods:
                raise unknown_name("method", name, all_methods, "--method")
            raise HarnessError(f"--method {missing[0]!r}: no runnable block of suite {suite.name!r} has its track")
    if not cells:
        raise HarnessError(f"suite {suite.name!r}: the filters select no cells")
    return cells


def with_precision(cells: list[Cell], precision: str) -> list[Cell]:
    """The cells run in ``precision`` (``--precision``): a different run key unless it is fp32."""
    if precision == DEFAULT_PRECISION:
        return cells
    return [dataclasses.replace(c, precision=precision) for c in cells]


def _filter(
    items: list[tuple[Entry, dict]], selectors: list[str] | None, kind: str, track: str, matched: set[str] | None
) -> list[tuple[Entry, dict]]:
    if not selectors:
        return items
    out: list[tuple[Entry, dict]] = []
    for sel in selectors:
        name, raw = parse_selector(sel, f"--{kind}")
        try:
            entry = REGISTRY.get(kind, name, track, f"--{kind}")
        except HarnessError:
            if kind == "dataset" and name not in {e.name for e in REGISTRY.entries("dataset")}:
                raise
            continue
        if matched is not None:
            matched.add(name)
        if raw:
            out.append((entry, entry.resolve_params(raw, f"--{kind} {sel}")))
        else:
            out.extend(x for x in items if x[0].name == name)
            if not any(x[0].name == name for x in items):
                out.append((entry, entry.resolve_params({})))
    return out
