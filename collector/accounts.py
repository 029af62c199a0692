"""Accounts, roles and secrets: pure logic, no I/O (the store keeps them, collector.web.auth asks).

Roles are ordered: a ``viewer`` reads, an ``operator`` also acts on rooms (acknowledge,
schedule meetings), an ``admin`` also manages rooms, users and tokens. An account or
token may be limited to units (districts, departments); with none it sees every unit.

Passwords are hashed with scrypt (memory-hard, in the standard library); the
parameters and the random salt are stored with the hash, so they can be raised
later without invalidating existing passwords. API tokens and session ids are
random 256-bit values, stored as SHA-256 (``collector.store.hash_token``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from collector.status import iso

VIEWER = "viewer"
OPERATOR = "operator"
ADMIN = "admin"
ROLES = (VIEWER, OPERATOR, ADMIN)
_RANK = {role: rank for rank, role in enumerate(ROLES)}

NAME = re.compile(r"[a-z0-9][a-z0-9._@-]{0,63}")
MIN_PASSWORD = 10
MAX_PASSWORD = 1024  # scrypt hashes anything, but a megabyte "password" is an attack, not a password
TOKEN_PREFIX = "brc_"  # tells an API token from a room token at a glance (and to secret scanners)

# N=2^14, r=8: 16 MiB and ~50 ms per hash, OWASP's minimum for scrypt.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
_MAXMEM = 64 * 2**20


@dataclass(frozen=True)
class Principal:
    """Who a request acts as: a dashboard user (``session``) or an API token (``token``)."""

    kind: str  # 'session' or 'token'
    name: str
    role: str
    units: tuple[str, ...] = ()  # empty: every unit

    @property
    def actor(self) -> str:
        """The name written to the audit trail."""
        return self.name if self.kind == "session" else f"token:{self.name}"

    def allows(self, role: str) -> bool:
        return _RANK.get(self.role, -1) >= _RANK[role]

    def sees(self, unit: str) -> bool:
        return not self.units or unit in self.units

    @property
    def scope(self) -> tuple[str, ...] | None:
        """The units it is limited to, or None for every unit."""
        return self.units or None


def name_problem(name: str) -> str | None:
    if not NAME.fullmatch(name):
        return f"name {name!r}: expected [a-z0-9][a-z0-9._@-]{{0,63}}"
    return None


def role_problem(role: str, units: tuple[str, ...]) -> str | None:
    if role not in ROLES:
        return f"role {role!r}: expected one of {', '.join(ROLES)}"
    if role == ADMIN and units:
        return "an admin manages every unit: --unit is for viewers and operators"
    if any(not u.strip() for u in units):
        return "--unit must not be empty"
    return None


def password_problem(password: str) -> str | None:
    if len(password) < MIN_PASSWORD:
        return f"the password must be at least {MIN_PASSWORD} characters"
    if len(password) > MAX_PASSWORD:
        return f"the password must be at most {MAX_PASSWORD} characters"
    return None


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4))


def hash_password(password: str, *, n: int = SCRYPT_N, r: int = SCRYPT_R, p: int = SCRYPT_P) -> str:
    """``scrypt$N$r$p$salt$hash`` with a random 16-byte salt."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, maxmem=_MAXMEM, dklen=32)
    return f"scrypt${n}${r}${p}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches ``stored``; False for anything malformed."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = _unb64(digest)
        given = hashlib.scrypt(password.encode(), salt=_unb64(salt), n=int(n), r=int(r), p=int(p),
                               maxmem=_MAXMEM, dklen=len(expected))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(given, expected)


@lru_cache(maxsize=1)
def dummy_hash() -> str:
    """Checked against for unknown users, so a login takes as long whether the name exists or not."""
    return hash_password(secrets.token_urlsafe(16))


def new_api_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def new_session_id() -> str:
    return secrets.token_urlsafe(32)


def audit_json(entry: dict[str, Any]) -> dict[str, Any]:
    """An audit row as the CLI's ``--json`` and ``/api/v1/audit`` show it."""
    return {"at": iso(entry["at"]), "actor": entry["actor"], "source": entry["source"],
            "action": entry["action"], "target": entry["target"], "detail": entry["detail"]}
