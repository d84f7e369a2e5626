"""aiokafka client options derived from settings, in one place."""

from __future__ import annotations

from typing import Any

from service.settings import KafkaSettings


def common_options(kafka: KafkaSettings) -> dict[str, Any]:
    """Options every aiokafka client of Guardian shares (brokers, security)."""
    options: dict[str, Any] = {
        "bootstrap_servers": kafka.bootstrap_servers,
        "security_protocol": kafka.security_protocol,
        "request_timeout_ms": kafka.request_timeout_ms,
    }
    if kafka.sasl_mechanism:
        options["sasl_mechanism"] = kafka.sasl_mechanism
        options["sasl_plain_username"] = kafka.sasl_username
        if kafka.sasl_password is not None:
            options["sasl_plain_password"] = kafka.sasl_password.get_secret_value()
    if kafka.security_protocol in ("SSL", "SASL_SSL"):
        from aiokafka.helpers import create_ssl_context

        options["ssl_context"] = create_ssl_context()
    return options


class MemoPartitioner:
    """aiokafka's default partitioner with the partition of each key remembered.

    aiokafka hashes every key with a pure-Python murmur2 (about 1.6 us); Guardian's
    output keys are model names, a handful of values. The partition is the one
    :class:`aiokafka.partitioner.DefaultPartitioner` gives (it is asked on a miss,
    and the answer depends only on the key and the topic's partition list); a
    ``None`` key still goes to a random available partition.

    Examples
    --------
    >>> from aiokafka.partitioner import DefaultPartitioner
    >>> MemoPartitioner()(b"credit-risk", [0, 1, 2], [0, 1, 2]) == DefaultPartitioner()(
    ...     b"credit-risk", [0, 1, 2], [0, 1, 2])
    True
    """

    #: Keys longer than this (arbitrary input keys on the DLQ) are hashed, not remembered.
    MAX_KEY_BYTES = 128
    MAX_ENTRIES = 4096

    def __init__(self) -> None:
        from aiokafka.partitioner import DefaultPartitioner

        self._default = DefaultPartitioner()
        self._memo: dict[tuple[bytes, tuple[int, ...]], int] = {}

    def __call__(self, key: bytes | None, all_partitions: list[int], available: list[int]) -> int:
        if key is None or len(key) > self.MAX_KEY_BYTES:
            partition: int = self._default(key, all_partitions, available)
            return partition
        memo_key = (key, tuple(all_partitions))
        partition = self._memo.get(memo_key, -1)
        if partition < 0:
            partition = self._default(key, all_partitions, available)
            if len(self._memo) >= self.MAX_ENTRIES:
                self._memo.clear()
            self._memo[memo_key] = partition
        return partition
