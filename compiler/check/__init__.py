"""The check wing (the check and report stages), the gate: the catalog, resolved
instances and their rendered objects in; findings (built-ins, declarative policies,
schemas, checkov), enforced per tier and waived, and reports (text, json, junit,
codequality, sarif, markdown) out.

    policies.py   policies/ (rules, config, waivers)  runner.py    runs every check
    builtins/     one module per built-in check       enforce.py   outcomes and waivers
    findings.py   the one finding model               report.py    the report formats
    equivalence.py  a policy and its checkov twins on one subject: one finding
    result_cache.py what checkov found per namespace folder, kept per content

It reads the catalog, render and output stages (checkov is handed the exact bytes the
writer writes); review and the commands sit above it. `instance_paths` is
network-reachability's evaluation for one instance (`gitopsc explain --network`).
"""

from compiler.check import report, result_cache
from compiler.check.builtins import BUILTINS, ArgoObject, Sides, argocd_checks, change_checks
from compiler.check.builtins.base import EnvironmentInput
from compiler.check.builtins.network_reachability import NetworkPath, instance_paths
from compiler.check.checkov_checks import CheckovRun, activate, checks_digest
from compiler.check.declarative import compile_rules
from compiler.check.enforce import enforce
from compiler.check.findings import Finding
from compiler.check.policies import (
    Config,
    PlacedWaiver,
    Policy,
    PolicySet,
    WaiverList,
    check_references,
    load_policies,
)
from compiler.check.probes import Probe
from compiler.check.runner import check_catalog, check_environment, known_checks
from compiler.check.schemas import CompiledSchema, ManifestSchemas

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
