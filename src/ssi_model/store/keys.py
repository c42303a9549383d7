"""API keys for coaches: 256 random bits, shown once, stored as SHA-256.

Why a fast hash and not scrypt/argon2: slow, salted hashes exist to make guessing a *low-entropy*
secret (a password) expensive. A key here is 32 bytes from ``secrets`` (2^256 possibilities), so
no amount of hashing speed makes guessing feasible, while a slow hash would cost tens of
milliseconds on every request. An unsalted digest also lets a request find its coach with one
indexed lookup instead of trying every coach's salt. This is how GitHub and PyPI store tokens.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

KEY_PREFIX = "ssi_"  # recognisable in a config file or a leaked-secret scan


def new_key() -> str:
    """A fresh API key: the prefix and 32 random bytes, URL-safe."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    """SHA-256 hex digest of the key, as stored in ``coaches.key_hash``."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def same_key(given: str | None, expected: str | None) -> bool:
    """Constant-time comparison (for the administrator's ``SSI_API_KEY``)."""
    if not given or not expected:
        return False
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))
