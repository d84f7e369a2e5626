"""Where analysis runs: the worker pool, the findings cache, and one batch's submissions.

Analysis (the expensive part) runs in worker processes with one engine each
(:mod:`service.redaction.workers`), or in one in-process thread. Texts are
de-duplicated within a batch and remembered across batches, keyed by
:data:`~service.redaction.path_rules.TextKey` (a hash of the text, the entity
set and the policy's content hash), so a prompt template seen before costs a
dictionary lookup.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import TYPE_CHECKING

from service.redaction.path_rules import TextKey

if TYPE_CHECKING:
    from service.redaction.engine import Finding

logger = logging.getLogger(__name__)

#: What a worker task is given first: (policy JSON, policy content hash, NER model,
#: whether to take the fast path).
WorkerArgs = tuple[str, str, str | None, bool]
#: Seconds :meth:`AnalysisPool.start` waits for every worker process to build its engine.
START_TIMEOUT_S = 120.0


class FindingsCache:
    """Findings by :data:`TextKey`, least recently used out first; counts hits and misses."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._data: OrderedDict[TextKey, list[Finding]] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def get(self, key: TextKey) -> list[Finding] | None:
        value = self._data.get(key)
        if value is None:
            self.misses += 1
        else:
            self.hits += 1
            self._data.move_to_end(key)
        return value

    def peek(self, key: TextKey) -> list[Finding] | None:
        """The cached findings, without counting a hit or a miss or refreshing the entry."""
        return self._data.get(key)

    def put(self, key: TextKey, value: list[Finding]) -> None:
        if self.capacity <= 0:
            return
        self._data[key] = value
        self._data.move_to_end(key)
        while len(self._data) > self.capacity:
            self._data.popitem(last=False)

    def clear(self) -> None:
        self._data.clear()


class AnalysisPool:
    """The executor analysis runs in: ``workers`` processes, or one thread when 0.

    Processes start from multiprocessing's forkserver, bound to this process's
    life (:mod:`service.lifeline`), and build their engine in the initializer.
    """

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self.executor: Executor | None = None

    async def start(self, args: WorkerArgs, warm: Callable[..., int]) -> None:
        """Start the executor and return once every worker has built its engine."""
        loop = asyncio.get_running_loop()
        if self.workers == 0:
            self.executor = ThreadPoolExecutor(1, thread_name_prefix="redaction")
            await loop.run_in_executor(self.executor, warm, *args)
            return
        self.executor = self._new_pool(args)
        # Return only once every process has built its engine (in its initializer),
        # so the first batch does not wait for a slow start.
        deadline = time.monotonic() + START_TIMEOUT_S
        pids: set[int] = set()
        while len(pids) < self.workers and time.monotonic() < deadline:
            pids |= set(
                await asyncio.gather(
                    *(loop.run_in_executor(self.executor, warm, *args) for _ in range(self.workers))
                )
            )

    def _new_pool(self, args: WorkerArgs) -> ProcessPoolExecutor:
        from service.lifeline import start_forkserver
        from service.redaction.workers import init_worker

        start_forkserver()  # its workers and itself die with this process (service.lifeline)
        return ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=multiprocessing.get_context("forkserver"),
            initializer=init_worker,
            initargs=args,
        )

    def restart(self, args: WorkerArgs) -> None:
        """A worker stuck past the deadline cannot be cancelled: kill the pool, start anew."""
        pool = self.executor
        if isinstance(pool, ProcessPoolExecutor):
            processes = list((pool._processes or {}).values())
            pool.shutdown(wait=False, cancel_futures=True)
            for process in processes:
                process.kill()
            self.executor = self._new_pool(args)

    async def close(self) -> None:
        """Stop workers; in-flight analysis is abandoned."""
        executor, self.executor = self.executor, None
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)
            await asyncio.to_thread(executor.shutdown, True)


class BatchAnalysis:
    """One batch's analysis: cache first, then chunks submitted to the workers as they fill.

    ``add`` is called while the batch is walked; a chunk goes to the pool as soon
    as it holds ``chunk_size`` texts, so the workers start before the walk ends.
    ``finish`` spreads the rest over every worker and waits (one deadline for the
    batch, counted from the first submission), fail closed: a text whose chunk
    failed or timed out maps to the exception.

    Parameters
    ----------
    executor
        Where chunks run.
    workers
        Worker processes (0: one in-process thread, one chunk per batch).
    cache
        Findings remembered across batches; filled with this batch's results.
    analyze
        Runs one chunk: ``analyze(*args, items) -> findings per item``.
    args
        The worker arguments of the batch's policy.
    chunk_size, timeout_s
        Texts per task; the batch's deadline.
    on_broken
        Called when a worker timed out or the pool broke (the pool is restarted).
    """

    def __init__(
        self,
        executor: Executor,
        *,
        workers: int,
        cache: FindingsCache,
        analyze: Callable[..., list[list[Finding]]],
        args: WorkerArgs,
        chunk_size: int,
        timeout_s: float,
        on_broken: Callable[[], None],
    ) -> None:
        self.executor = executor
        self.workers = workers
        self.cache = cache
        self.analyze = analyze
        self.args = args
        # One chunk per batch for the in-process thread (nothing to overlap with).
        self.chunk = chunk_size if workers else 1 << 30
        self.timeout_s = timeout_s
        self.on_broken = on_broken
        self.results: dict[TextKey, list[Finding] | BaseException] = {}
        self.items: dict[TextKey, tuple[str, tuple[str, ...]]] = {}
        self.pending: list[TextKey] = []
        self.futures: dict[asyncio.Future[list[list[Finding]]], list[TextKey]] = {}
        self.deadline: float | None = None

    def add(self, key: TextKey, item: tuple[str, tuple[str, ...]]) -> bool:
        """Look ``key`` up or queue it; ``False`` if this batch already has it."""
        if key in self.results or key in self.items:
            return False
        cached = self.cache.get(key)
        if cached is not None:
            self.results[key] = cached
            return True
        self.items[key] = item
        self.pending.append(key)
        if len(self.pending) >= self.chunk:
            self._submit(self.pending)
            self.pending = []
        return True

    def _submit(self, keys: list[TextKey]) -> None:
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(
            self.executor, self.analyze, *self.args, [self.items[k] for k in keys]
        )
        self.futures[future] = keys
        if self.deadline is None:
            self.deadline = time.monotonic() + self.timeout_s

    async def finish(self) -> dict[TextKey, list[Finding] | BaseException]:
        rest = self.pending
        self.pending = []
        if rest:
            # Spread the last texts over every worker rather than one chunk.
            size = max(1, -(-len(rest) // max(1, self.workers))) if self.workers else len(rest)
            for i in range(0, len(rest), size):
                self._submit(rest[i : i + size])
        if not self.futures:
            return self.results
        assert self.deadline is not None
        timeout = max(0.0, self.deadline - time.monotonic())
        done, pending = await asyncio.wait(self.futures, timeout=timeout)
        for future in pending:
            future.cancel()
            for key in self.futures[future]:
                self.results[key] = TimeoutError(f"analysis exceeded {self.timeout_s}s")
        broken = bool(pending)
        for future in done:
            broken |= self._collect(future)
        if broken:
            logger.warning("redaction workers stuck or broken; restarting the pool")
            self.on_broken()
        return self.results

    def _collect(self, future: asyncio.Future[list[list[Finding]]]) -> bool:
        """Record one finished chunk; whether it broke the pool."""
        keys = self.futures[future]
        exc = future.exception()
        if exc is not None:
            for key in keys:
                self.results[key] = exc
            return isinstance(exc, BrokenProcessPool)
        for key, found in zip(keys, future.result(), strict=True):
            self.cache.put(key, found)
            self.results[key] = found
        return False
