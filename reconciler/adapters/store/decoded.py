"""Decoded deployment records, kept by the stored text they came from.

Used by `SqliteStore`: the drift job reads every record every 30 seconds, as do full ticks and
`status`, and decoding them all (two specs and a history each) took 0.6 s at 5,000 records. A
record now decodes once per stored text; every load still hands out its own copy.
"""

from __future__ import annotations

import dataclasses
import json
import threading
from collections.abc import Collection

from reconciler.adapters.store.codec import decode_deployment
from reconciler.domain.model import Deployment


class DecodedRecords:
    """`decode(name, text)` is `decode_deployment(json.loads(text))`, decoded once per text."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_name: dict[str, tuple[str, Deployment]] = {}

    def decode(self, name: str, text: str) -> Deployment:
        """A fresh deployment for the record `text`: callers may change it freely."""
        with self._lock:
            known = self._by_name.get(name)
        if known is None or known[0] != text:
            # Decoded outside the lock: a thread that races here decodes the same text twice.
            known = (text, decode_deployment(json.loads(text)))
            with self._lock:
                self._by_name[name] = known
        return _copy(known[1])

    def keep_only(self, names: Collection[str]) -> None:
        """Forget every record not named: what left the store leaves the cache."""
        with self._lock:
            for name in self._by_name.keys() - set(names):
                del self._by_name[name]


def _copy(template: Deployment) -> Deployment:
    # Every field but the two lists holds immutable values, so sharing them is safe.
    return dataclasses.replace(template, history=list(template.history), pending_events=[])
