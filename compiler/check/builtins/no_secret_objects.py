"""No `Secret` in the output (use `secrets:` references).

The rendered tree is committed and published to branches: a `Secret` object in it puts
its data in git, base64 being no protection. A patch or an extra resource is the only
way to produce one; the finding points there.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator, Sequence

from compiler.catalog import Catalog, Instance
from compiler.check.builtins.base import Builtin, about
from compiler.check.findings import Finding
from compiler.check.subjects import object_location
from compiler.render import OutputFile


def check(
    catalog: Catalog,
    env: str,
    instances: Sequence[Instance],
    files: Sequence[OutputFile],
    today: datetime.date,
) -> Iterator[Finding]:
    by_id = {instance.id: instance for instance in instances}
    for file in files:
        data = file.data
        if not isinstance(data, dict):
            continue
        if data.get("kind") == "Secret" and data.get("apiVersion") == "v1":
            instance = by_id.get(file.instances[0]) if len(file.instances) == 1 else None
            yield BUILTIN.finding(
                f"{file.path}: a Secret object would put secret data in git",
                object_location(catalog, instance, ""),  # patches, extras, or enabling
                rendered=file.path,
                **(about(instance) if instance else {"environment": file.path.split("/", 1)[0]}),
            )


BUILTIN = Builtin(
    "no-secret-objects",
    "No Secret objects in the output",
    "critical",
    "use `secrets:` references (rendered as ExternalSecrets), not Secret objects",
    "environment",
    check,
    __doc__,
)
