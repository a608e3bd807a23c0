"""A custom resource without a schema (not validated).

An extra resource of a kind gitopsc has no schema for (neither shipped nor a CRD in the
repository's policies/crds/) is passed through unchecked; saying so keeps "the schemas
passed" from meaning more than it does. Reported by the schema pass
(check/manifests.py); informational by default.
"""

from compiler.check.builtins.base import Builtin

BUILTIN = Builtin(
    "crd-unknown",
    "Custom resources have a schema",
    "info",
    "put the CRD, as kubectl applies it, in policies/crds/ to have these objects validated",
    "schemas",
    doc=__doc__,
)
