"""Dynamic micro-batching: concurrent requests joined into one model call, each answer routed back.

Used by the async service (notebook 11) and by the TF Serving protocol server's `--enable_batching` (09).
A request is an array (examples first) or a dict of named arrays with the same number of examples.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

Inputs = np.ndarray | dict[str, np.ndarray]
Predict = Callable[[Any], Any]


class Overloaded(Exception):
    """The queue is full: the request is refused at once instead of waiting without bound."""


def examples(x: Inputs) -> int:
    """How many examples a request holds (the first dimension); ValueError when it has none to count."""
    first = next(iter(x.values()), None) if isinstance(x, dict) else x
    if first is None or np.ndim(first) == 0:
        raise ValueError("a request needs at least one array with a first (example) dimension.")
    return len(first)


def _join(parts: list[Inputs]) -> Inputs:
    named = [part for part in parts if isinstance(part, dict)]
    arrays = [part for part in parts if isinstance(part, np.ndarray)]
    if named and arrays:
        raise ValueError("a batch mixes named inputs (dicts) with plain arrays; submit one kind.")
    if named:
        return {name: np.concatenate([part[name] for part in named]) for name in named[0]}
    return np.concatenate(arrays)


def _rows(y: Inputs, start: int, stop: int) -> Inputs:
    return {name: value[start:stop] for name, value in y.items()} if isinstance(y, dict) else y[start:stop]


@dataclass
class _Waiting:
    x: Inputs
    size: int
    answer: asyncio.Future = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class MicroBatcher:
    """Joins concurrent requests into batched model calls; at most `queue_limit` requests wait.

    A batch closes when it holds `max_batch` examples or `max_wait_ms` after its first request; a request
    larger than `max_batch` runs alone. The model runs in one worker thread, so the event loop keeps
    accepting requests meanwhile.
    """

    def __init__(
        self, predict: Predict, *, max_batch: int = 32, max_wait_ms: float = 2.0, queue_limit: int = 256
    ) -> None:
        if max_batch < 1 or max_wait_ms < 0 or queue_limit < 1:
            raise ValueError(
                "max_batch and queue_limit must be >= 1 and max_wait_ms >= 0; "
                f"got {max_batch}, {queue_limit} and {max_wait_ms}."
            )
        self.predict, self.max_batch, self.max_wait_s = predict, max_batch, max_wait_ms / 1000
        self.queue_limit = queue_limit
        self.queue: asyncio.Queue[_Waiting] = asyncio.Queue()
        self.executor = ThreadPoolExecutor(1, thread_name_prefix="model")
        self.calls = 0
        self.examples = 0
        self.busy = False  # a batch is being joined, run or answered

    async def submit(self, x: Inputs) -> Any:
        """The model's answer for `x` (its rows of the batch's output); Overloaded when the queue is full."""
        if self.queue.qsize() >= self.queue_limit:
            raise Overloaded(
                f"{self.queue.qsize()} requests are waiting (limit {self.queue_limit}); retry later."
            )
        waiting = _Waiting(x, examples(x))
        self.queue.put_nowait(waiting)
        return await waiting.answer

    async def _gather(self, first: _Waiting) -> list[_Waiting]:
        """The first waiting request, then more until max_batch examples or max_wait_ms after the first."""
        loop = asyncio.get_running_loop()
        batch = [first]
        size = first.size
        deadline = loop.time() + self.max_wait_s
        while size < self.max_batch:
            if self.queue.empty():
                left = deadline - loop.time()
                if left <= 0:
                    break
                try:
                    batch.append(await asyncio.wait_for(self.queue.get(), left))
                except TimeoutError:
                    break
            else:
                batch.append(self.queue.get_nowait())
            size += batch[-1].size
        return batch

    @property
    def idle(self) -> bool:
        """Nothing waits and no batch is in flight: the batcher can be retired without losing a request."""
        return self.queue.empty() and not self.busy

    async def run(self) -> None:
        """Serve batches until cancelled; a request whose caller went away is skipped, not fatal."""
        while True:
            first = await self.queue.get()
            self.busy = True
            try:
                batch = [w for w in await self._gather(first) if not w.answer.done()]
                if batch:
                    await self._serve(batch)
            finally:
                self.busy = False

    async def _serve(self, batch: list[_Waiting]) -> None:
        """One model call for the batch; any failure (joining, the model, splitting) fails only this batch."""
        loop = asyncio.get_running_loop()
        try:
            joined = _join([w.x for w in batch])
            out = await loop.run_in_executor(self.executor, self.predict, joined)
            answers, start = [], 0
            for waiting in batch:
                answers.append(_rows(out, start, start + waiting.size))
                start += waiting.size
        except Exception as error:  # every request of this batch gets the error; the batcher goes on
            for waiting in batch:
                if not waiting.answer.done():
                    waiting.answer.set_exception(error)
            return
        self.calls += 1
        self.examples += sum(w.size for w in batch)
        for waiting, answer in zip(batch, answers, strict=True):
            if not waiting.answer.done():
                waiting.answer.set_result(answer)

    def close(self, *, wait: bool = True) -> None:
        """Stop the worker thread; with `wait`, once the model call in flight (if any) is done."""
        self.executor.shutdown(wait=wait)
