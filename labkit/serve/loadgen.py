"""The serving lessons' async HTTP client and load generator (aiohttp): bounded, timed, in input order.

Bodies are prepared before the clock starts, a semaphore bounds the requests in flight, every request has a
timeout, a failure's latency is the time it took to fail, and the generator's own heap is frozen for the
garbage collector during a run so its collections are not charged to the server's tail latency.
"""

from __future__ import annotations

import asyncio
import gc
import json
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp
import numpy as np

from labkit import verdict
from labkit.verdict import Verdict

JSON = "application/json"
RAW = "application/octet-stream"


@dataclass(frozen=True)
class Reply:
    """One request's reply: HTTP status (None when no answer came), latency, the decoded body or the error."""

    index: int
    status: int | None
    latency_ms: float
    sent_s: float  # when it was sent, perf_counter seconds
    answer: Any = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == 200

    @property
    def predictions(self) -> np.ndarray | None:
        """The answer's `predictions` as float32 (TF Serving, TorchServe and the async service all use it)."""
        return np.asarray(self.answer["predictions"], dtype=np.float32) if self.ok else None


@dataclass(frozen=True)
class LoadResult:
    """What a bounded load run measured: latencies of the answered requests, wall time, errors, replies."""

    latencies_ms: np.ndarray
    seconds: float
    errors: list[str]
    examples_per_request: int
    replies: tuple[Reply, ...] = ()

    @property
    def completed(self) -> int:
        return int(self.latencies_ms.size)

    @property
    def requests_per_s(self) -> float:
        return self.completed / self.seconds if self.seconds > 0 else 0.0

    @property
    def examples_per_s(self) -> float:
        return self.requests_per_s * self.examples_per_request

    def percentile(self, q: float) -> float:
        return float(np.percentile(self.latencies_ms, q)) if self.completed else float("nan")


def json_bodies(batches: Sequence[np.ndarray]) -> list[bytes]:
    """Each batch as the JSON body `{"instances": ...}` (float32 values), prepared before any timing."""
    return [json.dumps({"instances": np.asarray(x, dtype=np.float32).tolist()}).encode() for x in batches]


def raw_bodies(batches: Sequence[np.ndarray]) -> list[bytes]:
    """Each batch as little-endian float32 bytes (TorchServe's raw input to labkit's handler)."""
    return [np.asarray(x, dtype="<f4").tobytes() for x in batches]


async def _one(
    session: aiohttp.ClientSession,
    request: tuple[int, bytes],
    *,
    url: str,
    headers: dict[str, str],
    gate: asyncio.Semaphore,
    stop_at: float,
) -> Reply | None:
    index, body = request
    async with gate:
        start = time.perf_counter()
        if start >= stop_at:
            return None  # the time limit passed before this request could start: it is not sent
        try:
            async with session.post(url, data=body, headers=headers) as response:
                answer: Any = await response.json(content_type=None)
                status = response.status
        except (TimeoutError, aiohttp.ClientError, ValueError) as error:
            elapsed = (time.perf_counter() - start) * 1000
            return Reply(index, None, elapsed, start, error=f"{type(error).__name__}: {error}")
        elapsed = (time.perf_counter() - start) * 1000
    if status != 200:
        message = (
            answer.get("error", answer.get("message", str(answer))) if isinstance(answer, dict) else answer
        )
        return Reply(index, status, elapsed, start, error=str(message))
    return Reply(index, status, elapsed, start, answer=answer)


async def send_all(
    url: str,
    bodies: Sequence[bytes],
    *,
    concurrency: int = 32,
    timeout_s: float = 10.0,
    time_limit_s: float | None = None,
    content_type: str = JSON,
    headers: dict[str, str] | None = None,
) -> list[Reply]:
    """POST prepared bodies, at most `concurrency` in flight; replies in input order.

    With `time_limit_s`, no request starts after that many seconds; those are left out of the replies.
    `headers` go with every request, besides its Content-Type.
    """
    if concurrency < 1 or timeout_s <= 0 or (time_limit_s is not None and time_limit_s <= 0):
        raise ValueError(
            "concurrency must be >= 1 and timeout_s and time_limit_s > 0; "
            f"got {concurrency}, {timeout_s} and {time_limit_s}."
        )
    gate = asyncio.Semaphore(concurrency)
    stop_at = time.perf_counter() + time_limit_s if time_limit_s is not None else float("inf")
    sent_headers = {"Content-Type": content_type, **(headers or {})}
    timeout = aiohttp.ClientTimeout(total=timeout_s)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
        replies = await asyncio.gather(
            *(
                _one(session, request, url=url, headers=sent_headers, gate=gate, stop_at=stop_at)
                for request in enumerate(bodies)
            )
        )
    return [reply for reply in replies if reply is not None]


async def predict_all(
    url: str, batches: Sequence[np.ndarray], *, concurrency: int = 32, timeout_s: float = 10.0
) -> list[Reply]:
    """POST each batch as `{"instances": ...}`, at most `concurrency` in flight; replies in input order."""
    return await send_all(url, json_bodies(batches), concurrency=concurrency, timeout_s=timeout_s)


async def run_load(
    url: str,
    bodies: Sequence[bytes],
    *,
    concurrency: int,
    time_limit_s: float | None = 30.0,
    timeout_s: float = 10.0,
    content_type: str = JSON,
    headers: dict[str, str] | None = None,
    examples_per_request: int = 1,
    on_reply: Callable[[Reply], None] | None = None,
) -> LoadResult:
    """A timed load run over prepared bodies: the clock runs from the first send to the last answer.

    No request starts after `time_limit_s` (None: no limit). `on_reply` sees every reply after the clock
    stops (a monitor fed from the run, say).
    """
    send = send_all(
        url,
        bodies,
        concurrency=concurrency,
        timeout_s=timeout_s,
        time_limit_s=time_limit_s,
        content_type=content_type,
        headers=headers,
    )
    return await _timed(send, examples_per_request=examples_per_request, on_reply=on_reply)


async def run_grpc_load(
    target: str,
    method: str,
    messages: Sequence[bytes],
    *,
    concurrency: int,
    time_limit_s: float | None = 30.0,
    timeout_s: float = 10.0,
    examples_per_request: int = 1,
) -> LoadResult:
    """`run_load` over gRPC: serialized request messages to `method` (e.g.
    "/tensorflow.serving.PredictionService/Predict") on one channel to `target` ("host:port"); a reply's
    `answer` is the serialized response message, and its status 200 stands for gRPC's OK."""
    import grpc
    from grpc import aio

    async def send() -> list[Reply]:
        gate = asyncio.Semaphore(concurrency)
        stop_at = time.perf_counter() + time_limit_s if time_limit_s is not None else float("inf")
        async with aio.insecure_channel(target) as channel:
            call = channel.unary_unary(method)

            async def one(index: int, message: bytes) -> Reply | None:
                async with gate:
                    start = time.perf_counter()
                    if start >= stop_at:
                        return None
                    try:
                        answer = await call(message, timeout=timeout_s)
                    except grpc.aio.AioRpcError as error:
                        elapsed = (time.perf_counter() - start) * 1000
                        return Reply(
                            index, None, elapsed, start, error=f"{error.code().name}: {error.details()}"
                        )
                    return Reply(index, 200, (time.perf_counter() - start) * 1000, start, answer=answer)

            replies = await asyncio.gather(*(one(i, m) for i, m in enumerate(messages)))
        return [reply for reply in replies if reply is not None]

    return await _timed(send(), examples_per_request=examples_per_request)


async def _timed(
    send: Awaitable[list[Reply]],
    *,
    examples_per_request: int,
    on_reply: Callable[[Reply], None] | None = None,
) -> LoadResult:
    """Await one run of sends with the clock running and the generator's heap frozen for the collector."""
    gc.collect()
    gc.freeze()  # the generator's own full collections would stall every request in flight
    try:
        start = time.perf_counter()
        replies = await send
        seconds = time.perf_counter() - start
    finally:
        gc.unfreeze()
    if on_reply is not None:
        for reply in replies:
            on_reply(reply)
    answered = np.array([r.latency_ms for r in replies if r.ok])
    errors = [f"{r.status}: {r.error}" for r in replies if not r.ok]
    return LoadResult(answered, seconds, errors, examples_per_request, tuple(replies))


@dataclass(frozen=True)
class BatchingClaim:
    """Both parts of "batching serves at least `min_ratio` x the examples/s at the same or lower p99".

    The throughput part is the ratio of examples/s; the p99 part is a bootstrap verdict
    (`labkit.verdict.ratio`, statistic 99) on the per-request latencies of the two load runs, so a p99 gap
    inside the noise is "no detectable difference", never a win or a loss read off two point estimates.
    """

    name: str
    throughput_ratio: float
    p99: Verdict
    min_ratio: float

    @property
    def throughput_met(self) -> bool:
        return self.throughput_ratio >= self.min_ratio

    @property
    def p99_met(self) -> bool:
        """The same or a lower p99: the verdict is not "slower"."""
        return self.p99.word != "slower"

    @property
    def met(self) -> bool:
        return self.throughput_met and self.p99_met

    def report(self) -> str:
        """Three printed lines: the throughput ratio, the p99 verdict, and met or not met (each part)."""

        def said(ok: bool) -> str:
            return "met" if ok else "not met"

        return (
            f"{self.name}: {self.throughput_ratio:.2f}x the examples/s\n"
            f"  per-request p99: {self.p99.sentence()}\n"
            f"  at least {self.min_ratio:g}x the examples/s at the same or lower p99: {said(self.met)} in "
            f"this run (throughput part {said(self.throughput_met)}, p99 part {said(self.p99_met)})"
        )


def batching_claim(
    baseline: LoadResult,
    batched: LoadResult,
    *,
    labels: tuple[str, str],
    min_ratio: float = 3.0,
    seed: int = 0,
) -> BatchingClaim:
    """Test "at least `min_ratio` x the examples/s of `baseline` at the same or lower p99" on `batched`."""
    if not baseline.completed or not batched.completed:
        raise ValueError(
            f"both load runs need answered requests; got {baseline.completed} and {batched.completed}."
        )
    p99 = verdict.ratio(
        baseline.latencies_ms,
        batched.latencies_ms,
        labels=(f"{labels[0]} (p99)", f"{labels[1]} (p99)"),
        statistic=99,
        seed=seed,
    )
    return BatchingClaim(labels[1], batched.examples_per_s / baseline.examples_per_s, p99, min_ratio)
