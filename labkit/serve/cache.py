"""A prediction cache keyed by content (notebook 06): SHA-256 of bytes, shape and dtype; LRU, byte-bounded.

Thread-safe (one lock), with hits, misses and evictions counted.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import cachetools
import numpy as np


def array_key(array: np.ndarray) -> str:
    """SHA-256 over dtype, shape and the C-contiguous bytes: equal only for identical inputs."""
    array = np.ascontiguousarray(array)
    digest = hashlib.sha256()
    digest.update(f"{array.dtype.str}|{array.shape}|".encode())
    digest.update(array.tobytes())
    return digest.hexdigest()


@dataclass(frozen=True)
class CacheStats:
    """Counters of a PredictionCache."""

    hits: int
    misses: int
    evictions: int
    entries: int
    bytes: int

    @property
    def hit_rate(self) -> float:
        lookups = self.hits + self.misses
        return self.hits / lookups if lookups else 0.0


class _CountingLRU(cachetools.LRUCache):
    """An LRUCache that counts what it evicts."""

    def __init__(self, maxsize: int, getsizeof: Callable[[Any], int]) -> None:
        super().__init__(maxsize=maxsize, getsizeof=getsizeof)
        self.evictions = 0

    def popitem(self) -> tuple[Any, Any]:
        self.evictions += 1
        return super().popitem()


class PredictionCache:
    """Memoise `predict(array) -> np.ndarray` by input content, LRU within `max_bytes` of answers.

    `key` maps an input to its cache key (`array_key` by default; another function, e.g. a learner's, can
    be tried in its place: whatever it returns must be hashable).
    """

    def __init__(
        self,
        predict: Callable[[np.ndarray], Any],
        max_bytes: int = 16 * 2**20,
        *,
        key: Callable[[np.ndarray], Any] = array_key,
    ) -> None:
        if max_bytes < 1:
            raise ValueError(f"max_bytes must be at least 1; got {max_bytes}.")
        self._predict = predict
        self._key = key
        self._lock = threading.Lock()
        self._store = _CountingLRU(max_bytes, getsizeof=lambda value: max(1, value.nbytes))
        self._hits = 0
        self._misses = 0

    def __call__(self, array: np.ndarray) -> np.ndarray:
        """The cached answer for this exact input, or the model's (then cached). Returns a read-only array."""
        key = self._key(array)
        with self._lock:
            found = self._store.get(key)
            if found is not None:
                self._hits += 1
                return found
            self._misses += 1
        answer = np.array(self._predict(array), copy=True)
        answer.setflags(write=False)
        if answer.nbytes <= self._store.maxsize:
            with self._lock:
                self._store[key] = answer
        return answer

    def stats(self) -> CacheStats:
        with self._lock:
            return CacheStats(
                self._hits, self._misses, self._store.evictions, len(self._store), int(self._store.currsize)
            )
