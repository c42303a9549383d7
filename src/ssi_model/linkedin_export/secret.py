"""The per-installation secret behind the pseudonymous member id.

A hash of a member's name or profile URL with a public salt can be recomputed by anyone who
guesses the name; an HMAC with a key that never leaves this installation cannot. The key is a
random 256-bit value, generated on first use into ``SSI_SECRET_FILE`` (default ``.ssi-secret`` in
the working directory, kept out of git) and read from there afterwards, so ids stay stable across
runs of the same installation and differ between installations.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

from ssi_model.errors import UserError

SECRET_BYTES = 32
_MIN_HEX_CHARS = 32  # a hand-made key shorter than 128 bits is refused


def installation_secret(path: str | os.PathLike[str]) -> bytes:
    """The key in ``path``, created (random, owner-only permissions) if the file does not exist."""
    file = Path(path)
    if not file.exists():
        _create(file)
    try:
        text = file.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read the secret file {file} ({type(exc).__name__})") from None
    try:
        key = bytes.fromhex(text)
    except ValueError:
        key = b""
    if len(text) < _MIN_HEX_CHARS or not key:
        raise UserError(f"the secret file {file} does not hold a key of at least "
                        f"{_MIN_HEX_CHARS} hex digits; delete it to have a new one generated "
                        "(member ids will change)")
    return key


def _create(file: Path) -> None:
    """Write a new key atomically: concurrent first uses (API threads, two commands) end up with
    the same key, and nobody ever reads a half-written file."""
    temporary = file.with_name(f".{file.name}.{secrets.token_hex(6)}.tmp")
    try:
        file.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(secrets.token_hex(SECRET_BYTES) + "\n")
        # A hard link never replaces an existing file: whoever links first wins, the others
        # read the winner's key.
        with contextlib.suppress(FileExistsError):
            os.link(temporary, file)
    except OSError as exc:
        raise UserError(f"cannot create the secret file {file} ({type(exc).__name__})") from None
    finally:
        with contextlib.suppress(OSError):
            temporary.unlink()
