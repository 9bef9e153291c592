"""labkit.serve.cache: content keys, LRU eviction within a byte bound, counters, sharing between threads."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from labkit.serve import cache


def test_keys_follow_content_shape_and_dtype() -> None:
    a = np.zeros((2, 784), dtype=np.float32)
    b = a.copy()
    b[0, 400] = 1.0
    assert str(a) == str(b), "the two arrays print alike (NumPy elides the middle)"
    assert cache.array_key(a) != cache.array_key(b)
    assert cache.array_key(a) == cache.array_key(a.copy())
    assert cache.array_key(a) != cache.array_key(a.reshape(784, 2))
    assert cache.array_key(a) != cache.array_key(a.astype(np.float64))
    assert cache.array_key(np.asfortranarray(b)) == cache.array_key(b), "memory layout is not content"


def entry(value: float) -> np.ndarray:
    return np.full(10, value, dtype=np.float32)  # 40 bytes per answer


def test_least_recently_used_is_evicted_within_the_byte_bound() -> None:
    calls: list[float] = []

    def predict(x: np.ndarray) -> np.ndarray:
        calls.append(float(x[0]))
        return entry(float(x[0]))

    memo = cache.PredictionCache(predict, max_bytes=80)  # room for two answers
    a, b, c = (np.array([v], dtype=np.float32) for v in (1.0, 2.0, 3.0))
    for x in (a, b, a, c, a, b):
        memo(x)
    # a, b miss; a hits; c misses and evicts b (least recently used, not a, the oldest); a hits; b misses
    assert calls == [1.0, 2.0, 3.0, 2.0], calls
    stats = memo.stats()
    assert (stats.hits, stats.misses, stats.evictions, stats.entries, stats.bytes) == (2, 4, 2, 2, 80), stats
    assert stats.hit_rate == pytest.approx(2 / 6)


def test_answers_are_read_only_copies() -> None:
    source = entry(5.0)
    memo = cache.PredictionCache(lambda x: source, max_bytes=1000)
    answer = memo(np.zeros(3))
    source[:] = 0.0
    assert answer[0] == 5.0, "the cached answer changed with the model's buffer"
    with pytest.raises(ValueError, match="read-only"):
        answer[0] = 1.0


def test_bad_bound_is_refused() -> None:
    with pytest.raises(ValueError, match="max_bytes must be at least 1; got 0"):
        cache.PredictionCache(lambda x: x, max_bytes=0)


def test_threads_share_one_cache_without_losing_counts() -> None:
    memo = cache.PredictionCache(lambda x: x * 2.0, max_bytes=10_000)
    inputs = [np.full(4, i, dtype=np.float64) for i in range(20)]
    wrong: list[int] = []

    def worker(offset: int) -> None:
        for n in range(500):
            i = (n + offset) % 20
            if not np.array_equal(memo(inputs[i]), inputs[i] * 2.0):
                wrong.append(i)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stats = memo.stats()
    assert not wrong, f"wrong answers for inputs {sorted(set(wrong))}"
    assert stats.hits + stats.misses == 8 * 500, stats
    assert stats.entries == 20 and stats.misses >= 20, stats


def test_another_key_function_can_be_plugged_in() -> None:
    def printout_key(x: np.ndarray) -> str:  # the source article's mistake: a printout is not the content
        return str(x)

    a = np.zeros((2, 784), dtype=np.float32)
    b = a.copy()
    b[1, 400] = 1.0
    wrong = cache.PredictionCache(lambda x: x.sum(axis=1), max_bytes=1000, key=printout_key)
    right = cache.PredictionCache(lambda x: x.sum(axis=1), max_bytes=1000)
    assert wrong(a)[1] == 0.0 and wrong(b)[1] == 0.0, "b got a's answer through the printout key"
    assert right(a)[1] == 0.0 and right(b)[1] == 1.0
    assert (wrong.stats().hits, right.stats().hits) == (1, 0)
    unhashable = cache.PredictionCache(lambda x: x, max_bytes=1000, key=lambda x: [x.size])
    with pytest.raises(TypeError, match="unhashable"):
        unhashable(a)
