"""MicroBatcher: batches formed, answers routed back, failures and overload contained."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from labkit.serve import batching

ROW = np.full((1, 784), 0.5, np.float32)


def test_micro_batcher_joins_requests_and_routes_each_answer_back() -> None:
    calls: list[int] = []

    def double(x: np.ndarray) -> np.ndarray:
        calls.append(len(x))
        return x * 2

    async def burst() -> list[np.ndarray]:
        batcher = batching.MicroBatcher(double, max_batch=32, max_wait_ms=200, queue_limit=100)
        task = asyncio.create_task(batcher.run())
        inputs = [np.full((1, 3), i, np.float32) for i in range(64)]
        answers = await asyncio.gather(*(batcher.submit(x) for x in inputs))
        task.cancel()
        return answers

    answers = asyncio.run(burst())
    assert calls == [32, 32], f"model calls {calls} for 64 requests with max_batch 32"
    assert all(float(a[0, 0]) == 2 * i for i, a in enumerate(answers)), "an answer went to the wrong request"


def test_a_failing_model_fails_every_request_of_its_batch_and_the_batcher_goes_on() -> None:
    def fragile(x: np.ndarray) -> np.ndarray:
        if (x < 0).any():
            raise RuntimeError("negative input")
        return x

    async def scenario() -> tuple[list[object], np.ndarray]:
        batcher = batching.MicroBatcher(fragile, max_batch=8, max_wait_ms=100)
        task = asyncio.create_task(batcher.run())
        bad = await asyncio.gather(
            batcher.submit(-ROW), batcher.submit(ROW), return_exceptions=True
        )  # one batch: both fail
        good = await batcher.submit(ROW)
        task.cancel()
        return bad, good

    bad, good = asyncio.run(scenario())
    assert all(isinstance(b, RuntimeError) for b in bad), bad
    assert np.array_equal(good, ROW), "the batcher stopped serving after a failed batch"


def test_named_inputs_are_joined_per_name_and_split_back() -> None:
    """The TF Serving protocol server's form: a dict of arrays with the same number of examples."""
    calls: list[int] = []

    def add(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        calls.append(len(arrays["a"]))
        return {"sum": arrays["a"] + arrays["b"], "a": arrays["a"]}

    async def burst() -> list[dict[str, np.ndarray]]:
        batcher = batching.MicroBatcher(add, max_batch=8, max_wait_ms=200)
        task = asyncio.create_task(batcher.run())
        requests = [{"a": np.full((2, 1), i, np.float32), "b": np.ones((2, 1), np.float32)} for i in range(4)]
        answers = await asyncio.gather(*(batcher.submit(r) for r in requests))
        task.cancel()
        batcher.close()
        return answers

    answers = asyncio.run(burst())
    assert calls == [8], f"model calls {calls} for 4 requests of 2 examples with max_batch 8"
    for i, answer in enumerate(answers):
        assert answer["sum"].tolist() == [[i + 1.0], [i + 1.0]] and answer["a"].shape == (2, 1), (i, answer)


def test_a_full_queue_refuses_at_once_and_bad_settings_are_named() -> None:
    async def scenario() -> BaseException | None:
        batcher = batching.MicroBatcher(lambda x: x, max_batch=1, queue_limit=2)
        first = [asyncio.ensure_future(batcher.submit(ROW)) for _ in range(2)]  # nobody serves the queue
        await asyncio.sleep(0)
        try:
            await batcher.submit(ROW)
        except batching.Overloaded as error:
            return error
        finally:
            for f in first:
                f.cancel()
        return None

    refused = asyncio.run(scenario())
    assert isinstance(refused, batching.Overloaded) and "limit 2" in str(refused), refused
    with pytest.raises(ValueError, match="max_batch and queue_limit must be >= 1 .* got 0, 5 and 2.0"):
        batching.MicroBatcher(lambda x: x, max_batch=0, queue_limit=5)


def test_a_caller_that_went_away_does_not_stop_the_batcher() -> None:
    async def scenario() -> np.ndarray:
        batcher = batching.MicroBatcher(lambda x: x * 3, max_batch=4, max_wait_ms=50)
        task = asyncio.create_task(batcher.run())
        gone = asyncio.ensure_future(batcher.submit(ROW))
        await asyncio.sleep(0)
        gone.cancel()  # a client disconnect cancels its handler while its request waits for a batch
        answer = await asyncio.wait_for(batcher.submit(ROW), 5)
        task.cancel()
        return answer

    answer = asyncio.run(scenario())
    assert np.allclose(answer, ROW * 3), "the batcher stopped serving after a caller went away"


def test_a_batch_that_cannot_be_joined_fails_alone_and_the_batcher_goes_on() -> None:
    """Rows of different widths cannot be concatenated: those requests get the error, later ones an answer."""

    async def scenario() -> tuple[list[object], np.ndarray, bool]:
        batcher = batching.MicroBatcher(lambda x: x, max_batch=8, max_wait_ms=100)
        task = asyncio.create_task(batcher.run())
        clash = await asyncio.gather(
            batcher.submit(np.ones((1, 3))), batcher.submit(np.ones((1, 4))), return_exceptions=True
        )
        good = await asyncio.wait_for(batcher.submit(ROW), 5)
        idle = batcher.idle
        task.cancel()
        return clash, good, idle

    clash, good, idle = asyncio.run(scenario())
    assert all(isinstance(c, ValueError) for c in clash), clash
    assert np.array_equal(good, ROW) and idle, ("the batcher stopped serving after a failed join", idle)
    with pytest.raises(ValueError, match="at least one array with a first"):
        asyncio.run(batching.MicroBatcher(lambda x: x).submit({}))


def test_the_tf_serving_server_retires_the_batchers_of_unloaded_versions(tmp_path) -> None:
    from labkit.serve.tfs_rest_server import ModelServer

    class Stub:
        def __init__(self, number: int) -> None:
            self.number = number

        def run(self, signature: str, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
            return {"y": arrays["x"] * self.number}

    async def scenario() -> tuple[list[tuple[int, str]], list[float]]:
        server = ModelServer("m", tmp_path, batching=(4, 0.001))
        v1, v2 = Stub(1), Stub(2)
        server.versions = {1: v1}
        first = await server._batcher(v1, "serving_default").submit({"x": np.ones((1, 1))})
        server.versions = {2: v2}  # what a refresh does when version 2 replaces version 1
        second = await server._batcher(v2, "serving_default").submit({"x": np.ones((1, 1))})
        keys = sorted(server.batchers)
        for batcher, task in server.batchers.values():
            task.cancel()
            batcher.close()
        return keys, [float(first["y"][0, 0]), float(second["y"][0, 0])]

    keys, answers = asyncio.run(scenario())
    assert keys == [(2, "serving_default")], f"batchers kept after version 1 was unloaded: {keys}"
    assert answers == [1.0, 2.0], answers
