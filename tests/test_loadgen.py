"""labkit.serve.loadgen against an in-process aiohttp server: order, errors, time limit, raw bodies."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable

import numpy as np
import pytest
from aiohttp import web

from labkit.serve import loadgen


async def with_server(scenario: Callable[[str], Awaitable[object]]) -> object:
    """Serve POST /echo on 127.0.0.1 (a free port) while `scenario(url)` runs; always stopped."""

    async def echo(request: web.Request) -> web.Response:
        body = await request.read()
        if request.content_type == "application/octet-stream":
            x = np.frombuffer(body, "<f4")
            return web.json_response({"predictions": [x.tolist()]})
        payload = json.loads(body)
        if payload["instances"][0][0] < 0:
            return web.json_response({"error": "negative input"}, status=400)
        await asyncio.sleep(0.05 * (len(payload["instances"]) % 3))  # finish out of order
        return web.json_response({"predictions": payload["instances"]})

    app = web.Application()
    app.router.add_post("/echo", echo)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        return await scenario(f"http://127.0.0.1:{port}/echo")
    finally:
        await runner.cleanup()


def test_replies_come_back_in_input_order_with_the_server_errors() -> None:
    batches = [np.full((n % 3 + 1, 2), n, np.float32) for n in range(9)] + [np.full((1, 2), -1.0)]
    replies = asyncio.run(with_server(lambda url: loadgen.predict_all(url, batches, concurrency=4)))
    assert [r.index for r in replies] == list(range(10)), [r.index for r in replies]
    for batch, reply in zip(batches[:9], replies[:9], strict=True):
        assert reply.ok and np.array_equal(reply.predictions, batch), (reply.status, reply.error)
    assert replies[9].status == 400 and replies[9].error == "negative input", replies[9]
    assert replies[9].predictions is None and replies[9].latency_ms > 0, replies[9]


def test_a_load_run_counts_answers_errors_and_feeds_every_reply_to_its_observer() -> None:
    bodies = loadgen.json_bodies([np.ones((1, 2))] * 20 + [-np.ones((1, 2))] * 2)
    seen: list[loadgen.Reply] = []
    result = asyncio.run(
        with_server(
            lambda url: loadgen.run_load(
                url, bodies, concurrency=5, examples_per_request=1, on_reply=seen.append
            )
        )
    )
    assert result.completed == 20 and len(result.errors) == 2, (result.completed, result.errors)
    assert len(seen) == 22 and result.replies == tuple(seen), (len(seen), len(result.replies))
    assert result.examples_per_s > 0 and result.percentile(50) <= result.percentile(99), result


def test_no_request_starts_after_the_time_limit() -> None:
    bodies = loadgen.json_bodies([np.ones((2, 2))] * 200)  # 2 examples: each answer waits 0.1 s
    result = asyncio.run(
        with_server(lambda url: loadgen.run_load(url, bodies, concurrency=2, time_limit_s=0.3))
    )
    assert 2 <= result.completed <= 12 and result.errors == [], (result.completed, result.errors)
    assert result.seconds < 2.0, f"the run took {result.seconds:.2f} s with a 0.3 s limit"


def test_raw_float32_bodies_arrive_as_sent() -> None:
    x = np.arange(4, dtype=np.float32).reshape(1, 4)
    replies = asyncio.run(
        with_server(
            lambda url: loadgen.send_all(
                url, loadgen.raw_bodies([x]), concurrency=1, content_type=loadgen.RAW
            )
        )
    )
    assert replies[0].ok and replies[0].answer["predictions"] == [[0.0, 1.0, 2.0, 3.0]], replies[0]


def _run(latencies_ms: np.ndarray, seconds: float, examples_per_request: int = 1) -> loadgen.LoadResult:
    return loadgen.LoadResult(np.asarray(latencies_ms, float), seconds, [], examples_per_request)


def test_the_batching_claim_needs_both_the_throughput_and_a_p99_that_is_not_worse() -> None:
    rng = np.random.default_rng(0)
    baseline = _run(rng.uniform(5, 10, 400), 4.0)
    # 32 examples per request, 6x the examples/s, but each request takes much longer: p99 part fails
    slow_big = loadgen.batching_claim(
        baseline, _run(rng.uniform(40, 60, 50), 50 / 400 * 4.0 * 32 / 6, 32), labels=("single", "batched")
    )
    assert slow_big.throughput_ratio == pytest.approx(6.0)
    assert slow_big.throughput_met and slow_big.p99.word == "slower"
    assert not slow_big.p99_met and not slow_big.met
    assert "not met in this run" in slow_big.report() and "p99 part not met" in slow_big.report()
    # the same latencies, 4x the throughput: no detectable p99 difference counts as "the same"
    same = loadgen.batching_claim(baseline, _run(rng.uniform(5, 10, 400), 1.0), labels=("single", "batched"))
    assert same.p99.word == "no detectable difference" and same.met
    assert "met in this run (throughput part met, p99 part met)" in same.report()
    # a lower p99 but only 2x the throughput: the throughput part fails
    low = loadgen.batching_claim(baseline, _run(rng.uniform(1, 2, 400), 2.0), labels=("single", "batched"))
    assert low.p99.word == "faster" and not low.throughput_met and not low.met


def test_the_batching_claim_refuses_a_run_without_answers() -> None:
    with pytest.raises(ValueError, match="answered requests"):
        loadgen.batching_claim(_run([], 1.0), _run([1.0, 2.0], 1.0), labels=("a", "b"))
