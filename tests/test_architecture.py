"""The package reads as the pipeline: wings per stage, data flowing down, nothing
reaching back up (issue 10). A change that imports a later stage from an earlier one,
or reaches past a wing's public names into another wing's modules, fails here."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
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


@pytest.mark.parametrize("wing", ["check", "pipeline"])
def test_a_public_name_loaded_on_first_use_is_the_one_its_module_defines(wing: str):
    """compiler.check and compiler.pipeline import their public names when first used
    (`__getattr__`): each resolves to its module's object, and no submodule of the
    package has the name of a public name it is not, since importing a submodule binds
    it as the package's attribute, over the name (the `check` verb and its module)."""
    package = importlib.import_module(f"compiler.{wing}")
    for name, module in package._DEFINED_IN.items():
        value = getattr(package, name)
        defined = importlib.import_module(module)
        assert value is (defined if module.endswith(f".{name}") else getattr(defined, name))
    folder = PACKAGE / wing
    submodules = {p.stem for p in folder.glob("*.py")} | {
        p.parent.name for p in folder.glob("*/__init__.py")
    }
    clashing = {
        name
        for name in package.__all__
        if name in submodules and package._DEFINED_IN.get(name) != f"compiler.{wing}.{name}"
    }
    assert clashing == set()


def test_compile_imports_neither_the_check_nor_the_review_wing():
    """They cost 0.15-0.2 s of every command's start; `compile` needs only the result
    cache (a fresh interpreter: this one has imported everything)."""
    probe = (
        "import sys; from compiler.cli import main; import compiler.commands.compile; "
        "import compiler.pipeline.compile; "
        "print(sorted(m for m in sys.modules if m.startswith(("
        "'compiler.check.builtins', 'compiler.check.runner', 'compiler.review', "
        "'compiler.pipeline.checks', 'compiler.pipeline.review', 'checkov'))))"
    )
    found = subprocess.run(
        [sys.executable, "-c", probe], check=True, capture_output=True, text=True, cwd=REPO
    ).stdout.strip()
    assert found == "[]"
