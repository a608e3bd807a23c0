"""Render what AWX needs to pick up an environment's inventory (issue 15): a project,
an inventory and an inventory source, as the variables of the `infra.controller_configuration`
collection (`controller_projects`, `controller_inventories`,
`controller_inventory_sources`: lists of dicts whose keys are the options of the
`awx.awx` modules `project`, `inventory` and `inventory_source`, which its roles call).

One file per environment with an `awx:` block, `<env>/awx/controller.yml`. Every value
is chosen so that the catalog stays the only truth and a job never runs on hosts that
left it (docs/ci.md, AWX):

- the project clones the repository where ArgoCD reads it (`awx_checkout`), and updates
  on launch without a cache: an inventory source that updates on launch first updates
  its project when the project updates on launch (what replaced the source's
  `update_on_project_update`, removed from AWX in 2022, ansible/awx#12073), so every job
  reads the inventory of the latest commit;
- the inventory source overwrites hosts, groups and variables: a host, group or
  variable that left the catalog leaves AWX at the next sync, instead of lingering with
  its old values (hosts added to the inventory by hand are not the source's and stay);
- `allow_override` is off: no job template may read the inventory from another branch.
"""

from __future__ import annotations

from typing import Any

from compiler.catalog import Awx, Environment, awx_checkout
from compiler.render.ansible import inert


def source_name(env: Environment) -> str:
    """The inventory source's name (unique within its inventory, which is the
    environment's own)."""
    return f"gitopsc-{env.name}"


def project(env: Environment, awx: Awx) -> dict[str, Any]:
    """The project: environments that name one project share it, so nothing here may
    depend on the environment beyond where it reads (validate refuses two that differ)."""
    checkout = awx_checkout(env, awx)
    return {
        "name": awx.project,
        "organization": awx.organization,
        "description": f"gitopsc output: {checkout.scm_url} at {checkout.scm_branch}",
        "scm_type": "git",
        "scm_url": checkout.scm_url,
        "scm_branch": checkout.scm_branch,
        **({"credential": awx.credential_name} if awx.credential_name else {}),
        "scm_update_on_launch": True,
        "scm_update_cache_timeout": 0,
        "allow_override": False,
    }


def definitions(env: Environment, awx: Awx, repo_path: str = "rendered") -> dict[str, Any]:
    checkout = awx_checkout(env, awx, repo_path)
    # loaded as variables (`vars_files`), its strings are templated: none may run
    return inert(
        {
            "controller_projects": [project(env, awx)],
            "controller_inventories": [
                {
                    "name": awx.inventory,
                    "organization": awx.organization,
                    "description": f"hosts of the VM services of {env.name} (gitopsc)",
                }
            ],
            "controller_inventory_sources": [
                {
                    "name": source_name(env),
                    "description": f"{checkout.source_path} at {checkout.scm_branch}",
                    "inventory": awx.inventory,
                    "organization": awx.organization,
                    "source": "scm",
                    "source_project": awx.project,
                    "source_path": checkout.source_path,
                    "overwrite": True,
                    "overwrite_vars": True,
                    "update_on_launch": True,
                    "update_cache_timeout": 0,
                }
            ],
        }
    )
