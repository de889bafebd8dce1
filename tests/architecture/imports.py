"""The package's import graph, read from the source (no module is imported): every ``import`` of a
``mobileiqa`` module, where it stands (module level or inside a function) and the comment on its line."""

from __future__ import annotations

import ast
import io
import tokenize
from dataclasses import dataclass
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"


@dataclass(frozen=True)
class LocalImport:
    """An import inside a function body, of any module."""

    source: str
    module: str   # the top-level package imported, e.g. "mlflow"
    line: int


def local_imports(src: Path = SRC) -> list[LocalImport]:
    """Every import that stands inside a function of a project module."""
    found = []
    for name, path in modules(src).items():
        def visit(node: ast.AST, local: bool, name: str = name) -> None:
            for child in ast.iter_child_nodes(node):
                inner = local or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
                if local and isinstance(child, ast.Import):
                    found.extend(LocalImport(name, a.name.split(".")[0], child.lineno) for a in child.names)
                elif local and isinstance(child, ast.ImportFrom) and not child.level:
                    found.append(LocalImport(name, (child.module or "").split(".")[0], child.lineno))
                visit(child, inner)

        visit(ast.parse(path.read_text()), False)
    return found


@dataclass(frozen=True)
class Import:
    source: str   # importing module, e.g. "mobileiqa.stages.evaluate"
    target: str   # imported project module (the longest existing module path)
    line: int
    local: bool   # inside a function body
    comment: str  # the comment on the import's first line, "" when none


def modules(src: Path = SRC) -> dict[str, Path]:
    """``{"mobileiqa.x.y": path}`` for every module and package of the source tree."""
    out = {}
    for path in sorted(src.rglob("*.py")):
        parts = list(path.relative_to(src).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _resolve(name: str, known: dict[str, Path]) -> str | None:
    while name and name not in known:
        name = name.rpartition(".")[0]
    return name or None


def _comments(text: str) -> dict[int, str]:
    out = {}
    for tok in tokenize.generate_tokens(io.StringIO(text).readline):
        if tok.type == tokenize.COMMENT:
            out[tok.start[0]] = tok.string
    return out


def _module_imports(name: str, path: Path, known: dict[str, Path]) -> list[Import]:
    text = path.read_text()
    comments = _comments(text)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []

    def visit(node: ast.AST, local: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inner = local or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
            if isinstance(child, ast.Import):
                targets = [a.name for a in child.names]
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    parent = package
                    for _ in range(child.level - 1):
                        parent = parent.rpartition(".")[0]
                    base = f"{parent}.{base}" if base else parent
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in child.names]
            else:
                visit(child, inner)
                continue
            for target in targets:
                resolved = _resolve(target, known) if target.split(".")[0] == "mobileiqa" else None
                if resolved and resolved != name:
                    found.append(Import(name, resolved, child.lineno, local, comments.get(child.lineno, "")))

    visit(ast.parse(text), False)
    return found


def imports(src: Path = SRC) -> list[Import]:
    """Every import of a project module by a project module (a module importing itself is left out)."""
    known = modules(src)
    return [imp for name, path in known.items() for imp in _module_imports(name, path, known)]


def closure(start: str, edges: list[Import]) -> set[str]:
    """``start`` and every project module it imports, directly or through others (module level or not)."""
    graph: dict[str, set[str]] = {}
    for e in edges:
        graph.setdefault(e.source, set()).add(e.target)
    seen, todo = {start}, [start]
    while todo:
        for nxt in graph.get(todo.pop(), ()):
            # importing a.b.c runs a/__init__ and a/b/__init__ too
            parts = nxt.split(".")
            for k in range(2, len(parts) + 1):
                mod = ".".join(parts[:k])
                if mod not in seen:
                    seen.add(mod)
                    todo.append(mod)
    return seen


def cycles(nodes: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one node (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def strong(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in nodes.get(v, ()):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                out.append(sorted(group))

    for v in sorted(nodes):
        if v not in index:
            strong(v)
    return out
