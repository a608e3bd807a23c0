"""The package reads as the pipeline: wings per stage, data flowing down, nothing
reaching back up (issue 10). A change that imports a later stage from an earlier one,
or reaches past a wing's public names into another wing's modules, fails here."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

from tests.conftest import REPO

PACKAGE = REPO / "compiler"
# lowest first: a module may import its own layer and the layers before it
LAYERS = ("errors", "catalog", "render", "output", "check", "review", "pipeline", "commands", "cli")
WINGS = ("catalog", "render", "output", "check", "review", "pipeline")


def layer_of(module: str) -> str:
    """`compiler.catalog.loader` -> `catalog`; `compiler.cli` -> `cli`."""
    parts = module.split(".")
    assert parts[0] == "compiler" and len(parts) > 1, module
    return parts[1].removesuffix(".py")


def imports_of(path: Path) -> list[tuple[int, str, tuple[str, ...]]]:
    """(line, module, names) for each `compiler.*` import, at any depth of the file."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names if a.name.startswith("compiler")]
            found += [(node.lineno, name, ()) for name in names]
        elif isinstance(node, ast.ImportFrom) and node.level:
            found.append((node.lineno, "<relative>", ()))
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("compiler"):
            if node.module == "compiler":  # `from compiler import pipeline`: modules
                found += [(node.lineno, f"compiler.{a.name}", ()) for a in node.names]
            else:
                found.append((node.lineno, node.module, tuple(a.name for a in node.names)))
    return found


def violations(relative: str, source_imports: list[tuple[int, str, tuple[str, ...]]]) -> list[str]:
    """What breaks the rules in one module of the package (`relative` to compiler/)."""
    own = layer_of("compiler." + relative.replace("/", ".").removesuffix(".py"))
    problems = []
    for line, module, names in source_imports:
        where = f"compiler/{relative}:{line}"
        if module == "<relative>":
            problems.append(f"{where}: relative import; write the full compiler.* path")
            continue
        target = layer_of(module)
        if LAYERS.index(target) > LAYERS.index(own):
            problems.append(f"{where}: {own} imports {module}, a later stage ({target})")
        elif target != own and target in WINGS and module != f"compiler.{target}":
            problems.append(
                f"{where}: {own} reaches into {module}; import the public names of "
                f"compiler.{target} instead"
            )
        elif target != own and target in WINGS:
            public = set(importlib.import_module(module).__all__)
            hidden = [n for n in names if n not in public]
            if hidden:
                problems.append(f"{where}: {', '.join(hidden)} not public in {module} (__all__)")
    return problems


def test_stages_import_only_earlier_stages_through_their_public_names():
    problems = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE).as_posix()
        if relative == "__init__.py":
            continue
        problems += violations(relative, imports_of(path))
    assert problems == []


@pytest.mark.parametrize(
    ("relative", "imported", "message"),
    [
        ("catalog/resolver.py", ("compiler.render", ("OutputFile",)), "a later stage (render)"),
        ("render/network.py", ("compiler.check", ("Finding",)), "a later stage (check)"),
        ("check/runner.py", ("compiler.review", ("diff",)), "a later stage (review)"),
        ("review/diff.py", ("compiler.pipeline", ("run",)), "a later stage (pipeline)"),
        ("output/writer.py", ("compiler.commands.compile", ()), "a later stage (commands)"),
        ("check/runner.py", ("compiler.catalog.resolver", ("Instance",)), "reaches into"),
        ("check/runner.py", ("compiler.catalog", ("_iso_date",)), "not public"),
    ],
)
def test_the_rule_catches_an_import_that_reaches_back_up(relative, imported, message):
    module, names = imported
    (problem,) = violations(relative, [(1, module, names)])
    assert message in problem and f"compiler/{relative}:1" in problem


def test_each_wing_says_what_comes_in_and_goes_out():
    for wing in WINGS:
        package = importlib.import_module(f"compiler.{wing}")
        doc = package.__doc__ or ""
        assert len(doc.split()) >= 20, f"compiler/{wing}/__init__.py needs a docstring"
        if wing != "pipeline":
            assert " in" in doc and " out" in doc, f"compiler/{wing}: say what comes in and out"
        exported = getattr(package, "__all__", None)
        assert exported, f"compiler/{wing} lists its public names in __all__"
        assert all(hasattr(package, name) for name in exported)
