"""Must show: three kill -9 during a 20,000-event stream, in both delivery modes.

at-least-once loses no event_id; exactly-once loses none and duplicates none
for a ``read_committed`` reader of the sanitized topics. The process is killed
when the group's committed offsets pass 20%, 45% and 70% of the stream, and
restarted each time with the same replica id (static membership, same
transactional id, so the restarted replica fences its predecessor).
"""

from __future__ import annotations

import collections
import subprocess

import orjson
import pytest

from tests.kafka_helpers import (
    drain,
    make_settings,
    process_log,
    sanitized_topics,
    start_guardian_process,
    wait_ready,
)
from tests.resilience_helpers import SIGNING_KEY, keyed_events, produce_keyed, wait_committed

pytestmark = [pytest.mark.integration, pytest.mark.slow]

N_EVENTS = 20_000
KILL_AT = (0.10, 0.30, 0.50)  # each kill lands a few thousand events later than asked


@pytest.mark.parametrize("delivery", ["at_least_once", "exactly_once"])
async def test_three_kill_9_during_20k_events(kafka_bootstrap: str, delivery: str) -> None:
    settings = make_settings(kafka_bootstrap, kafka={"delivery": delivery})
    topics = settings.kafka.topics
    env = {
        "GUARDIAN_REPLICA_ID": "r0",
        "GUARDIAN_STATE__SIGNING_KEY": SIGNING_KEY,
        "GUARDIAN_STATE__CHECKPOINT_INTERVAL_S": "1",
        # Small batches: many commit points for a kill to fall between, and a run long enough
        # for all three kills to land before the end (with 1,000-event batches Guardian is
        # through 20k events within about a second, faster than the commit polling here).
        "GUARDIAN_KAFKA__MAX_BATCH": "50",
    }
    records = keyed_events(N_EVENTS)
    sent = [orjson.loads(v)["event_id"] for _, v in records]
    await produce_keyed(kafka_bootstrap, topics.events, records)
    procs: list[subprocess.Popen[bytes]] = []
    kills: list[int] = []
    try:
        for fraction in KILL_AT:
            proc = start_guardian_process(settings, **env)
            procs.append(proc)
            await wait_ready(settings.http.port, timeout_s=60)
            done = await wait_committed(
                kafka_bootstrap,
                settings.kafka.group_id,
                topics.events,
                int(N_EVENTS * fraction),
                timeout_s=120,
            )
            proc.kill()  # SIGKILL: no hand-over, no flush, a transaction may be open
            proc.wait(timeout=10)
            kills.append(done)
        final = start_guardian_process(settings, **env)
        procs.append(final)
        await wait_committed(
            kafka_bootstrap, settings.kafka.group_id, topics.events, N_EVENTS, timeout_s=180
        )
        isolation = "read_committed" if delivery == "exactly_once" else "read_uncommitted"
        out = await drain(
            kafka_bootstrap,
            sanitized_topics(settings),
            expect=N_EVENTS,
            timeout_s=60,
            isolation_level=isolation,
        )
        dlq = await drain(kafka_bootstrap, topics.dlq, idle_s=0.5, timeout_s=5)
    except BaseException:
        for proc in procs:
            print(process_log(proc)[-3000:])
        raise
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert all(0 < k < N_EVENTS for k in kills), f"kills must land mid-stream: {kills}"
    assert dlq == []
    counts = collections.Counter(orjson.loads(m.value)["event_id"] for m in out)
    missing = set(sent) - counts.keys()
    duplicates = {e: n for e, n in counts.items() if n > 1}
    print(
        f"{delivery}: kills at committed {kills}; {len(out)} read, "
        f"{len(missing)} missing, {len(duplicates)} duplicated"
    )
    assert not missing
    if delivery == "exactly_once":
        assert not duplicates and len(out) == N_EVENTS
