"""API keys and roles (FR-014): made once, shown once, kept only as a hash.

A key is ``qk_`` followed by 32 random bytes (``secrets.token_urlsafe``). The store keeps
its :func:`hash_key` digest, the roles it grants and its first 8 characters (so a user can
tell keys apart in ``qorch keys list``), never the key itself. Roles are ``read`` (every
GET and websocket), ``submit`` (submit and cancel jobs) and ``admin`` (everything);
``submit`` does not imply ``read``.

Kernel module: no peewee, no libp2p, nothing beyond the standard library and
:mod:`qorch.errors`.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Collection

from qorch.errors import ConfigError

#: Every role a key may hold, from least to most powerful (FR-014).
ROLES: tuple[str, ...] = ("read", "submit", "admin")

#: Characters shown by ``qorch keys list`` to tell keys apart (FR-014).
PREFIX_LEN = 8

_NAME = re.compile(r"[A-Za-z0-9._@-]{1,64}")


def new_key() -> str:
    """A new random API key, ``qk_`` + 256 random bits (FR-014)."""
    return "qk_" + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    """The sha256 hex digest of ``key``: what a store keeps instead of the key (FR-014).

    A fast, unsalted hash is enough here, unlike for passwords: keys are 256 random bits
    made by :func:`new_key`, so there is no dictionary to try and no use in slowing a
    guess down; it also lets a request's key be found by its digest in one look-up.
    """
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def key_prefix(key: str) -> str:
    """The first :data:`PREFIX_LEN` characters of ``key``, stored to tell keys apart."""
    return key[:PREFIX_LEN]


def parse_roles(text: str) -> tuple[str, ...]:
    """The roles of ``"read,submit"``: deduplicated, in :data:`ROLES` order (FR-014).

    Items may have spaces around them. An unknown role, an empty item or no role at all
    raises :class:`~qorch.errors.ConfigError` naming the valid roles.
    """
    items = [item.strip() for item in text.split(",")]
    unknown = [item for item in items if item not in ROLES]
    if unknown:
        bad = ", ".join(repr(item) for item in unknown)
        raise ConfigError(
            [
                f"API key roles {text!r}: unknown or empty role {bad}; "
                f"give a comma-separated list of {', '.join(ROLES)}"
            ]
        )
    return tuple(role for role in ROLES if role in items)


def check_name(name: str) -> str:
    """``name`` if it may name a key: 1-64 ASCII letters, digits, ``.``, ``_``, ``@``, ``-``.

    Anything else (empty, whitespace, control characters, ...) raises
    :class:`~qorch.errors.ConfigError` (FR-014: names end up in logs and replies).
    """
    if not _NAME.fullmatch(name):
        raise ConfigError(
            [
                f"API key name {name!r}: use 1-64 of the characters A-Z a-z 0-9 . _ @ - "
                "(no spaces or control characters)"
            ]
        )
    return name


def allows(roles: Collection[str], needed: str) -> bool:
    """Whether a key holding ``roles`` may do something that needs ``needed`` (FR-014).

    ``admin`` allows everything; otherwise the key must hold ``needed`` itself (``submit``
    does not imply ``read``). ``needed`` must be one of :data:`ROLES` (ValueError else: a
    typo in a route's role is a bug, not a refusal).
    """
    if needed not in ROLES:
        raise ValueError(f"unknown role {needed!r}; roles are {', '.join(ROLES)}")
    return "admin" in roles or needed in roles
