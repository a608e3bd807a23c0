"""Each object passes kubernetes-validate's strict schema for its cluster's version.

A field the API server does not know is dropped or refused at apply time: a typo in a
patch (`replica: 3`) silently does nothing, a wrong type fails the sync. Strict schemas
(unknown fields fail) of the cluster's own version catch both in the merge request.
Reported by the schema pass (check/manifests.py), at most a few errors an object.
"""

from compiler.check.builtins.base import Builtin

BUILTIN = Builtin(
    "kubernetes-schema",
    "Objects match the Kubernetes schema",
    "high",
    "fix the patch or extra resource that produced the field",
    "schemas",
    doc=__doc__,
)
