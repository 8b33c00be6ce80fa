"""Operators who sign in to the console: a name and a password kept only as a slow hash."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import re
import secrets

import attrs

from ._clock import as_utc
from ._errors import InvalidRequest

OPERATOR_NAME = re.compile(r"[A-Za-z0-9._@-]{1,64}")
MIN_PASSWORD = 12
MAX_PASSWORD = 1024

# scrypt with N=2^15, r=8, p=1: 32 MiB and about a tenth of a second a guess on one core.
_N, _R, _P = 2**15, 8, 1
_MAXMEM = 64 * 1024 * 1024


def check_operator_name(name: object) -> str:
    """An operator's name: 1 to 64 letters, digits, '.', '_', '@' or '-' (`InvalidRequest`)."""
    if not isinstance(name, str) or not OPERATOR_NAME.fullmatch(name):
        raise InvalidRequest("an operator's name is 1 to 64 letters, digits, '.', '_', '@' or '-'")
    return name


def hash_password(password: str) -> str:
    """`scrypt$N$r$p$salt$hash` (base64) of *password*, with a new random salt."""
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise InvalidRequest(
            f"a password is {MIN_PASSWORD} to {MAX_PASSWORD} characters: use a generated one"
        )
    salt = secrets.token_bytes(16)
    digest = _scrypt(password, salt, _N, _R, _P)
    return "$".join(["scrypt", str(_N), str(_R), str(_P), _b64(salt), _b64(digest)])


def verify_password(password: str, encoded: str) -> bool:
    """Whether *password* is the one *encoded* (from `hash_password`) was made from."""
    try:
        kind, n, r, p, salt, digest = encoded.split("$")
        if kind != "scrypt":
            return False
        expected = base64.b64decode(digest)
        actual = _scrypt(password[:MAX_PASSWORD], base64.b64decode(salt), int(n), int(r), int(p))
    except ValueError:
        return False
    return hmac.compare_digest(actual, expected)


_DUMMY_HASH = "$".join(["scrypt", str(_N), str(_R), str(_P), "A" * 24, "A" * 44])


def spend_a_check(password: str) -> None:
    """The work of one `verify_password`, for a name that has no operator: a sign-in takes as
    long for an unknown name as for a wrong password."""
    verify_password(password, _DUMMY_HASH)


def new_password() -> str:
    """A generated password: 128 random bits, URL-safe."""
    return secrets.token_urlsafe(16)


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=_MAXMEM, dklen=32
    )


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _utc(moment: dt.datetime) -> dt.datetime:
    return as_utc(moment, "time")


@attrs.frozen
class Operator:
    """A person who reviews requests in the console. Decisions they make there are recorded
    as `operator:<name>`."""

    name: str
    password_hash: str = attrs.field(repr=False)
    created_time: dt.datetime = attrs.field(converter=_utc)
