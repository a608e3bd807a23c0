"""No apiVersion/kind the cluster's Kubernetes version does not serve.

An object whose API the cluster lacks (removed in an upgrade, like
`policy/v1beta1 PodDisruptionBudget` in 1.25) is refused by the API server, and ArgoCD's
sync of its whole Application fails. Judged against each cluster's own version, so a
cluster upgrade in `environment.yaml` shows what it breaks before it happens. Reported
by the schema pass (check/manifests.py) for a Kubernetes group with no schema.
"""

from compiler.check.builtins.base import Builtin

BUILTIN = Builtin(
    "api-removed",
    "No API the cluster's Kubernetes version lacks",
    "critical",
    "move the object to an apiVersion that the cluster's Kubernetes version serves",
    "schemas",
    doc=__doc__,
)
