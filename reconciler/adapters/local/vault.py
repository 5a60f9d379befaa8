"""Secret values at rest: encrypted with a key only the owner can read, compared by keyed digest.

The host stores resolved `secretRef` values encrypted, so a restarted host can serve them
without the daemon, and never in plain text. Both the host and the engine compute the same
digests, so a changed secret shows up in plans and drift without the value leaving memory.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from reconciler.adapters.local.paths import read_or_create_secret


class Vault:
    """Encrypts and digests secret values with the key in `key_file`."""

    def __init__(self, key_file: Path) -> None:
        key = read_or_create_secret(key_file, lambda: Fernet.generate_key().decode()).strip()
        self._fernet = Fernet(key.encode())
        # A separate key for digests, derived so a digest never helps decrypt anything.
        self._digest_key = hashlib.sha256(b"reconciler-secret-digest:" + key.encode()).digest()

    def seal(self, values: Mapping[str, str]) -> str:
        """Encrypt a mapping of secret values into one token."""
        return self._fernet.encrypt(json.dumps(dict(values), sort_keys=True).encode()).decode()

    def open(self, token: str) -> dict[str, str]:
        """Decrypt a token made by `seal`; an unreadable token yields no secrets."""
        try:
            values = json.loads(self._fernet.decrypt(token.encode()))
        except InvalidToken:
            return {}
        return {str(name): str(value) for name, value in values.items()}

    def digests(self, values: Mapping[str, str]) -> dict[str, str]:
        """A keyed digest per secret: equal digests, equal values; the value stays unknown."""
        return {
            name: hmac.new(self._digest_key, value.encode(), hashlib.sha256).hexdigest()[:32]
            for name, value in values.items()
        }
