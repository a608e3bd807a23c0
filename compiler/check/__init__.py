"""The check wing (the check and report stages), the gate: the catalog, resolved
instances and their rendered objects in; findings (built-ins, declarative policies,
schemas, checkov), enforced per tier and waived, and reports (text, json, junit,
codequality, sarif, markdown) out.

    policies.py   policies/ (rules, config, waivers)  runner.py       runs every check
    builtins/     one module per built-in check       enforcement.py  outcomes, waivers
    findings.py   the one finding model               report.py       the report formats
    equivalence.py  a policy and its checkov twins on one subject: one finding
    result_cache.py what checkov found per namespace folder, kept per content

It reads the catalog, render and output stages (checkov is handed the exact bytes the
writer writes); review and the commands sit above it. `instance_paths` is
network-reachability's evaluation for one instance (`gitopsc explain --network`).

The public names are imported on first use (below). No module of the wing is named
like a public name it is not (hence `enforcement.py` for `enforce`): importing a
submodule binds it as the package's attribute, over the name.
"""

import importlib
from typing import Any

# Where each public name is defined. They are imported on first use (PEP 562), not here:
# this wing costs 0.1-0.15 s to import, which every command paid at start, and `compile`,
# `validate` and `diff` use only its result cache.
_DEFINED_IN = {
    "report": "compiler.check.report",
    "result_cache": "compiler.check.result_cache",
    **dict.fromkeys(
        ("BUILTINS", "ArgoObject", "Sides", "argocd_checks", "change_checks"),
        "compiler.check.builtins",
    ),
    "EnvironmentInput": "compiler.check.builtins.base",
    "NetworkPath": "compiler.check.builtins.network_reachability",
    "instance_paths": "compiler.check.builtins.network_reachability",
    **dict.fromkeys(("CheckovRun", "activate", "checks_digest"), "compiler.check.checkov_checks"),
    "compile_rules": "compiler.check.declarative",
    "enforce": "compiler.check.enforcement",
    "Finding": "compiler.check.findings",
    **dict.fromkeys(
        (
            "Config",
            "PlacedWaiver",
            "Policy",
            "PolicySet",
            "WaiverList",
            "check_references",
            "load_policies",
        ),
        "compiler.check.policies",
    ),
    "Probe": "compiler.check.probes",
    **dict.fromkeys(
        ("check_catalog", "check_environment", "known_checks"), "compiler.check.runner"
    ),
    **dict.fromkeys(("CompiledSchema", "ManifestSchemas"), "compiler.check.schemas"),
}


def __getattr__(name: str) -> Any:
    module = _DEFINED_IN.get(name)
    if module is None:
        raise AttributeError(f"module 'compiler.check' has no attribute {name!r}")
    imported = importlib.import_module(module)
    # a name that is a module of the wing (report, result_cache) is that module
    value = imported if module == f"{__name__}.{name}" else getattr(imported, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_DEFINED_IN})


__all__ = [
    "BUILTINS",
    "ArgoObject",
    "CheckovRun",
    "CompiledSchema",
    "Config",
    "EnvironmentInput",
    "Finding",
    "ManifestSchemas",
    "NetworkPath",
    "PlacedWaiver",
    "Policy",
    "PolicySet",
    "Probe",
    "Sides",
    "WaiverList",
    "activate",
    "argocd_checks",
    "change_checks",
    "check_catalog",
    "check_environment",
    "check_references",
    "checks_digest",
    "compile_rules",
    "enforce",
    "instance_paths",
    "known_checks",
    "load_policies",
    "report",
    "result_cache",
]
