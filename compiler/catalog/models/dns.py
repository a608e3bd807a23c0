"""`DnsRecord`, one entry of `infrastructure.dns`, and what each record type's value is.

A module of its own because the record types carry their own grammar (issue 14): mail
teams need reverse DNS for relay addresses (`PTR`), DANE (`TLSA`) and CA pinning
(`CAA`) beside A, AAAA, CNAME, MX, TXT and SRV. The shape of the new types' values is
checked here, at the line that has them, so that Terraform (and the DNS provider behind
it) never sees a record it would refuse, or worse, publish as written:

- `PTR`: named by its `address` (`192.0.2.25`, `2001:db8::25`), not by `name`: gitopsc
  writes the reverse name (`25.2.0.192.in-addr.arpa`), so a PTR always names one whole
  address; the value is a host name. Whose addresses a tenant may name is tenancy's.
- `TLSA` (RFC 6698): `usage selector matching-type data`, usage 0-3, selector 0-1,
  matching type 0-2, data hex (64 digits for SHA-256, 128 for SHA-512); the name is
  `_<port>._<tcp|udp|sctp>.<host>`.
- `CAA` (RFC 8659): `flags tag "value"`, flags 0 or 128, a tag of letters and digits;
  `issue`/`issuewild` values are `;` or a CA's domain with optional parameters,
  `iodef` a `mailto:` or `https:` URL.

A value that still holds `${` is checked once it is resolved (a layer on its own may
leave it to interpolation). A record `for_each: domains` is declared once and published
for each of the customer's domains (`${domain}` in it); a PTR, which names one address,
cannot be.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError

from compiler.catalog.models.fields import RecordName, Strict

RecordType = Literal["A", "AAAA", "CNAME", "MX", "TXT", "SRV", "PTR", "TLSA", "CAA"]
# the types that have a priority (MX preference, SRV priority); the new ones refuse one
_PRIORITY = ("A", "AAAA", "CNAME", "MX", "TXT", "SRV")
_HOST = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)+\Z")
_TLSA = re.compile(r"([0-9]+) ([0-9]+) ([0-9]+) ([0-9A-Fa-f]+)\Z")
_TLSA_NAME = re.compile(r"_[0-9]{1,5}\._(tcp|udp|sctp)\.[a-z0-9]")
_CAA = re.compile(r'([0-9]+) ([A-Za-z0-9]{1,15}) "([^"\\\x00-\x1f\x7f]*)"\Z')
_CA_DOMAIN = re.compile(r"\s*([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*)?\s*")
_CAA_PARAMETER = re.compile(r"\s*[A-Za-z0-9]+\s*=\s*[!-:<-~]*\s*\Z")
_DIGEST_LENGTH = {1: 64, 2: 128}  # SHA-256, SHA-512 in hex digits


def _ip_address(value: str) -> str:
    """One address in its canonical spelling; not a network, port or zone, and not an
    IPv6 spelling of an IPv4 address (its reverse name would be the other tree's)."""
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        raise ValueError(f"'{value}' is not an IP address") from None
    if isinstance(address, ipaddress.IPv6Address) and (
        address.ipv4_mapped is not None or address.scope_id is not None
    ):
        raise ValueError(f"'{value}' is an IPv6 spelling of an IPv4 address or has a zone")
    return str(address)


IpAddress = Annotated[str, Field(max_length=64), AfterValidator(_ip_address)]


def reverse_name(address: str) -> str:
    """The PTR record's name: `192.0.2.25` -> `25.2.0.192.in-addr.arpa`."""
    return ipaddress.ip_address(address).reverse_pointer


def _tlsa(value: str) -> str:
    match = _TLSA.match(" ".join(value.split()))
    if match is None:
        raise ValueError(
            f"TLSA value '{value}' is not 'usage selector matching-type data' "
            "(e.g. '3 1 1 <64 hex digits>')"
        )
    usage, selector, matching, data = match.groups()
    for what, number, top in (
        ("usage", usage, 3),
        ("selector", selector, 1),
        ("matching type", matching, 2),
    ):
        if int(number) > top:
            raise ValueError(f"TLSA {what} {number} is not 0-{top}")
    wanted = _DIGEST_LENGTH.get(int(matching))
    if wanted is not None and len(data) != wanted:
        raise ValueError(
            f"TLSA matching type {matching} is a {'SHA-256' if wanted == 64 else 'SHA-512'} "
            f"digest of {wanted} hex digits, got {len(data)}"
        )
    if len(data) % 2:
        raise ValueError(f"TLSA data has an odd number of hex digits ({len(data)})")
    return f"{usage} {selector} {matching} {data.lower()}"


def _caa(value: str) -> str:
    match = _CAA.match(value.strip())
    if match is None:
        raise ValueError(
            f"CAA value '{value}' is not 'flags tag \"value\"' "
            "(e.g. '0 issue \"letsencrypt.org\"'; no quotes, backslashes or control "
            "characters inside the value)"
        )
    flags, tag, text = match.groups()
    if int(flags) not in (0, 128):
        raise ValueError(f"CAA flags {flags} are not 0 or 128 (issuer critical)")
    kind = tag.lower()
    if kind in ("issue", "issuewild"):
        domain, _, parameters = text.partition(";")
        if not _CA_DOMAIN.fullmatch(domain) or not all(
            _CAA_PARAMETER.match(part) for part in parameters.split(";") if part.strip()
        ):
            raise ValueError(
                f"CAA {kind} value '{text}' is not a CA's domain with optional "
                "'; key=value' parameters, nor ';' (no CA may issue)"
            )
    elif kind == "iodef" and not re.match(r"(mailto:[^\s@]+@[^\s@]+|https?://\S+)\Z", text):
        raise ValueError(f"CAA iodef value '{text}' is not a mailto: or https: URL")
    return f'{flags} {tag} "{text}"'


class DnsRecord(Strict):
    """One DNS record the instance needs (Terraform creates it), keyed by a name under
    `infrastructure.dns`. A PTR is named by its `address`; TLSA values are `usage
    selector matching-type data`, CAA values `flags tag "value"` (docs/catalog.md,
    Infrastructure). With `for_each: domains`, one record per domain of the customer."""

    # declared once, published for each of the customer's domains (`${domain}` in it)
    for_each: Literal["domains"] | None = None
    name: RecordName | None = None
    type: RecordType
    # PTR only: the address whose reverse name the record is
    address: IpAddress | None = None
    value: Annotated[str, Field(min_length=1)]
    ttl: Annotated[int, Field(ge=60, le=86400)] = 300
    priority: Annotated[int, Field(ge=0, le=65535)] | None = None

    @field_validator("value")
    @classmethod
    def _value(cls, value: str, info: ValidationInfo) -> str:
        """The value of the new types, in the grammar of its type (the type, declared
        before it, is known here unless it failed itself)."""
        kind = info.data.get("type")
        if kind == "PTR" and not _HOST.match(value):
            raise ValueError(f"PTR value '{value}' is not a fully qualified lower-case host name")
        if kind == "TLSA":
            return _tlsa(value)
        if kind == "CAA":
            return _caa(value)
        return value

    @model_validator(mode="after")
    def _fields_of_the_type(self) -> DnsRecord:
        if self.type == "PTR":
            if self.name is not None:
                raise ValueError(
                    "a PTR record is named by its address: give `address:` (gitopsc writes "
                    "the reverse name) and set `name: null`"
                )
            if self.address is None:
                raise PydanticCustomError(
                    "missing_key", "a PTR record needs an `address`", {"key": "address"}
                )
            if self.for_each is not None:
                raise ValueError(
                    "a PTR record names one address: it cannot be declared for each domain"
                )
        else:
            if self.address is not None:
                raise ValueError(
                    f"`address` is for PTR records; a record of type {self.type} has a `name`"
                )
            if self.name is None:
                raise PydanticCustomError(
                    "missing_key",
                    "a record of type {kind} needs a `name`",
                    {"key": "name", "kind": self.type},
                )
        if self.type == "TLSA" and not _TLSA_NAME.match(self.name or ""):
            raise ValueError(
                f"TLSA record name '{self.name}' is not '_<port>._<tcp|udp|sctp>.<host>' "
                "(e.g. '_25._tcp.mx1.example.org')"
            )
        if self.priority is not None and self.type not in _PRIORITY:
            raise ValueError(f"a record of type {self.type} has no priority (MX and SRV have one)")
        return self

    @property
    def owner(self) -> str:
        """The record's name as published: `name`, or a PTR's reverse name."""
        return reverse_name(self.address) if self.address is not None else self.name or ""
