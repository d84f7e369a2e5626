"""Detector checkpoints on the compacted ``guardian.state`` topic: format, signing, hand-over."""

from service.state.checkpoint import (
    ENVELOPE_VERSION,
    Checkpoint,
    CheckpointCodec,
    CheckpointRefused,
)

__all__ = ["ENVELOPE_VERSION", "Checkpoint", "CheckpointCodec", "CheckpointRefused"]
