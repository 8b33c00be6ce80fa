"""Turning the identifiers of a request into the set of SHA-256 hashes a task keeps.

Raw addresses live only inside these functions: they are normalised, checked and hashed, and no
message, log line or exception ever carries one.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
import unicodedata
import weakref
from collections.abc import Callable, Iterable
from typing import Protocol

import idna

from ._errors import InvalidRequest

MAX_IDENTIFIERS = 10_000
MAX_EMAIL_LENGTH = 254
ZERO_WIDTH = "\u200b\u200c\u200d\u2060\ufeff"
"""Invisible characters dropped from an address: zero-width space, non-joiner and joiner, word
joiner, and the byte-order mark (a zero-width no-break space)."""
_DROP_ZERO_WIDTH = dict.fromkeys(map(ord, ZERO_WIDTH))
_HEX_DIGEST = re.compile(r"[0-9a-fA-F]{64}")
_FORBIDDEN = re.compile(r"[\s\x00-\x1f\x7f]")


def normalise_email(raw: str) -> str:
    """The one spelling of an address that is hashed: zero-width characters (`ZERO_WIDTH`)
    dropped, surrounding whitespace trimmed, Unicode NFC, lower-cased, and a domain that is
    not ASCII in its IDNA (punycode) form: `' Ann@Bücher.DE '` -> `'ann@xn--bcher-kva.de'`.
    A plain ASCII address is only trimmed and lower-cased. A domain that is not a valid
    internationalised name is left in Unicode, which `collect_identifiers` refuses."""
    if raw.isascii():
        return raw.strip().lower()
    text = raw.translate(_DROP_ZERO_WIDTH).strip()
    text = unicodedata.normalize("NFC", unicodedata.normalize("NFC", text).lower())
    local, at, domain = text.rpartition("@")
    if not at or domain.isascii():
        return text
    try:
        domain = idna.encode(domain, uts46=True).decode("ascii").lower()
    except UnicodeError:  # idna.IDNAError: left in Unicode, refused as an invalid domain
        return text
    return f"{local}@{domain}"


def hash_email(raw: str) -> str:
    """The base64 SHA-256 of the normalised address: what a client puts in `sha256Emails`."""
    return _hash_normalised(normalise_email(raw))


def _hash_normalised(email: str) -> str:
    digest = hashlib.sha256(email.encode("utf-8")).digest()
    return binascii.b2a_base64(digest, newline=False).decode("ascii")


def _email_problem(email: str) -> str | None:
    if not email:
        return "is empty"
    if len(email) > MAX_EMAIL_LENGTH:
        return f"is longer than {MAX_EMAIL_LENGTH} characters"
    if email.count("@") != 1:
        return "is not one email address (it needs exactly one '@')"
    local, domain = email.split("@")
    if not local or not domain:
        return "is not an email address (the part before or after '@' is empty)"
    if not domain.isascii():
        return "has a domain that is not a valid internationalised domain name (IDNA)"
    if _FORBIDDEN.search(email):
        return "is not an email address (it contains whitespace or control characters)"
    return None


def _sha256_problem(value: str) -> str | None:
    if _HEX_DIGEST.fullmatch(value):
        return "is not base64 of 32 bytes (it looks like hex; encode the digest as base64)"
    if "-" in value or "_" in value:
        return "is not standard base64 (it looks URL-safe; use '+' and '/')"
    try:
        decoded = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return "is not valid base64"
    if len(decoded) != 32:
        return f"is not base64 of 32 bytes (it decodes to {len(decoded)} bytes)"
    return None


def _strings(field: str, values: object) -> list[str]:
    if values is None:
        return []
    if type(values) is list or type(values) is tuple:  # what JSON gives: skip the ABC check
        items = list(values)
    elif isinstance(values, str | bytes) or not isinstance(values, Iterable):
        raise InvalidRequest(f"{field} must be a list of strings")
    else:
        items = list(values)
    for index, item in enumerate(items):
        if not isinstance(item, str):
            raise InvalidRequest(f"{field}[{index}] must be a string, got {type(item).__name__}")
    return items


def collect_identifiers(raw_emails: object = (), sha256_emails: object = ()) -> frozenset[str]:
    """Validate both lists and merge them into one deduplicated set of base64 SHA-256 hashes.

    Raises `InvalidRequest` naming the field and index of the first bad entry, when both lists
    are empty, or when they carry more than `MAX_IDENTIFIERS` entries together.
    """
    raws = _strings("rawEmails", raw_emails)
    hashes = _strings("sha256Emails", sha256_emails)
    if not raws and not hashes:
        raise InvalidRequest("at least one entry is required across rawEmails and sha256Emails")
    if len(raws) + len(hashes) > MAX_IDENTIFIERS:
        raise InvalidRequest(
            f"a request carries at most {MAX_IDENTIFIERS} identifiers, "
            f"got {len(raws) + len(hashes)}; split it into several requests"
        )
    result: set[str] = set()
    for index, raw in enumerate(raws):
        email = normalise_email(raw)
        problem = _email_problem(email)
        if problem is not None:
            raise InvalidRequest(f"rawEmails[{index}] {problem}")
        result.add(_hash_normalised(email))
    for index, value in enumerate(hashes):
        try:
            digest = binascii.a2b_base64(value, strict_mode=True)
        except ValueError:  # binascii.Error, or a str that is not ASCII
            digest = b""
        if len(digest) != 32:  # only now work out what is wrong, to say it
            problem = _sha256_problem(value) or "is not valid base64"
            raise InvalidRequest(f"sha256Emails[{index}] {problem}")
        # Re-encode so that the few non-canonical spellings of one digest compare equal.
        result.add(binascii.b2a_base64(digest, newline=False).decode("ascii"))
    return frozenset(result)


# -- idempotency keys -------------------------------------------------------------------------

IDEMPOTENCY_SECRET_SETTING = "idempotency-key-secret"  # noqa: S105 (a setting's name)
IDEMPOTENCY_DIGEST_PREFIX = "hmac-sha256:"


class _Settings(Protocol):
    def setting(self, name: str, default: Callable[[], str]) -> str: ...


_secrets: dict[int, tuple[weakref.ref[_Settings], bytes]] = {}


def idempotency_digest(store: _Settings, scope: str, key: str) -> str:
    """What the store keeps of the idempotency key *key* of *scope* (an app): `hmac-sha256:`
    and the hex HMAC-SHA256 of scope and key under the store's own secret (the
    `idempotency-key-secret` setting, made on first use and shared by every server on the
    store). The same on every server and after a restart; never the key itself, so a key that
    is an email address leaves no address in the store."""
    mac = hmac.new(_secret(store), digestmod=hashlib.sha256)
    mac.update(scope.encode("utf-8", "surrogatepass") + b"\x00")
    mac.update(key.encode("utf-8", "surrogatepass"))
    return IDEMPOTENCY_DIGEST_PREFIX + mac.hexdigest()


def _secret(store: _Settings) -> bytes:
    """The store's secret, read once per store object (settings never change once made)."""
    cached = _secrets.get(id(store))
    if cached is not None and cached[0]() is store:
        return cached[1]
    secret = store.setting(IDEMPOTENCY_SECRET_SETTING, lambda: secrets.token_urlsafe(32))
    value = secret.encode("utf-8")
    at = id(store)
    try:
        ref = weakref.ref(store, lambda _gone: _secrets.pop(at, None))
    except TypeError:  # a store that cannot be weakly referenced is read every time
        return value
    if len(_secrets) >= 1_000:
        _secrets.clear()
    _secrets[at] = (ref, value)
    return value
