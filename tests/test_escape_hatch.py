"""The escape hatch: patches and extra resources, applied before anything is written."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import rendered_objects, run_cli

PATCHES = """
  patches:
    - target: {kind: Deployment}
      json_patch:
        - {op: add, path: /spec/template/metadata/annotations, value: {example.org/scrape: "true"}}
    - target: {kind: Service, name: element-web}
      merge_patch: {metadata: {annotations: {team: chat}}}
  extra_resources:
    - apiVersion: monitoring.coreos.com/v1
      kind: ServiceMonitor
      metadata: {name: element-web}
      spec: {endpoints: [{port: http}]}
"""


def _add_to_defaults(root: Path, text: str) -> Path:
    service = root / "catalog/services/element-web.yaml"
    service.write_text(
        service.read_text().replace("  replicas: 1\n", "  replicas: 1\n" + text.lstrip("\n"), 1)
    )
    return service


def test_patches_and_extra_resources_reach_the_output(example: Path):
    _add_to_defaults(example, PATCHES)
    result = run_cli("compile", "--env", "prod", "--root", str(example))
    assert result.exit_code == 0, result.stderr
    objects = rendered_objects(example / "rendered")
    folder = "prod/kubernetes/prod-fra1/acme/element-web"
    deployment = objects[f"{folder}/deployment-element-web.yaml"]
    assert deployment["spec"]["template"]["metadata"]["annotations"] == {
        "example.org/scrape": "true"
    }
    service = objects[f"{folder}/service-element-web.yaml"]
    assert service["metadata"]["annotations"] == {"team": "chat"}
    assert service["spec"]["ports"]  # a merge patch keeps what it does not mention
    monitor = objects[f"{folder}/servicemonitor-element-web.yaml"]
    assert monitor["metadata"]["namespace"] == "acme"
    assert objects[f"{folder}/kustomization.yaml"]["resources"] == ["manifests.yaml"]


def test_a_patch_that_fails_is_located_and_nothing_is_written(example: Path):
    service = _add_to_defaults(
        example,
        """
  patches:
    - target: {kind: Deployment}
      json_patch: [{op: remove, path: /spec/nothing}]
    - target: {kind: CronJob}
      merge_patch: {spec: {}}
""",
    )
    result = run_cli("compile", "--root", str(example))
    assert result.exit_code == 2 and result.exception is None
    lines = service.read_text().splitlines()
    errors = [line for line in result.stderr.splitlines() if ": error: " in line]
    assert any("patch on Deployment failed" in line for line in errors)
    assert any("patch matches no rendered CronJob" in line for line in errors)
    for line in errors:
        assert line.startswith("catalog/services/element-web.yaml:")
        assert (
            "target" in lines[int(line.split(":")[1]) - 1]
            or "- " in lines[int(line.split(":")[1]) - 1]
        )
    assert not (example / "rendered").exists()


def test_an_extra_resource_with_a_bad_name_is_refused(example: Path):
    _add_to_defaults(
        example,
        """
  extra_resources:
    - {apiVersion: v1, kind: ConfigMap, metadata: {name: ../../etc}}
""",
    )
    result = run_cli("compile", "--root", str(example))
    assert result.exit_code == 2 and "needs metadata.name as a DNS name" in result.stderr
    assert not (example / "rendered").exists()
