"""The hostile-but-valid corpus: catalog edits a careless or hostile editor of one
customer's file could make to reach another customer, the cluster or the platform
(issue 11). Every case must end in exactly the outcome its `case.yaml` states, and the
control cases beside them (benign edits of the same shape) must still pass.

A case is a folder, laid over a copy of the example repository like the invalid corpus
(tests/fixtures/invalid/): same relative paths replace, new paths add. Its `case.yaml`:

    shows: what the editor tries
    before: what happened before the tenant boundary (for the record)
    args: [check]                  # the command, default `check` (checkov off: see below)
    expect:
      exit: 0 | 1 | 2
      file: ..., line: N, message: ...          # exit 2: the located error
      findings: [{id: tenant-scope, file: ..., line: N}]   # exit 1: failing findings
                                                # (each row: fields a finding must have)

checkov is switched off in the copy: these cases are about gitopsc's own guarantees,
and checkov's findings would only add noise to the exact outcome asserted.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import copy_example, run_cli

CORPUS = Path(__file__).resolve().parent / "fixtures" / "hostile"
DATE = "2026-11-23"


def _cases() -> list[Any]:
    return [
        pytest.param(folder, yaml.safe_load((folder / "case.yaml").read_text()), id=folder.name)
        for folder in sorted(p for p in CORPUS.iterdir() if p.is_dir())
    ]


def _lay_over(case: Path, root: Path) -> None:
    for path in sorted(case.rglob("*")):
        if path.is_file() and path.name != "case.yaml":
            target = root / path.relative_to(case)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
    config = root / "policies/config.yaml"
    text = config.read_text()
    assert "checkov: {enabled: true" in text
    config.write_text(text.replace("checkov: {enabled: true", "checkov: {enabled: false"))


@pytest.mark.parametrize(("case", "spec"), _cases())
def test_hostile_case(case: Path, spec: dict[str, Any], tmp_path: Path):
    root = copy_example(tmp_path / "repo")
    _lay_over(case, root)
    args = list(spec.get("args", ["check"]))
    report = tmp_path / "findings.json"
    if args[0] == "check":
        args += ["--date", DATE, "-f", "json", "-o", str(report)]
    result = run_cli(*args, "--root", str(root))
    expect = spec["expect"]
    assert result.exception is None and "Traceback" not in result.stderr, result.stderr
    found = json.loads(report.read_text())["findings"] if report.exists() else []
    failing = [
        (f["id"], f["file"], f["line"], f["message"]) for f in found if f["outcome"] == "fail"
    ]
    assert result.exit_code == expect["exit"], f"{spec['shows']}\n{result.stderr}{failing}"
    if expect["exit"] == 2:
        located = f"{expect['file']}:{expect['line']}:"
        lines = [line for line in result.stderr.splitlines() if located in line]
        assert lines, f"no error at {located}:\n{result.stderr}"
        assert any(expect["message"] in line for line in lines), result.stderr
    if args[0] == "check" and expect["exit"] in (0, 1):
        failing = [f for f in json.loads(report.read_text())["findings"] if f["outcome"] == "fail"]
        wanted = expect.get("findings", [])
        for row in wanted:
            assert any(all(f.get(k) == v for k, v in row.items()) for f in failing), (
                f"{spec['shows']}: no failing finding {row}; failing: "
                f"{[(f['id'], f['file'], f['line']) for f in failing]}"
            )
        if not wanted:
            assert failing == [], [f["message"] for f in failing]


def test_every_case_says_what_it_shows_and_what_happened_before():
    for folder in sorted(p for p in CORPUS.iterdir() if p.is_dir()):
        spec = yaml.safe_load((folder / "case.yaml").read_text())
        assert spec.get("shows") and spec.get("before") and "exit" in spec["expect"], folder.name
