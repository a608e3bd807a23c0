"""Write a synthetic, valid gitopsc repository of a chosen size, for benchmarks.

    python benchmarks/generate.py --customers 1000 --services 10 --environments 3 \
        --out /tmp/bench [--env-services 2] [--seed 1]

Why synthetic: the example catalog has 40 instances; performance problems show up at tens
of thousands. The generated catalog uses every feature a real one does (kubernetes and vm
services, customer- and environment-scoped services, dependencies, plan presets,
`${customer.*}` / `${env.*}` / `${values.*}` interpolation, secret references, DNS,
buckets and databases, environment defaults and overrides, per-customer overrides, clusters
per residency, host pools, suspended and offboarding customers), so that every code path
of load, validate and resolve is exercised in realistic proportions.

How instances are counted: `--services S` customer-scoped services, all enabled by every
customer in every environment, plus `--env-services` (0-2, default 2) environment-scoped
ones that run once per environment:

    instances = customers x S x environments + (env_services + 2) x environments

(the 2: the edges, `edge-proxy` on VMs, which routes every ingress host, and
`kube-edge` on Kubernetes, on each cluster: issue 18).

Output is deterministic: the same arguments and seed give byte-identical files (the
random choices come from one seeded `random.Random`, files are written in a fixed order,
and nothing depends on time, locale or dict/set iteration of unordered input).

Only the standard library is used. This file is the command line and the only part that
writes to disk (and refuses to replace a folder it did not write); the catalog itself is
made by its sibling modules, which import each other by plain name (this file puts
benchmarks/ on sys.path first):

    catalog_shapes.py     Size, and the services and environments a size implies
    catalog_documents.py  catalog_texts(size): every file, path -> text; environments,
                          customers, plans and teams
    catalog_services.py   the service documents, one per archetype
    catalog_yaml.py       the YAML writer (quotes any string YAML 1.2 could misread)
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:  # run as a script, imported by run.py, or loaded by file path
    sys.path.insert(0, str(HERE))

from catalog_documents import catalog_texts  # noqa: E402  (siblings; benchmarks/ is not a package)
from catalog_shapes import Size  # noqa: E402

MARKER = ".gitopsc-benchmark.json"  # written at the root; proves the folder is ours to replace
STARTER_POLICIES = HERE.parent / "policies"


def write_catalog(size: Size, out: Path) -> dict[str, Any]:
    """Write the repository at `out` and return its summary (also saved as MARKER).

    A folder that already has catalog/ or environments/ is only replaced if a previous
    run of this script wrote it, so `--out .` can never wipe a real catalog.
    """
    out.mkdir(parents=True, exist_ok=True)
    ours = (out / MARKER).is_file()
    for part in ("catalog", "environments", "policies"):
        if (out / part).exists():
            if not ours:
                raise SystemExit(
                    f"{out / part} exists and was not written by generate.py; "
                    "choose an empty or new folder"
                )
            shutil.rmtree(out / part)
    files = catalog_texts(size)
    for relative, text in files.items():
        path = out / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text.encode("utf-8"))
    summary = {
        "customers": size.customers,
        "services": size.services,
        "env_services": size.env_services,
        "environments": size.environments,
        "seed": size.seed,
        "instances": size.instances,
        "files": len(files),
        "bytes": sum(len(text.encode("utf-8")) for text in files.values()),
    }
    # the example's starter pack (policies, config, custom checkov checks), so that a
    # benchmarked `check` evaluates what a real repository would
    shutil.copytree(
        STARTER_POLICIES, out / "policies", ignore=shutil.ignore_patterns("__pycache__")
    )
    (out / MARKER).write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, required=True)
    parser.add_argument("--services", type=int, default=10, help="customer-scoped services")
    parser.add_argument("--environments", type=int, default=3)
    parser.add_argument(
        "--env-services", type=int, default=2, help="environment-scoped services (0-2)"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    size = Size(args.customers, args.services, args.environments, args.env_services, args.seed)
    try:
        summary = write_catalog(size, args.out)
    except ValueError as error:
        parser.error(str(error))
    print(
        f"wrote {summary['files']} files ({summary['bytes']:,} bytes) to {args.out}: "
        f"{summary['instances']:,} instances = ({size.customers} customers x "
        f"{size.services} services + {size.env_services} environment-scoped"
        f"{' + the two edges' if size.edge else ''}) x "
        f"{size.environments} environments"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
