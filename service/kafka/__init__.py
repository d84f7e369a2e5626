"""Kafka plumbing: client options, topic administration, the local broker."""
