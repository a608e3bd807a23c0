"""The pipeline, in order, in one place: the verbs the commands call.

    load      catalog files          -> Documents (plain data + positions)   catalog/loader.py
    validate  Documents              -> Catalog (typed, cross-checked)       catalog/validate.py
    resolve   Catalog                -> Instances (merged, interpolated)     catalog/resolver.py
    render    Instances              -> OutputFiles per environment          render/
    write     OutputFiles            -> bytes per path; the output folder    output/
    check     Instances, OutputFiles -> Findings, enforced                  check/
    report    Findings               -> text, json, junit, sarif, ...       check/report.py
    review    base revision + tree   -> affected scope, object diff         review/

One module per verb: `load` (load -> validate -> resolve, the front of every verb, with
`interpolated`: what a resolve keeps for the next),
`compile`, `checks` (the `check` verb) and `review` (compare, diff). `--shard K/N` splits
compile --check, check and diff by customer across CI jobs (catalog/shards.py). Each
stage returns problems instead of stopping; these modules decide to stop, after a stage
that found any, by raising `CatalogInvalid`. Commands call these functions, never a
stage's internals.

The check and review verbs are imported when first used (PEP 562 `__getattr__`), with
the check and review wings they stand on: 0.15-0.2 s of every command's start that
`compile`, `validate` and the listings never use. (That is why the check verb's module
is `checks`: a submodule named `check` would be bound over the `check` function as the
package's attribute whenever something imported it first.)
"""

import importlib
from typing import Any

from compiler.catalog import Shard, parse_shard
from compiler.pipeline.compile import (
    REPO_PATH,
    Emitted,
    ScansAhead,
    compile_parts,
    file_shards,
    render,
    render_bytes,
    render_parts,
)
from compiler.pipeline.fresh import (
    Inputs,
    Keys,
    LastCompile,
    forget,
    inputs_digest,
    inputs_of,
    last_compile,
    remember,
    stable_keys,
    unit_keys,
)
from compiler.pipeline.interpolated import resolve_keeping, run
from compiler.pipeline.load import (
    Resolved,
    load_catalog,
    resolve_catalog,
    select_environments,
    tune_gc,
    workers,
)

_DEFINED_IN = {
    **dict.fromkeys(
        ("Checked", "check", "check_catalog_only", "check_resolved", "load_policy_set"),
        "compiler.pipeline.checks",
    ),
    **dict.fromkeys(("Comparison", "compare", "diff"), "compiler.pipeline.review"),
}


def __getattr__(name: str) -> Any:
    module = _DEFINED_IN.get(name)
    if module is None:
        raise AttributeError(f"module 'compiler.pipeline' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_DEFINED_IN})


__all__ = [
    "REPO_PATH",
    "Checked",
    "Comparison",
    "Emitted",
    "Inputs",
    "Keys",
    "LastCompile",
    "Resolved",
    "ScansAhead",
    "Shard",
    "check",
    "check_catalog_only",
    "check_resolved",
    "compare",
    "compile_parts",
    "diff",
    "file_shards",
    "forget",
    "inputs_digest",
    "inputs_of",
    "last_compile",
    "load_catalog",
    "load_policy_set",
    "parse_shard",
    "remember",
    "render",
    "render_bytes",
    "render_parts",
    "resolve_catalog",
    "resolve_keeping",
    "run",
    "select_environments",
    "stable_keys",
    "tune_gc",
    "unit_keys",
    "workers",
]
