"""What every catalog model is built from: constrained types and the `Strict` base.

Names (DNS-1123 labels), DNS and record names, environment variable and port names,
images, repository URLs, branch names, Kubernetes quantities, ports and protocols,
networks (CIDR), label keys and values, dates, secret keys
and the tenant prefixes they must lie under, and the `null`-means-empty collections.
Each pattern is registered in `PATTERN_DESCRIPTIONS`, which model_errors.py uses to word
a mismatch. Kept apart from the entities because all of them use it and it depends on
none of them.
"""

from __future__ import annotations

import datetime
import ipaddress
import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    WithJsonSchema,
)

_DNS_LABEL = re.compile(r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?\Z")
_DNS_NAME = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\Z")
_ENV_VAR = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_QUANTITY = re.compile(r"[0-9]+(\.[0-9]+)?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?\Z")
_K8S_VERSION = re.compile(r"1\.[0-9]{1,2}\Z")
_RESIDENCY = re.compile(r"[a-z]{2,8}\Z")
_IMAGE = re.compile(r"[a-z0-9]+([._/:-][a-zA-Z0-9]+)*(@sha256:[a-f0-9]{64})?\Z")
_PORT_NAME = re.compile(r"[a-z]([-a-z0-9]{0,13}[a-z0-9])?\Z")
# a cloud provider's name as tfvars carry it (`aws`, `upcloud`): a DNS-1123-like token
_PROVIDER = re.compile(r"[a-z]([-a-z0-9]{0,30}[a-z0-9])?\Z")
_TF_VARIABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,63}\Z")
_HTTPS_URL = re.compile(r"((https|ssh|git)://|git@)[^\s]+\Z")


PATTERN_DESCRIPTIONS: dict[str, str] = {}  # anchored pattern -> what it means, for messages


def _pattern(regex: re.Pattern[str], what: str) -> Any:
    """A pattern checked by pydantic's (Rust) validator; model_errors.py words its errors
    with `what`, and the exported JSON Schema carries the same pattern."""
    anchored = "^(?:" + regex.pattern.removesuffix(r"\Z") + ")$"
    PATTERN_DESCRIPTIONS[anchored] = what
    return Field(pattern=anchored)


def _quantity(value: Any) -> Any:
    """Kubernetes quantities are written both as numbers and as strings; keep the text."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return str(value)
    return value


Name = Annotated[
    str,
    _pattern(
        _DNS_LABEL,
        "a valid name: use lower-case letters, digits and '-', start with a letter, "
        "end with a letter or digit, at most 63 characters (DNS-1123 label)",
    ),
]
Provider = Annotated[
    str,
    _pattern(
        _PROVIDER,
        "a provider name such as 'aws' or 'upcloud': lower-case letters, digits and '-', "
        "starting with a letter, at most 32 characters",
    ),
]
TerraformVariable = Annotated[
    str, _pattern(_TF_VARIABLE, "a Terraform variable name (letters, digits, '_' and '-')")
]
DnsName = Annotated[str, _pattern(_DNS_NAME, "a valid lower-case DNS name"), Field(max_length=253)]
# Record names may have `_` labels (`_sip._tcp.example.org`, `_dmarc.example.org`).
_RECORD_NAME = re.compile(
    r"(_?[a-z0-9]([-a-z0-9]*[a-z0-9])?)(\._?[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\Z"
)
RecordName = Annotated[
    str, _pattern(_RECORD_NAME, "a valid DNS record name"), Field(max_length=253)
]
EnvVarName = Annotated[str, _pattern(_ENV_VAR, "a valid environment variable name")]
# A namespace name, or with a trailing '*' every name that starts with the text before it.
_NAMESPACE_PATTERN = re.compile(r"([a-z]([-a-z0-9]{0,61}[a-z0-9])?|[a-z][-a-z0-9]{0,61}\*)\Z")
NamespacePattern = Annotated[
    str,
    _pattern(_NAMESPACE_PATTERN, "a namespace name, or a prefix of names ending in '*' (team-*)"),
]
# A key in a secret store, as a path of parts: tenants are told apart by key prefix
# (environment `secret_store.customer_prefix`), so a key must not be able to leave its
# prefix once the store or a URL normalises it: no `.`/`..` or empty parts, no leading
# or trailing '/', nothing but ASCII letters, digits, `_`, `-` and `.` (no `%`, `?`,
# `\`, spaces or look-alike Unicode letters).
SECRET_KEY = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*(/[A-Za-z0-9_-][A-Za-z0-9._-]*)*\Z")
SecretKey = Annotated[
    str,
    _pattern(
        SECRET_KEY,
        "a secret key: parts of letters, digits, '_', '-' and '.' (not first), "
        "separated by single '/'",
    ),
    Field(max_length=512),
]
PortName = Annotated[str, _pattern(_PORT_NAME, "a valid port name (DNS-1123, 15 characters)")]
Residency = Annotated[str, _pattern(_RESIDENCY, "a residency code such as 'eu', 'ch' or 'us'")]
KubernetesVersion = Annotated[str, _pattern(_K8S_VERSION, "a Kubernetes minor version like '1.30'")]
Image = Annotated[
    str, _pattern(_IMAGE, "a container image reference (name:tag or name@sha256:...)")
]
RepoUrl = Annotated[str, _pattern(_HTTPS_URL, "a git repository URL (https://, ssh:// or git@)")]
# A conservative subset of what `git check-ref-format` allows for a branch: parts of
# letters, digits, '_', '-' and single dots, separated by '/'; no '..', no part that
# starts or ends with a dot. What a pattern without look-ahead cannot say (no part may
# end in `.lock`, and `HEAD` is not a branch) is checked after it.
_BRANCH = re.compile(
    r"[A-Za-z0-9_]([-A-Za-z0-9_]|\.[-A-Za-z0-9_])*(/[A-Za-z0-9_]([-A-Za-z0-9_]|\.[-A-Za-z0-9_])*)*\Z"
)


def _branch_name(value: str) -> str:
    if value == "HEAD" or any(part.endswith(".lock") for part in value.split("/")):
        raise ValueError(f"'{value}' is not a valid git branch name")
    return value


BranchName = Annotated[
    str,
    _pattern(_BRANCH, "a git branch name such as 'rendered/prod'"),
    Field(max_length=200),
    AfterValidator(_branch_name),
]
_QUANTITY_PATTERN = _pattern(_QUANTITY, "a Kubernetes quantity such as '500m', '2' or '512Mi'")
Quantity = Annotated[
    str,
    BeforeValidator(_quantity),
    _QUANTITY_PATTERN,
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": _QUANTITY_PATTERN.metadata[0].pattern},
                {"type": "number", "minimum": 0},
            ]
        }
    ),
]
Port = Annotated[int, Field(ge=1, le=65535)]
# what NetworkPolicies, Services and containers can carry (Kubernetes' Protocol)
Protocol = Literal["TCP", "UDP", "SCTP"]


def _cidr(value: str) -> str:
    """An IPv4 or IPv6 network in CIDR notation without host bits (`10.8.0.0/16`, not
    `10.8.0.1/16`: a typo there would open another range than the one meant), written
    back in its canonical form so that `10.8.0.0/16` and `010.8.0.0/16` are not two."""
    try:
        network = ipaddress.ip_network(value, strict=True)
    except ValueError as error:
        raise ValueError(f"'{value}' is not a network in CIDR notation ({error})") from None
    if "/" not in value:
        raise ValueError(f"'{value}' has no prefix length: write it as '{network}'")
    for translated in _TRANSLATED:  # a wider network (::/0) excepts them when rendered
        if network.version == 6 and network.subnet_of(translated):  # type: ignore[arg-type]
            raise ValueError(
                f"'{value}' lies in {translated}, IPv6 addresses that reach IPv4 ones: "
                "write the IPv4 range itself"
            )
    return str(network)


# IPv4-mapped and NAT64 addresses: IPv6 spellings of IPv4 ones, which would let a range
# slip past every comparison made per address family
_TRANSLATED = tuple(map(ipaddress.ip_network, ("::ffff:0:0/96", "64:ff9b::/96")))


Cidr = Annotated[str, Field(max_length=64), AfterValidator(_cidr)]
# a Kubernetes label key (optional DNS prefix and a name) and value, for pod selectors
_LABEL_KEY = re.compile(
    r"([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?\Z"
)
_LABEL_VALUE = re.compile(r"([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?\Z")
LabelKey = Annotated[
    str,
    _pattern(_LABEL_KEY, "a Kubernetes label key such as 'app.kubernetes.io/name'"),
    Field(max_length=316),
]
LabelValue = Annotated[str, _pattern(_LABEL_VALUE, "a Kubernetes label value (63 characters)")]


_PREFIX_REFERENCE = re.compile(r"\$\{\s*([^}]*?)\s*\}")


def expand_prefix(template: str, facts: Mapping[str, str]) -> str:
    """A secret prefix for one instance: each `${name}` replaced by `facts[name]`."""
    return _PREFIX_REFERENCE.sub(lambda match: facts[match.group(1)], template)


def _prefix(names: tuple[str, ...], required: str | None = None) -> Any:
    """A secret key prefix may refer to `names` only, must hold `required` (a customer
    prefix without `${customer.name}` would be shared by every customer), and must end
    with '/' (else `prod/acme` would also admit `prod/acme-evil/...`)."""

    def check(template: str) -> str:
        for reference in _PREFIX_REFERENCE.findall(template):
            if reference not in names:
                allowed = ", ".join(f"${{{name}}}" for name in names)
                raise ValueError(f"unknown reference '${{{reference}}}' (allowed: {allowed})")
        if required and required not in _PREFIX_REFERENCE.findall(template):
            raise ValueError(f"must contain '${{{required}}}': customers must not share it")
        sample = expand_prefix(template, dict.fromkeys(names, "x"))
        if not sample.endswith("/") or not SECRET_KEY.match(sample[:-1]):
            raise ValueError(
                f"'{template}' is not a secret key prefix: parts of letters, digits, '_', "
                "'-' and '.', separated by single '/', ending with '/'"
            )
        return template

    return AfterValidator(check)


CustomerPrefix = Annotated[str, _prefix(("env.name", "env.tier", "customer.name"), "customer.name")]
PlatformPrefix = Annotated[str, _prefix(("env.name", "env.tier"))]


def _empty_if_null(empty: type) -> Any:
    """`services:` with every entry commented out is null in YAML; read it as empty.

    Only on collection fields outside settings layers: inside a layer `null` keeps its
    meaning (remove the key). A field validator, not a model one, so the models that
    are validated per instance never call into Python for it.
    """
    return BeforeValidator(lambda value: empty() if value is None else value)


NullDict = _empty_if_null(dict)
NullList = _empty_if_null(list)
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}\Z")


def _iso_date(value: Any) -> Any:
    """Dates are written YYYY-MM-DD (YAML 1.2 reads them as text); nothing else is a date."""
    if isinstance(value, str):
        if not _DATE.match(value):
            raise ValueError(f"'{value}' is not a date written as YYYY-MM-DD")
        try:
            return datetime.date.fromisoformat(value)
        except ValueError:
            raise ValueError(f"'{value}' is not a valid date") from None
    return value


IsoDate = Annotated[datetime.date, BeforeValidator(_iso_date)]


class Strict(BaseModel):
    """Base of every catalog model: strict types, no unknown keys, immutable."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True, allow_inf_nan=False)
