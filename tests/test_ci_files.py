"""The CI files: .gitlab-ci.yml does what docs/ci.md says, and .pre-commit-hooks.yaml works.

The schema test of .gitlab-ci.yml is in test_schema.py. Here the pipeline's rules are
evaluated for typical pipelines (merge request, default branch, other branch, schedule),
with a small evaluator of the `if:` expressions and `changes:` globs the file uses, so a
rule that would skip a needed job, or run diff or publish where they do not belong, fails.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
import pytest
import typer.main
import yaml

from compiler.cli import app
from tests.conftest import EXAMPLE_PARTS, REPO, copy_example

PIPELINE: dict[str, Any] = yaml.safe_load((REPO / ".gitlab-ci.yml").read_text(encoding="utf-8"))
HOOKS: list[dict[str, Any]] = yaml.safe_load(
    (REPO / ".pre-commit-hooks.yaml").read_text(encoding="utf-8")
)
ENVIRONMENTS = sorted(p.parent.name for p in REPO.glob("environments/*/environment.yaml"))
GLOBAL_KEYS = {
    "stages",
    "workflow",
    "variables",
    "default",
    "include",
    "image",
    "services",
    "before_script",
    "after_script",
    "cache",
    "spec",
}
JOBS: dict[str, dict[str, Any]] = {
    name: job
    for name, job in PIPELINE.items()
    if name not in GLOBAL_KEYS and not name.startswith(".")
}
MR_EVENT = '$CI_PIPELINE_SOURCE == "merge_request_event"'


# ---------------------------------------------------------------- evaluating rules

_ATOM = re.compile(r'\$(\w+)(?:\s*(==|!=)\s*(?:"([^"]*)"|\$(\w+)))?')


def _holds(expression: str, variables: dict[str, str]) -> bool:
    """A GitLab `if:` of the forms the pipeline uses: `$A`, `$A == "x"`, `$A != $B`,
    joined by `&&` and `||`. Anything else fails the test rather than guessing."""
    return any(
        all(_atom(part.strip(), variables) for part in alternative.split("&&"))
        for alternative in expression.split("||")
    )


def _atom(text: str, variables: dict[str, str]) -> bool:
    match = _ATOM.fullmatch(text)
    assert match, f"the rule evaluator of this test does not know {text!r}; extend it"
    name, operator, literal, other = match.groups()
    value = variables.get(name) or None  # an empty variable counts as unset
    if operator is None:
        return value is not None
    right = literal if other is None else variables.get(other)
    return (value == right) == (operator == "==")


def _glob(pattern: str) -> re.Pattern[str]:
    """`rules:changes` matching (fnmatch with FNM_PATHNAME): `*` stays within a folder,
    `**/` spans any number of folders, including none."""
    regex = re.escape(pattern).replace(r"\*\*/", "(?:.*/)?").replace(r"\*", "[^/]*")
    return re.compile(regex + r"\Z")


@dataclass(frozen=True)
class Pipeline:
    """A pipeline's predefined variables and the files `rules:changes` sees as changed."""

    variables: dict[str, str]
    changed: tuple[str, ...] = ()


def _applies(rule: dict[str, Any], pipeline: Pipeline) -> bool:
    if "if" in rule and not _holds(rule["if"], pipeline.variables):
        return False
    if "changes" in rule:
        changes = rule["changes"]
        paths = changes["paths"] if isinstance(changes, dict) else changes
        return any(_glob(p).match(f) for p in paths for f in pipeline.changed)
    return True


def _decide(rules: list[dict[str, Any]], pipeline: Pipeline) -> dict[str, Any] | None:
    """The first rule that applies, or None when it says `never` or none applies."""
    for rule in rules:
        if _applies(rule, pipeline):
            return None if rule.get("when") == "never" else rule
    return None


def _jobs_in(pipeline: Pipeline) -> dict[str, dict[str, Any]]:
    """Job name -> the rule that added it, for the jobs GitLab would create."""
    if _decide(PIPELINE["workflow"]["rules"], pipeline) is None:
        return {}
    added = {}
    for name, job in JOBS.items():
        assert "rules" in job, f"job {name} has no rules"
        rule = _decide(job["rules"], pipeline)
        if rule is not None:
            added[name] = rule
    return added


MR = {"CI_PIPELINE_SOURCE": "merge_request_event", "CI_DEFAULT_BRANCH": "main"}
MAIN = {"CI_PIPELINE_SOURCE": "push", "CI_COMMIT_BRANCH": "main", "CI_DEFAULT_BRANCH": "main"}
BRANCH = {**MAIN, "CI_COMMIT_BRANCH": "acme-replicas"}
BRANCH_WITH_MR = {**BRANCH, "CI_OPEN_MERGE_REQUESTS": "platform/gitops!7"}
SCHEDULE = {**MAIN, "CI_PIPELINE_SOURCE": "schedule"}
TAG = {"CI_PIPELINE_SOURCE": "push", "CI_COMMIT_TAG": "v1.0.0", "CI_DEFAULT_BRANCH": "main"}
CATALOG = ("catalog/customers/acme.yaml", "rendered/prod/index.json", "docs/catalog.md")
DOCS = ("docs/ci.md", "README.md")
GATE = {"validate", "check", "compile", "slo-tests", "promtool"}

PIPELINES = [
    # (what, variables, changed files, jobs created)
    ("merge request changing the catalog", MR, CATALOG, {*GATE, "diff"}),
    ("merge request changing only docs", MR, DOCS, {"docs-only"}),
    ("merge request changing the compiler", MR, ("compiler/render/argocd.py",), {*GATE, "diff"}),
    ("merge request changing a policy", MR, ("policies/checkov/x.py",), {*GATE, "diff"}),
    ("merge request changing the pipeline", MR, (".gitlab-ci.yml",), {*GATE, "diff"}),
    (
        "merge request changing a tfvars module",
        MR,
        ("environments/prod/terraform/variables.tf",),
        {*GATE, "diff"},
    ),
    ("default branch, catalog change", MAIN, CATALOG, {*GATE, "publish"}),
    ("default branch, docs only", MAIN, DOCS, {*GATE, "publish"}),
    ("schedule on the default branch", SCHEDULE, (), {*GATE, "publish"}),
    ("branch without merge request, catalog change", BRANCH, CATALOG, GATE),
    ("branch without merge request, docs only", BRANCH, DOCS, {"docs-only"}),
    ("branch with an open merge request", BRANCH_WITH_MR, CATALOG, set()),
    ("tag", TAG, CATALOG, set()),
]


@pytest.mark.parametrize(
    ("variables", "changed", "expected"),
    [case[1:] for case in PIPELINES],
    ids=[case[0] for case in PIPELINES],
)
def test_each_kind_of_pipeline_gets_the_right_jobs(
    variables: dict[str, str], changed: tuple[str, ...], expected: set[str]
):
    assert set(_jobs_in(Pipeline(variables, changed))) == expected


def test_jobs_that_compare_with_the_base_get_a_full_clone():
    rule = _jobs_in(Pipeline(MR, CATALOG))["check"]
    assert rule.get("variables", {}).get("GIT_DEPTH") == "0"
    assert "--affected-base" in _script("check")
    assert "$CI_MERGE_REQUEST_DIFF_BASE_SHA" in _script("check")
    assert JOBS["diff"]["variables"]["GIT_DEPTH"] == "0"
    # the drift gate compares with nothing: a shallow clone will do
    assert "GIT_DEPTH" not in str(JOBS["compile"])


def test_branch_rules_compare_with_the_default_branch():
    """Without `compare_to`, `changes` is true for every file in a new branch's first
    pipeline; merge request pipelines compare with the target branch by themselves."""
    for name, job in JOBS.items():
        for rule in job["rules"]:
            if "changes" not in rule or rule.get("if") == MR_EVENT:
                continue
            assert rule["changes"].get("compare_to") == "refs/heads/$CI_DEFAULT_BRANCH", name


def _catalog_paths() -> list[str]:
    return JOBS["validate"]["rules"][0]["changes"]["paths"]


def _tracked(*parts: str) -> list[str]:
    return sorted(
        p.relative_to(REPO).as_posix()
        for part in parts
        for p in (REPO / part).rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    )


def test_changes_cover_every_input_of_gitopsc_and_no_docs():
    paths = [_glob(p) for p in _catalog_paths()]
    inputs = [
        *_tracked(*EXAMPLE_PARTS, "rendered", "compiler", "schemas"),
        "pyproject.toml",
        ".gitlab-ci.yml",
    ]
    assert [f for f in inputs if not any(p.match(f) for p in paths)] == []
    docs = [*_tracked("docs"), *(p.name for p in REPO.glob("*.md")), "benchmarks/README.md"]
    assert [f for f in docs if any(p.match(f) for p in paths)] == []


# ---------------------------------------------------------------- structure


def _script(name: str) -> str:
    job = JOBS[name]
    return "\n".join(job.get("before_script", []) + job["script"] + job.get("after_script", []))


def test_stages_run_in_the_order_of_the_spec():
    assert PIPELINE["stages"] == ["validate", "check", "compile", "diff", "publish"]
    assert {JOBS[name]["stage"] for name in ("validate", "docs-only")} == {"validate"}
    assert JOBS["check"]["stage"] == "check"
    assert [JOBS[name]["stage"] for name in ("compile", "diff", "publish")] == [
        "compile",
        "diff",
        "publish",
    ]
    assert "gitopsc compile --check" in _script("compile")


def test_publish_runs_once_per_environment():
    assert [sorted(e["ENV"]) for e in JOBS["publish"]["parallel"]["matrix"]] == [ENVIRONMENTS]
    assert '--env "$ENV"' in _script("publish")


@pytest.mark.parametrize("name", ["check", "compile"])
def test_the_gates_run_as_n_shards_by_customer_with_one_n(name: str):
    """`parallel: N` (GitLab takes no variable there) sets CI_NODE_INDEX/CI_NODE_TOTAL;
    check and compile split the same way, N written once (a YAML anchor); every
    environment in every shard, so no `--env` and no separate catalog-wide job."""
    count = JOBS[name]["parallel"]
    assert isinstance(count, int) and 1 <= count <= 200
    assert count == JOBS["check"]["parallel"]
    assert '--shard "$CI_NODE_INDEX/$CI_NODE_TOTAL"' in _script(name)
    assert "--env" not in _script(name) and "check-catalog" not in JOBS
    assert (REPO / ".gitlab-ci.yml").read_text().count("parallel: &shards") == 1


def test_publish_pushes_each_environment_alone_to_its_hydrated_branch():
    publish = JOBS["publish"]
    assert publish["rules"] == [{"if": "$CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH"}]
    assert "$ENV" in publish["resource_group"]
    assert publish["interruptible"] is False
    assert publish["variables"]["GIT_DEPTH"]
    script = _script("publish")
    assert 'gitopsc publish --env "$ENV" --branch "rendered/$ENV" --push publish' in script
    assert "git config user.name" in script and "git config user.email" in script
    assert "GITOPSC_PUSH_TOKEN" in script


def test_hydrated_branches_are_the_ones_publish_pushes():
    """An environment's Applications read `argocd.branch`; publish must push there."""
    for env in ENVIRONMENTS:
        data = yaml.safe_load((REPO / "environments" / env / "environment.yaml").read_text())
        branch = data.get("argocd", {}).get("branch")
        assert branch in (None, f"rendered/{env}"), env


def _outputs(script: str) -> list[str]:
    return [p.strip('"') for p in re.findall(r"--output\s+(\S+)", script)]


def test_check_reports_are_written_and_wired():
    artifacts = JOBS["check"]["artifacts"]
    reports = artifacts["reports"]
    assert artifacts["when"] == "always"  # failing findings are what the reports are for
    assert set(reports) == {"junit", "codequality"}
    assert set(reports.values()) <= set(_outputs(_script("check")))
    for report in reports.values():
        assert any(report.startswith(kept) for kept in artifacts["paths"])
        assert "$CI_NODE_INDEX" in report  # each shard its own file, GitLab shows them all
    shards = {
        r.replace("$CI_NODE_INDEX", str(k))
        for r in reports.values()
        for k in range(1, JOBS["check"]["parallel"] + 1)
    }
    assert len(shards) == 2 * JOBS["check"]["parallel"]


def test_the_diff_is_kept_as_an_artifact_and_posted_with_a_token():
    script = _script("diff")
    assert '--base "$CI_MERGE_REQUEST_DIFF_BASE_SHA"' in script
    assert "--format markdown --output reports/gitopsc-diff.md" in script
    assert "reports/gitopsc-diff.md" in JOBS["diff"]["artifacts"]["paths"]
    assert JOBS["diff"]["artifacts"]["when"] == "always"
    assert 'if [ -z "${GITLAB_TOKEN:-}" ]' in script
    assert "/merge_requests/{os.environ['CI_MERGE_REQUEST_IID']}/notes" in script
    assert all(rule.get("if") == MR_EVENT for rule in JOBS["diff"]["rules"])


def test_pip_is_cached_and_validators_are_not_shared_between_pipelines():
    """pip's cache is data; compiled validators are code that `check` runs, so a cache
    shared across refs could carry one branch's code into another's gate (issue 12)."""
    variables = PIPELINE["variables"]
    cached = {path for cache in PIPELINE["default"]["cache"] for path in cache["paths"]}
    assert variables["PIP_CACHE_DIR"].removeprefix("$CI_PROJECT_DIR/") in cached
    assert variables["GITOPSC_CACHE_DIR"] == ""  # off: nothing to share, nothing to plant
    assert not any("gitopsc" in path for path in cached)
    for job in JOBS.values():
        assert not any("gitopsc" in p for c in job.get("cache") or [] for p in c.get("paths", []))


# ---------------------------------------------------------------- gitopsc as the pipeline calls it

_INVOCATION = re.compile(
    r"(?:^|[;&|(]|\bthen\b|\bdo\b|\belse\b)[ \t]*gitopsc[ \t]+([a-z][\w-]*)([^;&|)\n]*)",
    re.MULTILINE,
)


def _invocations() -> list[tuple[str, str, list[str]]]:
    """(job, subcommand, options) of each `gitopsc` command in a script of the pipeline."""
    found = []
    for name, job in [*JOBS.items(), ("default", PIPELINE.get("default", {}))]:
        for key in ("before_script", "script", "after_script"):
            for command in job.get(key, []):
                for sub, rest in _INVOCATION.findall(command):
                    options = re.findall(r"(?<![\w-])(--?[a-z][\w-]*)", rest)
                    found.append((name, sub, options))
    return found


def test_every_gitopsc_command_of_the_pipeline_exists():
    """Subcommands and options as the CLI defines them today (diff, affected, publish
    and check --affected-base are part of the spec this pipeline was written against)."""
    commands = typer.main.get_command(app).commands  # type: ignore[attr-defined]
    used = _invocations()
    assert {sub for _, sub, _ in used} >= {"validate", "check", "compile", "diff", "publish"}
    missing = []
    for job, sub, options in used:
        command: click.Command | None = commands.get(sub)
        if command is None:
            missing.append(f"{job}: gitopsc {sub}")
            continue
        known = {  # a hidden option only answers an old spelling with an error
            opt
            for param in command.params
            if not getattr(param, "hidden", False)
            for opt in (*param.opts, *param.secondary_opts)
        }
        missing += [f"{job}: gitopsc {sub} {opt}" for opt in options if opt not in known]
    assert not missing, "not in the CLI: " + "; ".join(missing)


# ---------------------------------------------------------------- pre-commit

_HOOK_KEYS = {  # pre-commit's manifest schema (clientlib.MANIFEST_HOOK_DICT)
    "id",
    "name",
    "entry",
    "language",
    "alias",
    "files",
    "exclude",
    "types",
    "types_or",
    "exclude_types",
    "additional_dependencies",
    "args",
    "always_run",
    "fail_fast",
    "pass_filenames",
    "description",
    "language_version",
    "log_file",
    "minimum_pre_commit_version",
    "require_serial",
    "stages",
    "verbose",
}


_ENTRIES = {
    "gitopsc-check-catalog": ["gitopsc", "check", "--catalog-only"],  # the recommended one
    "gitopsc-validate": ["gitopsc", "validate"],
}


def _hook(hook_id: str = "gitopsc-check-catalog") -> dict[str, Any]:
    assert [hook["id"] for hook in HOOKS] == list(_ENTRIES)
    return next(hook for hook in HOOKS if hook["id"] == hook_id)


@pytest.mark.parametrize("hook_id", list(_ENTRIES))
def test_the_pre_commit_hooks_are_well_formed(hook_id: str):
    hook = _hook(hook_id)
    assert set(hook) <= _HOOK_KEYS
    assert {"id", "name", "entry", "language"} <= set(hook)
    assert hook["language"] == "python"  # pre-commit pip-installs this repository
    assert hook["pass_filenames"] is False  # gitopsc reads the whole catalog itself
    assert shlex.split(hook["entry"]) == _ENTRIES[hook_id]
    if hook_id == "gitopsc-validate":  # validate does not read policies/: not for them
        assert hook["files"] == _hook()["files"].replace("|policies", "")
        assert not re.search(hook["files"], "policies/waivers.yaml")
    assert 'gitopsc = "compiler.cli:main"' in (REPO / "pyproject.toml").read_text()


@pytest.mark.parametrize(
    ("path", "runs"),
    [
        ("catalog/services/synapse.yaml", True),
        ("catalog/customers/acme.yaml", True),
        ("catalog/plans.yaml", True),
        ("environments/prod/environment.yaml", True),
        ("policies/ingress-tls.yaml", True),
        ("policies/waivers.yaml", True),
        ("catalog/customers/new.yml", True),
        ("policies/crds/monitoring.coreos.com_servicemonitors.yaml", True),
        ("policies/crds/keycloaks.json", True),
        ("environments/prod/terraform/variables.tf", False),
        ("rendered/prod/ansible/inventory.yml", False),
        ("docs/catalog.md", False),
        ("README.md", False),
        ("compiler/cli.py", False),
        ("tests/fixtures/catalog/services/x.yaml", False),
    ],
)
def test_the_hook_runs_when_a_catalog_file_changes(path: str, runs: bool):
    assert bool(re.search(_hook()["files"], path)) is runs


def test_the_hook_matches_every_example_file():
    files = [f for f in _tracked(*EXAMPLE_PARTS) if f.endswith((".yaml", ".yml"))]
    assert files
    assert [f for f in files if not re.search(_hook()["files"], f)] == []


@dataclass
class HookRun:
    code: int
    output: str = field(repr=False)


def _run_hook(repo: Path, hook_id: str = "gitopsc-check-catalog") -> HookRun:
    """The hook's entry as pre-commit runs it: from the repository root, no file names."""
    argv = shlex.split(_hook(hook_id)["entry"])
    executable = shutil.which(argv[0], path=str(Path(sys.executable).parent)) or shutil.which(
        argv[0]
    )
    assert executable, f"{argv[0]} is not installed next to {sys.executable}"
    done = subprocess.run(
        [executable, *argv[1:]], cwd=repo, capture_output=True, text=True, timeout=300
    )
    return HookRun(done.returncode, done.stdout + done.stderr)


def test_the_hook_entry_passes_on_the_example_and_fails_on_a_broken_file(tmp_path: Path):
    repo = copy_example(tmp_path / "repo")
    for hook_id in _ENTRIES:
        valid = _run_hook(repo, hook_id)
        assert valid.code == 0, valid.output
    assert "catalog valid" in _run_hook(repo, "gitopsc-validate").output

    broken = "catalog/customers/acme.yaml"
    assert re.search(_hook()["files"], broken)
    path = repo / broken
    path.write_text(path.read_text(encoding="utf-8") + "plann: business\n", encoding="utf-8")
    invalid = _run_hook(repo)
    assert invalid.code == 2, invalid.output
    assert broken in invalid.output and "plann" in invalid.output


def test_the_recommended_hook_catches_what_validate_passes(tmp_path: Path):
    """A password pasted into a customer's all-environment layer is a finding, not a
    validation error: validate lets the commit through, the catalog-wide checks stop it
    (issue 16, item 4). A domain two customers claim, which was the example of this
    before, is refused by both now: the catalog cannot be right with it."""
    repo = copy_example(tmp_path / "repo")
    acme = repo / "catalog/customers/acme.yaml"
    text = acme.read_text(encoding="utf-8")
    assert "      SYNAPSE_MAX_UPLOAD_SIZE: 100M\n" in text
    acme.write_text(
        text.replace(
            "      SYNAPSE_MAX_UPLOAD_SIZE: 100M\n",
            "      SYNAPSE_MAX_UPLOAD_SIZE: 100M\n      DB_PWD: hunter2\n",
        ),
        encoding="utf-8",
    )
    assert _run_hook(repo, "gitopsc-validate").code == 0
    caught = _run_hook(repo)
    assert caught.code == 1, caught.output
    assert "plaintext-secret" in caught.output and "acme.yaml" in caught.output

    acme.write_text(text.replace("[acme.example]", "[acme.example, globex.example]"))
    for hook in ("gitopsc-validate", "gitopsc-check-catalog"):
        refused = _run_hook(repo, hook)
        assert refused.code == 2, refused.output
        assert "already belongs to customer 'acme'" in refused.output


def test_the_recommended_hook_refuses_what_validate_refuses_after_layers_merge(tmp_path: Path):
    """`check --catalog-only` resolves the catalog too: a Swiss customer's mail relay
    falling back to the EU host pool is found only when layers merge."""
    repo = copy_example(tmp_path / "repo")
    customer = repo / "catalog/customers/alpenverein.yaml"
    text = customer.read_text(encoding="utf-8")
    assert "        vm: {host_pool: mail-relays-ch}\n" in text
    customer.write_text(text.replace("        vm: {host_pool: mail-relays-ch}\n", ""))
    for hook_id in _ENTRIES:
        refused = _run_hook(repo, hook_id)
        assert refused.code == 2, refused.output
        assert (
            "host pool 'mail-relays' has hosts outside the customer's residency" in refused.output
        )
