"""The seed's async client fixed (notebook 11): bounded concurrency, timeouts, honest latency, input order.

The seed's `predict_async` reports a latency of 0 for a failed request and `asyncio.gather` over an
unbounded list opens as many connections as there are requests. Here a semaphore bounds the requests in
flight, every request has a timeout, a failure's latency is the time it took to fail, and outcomes come
back in input order whatever order they finish in. It doubles as the notebook's load generator, which
encodes every body before its clock starts, as load tools send prepared requests, and freezes its own
heap for the garbage collector during the run: a full collection of a notebook's large heap can pause
every request in flight, which would be charged to the service's tail latency.
"""

from __future__ import annotations

import asyncio
import gc
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp
import numpy as np

from labkit.serving_client import LoadResult

JSON = {"Content-Type": "application/json"}


@dataclass(frozen=True)
class Outcome:
    """One request: HTTP status (None when no answer came), latency, and the predictions or the error."""

    index: int
    status: int | None
    latency_ms: float
    sent_s: float  # when it was sent, perf_counter seconds
    predictions: np.ndarray | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == 200


def encode(batches: Sequence[np.ndarray]) -> list[bytes]:
    """Each batch as the JSON body `{"instances": ...}` (float32 values), prepared before any timing."""
    return [json.dumps({"instances": np.asarray(x, dtype=np.float32).tolist()}).encode() for x in batches]


async def _one(
    session: aiohttp.ClientSession, url: str, index: int, body: bytes, gate: asyncio.Semaphore
) -> Outcome:
    async with gate:
        start = time.perf_counter()
        try:
            async with session.post(url, data=body, headers=JSON) as response:
                answer: Any = await response.json(content_type=None)
                status = response.status
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as error:
            elapsed = (time.perf_counter() - start) * 1000
            return Outcome(index, None, elapsed, start, error=f"{type(error).__name__}: {error}")
        elapsed = (time.perf_counter() - start) * 1000
    if status != 200:
        message = answer.get("error", str(answer)) if isinstance(answer, dict) else str(answer)
        return Outcome(index, status, elapsed, start, error=message)
    return Outcome(
        index, status, elapsed, start, predictions=np.asarray(answer["predictions"], dtype=np.float32)
    )


async def send_all(
    url: str, bodies: Sequence[bytes], concurrency: int = 32, timeout_s: float = 10.0
) -> list[Outcome]:
    """POST prepared JSON bodies, at most `concurrency` in flight; outcomes in input order."""
    if concurrency < 1 or timeout_s <= 0:
        raise ValueError(f"concurrency must be >= 1 and timeout_s > 0; got {concurrency} and {timeout_s}.")
    gate = asyncio.Semaphore(concurrency)
    timeout = aiohttp.ClientTimeout(total=timeout_s)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
        return list(
            await asyncio.gather(*(_one(session, url, i, body, gate) for i, body in enumerate(bodies)))
        )


async def predict_all(
    url: str, batches: Sequence[np.ndarray], concurrency: int = 32, timeout_s: float = 10.0
) -> list[Outcome]:
    """POST each batch as `{"instances": ...}`, at most `concurrency` in flight; outcomes in input order."""
    return await send_all(url, encode(batches), concurrency, timeout_s)


async def load(
    url: str, batches: Sequence[np.ndarray], concurrency: int = 32, timeout_s: float = 10.0
) -> tuple[LoadResult, list[Outcome]]:
    """A timed load run: bodies encoded first, then the clock runs from the first send to the last answer."""
    bodies = encode(batches)
    gc.collect()
    gc.freeze()  # the generator's own full collections would stall every request in flight
    try:
        start = time.perf_counter()
        outcomes = await send_all(url, bodies, concurrency, timeout_s)
        seconds = time.perf_counter() - start
    finally:
        gc.unfreeze()
    answered = np.array([o.latency_ms for o in outcomes if o.ok])
    errors = [f"{o.status}: {o.error}" for o in outcomes if not o.ok]
    per_request = int(np.mean([len(b) for b in batches])) if batches else 1
    return LoadResult(answered, seconds, errors, per_request), outcomes
