"""The house rules of the code, checked by reading it: imports point one way, shells stay thin.

Every ``import`` statement under ``src/imint`` counts, at module level or inside a function
(a late import still ties two modules together); only imports under ``if TYPE_CHECKING:``
do not, as they never run.
"""

from __future__ import annotations

import ast
from pathlib import Path

import imint
from imint.parts import BUILTIN, default_parts

SRC = Path(imint.__file__).resolve().parent
PACKAGE = "imint"
# The shells and the layers below the parts: they may use what a part registers, not its insides.
SHELLS = ("imint.cases", "imint.report", "imint.api", "imint.web", "imint.cli")
PART_PACKAGES = ("imint.faces", "imint.sites", "imint.cases", "imint.checks")


def module_name(path: Path, root: Path = SRC) -> str:
    rel = path.relative_to(root.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imported_module(base: str, name: str, root: Path) -> str:
    """``from imint.faces import cli`` imports the module imint.faces.cli; ``import detect`` names in imint.faces."""
    candidate = root.parent / f"{base}.{name}".replace(".", "/")
    return f"{base}.{name}" if candidate.with_suffix(".py").exists() or candidate.is_dir() else base


def imports_of(path: Path, root: Path = SRC) -> set[str]:
    """Every imint module ``path`` imports (as dotted names, relative imports resolved)."""
    tree = ast.parse(path.read_text(), str(path))
    me = module_name(path, root)
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child.test):
                for sub in child.orelse:
                    visit(sub)
                continue
            if isinstance(child, ast.Import):
                found.update(a.name for a in child.names if a.name.split(".")[0] == PACKAGE)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    anchor = package.split(".")[: len(package.split(".")) - child.level + 1]
                    base = ".".join([*anchor, base] if base else anchor)
                if base.split(".")[0] == PACKAGE:
                    found.update(_imported_module(base, alias.name, root) for alias in child.names)
            visit(child)

    visit(tree)
    return found


def import_graph() -> dict[str, set[str]]:
    modules = {module_name(p): p for p in SRC.rglob("*.py") if "migrations" not in p.parts}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets = set()
        for target in imports_of(path):
            # importing imint.a.b also runs imint.a's __init__: count the deepest module that exists
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != name:
                targets.add(target)
        graph[name] = targets
    return graph


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    counter = [0]

    def strong(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                strong(w)
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

    for v in sorted(graph):
        if v not in index:
            strong(v)
    return cycles


def test_the_walker_sees_late_imports_and_skips_type_checking_ones(tmp_path):
    pkg = tmp_path / "imint"
    pkg.mkdir()
    (pkg / "a.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from imint import b\n"
    )
    (pkg / "b.py").write_text("def late():\n    from imint.a import thing\n")
    assert imports_of(pkg / "a.py", pkg) == set()
    assert imports_of(pkg / "b.py", pkg) == {"imint.a"}
    assert find_cycles({"a": {"b"}, "b": {"a"}, "c": {"a"}}) == [["a", "b"]]
    assert find_cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_under_src_imint():
    cycles = find_cycles(import_graph())
    assert cycles == [], "import cycles: " + "; ".join(" <-> ".join(c) for c in cycles)


def _other_part(target: str, own: str) -> bool:
    return any(pkg != own and (target == pkg or target.startswith(pkg + ".")) for pkg in PART_PACKAGES)


def test_shells_reach_parts_only_through_what_they_register():
    """The web app, the CLI, the report and cases use ``ws.parts``: they import no module of another part."""
    graph = import_graph()
    offences = []
    for module, targets in graph.items():
        shell = next((s for s in SHELLS if module == s or module.startswith(s + ".")), None)
        if shell is None:
            continue
        own = shell if shell in PART_PACKAGES else ""
        offences += [f"{module} -> {t}" for t in sorted(targets) if _other_part(t, own)]
    assert offences == [], "shells reach into parts: " + ", ".join(offences)


def _router_and_cli_modules() -> list[Path]:
    paths = [p for p in SRC.rglob("*.py") if p.name == "cli.py" or p.name.startswith("routes")]
    return sorted({*paths, SRC / "cli.py", SRC / "cli_common.py"})


def test_no_sql_in_routers_or_cli_modules():
    offences = []
    for path in _router_and_cli_modules():
        text = path.read_text()
        for needle in ("select(", ".session()", ".query("):
            if needle in text:
                offences.append(f"{path.relative_to(SRC)}: {needle}")
    assert offences == [], "database work belongs in the library: " + ", ".join(offences)


def test_every_builtin_part_loads_and_is_named_once():
    parts = default_parts()
    assert len(parts) == len(BUILTIN)
    assert len(set(parts.names())) == len(parts)
