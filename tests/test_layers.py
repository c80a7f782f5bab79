"""The import contract: arrows point one way, and no module imports itself back through others.

    cli          (pertitle.cli)       parses and renders
    pipeline     (pertitle.pipeline)  analyze, fast, predict, verify, batch, Dask, dataset
    samples      (pertitle.samples)   synthetic clips (runs FFmpeg through the encoder side)
    encoder | ladders                 the FFmpeg/PyAV side | the pure ladder side (never each other)
    core         (pertitle.core)      errors, codec table, atomic files, version

Read from the source folders with ``ast`` (every import, including ones inside functions), so
the check needs no installed package and sees the lazy imports that hide cycles.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FOLDERS = ("core", "encoder", "ladders", "samples", "pipeline")

ALLOWED = {
    "core": {"core"},
    "encoder": {"core", "encoder"},
    "ladders": {"core", "ladders"},
    "samples": {"core", "encoder", "samples"},
    "pipeline": {"core", "encoder", "ladders", "samples", "pipeline"},
    "cli": {"core", "encoder", "ladders", "samples", "pipeline"},
}
# The pure side must not reach for anything that decodes, runs or finds FFmpeg.
FORBIDDEN_THIRD_PARTY = {"ladders": {"av", "subprocess", "imageio_ffmpeg"}, "core": {"av", "subprocess"}}


def module_files() -> dict[str, Path]:
    mods = {"pertitle.cli": REPO / "cli.py"}
    for folder in FOLDERS:
        for f in sorted((REPO / folder).glob("*.py")):
            name = f"pertitle.{folder}" if f.name == "__init__.py" else f"pertitle.{folder}.{f.stem}"
            mods[name] = f
    return mods


def imports_of(name: str, path: Path) -> set[str]:
    """Absolute names of everything ``name`` imports (relative imports resolved)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            out.add(mod)
            # "from . import commands" imports a module, not a name
            out.update(f"{mod}.{a.name}" for a in node.names)
    return out


def layer(name: str) -> str | None:
    parts = name.split(".")
    if parts[0] != "pertitle" or len(parts) < 2:
        return None
    return parts[1] if parts[1] in ALLOWED else None


def graph() -> dict[str, set[str]]:
    mods = module_files()
    g = {}
    for name, path in mods.items():
        g[name] = {m for m in imports_of(name, path) if m in mods and m != name}
    return g


def wrong_way(g: dict[str, set[str]]) -> list[str]:
    bad = []
    for src, targets in g.items():
        for dst in targets:
            if layer(dst) not in ALLOWED[layer(src)]:
                bad.append(f"{src} -> {dst}")
    return sorted(bad)


def cycles(g: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(g.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(g):
        if v not in index:
            visit(v)
    return out


def test_every_arrow_points_down():
    assert wrong_way(graph()) == []


def test_no_module_cycles():
    assert cycles(graph()) == []


def test_the_pure_side_needs_no_ffmpeg():
    mods = module_files()
    bad = []
    for name, path in mods.items():
        forbidden = FORBIDDEN_THIRD_PARTY.get(layer(name) or "", set())
        hit = {m.split(".")[0] for m in imports_of(name, path)} & forbidden
        if hit:
            bad.append(f"{name}: {sorted(hit)}")
    assert bad == []


def test_every_module_is_in_a_layer():
    assert all(layer(m) for m in module_files())


@pytest.mark.parametrize("edges,expect_wrong,expect_cycle", [
    ({"pertitle.encoder.a": {"pertitle.ladders.b"}, "pertitle.ladders.b": set()}, 1, 0),
    ({"pertitle.ladders.b": {"pertitle.encoder.a"}, "pertitle.encoder.a": set()}, 1, 0),
    ({"pertitle.core.x": {"pertitle.pipeline.y"}, "pertitle.pipeline.y": set()}, 1, 0),
    ({"pertitle.pipeline.a": {"pertitle.pipeline.b"}, "pertitle.pipeline.b": {"pertitle.pipeline.a"}}, 0, 1),
    ({"pertitle.pipeline.a": {"pertitle.encoder.b", "pertitle.ladders.c"}, "pertitle.encoder.b": set(),
      "pertitle.ladders.c": set()}, 0, 0),
])
def test_the_checker_catches_what_it_should(edges, expect_wrong, expect_cycle):
    """The contract can fail: a wrong-way arrow and a circle are both reported."""
    assert len(wrong_way(edges)) == expect_wrong
    assert len(cycles(edges)) == expect_cycle


def test_relative_imports_are_resolved(tmp_path):
    f = tmp_path / "m.py"
    f.write_text("from ..core.errors import X\nfrom . import commands\n"
                 "def g():\n    from ..ladders import model\n")
    got = imports_of("pertitle.encoder.m", f)
    assert {"pertitle.core.errors", "pertitle.encoder.commands", "pertitle.ladders.model"} <= got
