"""What a value is made of, for `plaintext-secret` (plaintext_secret.py): words or random
characters, base64 and what it decodes to, DER structures (a certificate or public key is
public, a private key is not), ULIDs and generated names. Pure functions of a string.
"""

from __future__ import annotations

import base64 as b64
import binascii
import math

from compiler.check.builtins.secret_rules import (
    GENERATED_NAME,
    LETTER_RUN,
    MIN_ENTROPY,
    PUBLIC_VALUES,
    WORDS_SHARE,
)


def made_of_words(text: str) -> bool:
    in_words = sum(len(run) for run in LETTER_RUN.findall(text) if len(run) >= 3)
    return in_words >= WORDS_SHARE * sum(char.isalnum() for char in text)


def looks_random(text: str, length: int) -> bool:
    return len(text) >= length and not made_of_words(text) and entropy(text) >= MIN_ENTROPY


def is_public_value(text: str) -> bool:
    return any(pattern.match(text) for pattern in PUBLIC_VALUES) or is_ulid(text)


def is_ulid(text: str) -> bool:
    """A ULID: 26 Crockford base32 characters whose first ten are a plausible time."""
    alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
    if len(text) != 26 or any(char not in alphabet for char in text):
        return False
    millis = 0
    for char in text[:10]:
        millis = millis * 32 + alphabet.index(char)
    return 946684800000 <= millis <= 4102444800000  # 2000 to 2100


def is_generated_name(text: str) -> bool:
    match = GENERATED_NAME.match(text)
    return bool(match) and made_of_words(match["stem"])


def decode_base64(text: str) -> bytes | None:
    """The bytes a base64 (or URL-safe base64) value encodes, or None."""
    if len(text) % 4:
        return None
    try:
        return b64.b64decode(text.replace("-", "+").replace("_", "/"), validate=True)
    except binascii.Error:
        return None


def as_text(raw: bytes) -> str | None:
    try:
        decoded = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return decoded if all(char.isprintable() or char.isspace() for char in decoded) else None


def asn1_kind(raw: bytes) -> str | None:
    """ "public" for DER a certificate, CSR or CRL (a SEQUENCE that ends in a signature
    BIT STRING), a SubjectPublicKeyInfo (algorithm, BIT STRING) or a PKCS#1 public key (two
    INTEGERs); "private" for a private key (PKCS#1, PKCS#8 and SEC1 begin with a version
    INTEGER; an encrypted PKCS#8 key is an algorithm and an OCTET STRING); else None."""
    top = tlv(raw, 0)
    if top is None or top[0] != 0x30 or top[2] != len(raw):
        return None
    tags = []
    at = top[1]
    while at < top[2]:
        child = tlv(raw, at)
        if child is None or child[2] > top[2]:
            return None
        tags.append(child[0])
        at = child[2]
    if len(tags) >= 2 and tags[0] == 0x30 and tags[-1] == 0x03:
        return "public"
    if tags == [0x02, 0x02]:
        return "public"
    if (tags and tags[0] == 0x02) or tags == [0x30, 0x04]:
        return "private"
    return None


def tlv(raw: bytes, at: int) -> tuple[int, int, int] | None:
    """(tag, start, end) of the DER element at `at`."""
    if at + 2 > len(raw):
        return None
    tag, length, at = raw[at], raw[at + 1], at + 2
    if length & 0x80:
        size = length & 0x7F
        if not 0 < size <= 4 or at + size > len(raw):
            return None
        length, at = int.from_bytes(raw[at : at + size], "big"), at + size
    return (tag, at, at + length) if at + length <= len(raw) else None


def entropy(text: str) -> float:
    counts: dict[str, int] = {}
    for char in text:
        counts[char] = counts.get(char, 0) + 1
    return -sum(n / len(text) * math.log2(n / len(text)) for n in counts.values())
