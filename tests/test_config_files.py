"""Configuration files (issue 14, item 2): `files:` per service, merged by path across
the layers, written into a ConfigMap (text as it is, data as YAML or JSON) or, with
secrets, into an ExternalSecret's template; mounted read-only by subPath; a content
hash on the pod template; every bad file a located error."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compiler import pipeline
from compiler.catalog import to_yaml
from compiler.catalog.files import MAX_BYTES, file_keys
from tests.conftest import reference, run_cli
from tests.test_emit import READERS, _same

SYNAPSE = "catalog/services/synapse.yaml"
ACME_SYNAPSE = "dev/kubernetes/dev-fra1/acme/synapse"
ACME_ELEMENT = "dev/kubernetes/dev-fra1/acme/element-web"


def _files(root: Path, env: str = "dev") -> dict[str, dict]:
    resolved = pipeline.run(root, [env])
    return {f.path: f.data for f in pipeline.render(resolved)[env]}


def _set(root: Path, relative: str, old: str, new: str) -> None:
    path = root / relative
    text = path.read_text()
    assert old in text, (relative, old)
    path.write_text(text.replace(old, new, 1))


def _add_files(root: Path, snippet: str, relative: str = SYNAPSE) -> None:
    """`snippet` (entries of `files:`, indented by four) into a service's defaults."""
    path = root / relative
    text = path.read_text()
    if "\n  files:\n" not in text:
        text = text.replace("\ndefaults:\n", "\ndefaults:\n  files:\n", 1)
    path.write_text(text.replace("\n  files:\n", "\n  files:\n" + snippet, 1))


def _line_of(root: Path, relative: str, marker: str) -> int:
    lines = (root / relative).read_text().splitlines()
    return next(number for number, line in enumerate(lines, 1) if marker in line)


def _yaml_escaped(text: str) -> str:
    """Every character beyond ASCII as a YAML escape (`\\U0001f600`: JSON's surrogate
    pairs are no YAML escape)."""
    return "".join(
        char
        if ord(char) < 128
        else f"\\U{ord(char):08x}"
        if ord(char) > 0xFFFF
        else f"\\u{ord(char):04x}"
        for char in text
    )


def _pod(files: dict[str, dict], folder: str, workload: str = "deployment") -> dict:
    name = folder.rsplit("/", 1)[1]
    return files[f"{folder}/{workload}-{name}.yaml"]["spec"]["template"]


def _mounts(template: dict) -> dict[str, dict]:
    return {m["mountPath"]: m for m in template["spec"]["containers"][0]["volumeMounts"]}


def _volumes(template: dict) -> dict[str, dict]:
    return {v["name"]: v for v in template["spec"]["volumes"]}


# --- what is rendered ------------------------------------------------------------


def test_a_content_change_changes_the_hash_annotation_and_nothing_else(example: Path):
    before = _files(example)
    _set(example, SYNAPSE, "            level: INFO\n", "            level: WARNING\n")
    after = _files(example)
    old, new = _pod(before, ACME_SYNAPSE), _pod(after, ACME_SYNAPSE)
    key = "gitopsc.dev/files-hash"
    assert old["metadata"]["annotations"][key] != new["metadata"]["annotations"][key]
    del old["metadata"]["annotations"], new["metadata"]["annotations"]
    assert old == new
    config = f"{ACME_SYNAPSE}/configmap-synapse-files.yaml"
    assert "level: WARNING" in after[config]["data"]["log.config"]
    # element-web's files did not change: neither did its pods
    assert _pod(before, ACME_ELEMENT) == _pod(after, ACME_ELEMENT)


def test_a_secret_change_of_a_file_rolls_the_pods_too(example: Path):
    """A file's secret read from another key is a new Secret, which a subPath mount
    would not follow: the hash covers where the secrets come from."""
    before = _pod(_files(example), ACME_SYNAPSE)["metadata"]["annotations"]
    _set(example, SYNAPSE, "property: signing_key}", "property: signing_key_v2}")
    after = _pod(_files(example), ACME_SYNAPSE)["metadata"]["annotations"]
    assert before != after


def test_files_are_mounted_read_only_by_sub_path_from_their_objects(example: Path):
    files = _files(example)
    pod = _pod(files, ACME_SYNAPSE)
    mounts, volumes = _mounts(pod), _volumes(pod)
    config = files[f"{ACME_SYNAPSE}/configmap-synapse-files.yaml"]
    secrets = {
        f["spec"]["target"]["name"]: f["spec"]["target"]["template"]["data"]
        for path, f in files.items()
        if path.startswith(ACME_SYNAPSE)
        and f["kind"] == "ExternalSecret"
        and "template" in f["spec"]["target"]
    }
    paths = ["/data/homeserver.yaml", "/data/log.config", "/data/signing.key"]
    for path in paths:
        mount = mounts[path]
        assert mount["readOnly"] is True and mount["subPath"] == path.rsplit("/", 1)[1]
        volume = volumes[mount["name"]]
        if "configMap" in volume:
            assert volume["configMap"]["name"] == "synapse-files"
            assert mount["subPath"] in config["data"]
        else:  # the Secret the ExternalSecret writes, with the file under its key
            assert mount["subPath"] in secrets[volume["secret"]["secretName"]]
    assert sorted(config["data"]) == ["log.config"]
    element = _pod(files, ACME_ELEMENT)
    assert _mounts(element)["/app/config.json"] == {
        "name": "files",
        "mountPath": "/app/config.json",
        "subPath": "config.json",
        "readOnly": True,
    }


def test_a_secret_bearing_file_is_only_in_the_external_secret_template(example: Path):
    files = _files(example)
    config_maps = [
        f
        for f in files.values()
        if f.get("kind") == "ConfigMap"
        # a Grafana dashboard's legends are `{{label}}` templates of Grafana's own
        and "grafana_dashboard" not in f["metadata"].get("labels", {})
    ]
    for config_map in config_maps:
        text = json.dumps(config_map)
        assert (
            "psycopg2" not in text
            and "signing" not in text
            and "{{" not in text
            and "\\u0000" not in text
        )
    [secret] = [
        f
        for path, f in files.items()
        if path.startswith(ACME_SYNAPSE + "/externalsecret-synapse-file-homeserver")
    ]
    spec = secret["spec"]
    template = spec["target"]["template"]
    assert template["engineVersion"] == "v2" and template["mergePolicy"] == "Replace"
    text = template["data"]["homeserver.yaml"]
    assert "    password: {{ .POSTGRES_PASSWORD | toJson }}\n" in text
    assert "server_name: acme.example\n" in text
    assert [d["secretKey"] for d in spec["data"]] == [
        "POSTGRES_PASSWORD",
        "REGISTRATION_SHARED_SECRET",
    ]
    assert spec["data"][0]["remoteRef"] == {"key": "dev/acme/postgres", "property": "password"}


def test_yaml_and_json_data_are_deterministic_and_read_back_as_written(example: Path):
    """The user's key order is kept; YAML 1.1 and 1.2 readers and JSON read the data
    back, odd strings and Unicode included; two runs under other hash seeds give the
    same bytes."""
    odd = {
        "zeta": "first, though z",
        "words": ["no", "yes", "on", "off", "~", "null", "0755", "1e3", "0x1f", "2026-12-31"],
        "marks": ": # - ? | > & * ! % @ ` ' \"",
        "unicode": "Zürich \u200d\u202e\ufeff\u2028\u2029 ünï \U0001f600 \u0301e",
        "spaces": "  leading and trailing  ",
        "lines": "one\ntwo\n\nthree\n",
        "number": 8008,
        "float": 0.25,
        "flag": False,
        "nested": {"list": [1, "two", {"three": 3}, []], "empty": {}},
    }
    data = _yaml_escaped(json.dumps(odd, ensure_ascii=False))  # JSON is YAML: exact
    _add_files(
        example,
        f"    /etc/odd/app.yaml:\n      data: {data}\n"
        f"    /etc/odd/app.json:\n      data: {data}\n"
        f"    /etc/odd/app.conf:\n      format: json\n      data: {data}\n",
    )
    files = _files(example)
    config = files[f"{ACME_SYNAPSE}/configmap-synapse-files.yaml"]["data"]
    for read in READERS.values():
        assert _same(odd, read(config["app.yaml"]))
    assert _same(odd, json.loads(config["app.json"]))
    assert config["app.conf"] == config["app.json"]
    assert list(json.loads(config["app.json"])) == list(odd)  # zeta stays first
    assert "\\u2028" in config["app.json"] and "\u2028" not in config["app.json"]
    root = Path(__file__).resolve().parent.parent
    outputs = []
    for seed in ("1", "2"):
        target = example.parent / f"out-{seed}"
        subprocess.run(
            [
                sys.executable,
                "-c",
                "from compiler.cli import main; main()",
                "compile",
                "--root",
                str(example),
                "--out",
                str(target),
                "-e",
                "dev",
            ],
            check=True,
            capture_output=True,
            env={**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(root)},
        )
        outputs.append((target / ACME_SYNAPSE / "manifests.yaml").read_bytes())
    assert outputs[0] == outputs[1]


def test_layers_merge_files_by_path_and_null_removes_one(example: Path):
    _set(
        example,
        "catalog/customers/acme.yaml",
        "      SYNAPSE_MAX_UPLOAD_SIZE: 100M\n",
        "      SYNAPSE_MAX_UPLOAD_SIZE: 100M\n"
        "    files:\n"
        "      /data/log.config: null\n"
        "      /data/homeserver.yaml:\n"
        "        data: {report_stats: true, max_upload_size: 100M}\n",
    )
    files = _files(example)
    assert f"{ACME_SYNAPSE}/configmap-synapse-files.yaml" not in files
    pod = _pod(files, ACME_SYNAPSE)
    assert "/data/log.config" not in _mounts(pod) and "files" not in _volumes(pod)
    [template] = [
        f["spec"]["target"]["template"]["data"]["homeserver.yaml"]
        for path, f in files.items()
        if path.startswith(ACME_SYNAPSE + "/externalsecret-synapse-file-homeserver")
    ]
    assert "report_stats: true\n" in template and template.endswith('max_upload_size: "100M"\n')
    globex = "dev/kubernetes/dev-fra1/globex/synapse/configmap-synapse-files.yaml"
    assert "log.config" in files[globex]["data"]  # another customer keeps it


def test_a_literal_dollar_brace_stays_text(example: Path):
    """`$${` writes `${`, also `$${secret.NAME}`: it is text, never a placeholder."""
    _add_files(example, '    /etc/app/env.sh:\n      content: "X=$${HOME} Y=$${secret.K}\\n"\n')
    files = _files(example)
    config = files[f"{ACME_SYNAPSE}/configmap-synapse-files.yaml"]["data"]
    assert config["env.sh"] == "X=${HOME} Y=${secret.K}\n"


def test_new_objects_validate_against_kubernetes_and_the_crd(example: Path):
    import jsonschema

    files = _files(example, "prod")
    schema = json.loads(
        reference("crd-jsonschema/external-secrets.io_externalsecret_v1.json").read_text()
    )
    validator = jsonschema.Draft202012Validator(schema)
    seen = set()
    for path, obj in files.items():
        if "/acme/synapse/" not in path or not isinstance(obj, dict) or "kind" not in obj:
            continue
        if obj["kind"] == "ExternalSecret":
            assert list(validator.iter_errors(obj)) == []
        elif obj["kind"] in ("ConfigMap", "Deployment"):
            kubernetes_validate.validate(obj, "1.31.0", strict=True)
        seen.add(obj["kind"])
    assert {"ConfigMap", "ExternalSecret", "Deployment"} <= seen


def test_file_keys_are_unique_valid_and_readable():
    keys = file_keys(
        ["/a/config.json", "/b/config.json", "/etc/..hidden", "/etc/a@b+c=d,e", "/x/app.yaml"]
    )
    assert keys["/x/app.yaml"] == "app.yaml" and keys["/etc/a@b+c=d,e"] == "a-b-c-d-e"
    assert keys["/a/config.json"] != keys["/b/config.json"]
    assert keys["/a/config.json"].endswith("-config.json")
    assert not keys["/etc/..hidden"].startswith("..")
    assert len(set(keys.values())) == len(keys)


# --- the text External Secrets fills in ---------------------------------------------

_GO_PROGRAM = r"""
package main

import (
	"bytes"
	"encoding/json"
	"os"
	"text/template"
)

// ESO's template engine v2: text/template, missingkey=error, sprig's toJson.
func main() {
	var in struct {
		Templates map[string]string `json:"templates"`
		Data      map[string]string `json:"data"`
	}
	if err := json.NewDecoder(os.Stdin).Decode(&in); err != nil {
		panic(err)
	}
	funcs := template.FuncMap{"toJson": func(v interface{}) string {
		out, _ := json.Marshal(v)
		return string(out)
	}}
	result := map[string]string{}
	for key, text := range in.Templates {
		t, err := template.New(key).Option("missingkey=error").Funcs(funcs).Parse(text)
		if err != nil {
			os.Stderr.WriteString(err.Error())
			os.Exit(3)
		}
		var out bytes.Buffer
		if err := t.Execute(&out, in.Data); err != nil {
			os.Stderr.WriteString(err.Error())
			os.Exit(4)
		}
		result[key] = out.String()
	}
	json.NewEncoder(os.Stdout).Encode(result)
}
"""


@pytest.mark.skipif(shutil.which("go") is None, reason="go is not installed")
def test_the_templates_fill_in_as_external_secrets_does(example: Path, tmp_path: Path):
    """Go's text/template (ESO's engine) turns each template into the file meant: the
    text's own braces stay text, every secret lands where its placeholder is, and in
    data it is one string whatever it holds."""
    _add_files(
        example,
        "    /etc/app/brace.txt:\n"
        '      content: "{{ .K }} {{{x}}} {${secret.K}} {{- /* c */ -}} }}\\n$${secret.K}\\n"\n'
        "      secrets:\n"
        '        K: {key: "${env.name}/${customer.name}/k", property: k}\n'
        "    /etc/app/db.json:\n"
        "      data:\n"
        '        url: "postgres://u:${secret.K}@db/x?a={{b}}"\n'
        "        password: ${secret.K}\n"
        '        list: ["{", "${secret.K}"]\n'
        "      secrets:\n"
        '        K: {key: "${env.name}/${customer.name}/k", property: k}\n'
        "    /etc/app/db.yaml:\n"
        "      data: {password: '${secret.K}', note: '{{ not an action }}'}\n"
        "      secrets:\n"
        '        K: {key: "${env.name}/${customer.name}/k", property: k}\n',
    )
    files = _files(example)
    templates = {}
    for path, obj in files.items():
        if path.startswith(ACME_SYNAPSE) and obj.get("kind") == "ExternalSecret":
            templates.update(obj["spec"]["target"].get("template", {}).get("data", {}))
    value = 'p"w: #\n{{ .x }} \u2028 ü'
    program = tmp_path / "eso.go"
    program.write_text(_GO_PROGRAM)
    env = {**os.environ, "GOCACHE": str(tmp_path / "go-cache"), "GOPATH": str(tmp_path / "go")}
    binary = tmp_path / "eso"
    subprocess.run(["go", "build", "-o", str(binary), str(program)], check=True, env=env)
    data = {"SIGNING_KEY": "ed25519 a_key", "POSTGRES_PASSWORD": value, "K": value}
    data["REGISTRATION_SHARED_SECRET"] = "s"
    completed = subprocess.run(
        [str(binary)],
        input=json.dumps({"templates": templates, "data": data}),
        capture_output=True,
        text=True,
        check=True,
    )
    out = json.loads(completed.stdout)
    assert (
        out["brace.txt"]
        == f"{{{{ .K }}}} {{{{{{x}}}}}} {{{value}}} {{{{- /* c */ -}}}} }}}}\n${{secret.K}}\n"
    )
    assert json.loads(out["db.json"]) == {
        "url": f"postgres://u:{value}@db/x?a={{{{b}}}}",
        "password": value,
        "list": ["{", value],
    }
    for read in READERS.values():
        assert read(out["db.yaml"]) == {"password": value, "note": "{{ not an action }}"}
        homeserver = read(out["homeserver.yaml"])
        assert homeserver["database"]["args"]["password"] == value
    assert out["signing.key"] == "ed25519 a_key\n"


# --- the emitter writes multi-line text as literal blocks -----------------------------

_LINES = st.text(
    alphabet=st.sampled_from([*"ab #:-|>'\"{}\t\n ", "ü", "\u2028", "\x85", "\ufeff", "\r"]),
    max_size=40,
)


@settings(
    max_examples=int(os.environ.get("GITOPSC_HYPOTHESIS_EXAMPLES", "300")),
    suppress_health_check=[HealthCheck.too_slow],
    deadline=None,
)
@given(st.dictionaries(st.sampled_from(["a", "b", "on"]), _LINES | st.lists(_LINES, max_size=3)))
def test_multi_line_strings_read_back_from_literal_blocks(data: dict[str, Any]):
    text = to_yaml({"data": data, "list": [data]})
    for read in READERS.values():
        assert _same({"data": data, "list": [data]}, read(text))


def test_a_file_in_a_config_map_is_a_literal_block():
    assert to_yaml({"data": {"f": "a: 1\n\nb: 2\n", "g": "x\ny"}}) == (
        "data:\n  f: |\n    a: 1\n\n    b: 2\n  g: |-\n    x\n    y\n"
    )
    assert to_yaml({"v": "a \nb"}) == 'v: "a \\nb"\n'  # a blank at a line's end
    assert to_yaml({"v": " a\nb"}) == 'v: " a\\nb"\n'  # the block would take it


# --- every bad file is a located error -----------------------------------------------

POSTGRES = "catalog/services/postgres.yaml"
SECRET = '        K: {key: "${env.name}/${customer.name}/k", property: k}\n'


@pytest.mark.parametrize(
    ("snippet", "relative", "marker", "message"),
    [
        (
            "    /data/../etc/passwd:\n      content: x\n",
            SYNAPSE,
            "/data/../etc/passwd",
            "has a '.' or '..' part",
        ),
        ("    /tmp/app.conf:\n      content: x\n", SYNAPSE, "/tmp/app.conf", "is inside /tmp"),
        (
            "    /var/run/postgresql/x.conf:\n      content: x\n",
            POSTGRES,
            "/var/run/postgresql/x.conf",
            "is inside writable path '/var/run/postgresql'",
        ),
        (
            "    /var/lib/postgresql/data/postgresql.conf:\n      content: x\n",
            POSTGRES,
            "/var/lib/postgresql/data/postgresql.conf:",
            "is inside the storage volume",
        ),
        (
            "    /var/run:\n      content: x\n",
            POSTGRES,
            "/var/run:",
            "would cover writable path '/var/run/postgresql'",
        ),
        (
            "    /data/homeserver.yaml/extra.conf:\n      content: x\n",
            SYNAPSE,
            "/data/homeserver.yaml/extra.conf",
            "is inside file '/data/homeserver.yaml'",
        ),
        ("    /proc/sys/x:\n      content: x\n", SYNAPSE, "/proc/sys/x", "is in /proc"),
        ("    /etc/a.conf: {format: json}\n", SYNAPSE, "/etc/a.conf", "neither content nor data"),
        (
            "    /etc/a.conf: {content: x, data: {a: 1}}\n",
            SYNAPSE,
            "/etc/a.conf",
            "a file has content or data, not both",
        ),
        (
            "    /etc/a.conf: {content: x, format: json}\n",
            SYNAPSE,
            "/etc/a.conf",
            "format applies to data",
        ),
        ("    /etc/a.conf: {data: {a: 1}}\n", SYNAPSE, "/etc/a.conf", "cannot tell from the name"),
        ("    /etc/a.json: {data: 5}\n", SYNAPSE, "/etc/a.json", "expected a list or a mapping"),
        ("    /etc/a.txt: {content: [x]}\n", SYNAPSE, "/etc/a.txt", "expected a string"),
        (
            "    /etc/a b.txt: {content: x}\n",
            SYNAPSE,
            "/etc/a b.txt",
            "'/etc/a b.txt' is not an absolute path whose parts hold only letters",
        ),
        (
            '    /etc/a.txt: {content: "${secret.POSTGRES_PASSWORD}"}\n',
            SYNAPSE,
            "/etc/a.txt",
            "'${secret.POSTGRES_PASSWORD}' is not a secret of file '/etc/a.txt'",
        ),
        (
            '    /etc/a.txt: {content: "${secret.NOPE}"}\n',
            SYNAPSE,
            "/etc/a.txt",
            "unknown reference '${secret.NOPE}'",
        ),
        (
            "    /etc/a.txt:\n      content: x\n      secrets:\n" + SECRET,
            SYNAPSE,
            "K: {key:",
            "secret 'K' of file '/etc/a.txt' is not used in it",
        ),
        (
            '    /etc/a.txt:\n      content: x\n      secrets:\n        K: {key: "prod/acme/k"}\n',
            SYNAPSE,
            "K: {key:",
            "secret key 'prod/acme/k' is not under 'dev/acme/'",
        ),
    ],
)
def test_a_bad_file_is_a_located_error(
    example: Path, snippet: str, relative: str, marker: str, message: str
):
    _add_files(example, snippet, relative)
    result = run_cli("validate", "--root", str(example))
    assert result.exit_code == 2 and result.exception is None, result.stderr
    assert "Traceback" not in result.stderr
    located = f"{relative}:{_line_of(example, relative, marker)}:"
    lines = [line for line in result.stderr.splitlines() if line.startswith(located)]
    assert any(message in line for line in lines), result.stderr


def test_a_placeholder_outside_a_file_is_a_located_error(example: Path):
    _set(
        example,
        SYNAPSE,
        "    POSTGRES_DB: synapse\n",
        "    POSTGRES_DB: synapse\n    LEAK: pw=${secret.POSTGRES_PASSWORD}\n",
    )
    result = run_cli("validate", "--root", str(example))
    assert result.exit_code == 2 and result.exception is None, result.stderr
    line = _line_of(example, SYNAPSE, "LEAK:")
    assert f"{SYNAPSE}:{line}:5: error: '${{secret.POSTGRES_PASSWORD}}' stands for a secret" in (
        result.stderr
    )


def test_the_secrets_of_one_file_come_from_one_store(example: Path):
    _set(
        example,
        "environments/dev/environment.yaml",
        "  name: vault-dev\n",
        "  name: vault-dev\n  extra_stores: [vault-extra]\n",
    )
    _set(
        example,
        SYNAPSE,
        "property: registration_shared_secret}\n    /data/signing.key",
        "property: registration_shared_secret, store: vault-extra}\n    /data/signing.key",
    )
    result = run_cli("validate", "--root", str(example), "-e", "dev")
    assert result.exit_code == 2 and result.exception is None, result.stderr
    line = _line_of(example, SYNAPSE, "      secrets:")
    assert f"{SYNAPSE}:{line}:" in result.stderr
    assert "the secrets of file '/data/homeserver.yaml' come from 2 stores" in result.stderr


def test_two_files_with_one_key_are_a_located_error(example: Path):
    keys = file_keys(["/a/c.json", "/b/c.json"])
    _add_files(
        example,
        f"    /a/c.json: {{content: x}}\n    /b/c.json: {{content: x}}\n"
        f"    /z/{keys['/a/c.json']}: {{content: x}}\n",
    )
    result = run_cli("validate", "--root", str(example))
    assert result.exit_code == 2 and result.exception is None, result.stderr
    line = _line_of(example, SYNAPSE, f"/z/{keys['/a/c.json']}")
    assert f"{SYNAPSE}:{line}:" in result.stderr and "would have the same key" in result.stderr


def test_files_over_the_size_limit_are_a_located_error(example: Path):
    big = "x" * (MAX_BYTES // 2)
    _add_files(
        example, f"    /etc/a.txt: {{content: {big}}}\n    /etc/b.txt: {{content: {big}y}}\n"
    )
    result = run_cli("validate", "--root", str(example))
    assert result.exit_code == 2 and result.exception is None, result.stderr
    line = _line_of(example, SYNAPSE, "/etc/b.txt")
    assert f"{SYNAPSE}:{line}:" in result.stderr
    assert f"more than the {MAX_BYTES // 1024} KiB allowed" in result.stderr


def test_a_vm_service_has_no_files(example: Path):
    _add_files(
        example, "    /etc/rspamd/local.d/x.conf: {content: x}\n", "catalog/services/rspamd.yaml"
    )
    result = run_cli("validate", "--root", str(example))
    assert result.exit_code == 2 and result.exception is None, result.stderr
    assert "files applies to Kubernetes services; 'rspamd' runs on VMs" in result.stderr


def test_the_example_files_pass_the_checks(example: Path):
    """No policy of the example flags the new objects (checkov is in the full check)."""
    config = example / "policies/config.yaml"
    config.write_text(
        config.read_text().replace("checkov: {enabled: true", "checkov: {enabled: false")
    )
    result = run_cli("check", "--root", str(example), "-e", "dev", "--date", "2026-11-23")
    assert result.exit_code == 0, result.stdout + result.stderr
