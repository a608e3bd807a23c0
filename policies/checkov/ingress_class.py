"""Custom checkov check: every Ingress names its ingress class.

Our clusters run more than one ingress controller (public and internal); an Ingress
without `ingressClassName` is picked up by whichever class is the cluster default,
which may expose an internal service. Loaded by `gitopsc check` (see docs/policies.md).
"""

from checkov.common.models.enums import CheckCategories, CheckResult
from checkov.kubernetes.checks.resource.base_spec_check import BaseK8Check


class IngressClassNamed(BaseK8Check):
    def __init__(self) -> None:
        super().__init__(
            name="Ingresses name their ingress class",
            id="CKV_GITOPSC_1",
            categories=[CheckCategories.NETWORKING],
            supported_entities=["Ingress"],
        )

    def scan_spec_conf(self, conf):
        self.evaluated_keys = ["spec/ingressClassName"]
        spec = conf.get("spec") or {}
        return CheckResult.PASSED if spec.get("ingressClassName") else CheckResult.FAILED


check = IngressClassNamed()
