"""`plaintext-secret` measured on labelled corpora (tests/fixtures/secrets/: our own, and
the adversarial one of the issue 16 review), and findings scoped so that a waiver for one
customer, service, environment, file or finding covers exactly that one's findings. The
corpora's precision and recall are printed in the terminal summary of every pytest run
(tests/conftest.py)."""

from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from compiler import pipeline
from compiler.check.builtins.base import about_file
from compiler.check.builtins.plaintext_secret import scan
from compiler.render import render_environment
from tests.conftest import REPO, SECRET_CORPUS_SCORE, copy_example, run_cli

CORPUS = REPO / "tests/fixtures/secrets/corpus.yaml"
ADVERSARIAL = REPO / "tests/fixtures/secrets/adversarial.yaml"
# held out from the first round's tuning (its 13 misses and false alarms were fixed by
# families of rules), and 40 cases in families none of the others had, labelled before
HELDOUT = REPO / "tests/fixtures/secrets/heldout.yaml"
FAMILIES = REPO / "tests/fixtures/secrets/families.yaml"
# the third round: a second held-out corpus (its 20 misses and false alarms fixed by
# families of rules; the Google Maps key relabelled, see its case), and 30 cases in
# families none of the others had, labelled before the tuning
HELDOUT2 = REPO / "tests/fixtures/secrets/heldout2.yaml"
FAMILIES3 = REPO / "tests/fixtures/secrets/families3.yaml"
DATE = datetime.date(2026, 11, 23)


def _cases(*files: Path) -> list[dict[str, Any]]:
    """The cases of `files` (all corpora by default); a missing file fails loudly."""
    return [
        case
        for file in files or (CORPUS, ADVERSARIAL, HELDOUT, FAMILIES, HELDOUT2, FAMILIES3)
        for case in YAML(typ="safe").load(file.read_text())["cases"]
    ]


def test_corpus_precision_and_recall_are_100_percent(request: pytest.FixtureRequest):
    cases = _cases()
    found = [(case, bool(list(scan(case["data"])))) for case in cases]
    true_pos = sum(1 for case, hit in found if hit and case["secret"])
    false_pos = [case for case, hit in found if hit and not case["secret"]]
    missed = [case for case, hit in found if not hit and case["secret"]]
    precision = true_pos / (true_pos + len(false_pos)) if true_pos + len(false_pos) else 0.0
    recall = true_pos / (true_pos + len(missed)) if true_pos + len(missed) else 0.0
    score = (
        f"plaintext-secret on {len(cases)} labelled values "
        f"({sum(c['secret'] for c in cases)} secrets): "
        f"precision {precision:.1%}, recall {recall:.1%}"
    )
    request.config.stash[SECRET_CORPUS_SCORE] = score
    assert precision == 1.0 and recall == 1.0, (
        f"{score}\nfalse alarms: {[(c['why'], c['data']) for c in false_pos]}"
        f"\nmissed: {[(c['why'], c['data']) for c in missed]}"
    )


def test_corpus_is_balanced_and_holds_the_issue_cases():
    cases = _cases(CORPUS)
    secrets = [c for c in cases if c["secret"]]
    assert len(cases) >= 60 and len(secrets) >= 30 and len(cases) - len(secrets) >= 30
    text = CORPUS.read_text()
    for value in (
        "orbital-dynamics.example",
        "matrix01.nordsee-klinikum.example",
        "synapse-pg-primary.stadtwerke-nord.svc",
        "postfix_smtpd_sasl_auth_enable",
        "OAUTH_ISSUER",
        "KC_SPI_AUTHENTICATOR_",
        "DB_PWD: hunter2",
        "https://admin:hunter2@db",
        "-----BEGIN PRIVATE KEY-----",
        "{name: DB_PASSWORD, value: hunter2}",
        "admin:hunter2@db.internal",
    ):
        assert value in text, f"the corpus lacks the issue's case {value!r}"
    whys = " ".join(str(c["why"]) for c in cases if not c["secret"])
    for kind in ("host", "URL", "UUID", "digest", "base64", "feature flag"):
        assert kind in whys, f"the corpus has no look-alike of kind {kind!r}"


def _findings(root: Path) -> list:
    config = root / "policies/config.yaml"
    text = config.read_text()
    assert "checkov: {enabled: true" in text, "the example's config.yaml changed its checkov line"
    config.write_text(text.replace("checkov: {enabled: true", "checkov: {enabled: false"))
    return pipeline.check(root, None, DATE).findings


def _add(root: Path, relative: str, old: str, new: str) -> None:
    path = root / relative
    text = path.read_text()
    assert old in text, f"{relative}: {old!r} not found"
    path.write_text(text.replace(old, new, 1))


def _acme_secrets_in_two_layers(root: Path) -> None:
    """A pasted DB_PWD in acme's all-environment layer (5) and in its prod layer (6)."""
    _add(root, "catalog/customers/acme.yaml", "100M\n", "100M\n      DB_PWD: hunter2\n")
    _add(
        root,
        "catalog/customers/acme.yaml",
        "        replicas: 3\n",
        "        replicas: 3\n        config: {DB_PWD: hunter3}\n",
    )


def test_secret_findings_carry_environment_customer_and_service(tmp_path: Path):
    """Each layer's line belongs to whom the layer is written for: a customer's
    service override (layer 5), its per-environment override (layer 6), an
    environment's service override (layer 4), a service's defaults."""
    root = copy_example(tmp_path / "repo")
    _acme_secrets_in_two_layers(root)
    _add(
        root,
        "environments/prod/environment.yaml",
        "rspamd_workers: 8\n",
        "rspamd_workers: 8\n        controller_password: hunter4\n",
    )
    _add(
        root,
        "catalog/services/element-web.yaml",
        "  config:\n",
        "  config:\n    admin_password: hunter5\n",
    )
    found = {
        f.location.line if f.location else None: (f.environment, f.customer, f.service)
        for f in _findings(root)
        if f.id == "plaintext-secret"
    }
    assert sorted(found.values(), key=str) == sorted(
        [
            (None, "acme", "synapse"),
            ("prod", "acme", "synapse"),
            ("prod", None, "rspamd"),
            (None, None, "element-web"),
        ],
        key=str,
    ), found


def test_a_scoped_waiver_covers_exactly_its_findings(tmp_path: Path):
    """The same pasted password in two customers' prod synapse: a waiver for acme's synapse in
    prod waives acme's and no other; it is used, so not reported unused."""
    root = copy_example(tmp_path / "repo")
    _add(
        root,
        "catalog/customers/acme.yaml",
        "        replicas: 3\n",
        "        replicas: 3\n        config: {DB_PWD: hunter2}\n",
    )
    prod = "  prod:\n    services:\n      postgres:\n      synapse:\n"
    _add(root, "catalog/customers/initech.yaml", prod, prod + "        config: {DB_PWD: hunter2}\n")
    (root / "policies/waivers.yaml").write_text(
        "waivers:\n"
        "  - policy: plaintext-secret\n    environment: prod\n    customer: acme\n"
        "    service: synapse\n    reason: rotated, being moved to the store\n"
        "    owner: chat-platform\n    expires: 2026-12-31\n"
    )
    findings = _findings(root)
    secrets = {f.customer: f.outcome for f in findings if f.id == "plaintext-secret"}
    assert secrets == {"acme": "waived", "initech": "fail"}, secrets
    assert not [f for f in findings if f.id == "waiver-unused"]


def test_a_namespace_shared_file_carries_its_customer():
    """Findings about a customer namespace's shared objects (its default-deny policy, a
    Secret a patch would add there) carry the customer, so a customer's waiver fits."""
    resolved = pipeline.run(REPO, ["prod"])
    catalog = resolved.catalog
    instances = [i for i in resolved.instances.values() if i.environment == "prod"]
    by_id = {i.id: i for i in instances}
    files, _ = render_environment(catalog, catalog.environments["prod"], instances, "rendered")
    shared = [
        f
        for f in files
        if len(f.instances) > 1 and {by_id[i].customer for i in f.instances} == {"acme"}
    ]
    assert shared, "the example has no shared file of acme's namespace"
    for file in shared:
        subject = about_file("prod", file, by_id)
        assert subject["customer"] == "acme" and "instance" not in subject, (file.path, subject)
    mixed = next(f for f in files if len({by_id[i].customer for i in f.instances}) > 1)
    assert "customer" not in about_file("prod", mixed, by_id), mixed.path


def test_each_secret_finding_is_in_exactly_one_shard(tmp_path: Path):
    """A secret in acme's prod layer is reported by the prod shard (`check --env prod`)
    and not by `--catalog-only`; one in acme's all-environment layer the other way round:
    CI's shards together report each once."""
    root = copy_example(tmp_path / "repo")
    _acme_secrets_in_two_layers(root)
    _findings(root)  # turns checkov off in the copy
    prod = pipeline.check(root, ["prod"], DATE).findings
    catalog_only = pipeline.check_catalog_only(root, DATE).findings

    def lines(findings: list) -> list[tuple[str | None, int]]:
        return [(f.environment, f.location.line) for f in findings if f.id == "plaintext-secret"]

    assert lines(prod) == [("prod", 35)], lines(prod)
    assert lines(catalog_only) == [(None, 13)], lines(catalog_only)


def test_the_adversarial_corpus_is_whole():
    """The review's 74 values stay in the corpus, none trimmed to make the score."""
    cases = _cases(ADVERSARIAL)
    assert (len(cases), sum(c["secret"] for c in cases)) == (74, 34)


def test_the_heldout_and_families_corpora_are_whole():
    """The held-out corpus's 154 values and the 40 new families' stay, none trimmed."""
    heldout, families = _cases(HELDOUT), _cases(FAMILIES)
    assert (len(heldout), sum(c["secret"] for c in heldout)) == (154, 77)
    assert (len(families), sum(c["secret"] for c in families)) == (40, 21)
    heldout2, families3 = _cases(HELDOUT2), _cases(FAMILIES3)
    assert (len(heldout2), sum(c["secret"] for c in heldout2)) == (128, 65)
    assert (len(families3), sum(c["secret"] for c in families3)) == (30, 15)


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        # code and shells that read the value at run time; the same key with a literal
        ('password := os.Getenv("DB_PASSWORD")\n', False),
        ('PASSWORD = os.environ["DB_PASSWORD"]\n', False),
        ("const password = process.env.DB_PASSWORD;\n", False),
        ("password = try(var.db_password, null)\n", False),
        ('password = jsondecode(data.vault_generic_secret.db.data_json)["pw"]\n', False),
        ('String password = System.getenv("DB_PASSWORD");\n', False),
        ("export DB_PASSWORD=$VAULT_DB_PASSWORD\n", False),
        ("$password = $env:DB_PASSWORD\n", False),
        ('password := "Hafen-Kran-77"\n', True),
        ("ENV['API_TOKEN'] = 'Seestern-Q7-2210'\n", True),
        # commands and prose that name a secret object, and directives that hold one
        ("kubectl get secret app-2 -o yaml\n", False),
        ("kubectl create token sa-2\n", False),
        ("reset password for user-42\n", False),
        ("redis-cli -h redis.internal -p 6379 ping\n", False),
        ("mysqldump -uroot -p$(cat /run/secrets/db) app > /b/app.sql\n", False),
        ("mysql -u root -p$db_password app\n", False),
        ("auth: &auth\n  type: basic\n", False),
        ("user scraper insecure-password mastkorb5523\n", True),
        ("redis-cli -h redis.internal -a Krabbe-Netz-19 ping\n", True),
        ("ldapsearch -x -D cn=admin,dc=example -w Boje-Rot-81 -b dc=example\n", True),
    ],
)
def test_code_and_commands_are_judged_by_what_they_do(text, secret):
    """A run-time lookup is a reference, a literal beside it is not; a command's object
    name is no password, a client's password flag holds one."""
    found = list(scan({"files": {"/srv/app/run": {"content": text}}}))
    assert bool(found) is secret, found


@pytest.mark.parametrize(
    ("data", "secret"),
    [
        # a `{SCHEME}` prefix of any Dovecot scheme; a PostgreSQL md5 verifier
        ({"content": "a@b.example:{BLF-CRYPT}$2y$05$abcdefghijklmnopqrstuv\n"}, True),
        ({"users": '"app" "md5' + "0123456789abcdef" * 2 + '"'}, True),
        ({"users": "md5sum of the file"}, False),
        ({"content": "ops:{SHA256.hex}0123456789abcdef0123\n"}, True),
        # a Redis ACL's `>password`, and a user with `nopass`
        ({"acl": ["user app on >Kl4-pw ~* +@read"]}, True),
        ({"acl": ["user app on nopass ~* +@read"]}, False),
        # a directive's keyword, then a name and the secret; then only names
        ({"lines": ["sentinel auth-pass cache-a Zq9-pw"]}, True),
        ({"lines": ["sentinel auth-pass cache-a"]}, False),
        # Grafana's and Terraform's indirections
        ({"content": "[db]\npassword = $__vault{kv:db:pw}\n"}, False),
        ({"content": "password = module.db.password\ntoken = local.token\n"}, False),
        ({"content": 'password = "var.db"x9\n'}, True),
        # a seed under a seed key, a random generator's seed, the seed hosts of a cluster
        ({"otp_seed": "JBSWY3DPEHPK3PXPJBSWY3DP"}, True),
        ({"random_seed": 42, "shuffle_seed": "1234567890123456789"}, False),
        ({"cluster_seed": "node-1.cluster.internal"}, False),
        # External Secrets' fake provider: a valueMap too; its keys are names
        ({"spec": {"provider": {"fake": {"data": [{"key": "a", "valueMap": {"u": "x1"}}]}}}}, True),
        ({"spec": {"provider": {"fake": {"data": [{"key": "/a/b", "version": "v2"}]}}}}, False),
        # a Kubernetes Secret's entries are secrets by its kind, but not its names and files
        ({"r": [{"kind": "Secret", "stringData": {"cloudflare": "Cf7Xw2Qp9Lm4Zr8Tn"}}]}, True),
        ({"r": [{"kind": "Secret", "data": {"db": "UmVlcGVyYmFobi0xMg=="}}]}, True),
        (
            {"r": [{"kind": "Secret", "stringData": {"url": "https://git.example.net/x.git"}}]},
            False,
        ),
        ({"r": [{"kind": "Secret", "stringData": {"type": "git", "project": "default"}}]}, False),
        ({"r": [{"kind": "Secret", "stringData": {"config.yaml": "log_level: info\n"}}]}, False),
        ({"r": [{"kind": "ConfigMap", "data": {"harbour": "Kiel-Hafen-7"}}]}, False),
        # base64 of an ini file (a `[section]` first) is judged as the file
        ({"data": {"c": "W2FdCnRva2VuPVp4OS1xNwo="}}, True),
    ],
)
def test_the_second_rounds_rule_families_hold_beyond_their_corpus_cases(data, secret):
    """Each family added for the held-out corpus, on values none of the corpora has."""
    assert bool(list(scan(data))) is secret, list(scan(data))


B64 = __import__("base64").b64encode


@pytest.mark.parametrize(
    ("data", "secret"),
    [
        # SQL that creates or changes a login: every dialect's form, and its references
        ({"f": {"/x.sql": {"content": "ALTER USER app PASSWORD 'Qz7-kLm2Wx9pR';\n"}}}, True),
        ({"sql": "CREATE ROLE etl LOGIN ENCRYPTED PASSWORD 'hunter2-Bq9x';"}, True),
        ({"sql": "GRANT ALL ON db.* TO 'u'@'%' IDENTIFIED BY 'S3cr3t!x';"}, True),
        ({"sql": "CREATE USER scott IDENTIFIED BY tiger42;"}, True),
        ({"sql": "ALTER USER 'r'@'h' IDENTIFIED WITH caching_sha2_password BY 'Rt9#pLq';"}, True),
        ({"sql": "CREATE USER app WITH PASSWORD :'app_password';"}, False),
        ({"sql": "CREATE USER app WITH PASSWORD '${APP_PASSWORD}';"}, False),
        (
            {"sql": "ALTER ROLE app PASSWORD NULL;", "ora": "CREATE USER a IDENTIFIED BY &pw;"},
            False,
        ),
        (
            {"f": {"/src/Auth.hs": {"content": "data Login = Login\n  { password :: Text }\n"}}},
            False,
        ),
        ({"doc": "CREATE USER statements need a password policy"}, False),
        (
            {"f": {"/a.sql": {"content": "CREATE USER a;\n-- roles are identified by name\n"}}},
            False,
        ),
        ({"f": {"/a.py": {"content": "# create user\nif d['password'] == 'x': pass\n"}}}, False),
        # LDIF's base64 `::` value is judged by its attribute
        ({"f": {"/a.ldif": {"content": f"userPassword:: {B64(b'plain-77').decode()}\n"}}}, True),
        ({"f": {"/a.ldif": {"content": f"description:: {B64(b'Hello team').decode()}\n"}}}, False),
        # a symmetric key in PEM-like armour; a vendor's prefixed token anywhere
        (
            {"k": "-----BEGIN OpenVPN Static key V1-----\nab\n-----END OpenVPN Static key V1-----"},
            True,
        ),
        (
            {"x": "echo dckr_pat_Ab3dEf6hIj9kLm2nOp5qRs8tUv | docker login -u me --password-stdin"},
            True,
        ),
        ({"profile": "NRAK-8QZ2M4XK7P1R9TJ3W6VB5NC0LDY"}, True),
        ({"tag": "sha-3f2a9c1b7e4d5a6b8c9d0e1f2a3b4c5d6e7f8a9b"}, False),
        ({"m": "cannot set both spec.tls.insecureEdgeTerminationPolicy and spec.host"}, False),
        ({"host": "api-prod-eu-west-1-abcdefghijkl.example.com"}, False),
        # one lower-case word and a random tail is a public object id; a hex tail a hash (in a
        # command: alone under a neutral key, a random run is still a random key)
        ({"run": "stripe prices retrieve price_1MoBy5LkdIwHu7ixZhnattbh --live"}, False),
        ({"run": "curl https://api.example/users/user_2x4y6z8a0b1c2d3e4f5g6h7j8k -s"}, False),
        ({"run": "restore deps-linux-0f3c9e1a7b2d4f6a8c0e2b4d6f8a0c2e4b6d8f0a now"}, False),
        # a literal written into a secret's file, or piped to a login's --password-stdin
        ({"run": "echo pul-0f3c9e1a7b2d4f6a8c0e2b4d6f8a0c2e4b6d8f0a > ~/.pulumi/token"}, True),
        ({"run": "printf '%s' Wq8zLp3Kr9xx > /root/.vault-token"}, True),
        (
            {"run": "echo 'Kiel-Hafen-7' | helm registry login r.example -u ci --password-stdin"},
            True,
        ),
        ({"run": 'echo "$REGISTRY_TOKEN" | docker login -u ci --password-stdin'}, False),
        ({"run": "echo done > /var/log/token-rotation.log; echo ok > /run/secrets.lock"}, False),
        ({"ref": "refs/heads/feature-ABCD1234EFGH5678IJKL"}, False),
        # references and handles in every syntax, masks that keep a prefix or a hint
        ({"SMTP_PASSWORD": "%(smtp_password)s", "DB_PASSWORD": "[[DB_PASSWORD]]"}, False),
        ({"DB_PASSWORD": "%%DB_PASSWORD%%", "API_KEY": "ENC[api_key_handle]"}, False),
        ({"jasypt": {"password": "ENC(G6N718UuyPE5bHyWKyuLQSm02auQPUtm)"}}, False),
        ({"DB_PASSWORD": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/db-Ab"}, False),
        ({"token": "projects/werft/secrets/api-token/versions/latest"}, False),
        ({"DB_PASSWORD": "{DbPassword}"}, False),
        ({"DB_PASSWORD": "%env(DATABASE_PASSWORD)%", "secret": "%kernel.secret%"}, False),
        ({"password": "#{ENV['DB_PASSWORD']}", "pw": "%{lookup('db::password')}"}, False),
        ({"password": "{env.DB_PASSWORD}", "pass": "{$DB_PASSWORD}"}, False),
        ({"password": "((db_password))", "token": "(( grab meta.token ))"}, False),
        ({"api_key": "env:DD_API_KEY", "password": "secretref:db-password"}, False),
        ({"password": "{cipher}AQBhpDVYHANrg59OGY7ioSbMdOrH7ZA0vfa2VqIvfxJK5vQp"}, False),
        ({"password": "env:hunter2x!"}, True),
        ({"token": "sha256~Zx9Lq2Wm4Np8Rt6Vb3Kc7Hd5Jf1Gs0Ay2Ue4Io6Pw8Q"}, True),
        # a CAPTCHA's site key is in the page; Mapbox's `sk.` token is its secret one
        ({"recaptcha_site_key": "6LcR8xAqAAAAAHb9kZq2Xw7Lm4Np9Vt3Rb6Yc1Ud"}, False),
        (
            {"turnstile_sitekey": "0x4AAAAAAABkMYinukE8nzYS", "sms": {"account": "AC" + "3f" * 16}},
            False,
        ),
        (
            {"MAPBOX": "sk.eyJ1IjoiYWJjZGVmIiwiYSI6ImNrOXF6eDFh.Zx9Lq2Wm4Np8Rt6Vb3Kc7H"},
            True,
        ),
        ({"DB_PASSWORD": "{hunter2!}"}, True),
        ({"API_TOKEN": "ghp_************************", "PASSWORD": "****"}, False),
        ({"PASSWORD": "ab****cd-real"}, True),
        # systemd: a credential loaded from a path is none, one set inline is one
        (
            {"f": {"/a.service": {"content": "[Service]\nSetCredential=db-password:Wq8-zLp3Kr\n"}}},
            True,
        ),
        (
            {
                "f": {
                    "/a.service": {
                        "content": "LoadCredentialEncrypted=db:/etc/credstore.encrypted/db\n"
                    }
                }
            },
            False,
        ),
        # a digest under a file's name; the same under a key file's name is a key
        ({"manifest": {"assets/app.js": "c3bff51a9ab4b4097d2a019243d6a2269f86520e"}}, False),
        ({"manifest": {"certs/server.key": "c3bff51a9ab4b4097d2a019243d6a2269f86520e"}}, True),
        ({"files": {"secret.txt": "c3bff51a9ab4b4097d2a019243d6a2269f86520e"}}, True),
        ({"cid": "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"}, False),
        ({"gpg_key": "0x4AA5C0E5B6D2F9F3C1E8A7B6D5C4B3A2F1E0D9C8", "k": "0x" + "3f" * 8}, False),
        ({"tp": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}, False),
        ({"wallet": "0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"}, True),
        # `auth` naming a digest or an IPsec method; a literal after it is still one
        ({"f": {"/s.conf": {"content": "auth SHA512\ntls-auth /etc/openvpn/ta.key 0\n"}}}, False),
        ({"f": {"/s.conf": {"content": "auth Wq8zLp3Kr9xx\n"}}}, True),
        (
            {
                "f": {
                    "/s.conf": {"content": "local {\n  auth = eap-tls\n}\nremote { auth = psk }\n"}
                }
            },
            False,
        ),
        # a Compose service's `secrets:` list names secrets; a list of tokens holds them
        ({"data": {"services": {"web": {"secrets": ["django-secret-key", "db_password"]}}}}, False),
        ({"data": {"api_tokens": ["tok-one", "tok-two"]}}, True),
        # headers on a command line, by their name; a session cookie
        ({"cmd": "curl -H 'Private-Token: Xq9zLp3Kr8Wm2Nv7Bt4' https://git.example/api"}, True),
        ({"cmd": "curl -H 'X-Api-Key: ${API_KEY}' https://api.example"}, False),
        ({"cmd": "curl -H 'Cookie: theme=dark; lang=en' https://site.example"}, False),
        ({"cmd": "curl -H 'Cookie: sid=q8Zr2Kx7Lm4Np9Wv3Tb' https://site.example"}, True),
    ],
)
def test_the_third_rounds_rule_families_hold_beyond_their_corpus_cases(data, secret):
    """Each family added for the second held-out corpus, on values none of the corpora has."""
    assert bool(list(scan(data))) is secret, list(scan(data))


# Synapse's stock `trusted_key_servers` (matrix.org's public verify key), and a value no
# rule can tell from a key: a public key under a name that does not say so
STOCK_KEY = "Noi6WqcDj0QmPxCNQqgezwTlBKrfqehY1u2FyWP9uYw"
METRICS = "        enable_metrics: true\n"
TRUSTED = (
    "        trusted_key_servers:\n          - server_name: matrix.org\n"
    f'            verify_keys:\n              "ed25519:auto": {STOCK_KEY}\n'
)


def test_the_example_takes_synapses_stock_key_servers_and_finds_a_pasted_pgpassword(
    tmp_path: Path,
):
    """Item 4 of the brief, end to end: the stock stanza is not a finding; `PGPASSWORD:
    hunter2` in acme's synapse config is, on its line, with customer acme."""
    root = copy_example(tmp_path / "repo")
    _add(root, "catalog/services/synapse.yaml", METRICS, METRICS + TRUSTED)
    assert [f for f in _findings(root) if f.id == "plaintext-secret"] == []
    _add(root, "catalog/customers/acme.yaml", "100M\n", "100M\n      PGPASSWORD: hunter2\n")
    result = run_cli("check", "--catalog-only", "--root", str(root), "-f", "json")
    assert result.exit_code == 1 and result.exception is None, result.stdout
    found = [f for f in json.loads(result.stdout)["findings"] if f["id"] == "plaintext-secret"]
    assert [(f["file"], f["line"], f["customer"], f["service"]) for f in found] == [
        ("catalog/customers/acme.yaml", 13, "acme", "synapse")
    ], found


def _s3(root: Path) -> None:
    """The review's S3: a false positive in synapse.yaml, and a real secret pasted into
    acme's synapse config."""
    _add(
        root, "catalog/services/synapse.yaml", METRICS, f"{METRICS}        room_key: {STOCK_KEY}\n"
    )
    _add(root, "catalog/customers/acme.yaml", "100M\n", "100M\n      SMTP_PASSWORD: hunter2\n")


def _waive(root: Path, narrowing: str) -> None:
    (root / "policies/waivers.yaml").write_text(
        "waivers:\n  - policy: plaintext-secret\n"
        + "".join(f"    {line}\n" for line in narrowing.splitlines())
        + "    reason: an ed25519 public key, not a secret\n"
        "    owner: chat-platform\n    expires: 2027-06-30\n"
    )


def _outcomes(root: Path) -> dict[str, str]:
    findings = _findings(root)
    unused = [f.message for f in findings if f.id == "waiver-unused"]
    return {f.location.file: f.outcome for f in findings if f.id == "plaintext-secret"} | (
        {"waiver-unused": unused[0]} if unused else {}
    )


def test_a_service_wide_waiver_hides_the_customers_secret(tmp_path: Path):
    """Why narrower scopes are needed: the widest waiver that fits the false positive
    (`service: synapse`) also waives acme's pasted password."""
    root = copy_example(tmp_path / "repo")
    _s3(root)
    _waive(root, "service: synapse")
    assert _outcomes(root) == {
        "catalog/services/synapse.yaml": "waived",
        "catalog/customers/acme.yaml": "waived",
    }


@pytest.mark.parametrize("scope", ["file", "fingerprint"])
def test_a_file_or_fingerprint_waiver_covers_exactly_its_finding(tmp_path: Path, scope: str):
    """S3: waived by its file or by its fingerprint (from `check -f json`), the public key
    in synapse.yaml is waived and acme's `SMTP_PASSWORD` still fails."""
    root = copy_example(tmp_path / "repo")
    _s3(root)
    result = run_cli("check", "--catalog-only", "--root", str(root), "-f", "json")
    found = {
        f["file"]: f["fingerprint"]
        for f in json.loads(result.stdout)["findings"]
        if f["id"] == "plaintext-secret"
    }
    assert set(found) == {"catalog/services/synapse.yaml", "catalog/customers/acme.yaml"}
    fingerprint = found["catalog/services/synapse.yaml"]
    narrowing = (
        "file: catalog/services/synapse.yaml"
        if scope == "file"
        else f'service: synapse\nfingerprint: "{fingerprint}"'
    )
    _waive(root, narrowing)
    assert _outcomes(root) == {
        "catalog/services/synapse.yaml": "waived",
        "catalog/customers/acme.yaml": "fail",
    }


def test_a_fingerprint_that_matches_nothing_is_an_unused_waiver(tmp_path: Path):
    root = copy_example(tmp_path / "repo")
    _s3(root)
    _waive(root, f'service: synapse\nfingerprint: "{"f" * 64}"')
    outcomes = _outcomes(root)
    assert outcomes["catalog/services/synapse.yaml"] == "fail"
    assert outcomes["catalog/customers/acme.yaml"] == "fail"
    assert f"for finding {'f' * 12} matches no finding" in outcomes["waiver-unused"], outcomes


@pytest.mark.parametrize(
    ("narrowing", "message", "hint"),
    [
        ("file: /etc/passwd", "file '/etc/passwd' is not a repository path", ""),
        ("file: ../repo/catalog/teams.yaml", "is not a repository path", ""),
        ("file: catalog\\services\\synapse.yaml", "is not a repository path", ""),
        (
            "file: catalog/services/synaps.yaml",
            "waiver file 'catalog/services/synaps.yaml' is not a file of the repository",
            "did you mean 'catalog/services/synapse.yaml'?",
        ),
        ("file: catalog/services", "is not a file of the repository", ""),
        ("fingerprint: B76586", "fingerprint 'B76586' is not a finding's fingerprint", ""),
    ],
)
def test_a_waiver_file_or_fingerprint_that_cannot_be_one_is_a_located_error(
    tmp_path: Path, narrowing: str, message: str, hint: str
):
    root = copy_example(tmp_path / "repo")
    _waive(root, narrowing)
    result = run_cli("check", "--catalog-only", "--root", str(root), "-f", "json")
    assert result.exit_code == 2 and result.exception is None, result.stdout
    text = result.stdout + result.stderr
    assert "policies/waivers.yaml:3:5: error:" in text and message in text, text
    assert hint in text, text


def test_a_secrets_key_inside_a_config_files_data_is_data(tmp_path: Path):
    """S2: MAS' own configuration has a top-level `secrets:` holding its encryption key
    and signing keys; only the entity's own `secrets:` layer (references) is skipped."""
    root = copy_example(tmp_path / "repo")
    text = (root / "catalog/services/mas.yaml").read_text()
    files = text[: text.index("\n  files:\n")].count("\n") + 2  # its `files:` (issue 18)
    _add(
        root,
        "catalog/services/mas.yaml",
        "  files:\n",
        "  files:\n    /config/mas.yaml:\n      data:\n        secrets:\n"
        f"          encryption: {'0f1e2d3c4b5a6978' * 4}\n"
        "          keys:\n            - kid: k1\n              key: |\n"
        "                -----BEGIN EC PRIVATE KEY-----\n"
        "                MHcCAQEEIBkg4LVWM9nuwNSk3yByxZpYRTBnVJk5oWj/jEk2eEbloAoGCCqGSM49\n"
        "                -----END EC PRIVATE KEY-----\n",
    )
    found = sorted(
        (f.location.line, f.message) for f in _findings(root) if f.id == "plaintext-secret"
    )
    assert [line for line, _ in found] == [files + 4, files + 7], found
    assert "random key" in found[0][1] and "private key" in found[1][1], found


def test_a_long_hostile_value_is_judged_in_linear_time():
    """A catalog file may hold values of megabytes: no rule may try a pattern at every
    position of a long run (a 100 000-letter value took 150 s with the URL rule's
    unanchored scheme; unclosed `{{` runs did the same). Measured as growth, not as a
    time limit (the machine may be busy): each value is judged at its full length and
    at a quarter of it, in CPU time; linear work grows about 4 times, a quadratic rule
    16 times (a rule that slow takes minutes at these lengths)."""
    import time

    values = [  # (prefix, repeated unit, repeats, suffix)
        ("", "a", 200_000, ""),
        ("", "{{", 50_000, ""),
        ("x: ", " ", 100_000, "y\n"),
        ("", "Password=x;", 10_000, ""),
        ("", "a:", 50_000, "@"),
        ("", "QUJD", 50_000, ""),
        ("", "<a ", 50_000, "<password>"),
        ("", "define('", 50_000, ""),
        ("user x ", "a ", 50_000, ""),
        ("", "sshpass ", 50_000, ""),
        ("", "{PLAIN}", 50_000, ""),
        ("md5", "a", 200_000, ""),
        ("", "hmac-sha256:", 20_000, ""),
        ("", "a_", 100_000, ""),
        ("", "f(", 100_000, ""),
        ("", "os.", 60_000, "getenv("),
        ("sentinel auth-pass ", "x", 200_000, ""),
        ("stats auth ", "a ", 60_000, ""),
        ("create user x password", " ", 30_000, "="),
        ("grant identified by ", "x", 30_000, ""),
        ("curl -H ", "a", 30_000, ""),
        ("dckr_pat_", "a1", 15_000, "."),
        ("", "%(", 15_000, ""),
        ("-----BEGIN ", "a ", 15_000, ""),
        ("x -H 'Cookie: ", "a=b", 10_000, ""),
        ("", "echo ", 6_000, "> /token"),
        ("echo -n ", "-a ", 10_000, ""),
        ("echo x |", " a", 15_000, ""),
        ("", "#{", 15_000, ""),
        ("", "%{", 15_000, ""),
        ("", "((", 15_000, ""),
        ("", "%env(", 6_000, ""),
        ("create user a ", "identified by 'x ", 3_000, ""),
    ]

    def judged(prefix: str, unit: str, repeats: int, suffix: str) -> float:
        value = prefix + unit * repeats + suffix
        started = time.process_time()
        list(scan({"content": value, "files": {"/a": {"content": value + "\n"}}}))
        return time.process_time() - started

    for prefix, unit, repeats, suffix in values:
        full = judged(prefix, unit, repeats, suffix)
        if full < 0.25:  # too fast to matter, and too short to time
            continue
        quarter = judged(prefix, unit, repeats // 4, suffix)
        assert full < 10 * max(quarter, 0.01), (
            f"{prefix!r} + {unit!r} * {repeats}: {full:.2f} s, a quarter as long "
            f"{quarter:.2f} s: a rule is quadratic in the value's length"
        )


def test_the_catalogs_scan_is_kept_per_entity_and_equals_a_cold_one(
    tmp_path: Path, private_cache: Path, monkeypatch: pytest.MonkeyPatch
):
    """The catalog's scan is kept in the result cache per entity's content: a second
    check scans nothing and finds the same; after an edit of acme's file only acme is
    scanned again, and the findings are what a check without a cache finds."""
    from compiler.check.builtins import plaintext_secret

    root = copy_example(tmp_path / "repo")
    _acme_secrets_in_two_layers(root)
    scanned: list[Any] = []
    real = plaintext_secret.scan

    def counted(data: Any, settings: bool = True) -> Any:
        if settings:  # a catalog entity's (settings=False: a rendered object's)
            scanned.append(data)
        return real(data, settings)

    monkeypatch.setattr(plaintext_secret, "scan", counted)
    first = [f for f in _findings(root) if f.id == "plaintext-secret"]  # checkov off now

    def again() -> list[Any]:
        return [f for f in pipeline.check(root, None, DATE).findings if f.id == "plaintext-secret"]

    assert len(first) == 2 and len(scanned) > 20  # every entity: nothing kept yet
    scanned.clear()
    assert again() == first
    assert scanned == []
    _add(
        root,
        "catalog/customers/acme.yaml",
        "DB_PWD: hunter3",
        "DB_PWD: hunter3, API_TOKEN: hunter9",
    )
    after = again()
    assert len(scanned) == 1 and scanned[0]["name"] == "acme"
    monkeypatch.setenv("GITOPSC_CACHE_DIR", "")
    assert again() == after
    assert len(after) == 3
