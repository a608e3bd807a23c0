"""AWX objects that several environments name: what one environment's definitions
(render/awx.py) would do to another's when both are applied to one AWX.

- An inventory belongs to one environment: each environment's inventory source
  overwrites it (hosts and groups not in its file are deleted), so two environments
  in one inventory would delete each other's hosts at every sync.
- A project may be shared (path mode: every environment reads `rendered/<env>/` at the
  same revision of one repository), but only if each environment would define it the
  same way; otherwise applying one environment's definitions would point the others'
  inventory sources at its branch, where their inventory files are not.
"""

from __future__ import annotations

from compiler.catalog.layout import Catalog
from compiler.catalog.models import awx_checkout
from compiler.errors import Problem


def awx_problems(catalog: Catalog) -> list[Problem]:
    problems: list[Problem] = []
    inventories: dict[tuple[str, str], str] = {}
    projects: dict[tuple[str, str], tuple[str, tuple[str, str]]] = {}
    credentials: dict[tuple[str, str], tuple[str, str]] = {}
    for name, env in sorted(catalog.environments.items()):
        if env.awx is None:
            continue
        awx = env.awx
        src = catalog.source("environment", name)
        first = inventories.setdefault((awx.organization, awx.inventory), name)
        if first != name:
            problems.append(
                Problem(
                    src.locate("awx", "inventory"),
                    f"environment '{first}' already uses AWX inventory '{awx.inventory}' "
                    f"of organization '{awx.organization}'",
                    "give each environment its own awx.inventory: each one's inventory "
                    "source overwrites it, deleting the other environment's hosts",
                )
            )
        checkout = awx_checkout(env, awx)
        reads = (checkout.scm_url, checkout.scm_branch)
        other, theirs = projects.setdefault((awx.organization, awx.project), (name, reads))
        if theirs != reads:
            problems.append(
                Problem(
                    src.locate("awx", "project"),
                    f"AWX project '{awx.project}' of organization '{awx.organization}' "
                    f"reads {reads[0]} at {reads[1]} here, but {theirs[0]} at {theirs[1]} "
                    f"in environment '{other}'",
                    "give this environment its own awx.project (an environment on a "
                    "hydrated branch needs one of its own)",
                )
            )
        # a definition without a credential leaves the project's as it is (the module
        # sends only the options given): only two different ones conflict
        if awx.credential_name is not None:
            holder, first_credential = credentials.setdefault(
                (awx.organization, awx.project), (name, awx.credential_name)
            )
            if first_credential != awx.credential_name:
                problems.append(
                    Problem(
                        src.locate("awx", "credential_name"),
                        f"AWX project '{awx.project}' of organization '{awx.organization}' "
                        f"clones with credential '{awx.credential_name}' here, but with "
                        f"'{first_credential}' in environment '{holder}'",
                        "name one credential for the project in every environment that "
                        "shares it, or give this environment its own awx.project",
                    )
                )
    return problems
