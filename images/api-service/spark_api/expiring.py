"""A bounded table whose entries are good until a time of their own (the status and token caches).

``get`` answers only an entry still good at ``now`` (and forgets one that is not); ``put`` keeps at
most ``max_entries``, the least recently used leave first. The caller's clock (monotonic or wall)
is the caller's choice, and so is ``math.inf`` for an entry that never expires. Single-threaded:
used from the event loop only.
"""
from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Expiring(Generic[K, V]):
    def __init__(self, max_entries: int) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self.max_entries = max_entries
        self._entries: OrderedDict[K, tuple[float, V]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: K, now: float) -> V | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if now >= entry[0]:
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return entry[1]

    def put(self, key: K, value: V, until: float = math.inf) -> None:
        self._entries[key] = (until, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def pop(self, key: K) -> None:
        self._entries.pop(key, None)

    def drop_if(self, unwanted: Callable[[V], bool]) -> int:
        """Forget every entry whose value is ``unwanted``; how many went."""
        gone = [key for key, (_, value) in self._entries.items() if unwanted(value)]
        for key in gone:
            del self._entries[key]
        return len(gone)
