"""AWX and the Ansible inventory as AWX and Ansible use them (issue 15): the definitions
under `rendered/<env>/awx/` checked by the real argument specs of the `awx.awx`
modules, pointing at an inventory file that exists where the project checks out; the
inventory's header naming only what reaches it; host variables a template can read.

The `awx.awx` collection comes from the `ansible` package on PyPI (a dev dependency);
its modules' argument specs are taken from the modules themselves, by running each
module's `main()` up to the point where it builds its `AnsibleModule`.
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import git
import pytest
import yaml
from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from compiler import pipeline
from tests.conftest import copy_example, run_cli

# infra.controller_configuration variable -> the awx.awx module its role passes each
# item to, key by key (roles/projects, inventories, inventory_sources: tasks/main.yml)
MODULES = {
    "controller_projects": "project",
    "controller_inventories": "inventory",
    "controller_inventory_sources": "inventory_source",
}
ENVIRONMENTS = ("dev", "prod", "staging")


class _Built(Exception):
    """Raised in place of building the module: its arguments are what we came for."""


def argument_spec(module: str) -> dict[str, Any]:
    """The keyword arguments `awx.awx.<module>` builds its AnsibleModule with (argument
    spec, the authentication options its base class adds, mutually_exclusive, ...)."""
    try:
        code = importlib.import_module(f"ansible_collections.awx.awx.plugins.modules.{module}")
    except ModuleNotFoundError as error:  # never a skip: the dev dependency is missing
        pytest.fail(
            f"the awx.awx collection is not installed ({error}); it ships with the `ansible` "
            "package: pip install -e '.[dev]'"
        )
    captured: dict[str, Any] = {}

    def build(self: AnsibleModule, *args: Any, **kwargs: Any) -> None:
        captured.update(kwargs)
        raise _Built

    original = AnsibleModule.__init__
    AnsibleModule.__init__ = build  # type: ignore[method-assign]
    try:
        code.main()
    except _Built:
        pass
    finally:
        AnsibleModule.__init__ = original  # type: ignore[method-assign]
    assert captured.get("argument_spec"), f"awx.awx.{module} built no module"
    return captured


def validate(module: str, item: dict[str, Any]) -> list[str]:
    """What awx.awx.<module> would refuse in `item` (unknown options, wrong types or
    choices, missing required ones), and any value it would have to convert."""
    spec = argument_spec(module)
    validator = ArgumentSpecValidator(
        spec["argument_spec"],
        **{
            key: spec[key]
            for key in (
                "mutually_exclusive",
                "required_together",
                "required_one_of",
                "required_if",
                "required_by",
            )
            if key in spec
        },
    )
    result = validator.validate(item)
    errors = list(result.error_messages)
    converted = {k: result.validated_parameters.get(k) for k in item}
    errors += [
        f"{key}: {item[key]!r} would be converted to {converted[key]!r}"
        for key in item
        if converted[key] != item[key] or type(converted[key]) is not type(item[key])
    ]
    return errors


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = copy_example(tmp_path_factory.mktemp("awx") / "repo")
    result = run_cli("compile", "--root", str(root))
    assert result.exit_code == 0, result.stderr
    return root


def _definitions(root: Path, env: str) -> dict[str, Any]:
    return yaml.safe_load((root / "rendered" / env / "awx" / "controller.yml").read_text())


# ---------------------------------------------------------------- the definitions


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_definitions_validate_against_the_awx_collection_argument_specs(compiled: Path, env: str):
    definitions = _definitions(compiled, env)
    assert set(definitions) == set(MODULES)
    for variable, module in MODULES.items():
        assert definitions[variable], variable
        for item in definitions[variable]:
            assert validate(module, item) == [], (variable, item)


def test_the_argument_specs_are_real_and_refuse_a_broken_definition(compiled: Path):
    source = _definitions(compiled, "prod")["controller_inventory_sources"][0]
    assert "argument_spec" in argument_spec("inventory_source")
    assert validate("inventory_source", {**source, "overwrite": "sometimes"})
    assert validate("inventory_source", {**source, "source": "git"})  # not a choice
    assert validate("inventory_source", {**source, "update_on_project_update": True})  # gone
    assert validate("inventory_source", {k: v for k, v in source.items() if k != "inventory"})
    assert validate("project", {"name": "x", "scm_update_cache_timeout": "0"})  # a string


def test_definitions_have_the_structure_infra_controller_configuration_reads(compiled: Path):
    """LOUD: infra.controller_configuration (and its successor infra.aap_configuration)
    ships on Ansible Galaxy only, in no PyPI package, so its roles cannot be run here.
    This checks the structure their documentation gives (README and roles/*/tasks/main.yml
    of redhat-cop/infra.controller_configuration): the variables `controller_projects`,
    `controller_inventories` and `controller_inventory_sources`, each a list of dicts,
    whose keys the roles pass one by one to the awx.awx modules validated above; the
    roles require `name` (and an inventory's `organization`, a source's `inventory`)
    and their dispatch applies projects, then inventories, then inventory sources, so
    a source's project and inventory must be defined beside it."""
    required = {
        "controller_projects": {"name"},
        "controller_inventories": {"name", "organization"},
        "controller_inventory_sources": {"name", "inventory"},
    }
    for env in ENVIRONMENTS:
        definitions = _definitions(compiled, env)
        for variable, keys in required.items():
            assert isinstance(definitions[variable], list)
            for item in definitions[variable]:
                assert isinstance(item, dict) and keys <= set(item), (variable, item)
        projects = {(p["organization"], p["name"]) for p in definitions["controller_projects"]}
        inventories = {
            (i["organization"], i["name"]) for i in definitions["controller_inventories"]
        }
        for source in definitions["controller_inventory_sources"]:
            assert (source["organization"], source["source_project"]) in projects
            assert (source["organization"], source["inventory"]) in inventories
            assert source["source"] == "scm"


# ---------------------------------------------------------------- AWX finds the inventory


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_in_path_mode_awx_reads_the_compiled_inventory_at_the_catalog_revision(
    compiled: Path, env: str
):
    environment = yaml.safe_load((compiled / "environments" / env / "environment.yaml").read_text())
    definitions = _definitions(compiled, env)
    [project] = definitions["controller_projects"]
    [source] = definitions["controller_inventory_sources"]
    assert project["scm_url"] == environment["argocd"]["repo_url"]
    assert project["scm_branch"] == environment["argocd"]["revision"]
    assert project["credential"] == environment["awx"]["credential_name"]
    # the project's checkout is the repository: the file is where compile wrote it
    assert source["source_path"] == f"rendered/{env}/ansible/inventory.yml"
    assert (compiled / source["source_path"]).is_file()
    assert source["inventory"] == environment["awx"]["inventory"]


def test_on_a_hydrated_branch_awx_reads_the_published_inventory(tmp_path: Path):
    """prod on its hydrated branch: the project checks out what `gitopsc publish`
    wrote, and the inventory file is at the source path on that branch."""
    root = copy_example(tmp_path / "repo")
    env_file = root / "environments/prod/environment.yaml"
    text = env_file.read_text()
    text = text.replace("  revision: main\n", "  revision: main\n  branch: rendered/prod\n", 1)
    text = text.replace("  project: gitops\n", "  project: gitops-prod\n", 1)
    env_file.write_text(text)
    assert run_cli("compile", "--root", str(root)).exit_code == 0
    repo = git.Repo.init(root, initial_branch="main")
    with repo.config_writer() as config:
        config.set_value("user", "name", "Test")
        config.set_value("user", "email", "test@example.net")
    repo.git.add(A=True)
    repo.index.commit("catalog")
    published = run_cli(
        "publish", "--root", str(root), "--env", "prod", "--branch", "rendered/prod"
    )
    assert published.exit_code == 0, published.stderr
    definitions = _definitions(root, "prod")
    [project] = definitions["controller_projects"]
    [source] = definitions["controller_inventory_sources"]
    assert project["name"] == source["source_project"] == "gitops-prod"
    assert project["scm_branch"] == "rendered/prod"
    on_branch = repo.git.show(f"{project['scm_branch']}:{source['source_path']}")
    assert on_branch + "\n" == (root / "rendered/prod/ansible/inventory.yml").read_text()
    # the other environments keep the shared project, in path mode
    assert _definitions(root, "dev")["controller_projects"][0]["scm_branch"] == "main"


def _set_awx(root: Path, env: str, old: str, new: str) -> None:
    path = root / "environments" / env / "environment.yaml"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


def test_two_environments_in_one_inventory_are_refused_at_the_second(tmp_path: Path):
    root = copy_example(tmp_path / "repo")
    _set_awx(root, "staging", "  inventory: staging\n", "  inventory: prod\n")
    result = run_cli("validate", "--root", str(root))
    assert result.exit_code == 2 and result.exception is None
    assert "environments/staging/environment.yaml:" in result.stderr
    assert "environment 'prod' already uses AWX inventory 'prod'" in result.stderr


def test_a_shared_project_must_read_one_branch(tmp_path: Path):
    root = copy_example(tmp_path / "repo")
    _set_awx(root, "prod", "  revision: main\n", "  revision: main\n  branch: rendered/prod\n")
    result = run_cli("validate", "--root", str(root))
    assert result.exit_code == 2 and result.exception is None
    assert "environments/prod/environment.yaml:" in result.stderr
    assert "AWX project 'gitops' of organization 'Platform' reads" in result.stderr
    assert "at rendered/prod here" in result.stderr


# ---------------------------------------------------------------- the inventory


def _prod(root: Path) -> dict[str, bytes]:
    return pipeline.render_bytes(pipeline.run(root, ["prod"]))


def _add_customer(root: Path, template: str, name: str) -> None:
    text = (root / "catalog/customers" / f"{template}.yaml").read_text()
    text = text.replace(f"name: {template}", f"name: {name}", 1)
    text = text.replace(f"{template}.example", f"{name}.example")
    (root / "catalog/customers" / f"{name}.yaml").write_text(text)


def test_a_kubernetes_only_customer_leaves_the_inventory_byte_identical(tmp_path: Path):
    """A customer with no VM service and nothing an edge routes (only postgres)."""
    root = copy_example(tmp_path / "repo")
    before = _prod(root)
    _add_customer(root, "initech", "newco")
    newco = root / "catalog/customers/newco.yaml"
    text = newco.read_text().replace("status: suspended", "status: active")
    prod = text.index("  prod:\n")
    newco.write_text(text[:prod] + "  prod:\n    services:\n      postgres:\n")
    after = _prod(root)
    assert any("/newco/" in path for path in after)  # the customer did render
    assert after["prod/ansible/inventory.yml"] == before["prod/ansible/inventory.yml"]
    assert after["prod/awx/controller.yml"] == before["prod/awx/controller.yml"]


def test_a_routed_customer_changes_only_the_edges_part_of_the_inventory(tmp_path: Path):
    """Issue 18: the edges route every customer's ingress hosts, so a Kubernetes
    customer with synapse changes the edge hosts' table and file, and nothing else."""
    root = copy_example(tmp_path / "repo")
    before = _prod(root)["prod/ansible/inventory.yml"]
    _add_customer(root, "initech", "newco")  # synapse and friends, no VM service
    newco = root / "catalog/customers/newco.yaml"
    newco.write_text(newco.read_text().replace("status: suspended", "status: active"))
    after = _prod(root)["prod/ansible/inventory.yml"]
    assert "catalog/customers/newco.yaml" in after.split(b"\n", 1)[0].decode()

    def without_edges(content: bytes) -> dict:
        hosts = yaml.safe_load(content)["all"]["hosts"]
        for entry in hosts.values():
            entry.pop("gitopsc_edge_routes", None)
            entry.pop("gitopsc_files", None)
        return hosts

    assert after != before
    assert without_edges(after) == without_edges(before)
    assert b"matrix.newco.example" in after


def test_a_vm_customer_changes_the_inventory_and_its_header(tmp_path: Path):
    root = copy_example(tmp_path / "repo")
    before = _prod(root)["prod/ansible/inventory.yml"]
    _add_customer(root, "acme", "newco")  # acme's postfix-relay on the relay pool
    after = _prod(root)["prod/ansible/inventory.yml"]
    assert after != before
    header = after.split(b"\n", 1)[0].decode()
    assert "catalog/customers/newco.yaml" in header
    assert "catalog/services/coturn.yaml" not in header  # neither VM nor routed: no source
    assert "newco:" in after.decode()


def _debug(
    inventory: Path, expression: str, cwd: Path | None = None
) -> tuple[str, subprocess.CompletedProcess[str]]:
    """The real `ansible` (this venv's, with its ansible-core) printing `expression` on
    the host that serves globex, as a template in a role would read it."""
    beside = Path(sys.executable).parent / "ansible"
    executable = str(beside) if beside.exists() else shutil.which("ansible") or "ansible"
    completed = subprocess.run(
        [executable, "-i", str(inventory), "mx1.globex.example", "-m",
         "ansible.builtin.debug", "-a", f"msg={expression}", "-o"],
        capture_output=True,
        text=True,
        check=True,
        cwd=cwd,
        env={**os.environ, "ANSIBLE_INVENTORY_UNPARSED_FAILED": "true", "NO_COLOR": "1"},
    )  # fmt: skip
    return executable, completed


def test_instances_are_keyed_for_jinja_and_resolve_in_a_real_template(compiled: Path):
    """`postfix-relay` would be a subtraction in Jinja; the key is `postfix_relay`, and
    the real `ansible` resolves the dotted path on the host that serves globex."""
    inventory = compiled / "rendered/prod/ansible/inventory.yml"
    executable, completed = _debug(
        inventory, "{{ gitopsc_instances.postfix_relay.globex.postfix_myhostname }}"
    )
    assert '"msg": "mx.chat.example.net"' in completed.stdout, completed.stdout
    listed = subprocess.run(
        [str(Path(executable).parent / "ansible-inventory"), "-i", str(inventory), "--list"],
        capture_output=True,
        text=True,
        check=True,
    )
    hostvars = json.loads(listed.stdout)["_meta"]["hostvars"]
    for host in hostvars.values():
        for service, owners in host["gitopsc_instances"].items():
            assert "-" not in service and all("-" not in owner for owner in owners)
    relay = hostvars["relay1.zrh1.mail.example.net"]["gitopsc_instances"]["postfix_relay"]
    assert "helvetia_bank" in relay  # helvetia-bank, readable as relay.helvetia_bank


def test_the_awx_modules_take_the_definitions_as_docs_ci_applies_them(compiled: Path, tmp_path):
    """The playbook of docs/ci.md run by the real ansible-playbook with the real awx.awx
    modules, against a closed port on the loopback: every item passes the modules'
    own argument checks and fails only where the module first calls AWX (an unknown key
    would fail before, as the last task shows)."""
    import ansible_collections

    where = [Path(p) for p in ansible_collections.__path__ if (Path(p) / "awx/awx").is_dir()]
    assert where, "the awx.awx collection is not installed: pip install -e '.[dev]'"
    playbook = tmp_path / "apply.yml"
    tasks = [
        {"name": module, f"awx.awx.{module}": "{{ item }}", "loop": f"{{{{ {variable} }}}}"}
        for variable, module in MODULES.items()
    ]
    tasks.append(
        {
            "name": "broken",
            "awx.awx.inventory_source": "{{ item | combine({'update_on_project_update': true}) }}",
            "loop": "{{ controller_inventory_sources }}",
        }
    )
    play = {
        "hosts": "localhost",
        "gather_facts": False,
        "vars_files": [str(compiled / "rendered/prod/awx/controller.yml")],
        "module_defaults": {
            "group/awx.awx.controller": {
                "controller_host": "http://127.0.0.1:9",
                "request_timeout": 2,
            }
        },
        "tasks": [{**task, "ignore_errors": True} for task in tasks],
    }
    playbook.write_text(yaml.safe_dump([play]))
    executable = str(Path(sys.executable).parent / "ansible-playbook")
    completed = subprocess.run(
        [executable, "-i", "localhost,", "-c", "local", str(playbook)],
        capture_output=True,
        text=True,
        env={
            **os.environ,
            "ANSIBLE_COLLECTIONS_PATH": str(where[0].parent),
            "ANSIBLE_STDOUT_CALLBACK": "json",
            "ANSIBLE_PYTHON_INTERPRETER": sys.executable,
        },
        timeout=300,
    )
    report = json.loads(completed.stdout)
    messages = {
        task["task"]["name"]: [r["msg"] for r in task["hosts"]["localhost"]["results"]]
        for task in report["plays"][0]["tasks"]
    }
    assert set(messages) == {*MODULES.values(), "broken"}, completed.stderr
    for module in MODULES.values():
        assert messages[module] and all("Connection refused" in m for m in messages[module]), (
            module,
            messages[module],
        )
    assert all("Unsupported parameters" in m for m in messages["broken"]), messages["broken"]


def test_a_shared_project_cannot_clone_with_two_credentials(tmp_path: Path):
    root = copy_example(tmp_path / "repo")
    _set_awx(root, "staging", "  credential_name: gitops-read", "  credential_name: someone-elses")
    result = run_cli("validate", "--root", str(root))
    assert result.exit_code == 2 and result.exception is None
    assert "environments/staging/environment.yaml:" in result.stderr
    assert "clones with credential 'someone-elses' here, but with 'gitops-read'" in result.stderr
    # leaving it out is no conflict: the module then leaves the project's credential be
    _set_awx(
        root,
        "staging",
        "  credential_name: someone-elses",
        "  scm_url: https://gitlab.example.net/platform/gitops.git",
    )
    assert run_cli("validate", "--root", str(root)).exit_code == 0


def test_jinja_in_a_customers_vars_reaches_the_role_as_text_not_as_a_command(tmp_path):
    """A customer's `vm.vars` value holding Jinja (`{{ lookup('pipe', ...) }}`) would run
    a command on the controller that reaches every relay when a template reads it; it is
    written `!unsafe`, so the real `ansible` prints it as written and runs nothing."""
    root = copy_example(tmp_path / "repo")
    marker = tmp_path / "ran"
    customer = root / "catalog/customers/globex.yaml"
    hostile = f"{{{{ lookup('pipe', 'touch {marker}') }}}}{{# x #}}"
    customer.write_text(
        customer.read_text().replace(
            "postfix_tls_security_level: encrypt", f'postfix_tls_security_level: "{hostile}"'
        )
    )
    result = run_cli("compile", "--root", str(root))
    assert result.exit_code == 0, result.stderr
    inventory = root / "rendered/prod/ansible/inventory.yml"
    assert "!unsafe" in inventory.read_text()
    _, completed = _debug(
        inventory,
        "{{ gitopsc_instances.postfix_relay.globex.postfix_tls_security_level }}",
        cwd=tmp_path,
    )
    assert not marker.exists(), "the customer's Jinja ran on the controller"
    assert json.dumps(hostile)[1:-1] in completed.stdout, completed.stdout
