"""The benchmark generator writes a valid catalog of exactly the size asked, reproducibly.

A correctness test, not a benchmark: it never measures time. If the generator drifted
from the catalog format, every benchmark figure would silently measure error handling.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from compiler import pipeline

GENERATE = Path(__file__).resolve().parent.parent / "benchmarks" / "generate.py"


def _load_generate():
    spec = importlib.util.spec_from_file_location("benchmarks_generate", GENERATE)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while defining
    spec.loader.exec_module(module)
    return module


generate = _load_generate()


def _files(root: Path) -> dict[str, bytes]:
    return {
        path.relative_to(root).as_posix(): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def test_tiny_catalog_validates_with_the_expected_instance_count(tmp_path: Path):
    size = generate.Size(customers=3, services=4, environments=2)
    summary = generate.write_catalog(size, tmp_path / "repo")
    resolved = pipeline.run(tmp_path / "repo")
    # 3 customers x 4 customer-scoped services x 2 environments + 2 environment-scoped x 2
    # + the edges, on VMs and on Kubernetes (issue 18) x 2
    assert len(resolved.instances) == size.instances == summary["instances"] == 32
    assert len(resolved.catalog.customers) == 3
    assert {s.scope for s in resolved.catalog.services.values()} == {"customer", "environment"}
    assert {s.runtime for s in resolved.catalog.services.values()} == {"kubernetes", "vm"}


def test_a_larger_catalog_with_on_premises_hosts_validates(tmp_path: Path):
    """Hundreds of customers, some with their own hosts: the generated catalog must stay
    valid as the catalog rules tighten (hosts and addresses owned once, domains)."""
    generate.write_catalog(generate.Size(customers=300, services=6, environments=2), tmp_path)
    resolved = pipeline.run(tmp_path)
    assert any(
        host
        for customer in resolved.catalog.customers.values()
        for env in customer.environments.values()
        for host in env.hosts
    )


def test_same_seed_gives_byte_identical_files(tmp_path: Path):
    size = generate.Size(customers=30, services=12, environments=3, seed=7)
    generate.write_catalog(size, tmp_path / "a")
    assert generate.main(["--customers", "30", "--services", "12", "--environments", "3",
                          "--seed", "7", "--out", str(tmp_path / "b")]) == 0  # fmt: skip
    first, second = _files(tmp_path / "a"), _files(tmp_path / "b")
    policies = {k for k in first if k.startswith("policies/")}  # the starter pack, copied
    assert policies and len(first) - len(policies) == 30 + 12 + 2 + 2 + 3 + 2 + 1
    # ^ customers, services, environment-scoped services, the two edges, environments,
    #   plans + teams, marker
    assert first == second
    generate.write_catalog(generate.Size(30, 12, 3, seed=8), tmp_path / "c")
    assert _files(tmp_path / "c") != first


def test_refuses_to_overwrite_a_catalog_it_did_not_write(tmp_path: Path):
    (tmp_path / "catalog").mkdir()
    with pytest.raises(SystemExit, match=r"not written by generate\.py"):
        generate.write_catalog(generate.Size(1, 1, 1), tmp_path)


def test_the_emitter_benchmark_runs_and_all_emitters_agree(capsys: pytest.CaptureFixture[str]):
    """benchmarks/emit.py reads every emitter's output back and exits if one differs."""
    spec = importlib.util.spec_from_file_location("benchmarks_emit", GENERATE.with_name("emit.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main(["--repeat", "1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split("  ")[0] for line in lines[2:]] == list(module.EMITTERS)
