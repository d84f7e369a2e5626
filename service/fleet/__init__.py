"""The fleet view: every replica knows the group's members and detectors through Kafka."""
