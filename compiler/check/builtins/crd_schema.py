"""Custom resources pass their strict CRD schemas: the shipped ones and the repository's.

Custom resources are validated by their operator's CRD, not by Kubernetes' own schemas:
the API server prunes a misspelt field of an ExternalSecret, so the secret it was to
fetch never arrives, and nothing reports it.
gitopsc ships the strict schemas of the custom resources it emits (check/crds/: ArgoCD,
External Secrets, cert-manager, OpenShift Routes, the prometheus-operator's
ServiceMonitor, PodMonitor and PrometheusRule); a repository adds the CRDs of what its
extra resources use (a Keycloak realm) in policies/crds/ (check/custom_crds.py).
Reported by the schema pass (check/manifests.py).
"""

from compiler.check.builtins.base import Builtin

BUILTIN = Builtin(
    "crd-schema",
    "Custom resources match their CRD schema",
    "high",
    "fix the patch or extra resource that produced the field",
    "schemas",
    doc=__doc__,
)
