"""A one-way fingerprint of the settings a detached actor was created with.

Ray keeps a detached actor's constructor arguments for its whole life, restarts included, so a
``serve`` started with a changed configuration would otherwise run on beside actors holding the
old one. ``actors.deployment`` records each actor's fingerprint when it creates it and replaces the
actor when the configuration's fingerprint differs.

The settings include secrets (channel credentials, a password in the Redis URL): they enter the
hash with their values, so a changed credential changes the fingerprint, but the fingerprint is
all that is ever stored or shown.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import PurePath
from typing import Any

import orjson
from pydantic import BaseModel, SecretBytes, SecretStr

SALT = b"skusync-settings-v1"
"""Changing it changes every fingerprint: every actor is replaced once (a new encoding, say)."""

ROUNDS = 20_000
"""PBKDF2 rounds (about 12 ms on the 2-core EPYC, once per distinct settings: cached). Stretched
rather than one SHA-256 because the records sit in Redis next to everything else a reader of it
could combine with guesses: a short webhook secret must not be cheap to confirm from its
fingerprint."""


def fingerprint(settings: Any) -> str:
    """32 hex characters that change whenever any value in ``settings`` does.

    ``settings``: what the actor is created with, as built for its constructor: primitives,
    sequences, mappings, pydantic models (every field, extras included), secrets by their value.
    Mapping order does not count; sequence order does (a channel list's order is not a setting,
    so callers pass what is ordered by meaning).
    """
    return _stretched(canonical(settings))


def canonical(settings: Any) -> bytes:
    """The bytes the fingerprint is taken over: JSON with sorted keys and secrets revealed.

    Only ever hashed: never log or return it.
    """
    return orjson.dumps(settings, default=_plain, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)


def _plain(value: Any) -> Any:
    if isinstance(value, SecretStr | SecretBytes):
        secret = value.get_secret_value()
        return secret.decode("utf-8", "surrogateescape") if isinstance(secret, bytes) else secret
    if isinstance(value, BaseModel):
        # Python mode keeps secrets as SecretStr (JSON mode would mask them to "**********", and
        # a changed credential would then leave the fingerprint as it was).
        return value.model_dump(mode="python")
    if isinstance(value, PurePath):
        return str(value)
    raise TypeError(f"no fingerprint for a {type(value).__name__}")


@lru_cache(maxsize=256)
def _stretched(blob: bytes) -> str:
    return hashlib.pbkdf2_hmac("sha256", blob, SALT, ROUNDS)[:16].hex()
