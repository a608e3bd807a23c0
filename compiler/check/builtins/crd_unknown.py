"""A custom resource without a schema (not validated).

An extra resource of a kind gitopsc has no schema for is passed through unchecked;
saying so keeps "the schemas passed" from meaning more than it does. Reported by the
schema pass (check/manifests.py); informational by default.
"""

from compiler.check.builtins.base import Builtin

BUILTIN = Builtin(
    "crd-unknown",
    "Custom resources have a schema",
    "info",
    "add the CRD's JSON Schema to compiler/check/crds/ to have these objects validated",
    "schemas",
    doc=__doc__,
)
