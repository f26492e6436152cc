"""The import rules of DESIGN.md (1 to 7), read from the AST of every module in src/saurus.

Layers from the ground up; a module may import its own layer and those below it:

    base (errors, atomic, resources) < data < protocol < generation < reference < models
    < files < training < music < classics < plot < export < jobs < web < cli (entry and __main__ on top)

(reference/ sits below models/: the classic model runs the exercise's own functions.)
Beside the order: no cycles (function-local imports count), no function-local import
except of an optional extra or a heavy package (or a saurus module that imports one at
its top, or one of LAZY below), torch only under training/backends/torch, and the front
ends on top.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
LAYERS = [
    ("base", ("saurus", "saurus.errors", "saurus.atomic", "saurus.resources")),
    ("data", ("saurus.data",)),
    ("protocol", ("saurus.protocol",)),
    ("generation", ("saurus.generation",)),
    ("reference", ("saurus.reference",)),
    ("models", ("saurus.models",)),
    ("files", ("saurus.files",)),
    ("training", ("saurus.training",)),
    ("music", ("saurus.music",)),
    ("classics", ("saurus.classics",)),
    ("plot", ("saurus.plot",)),
    ("export", ("saurus.export",)),
    ("jobs", ("saurus.jobs",)),
    ("web", ("saurus.web",)),
    ("cli", ("saurus.cli", "saurus.entry", "saurus.__main__")),
]
# optional extras and heavy packages: the only things a function may import
HEAVY = {
    "torch", "matplotlib", "miditok", "symusic", "music21", "pretty_midi", "mido", "scipy",
    "fastapi", "uvicorn", "anyio", "starlette", "pydantic", "threadpoolctl", "readline",
}  # fmt: skip
TORCH_HOME = "saurus.training.backends.torch"
# the short allow-list of lazy saurus imports: (importer, imported prefix, why)
LAZY = (
    ("saurus.entry", "saurus.cli.main", "Ctrl-C is handled before the command line loads"),
    ("saurus.cli.music", "saurus.music", "the music extra's modules load when a music command runs"),
    ("saurus.cli.music", "saurus.classics.jazz", "the jazz exercise loads when it runs"),
)


def allowed_lazily(importer: str, target: str) -> bool:
    return any(
        importer == m and (target == t or target.startswith(t + ".") or target.startswith(t))
        for m, t, _ in LAZY
    )


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted((SRC / "saurus").rglob("*.py"))}


def absolute(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])])


def resolve(name: str) -> str:
    """A saurus module as the file it names, another package as its top-level name."""
    if not name.startswith("saurus"):
        return name.split(".")[0]
    known = modules()
    while name not in known and "." in name:
        name = name.rsplit(".", 1)[0]
    return name


def module_imports(module: str, path: Path) -> list[tuple[str, bool, int]]:
    """(imported module, whether inside a function, line) for each import of `module`;
    what only a type checker reads (if TYPE_CHECKING) is left out."""
    edges: list[tuple[str, bool, int]] = []
    package = path.name == "__init__.py"

    def visit(node: ast.AST, local: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inner = local or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
            if isinstance(child, ast.Import):
                edges.extend((resolve(a.name), local, child.lineno) for a in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = absolute(child, module, package)
                for alias in child.names:
                    full = f"{base}.{alias.name}"
                    edges.append((resolve(full if full in modules() else base), local, child.lineno))
            elif not (isinstance(child, ast.If) and is_type_checking(child)):
                visit(child, inner)

    visit(ast.parse(path.read_text(encoding="utf-8")), False)
    return [e for e in edges if e[0] != module]


@cache
def imports() -> dict[str, list[tuple[str, bool, int]]]:
    return {module: module_imports(module, path) for module, path in modules().items()}


def is_type_checking(node: ast.If) -> bool:
    return isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"


def layer_of(module: str) -> int:
    best, rank = -1, 0
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best:
                best, rank = len(prefix), index
    assert best >= 0, f"{module} is in no layer of DESIGN.md"
    return rank


@cache
def heavy_modules() -> frozenset[str]:
    """saurus modules that import an extra or a heavy package at their top, directly or
    through another saurus module: importing one inside a function is lazy on purpose."""
    heavy = {m for m, edges in imports().items() if any(t in HEAVY for t, local, _ in edges if not local)}
    while True:
        more = {
            m
            for m, edges in imports().items()
            if m not in heavy and any(t in heavy for t, local, _ in edges if not local)
        }
        if not more:
            return frozenset(heavy)
        heavy |= more


def saurus_edges() -> list[tuple[str, str, bool, int]]:
    return [
        (m, t, local, line)
        for m, edges in imports().items()
        for t, local, line in edges
        if t.startswith("saurus")
    ]


def test_every_module_is_in_a_layer() -> None:
    for module in modules():
        layer_of(module)


def test_no_import_cycles() -> None:
    graph: dict[str, set[str]] = {m: set() for m in modules()}
    for source, target, _, _ in saurus_edges():
        if target != "saurus":  # the package's lazy re-exports (saurus/__init__.py) are no edge
            graph[source].add(target)
    cycles = []
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()

    def connect(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for v in graph:
        if v not in index:
            connect(v)
    assert cycles == []


def test_function_local_imports_are_only_of_heavy_packages() -> None:
    heavy = heavy_modules()
    hidden = [
        f"{m}:{line} imports {t}"
        for m, edges in imports().items()
        for t, local, line in edges
        if local and t not in HEAVY and t not in heavy and t.startswith("saurus") and not allowed_lazily(m, t)
    ]
    assert hidden == []


def test_no_import_runs_up_the_layers() -> None:
    upward = [
        f"{m}:{line} ({LAYERS[layer_of(m)][0]}) imports {t} ({LAYERS[layer_of(t)][0]})"
        for m, t, _, line in saurus_edges()
        if t != "saurus" and layer_of(t) > layer_of(m)
    ]
    assert upward == []


@pytest.mark.parametrize(
    ("layer", "may_import"),
    [
        ("data", {"base", "data"}),
        ("generation", {"base", "data", "protocol", "generation"}),
    ],
)
def test_the_dependency_matrix(layer: str, may_import: set[str]) -> None:
    names = [name for name, _ in LAYERS]
    wrong = [
        f"{m} imports {t}"
        for m, t, _, _ in saurus_edges()
        if names[layer_of(m)] == layer and t != "saurus" and names[layer_of(t)] not in may_import
    ]
    assert wrong == []


def test_models_files_and_training_keep_to_their_side() -> None:
    names = [name for name, _ in LAYERS]
    forbidden = {
        "models": {"files", "training", "music", "web", "cli"},
        "files": {"training"},
        "training": {"cli", "web"},
    }
    wrong = [
        f"{m} imports {t}"
        for m, t, _, _ in saurus_edges()
        if names[layer_of(t)] in forbidden.get(names[layer_of(m)], set())
    ]
    assert wrong == []


def test_torch_is_imported_only_by_its_backend() -> None:
    outside = [
        f"{m}:{line}"
        for m, edges in imports().items()
        for t, _, line in edges
        if t == "torch" and not (m == TORCH_HOME or m.startswith(TORCH_HOME + "."))
    ]
    assert outside == []


def test_front_ends_are_on_top() -> None:
    wrong = []
    for m, t, _, line in saurus_edges():
        if t.startswith("saurus.cli") and not m.startswith(("saurus.cli", "saurus.entry", "saurus.__main__")):
            wrong.append(f"{m}:{line} imports the command line")
        if t.startswith("saurus.web") and not m.startswith(("saurus.web", "saurus.cli.serve")):
            wrong.append(f"{m}:{line} imports the web server")
        if t == "saurus.cli.main" and m.startswith("saurus.cli.") and m != "saurus.cli.main":
            wrong.append(f"{m}:{line} imports cli/main (command modules import cli/args)")
    assert wrong == []


BLOCKED_TORCH = """
import builtins, sys
real_import = builtins.__import__
def no_torch(name, *args, **kwargs):
    if name == "torch" or name.startswith("torch."):
        raise ImportError("torch is blocked for this test")
    return real_import(name, *args, **kwargs)
builtins.__import__ = no_torch
import importlib.util
importlib.util.find_spec = (lambda real: lambda name, *a, **k: None if name.split(".")[0] == "torch"
                            else real(name, *a, **k))(importlib.util.find_spec)
from pathlib import Path
from fastapi.testclient import TestClient
from saurus.cli.main import main
from saurus.web.app import create_app
from saurus.web.served import load_served
folder = Path(sys.argv[1])
data = folder / "names.txt"
data.write_text("\\n".join(["anna", "bella", "carla", "dora", "emma", "fiona", "greta"] * 5) + "\\n")
model = folder / "m.saurus"
assert main(["train", str(data), "-o", str(model), "--iterations", "20", "--hidden", "16", "-q"]) == 0
assert main(["sample", str(model), "-n", "3", "--seed", "1"]) == 0
served = load_served([model])
client = TestClient(create_app(served))
request = {"model": next(iter(served)), "prompt": "", "max_tokens": 5, "seed": 1}
reply = client.post("/v1/completions", json=request)
assert reply.status_code == 200, reply.text
assert "torch" not in sys.modules
print("ok without torch")
"""


def test_numpy_trains_samples_and_serves_with_torch_blocked(tmp_path: Path) -> None:
    pytest.importorskip("fastapi")
    done = subprocess.run(
        [sys.executable, "-c", BLOCKED_TORCH, str(tmp_path)], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "ok without torch" in done.stdout
