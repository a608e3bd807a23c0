"""No `Secret` in the output (use `secrets:` references).

The rendered tree is committed and published to branches: a `Secret` object in it puts
its data in git, base64 being no protection. A patch or an extra resource is the only
way to produce one; the finding points there.
"""

from __future__ import annotations

from collections.abc import Iterator

from compiler.check.builtins.base import Builtin, EnvironmentInput, about_file
from compiler.check.findings import Finding
from compiler.check.subjects import object_location


def check(run: EnvironmentInput) -> Iterator[Finding]:
    catalog = run.catalog
    for file in run.files:
        data = file.data
        if not isinstance(data, dict):
            continue
        if data.get("kind") == "Secret" and data.get("apiVersion") == "v1":
            instance = run.owner(file)
            yield BUILTIN.finding(
                f"{file.path}: a Secret object would put secret data in git",
                object_location(catalog, instance, ""),  # patches, extras, or enabling
                rendered=file.path,
                **about_file(run.env, file, run.by_id),
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
