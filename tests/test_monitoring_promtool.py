"""The rendered rules through their real consumer, promtool (issue 18, item 1).

`promtool check rules` on every rule group gitopsc renders for the example (the `spec`
of each PrometheusRule, as the operator hands it to Prometheus), and `promtool test
rules` on the unit tests `compiler.render.slo_tests` generates from a rendered rule:
each burn-rate alert fires on a synthetic series burning at its rate, stays quiet below
it, and resolves when the burn stops. Each check is shown able to fail: a broken
expression fails `check rules`, a wrong threshold fails the unit tests.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from compiler import pipeline
from compiler.render.slo_tests import RULES_FILE, unit_tests
from tests.conftest import tool


@pytest.fixture(scope="module")
def rules(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    """Every PrometheusRule of the example, by path, rendered once for the module."""
    from tests.conftest import copy_example

    root = copy_example(tmp_path_factory.mktemp("example"))
    resolved = pipeline.run(root, None)
    return {
        f.path: f.data
        for files in pipeline.render(resolved).values()
        for f in files
        if f.data.get("kind") == "PrometheusRule"
    }


def _check(promtool: str, folder: Path, groups: list[dict]) -> subprocess.CompletedProcess:
    path = folder / "rules.yaml"
    path.write_text(yaml.safe_dump({"groups": groups}, sort_keys=False))
    return subprocess.run(
        [promtool, "check", "rules", str(path)], capture_output=True, text=True, check=False
    )


def test_promtool_checks_every_rendered_rule_group(rules: dict[str, dict], tmp_path: Path):
    promtool = tool("promtool")
    assert len(rules) >= 10, sorted(rules)  # synapse and mta-sts across customers and envs
    for index, (path, rule) in enumerate(sorted(rules.items())):
        folder = tmp_path / str(index)
        folder.mkdir()
        done = _check(promtool, folder, rule["spec"]["groups"])
        assert done.returncode == 0, f"{path}\n{done.stdout}{done.stderr}"
        count = sum(len(g["rules"]) for g in rule["spec"]["groups"])
        assert f"SUCCESS: {count} rules found" in done.stdout, done.stdout


def test_a_broken_expression_fails_promtool_check(rules: dict[str, dict], tmp_path: Path):
    promtool = tool("promtool")
    groups = next(iter(rules.values()))["spec"]["groups"]
    broken = yaml.safe_load(yaml.safe_dump(groups))
    first = broken[0]["rules"][0]
    first["expr"] = first["expr"].replace("sum(rate(", "sum(rate((", 1)  # a parenthesis short
    done = _check(promtool, tmp_path, broken)
    assert done.returncode != 0
    assert "parse error" in done.stdout + done.stderr


def _distinct(rules: dict[str, dict]) -> dict[str, dict]:
    """One rule per shape of SLOs (service, names, budgets, windows): the others differ
    only in the tenant's labels, which the unit tests carry over as they are."""
    found: dict[tuple, dict] = {}
    for path, rule in sorted(rules.items()):
        shape = tuple(
            (group["name"], entry["record"], entry["expr"] if "budget" in entry["record"] else "")
            for group in rule["spec"]["groups"]
            if group["name"].endswith("-budget")
            for entry in group["rules"]
            if entry["record"] in ("slo:error_budget:ratio",) or "sli_error" in entry["record"]
        )
        found.setdefault((path.split("/")[-2], shape), rule)
    return {f"{r['metadata']['namespace']}-{r['metadata']['name']}": r for r in found.values()}


def _unit_test(promtool: str, folder: Path, rule: dict) -> subprocess.CompletedProcess:
    rules_file, tests_file = unit_tests(rule)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / RULES_FILE).write_text(yaml.safe_dump(rules_file, sort_keys=False))
    (folder / "tests.yaml").write_text(yaml.safe_dump(tests_file, sort_keys=False))
    return subprocess.run(
        [promtool, "test", "rules", "tests.yaml"],
        capture_output=True,
        text=True,
        check=False,
        cwd=folder,
    )


def test_generated_unit_tests_prove_each_burn_rate_alert(rules: dict[str, dict], tmp_path: Path):
    promtool = tool("promtool")
    chosen = _distinct(rules)
    # a 30-day SLO at two objectives (a plan layer tightens one) and a 28-day one
    assert len(chosen) >= 3, sorted(chosen)
    for name, rule in sorted(chosen.items()):
        _, tests = unit_tests(rule)
        slos = {t["name"].split(":")[0] for t in tests["tests"]}
        assert len(tests["tests"]) == 8 * len(slos)  # 4 alerts x (fires, stays quiet)
        firing = [a for t in tests["tests"] for a in t["alert_rule_test"] if a["exp_alerts"]]
        assert firing, name  # the tests expect alerts, not only silence
        done = _unit_test(promtool, tmp_path / name.replace("/", "-"), rule)
        assert done.returncode == 0, f"{name}\n{done.stdout}{done.stderr}"
        assert "SUCCESS" in done.stdout


@pytest.mark.parametrize(
    ("wrong", "failing"),
    [
        # the page alert asks for too much: the 18x burn no longer fires it
        ("20", "18x over 1h (alert at 14.4x) fires"),
        # too little: the 11.52x burn, below the workbook's rate, pages
        ("10", "11.52x over 1h (alert at 14.4x) stays quiet"),
    ],
)
def test_a_wrong_threshold_fails_the_unit_tests(
    rules: dict[str, dict], tmp_path: Path, wrong: str, failing: str
):
    promtool = tool("promtool")
    rule = next(iter(_distinct(rules).values()))
    rules_file, tests_file = unit_tests(rule)  # from the rule as rendered
    # then the rule goes wrong: its 1h page alert's threshold
    changed = 0
    for group in rules_file["groups"]:
        for entry in group["rules"]:
            if entry.get("labels", {}).get("long_window") == "1h":
                assert "(14.4 *" in entry["expr"]
                entry["expr"] = entry["expr"].replace("(14.4 *", f"({wrong} *")
                changed += 1
    assert changed
    # the cases about the 1h alert are enough to show it (and keep the test short)
    tests_file["tests"] = [t for t in tests_file["tests"] if " over 1h " in t["name"]]
    (tmp_path / RULES_FILE).write_text(yaml.safe_dump(rules_file, sort_keys=False))
    (tmp_path / "tests.yaml").write_text(yaml.safe_dump(tests_file, sort_keys=False))
    done = subprocess.run(
        [promtool, "test", "rules", "tests.yaml"],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )
    output = done.stdout + done.stderr
    assert done.returncode != 0, output
    assert "FAILED" in output and failing in output, output
