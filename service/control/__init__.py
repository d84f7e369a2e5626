"""Live, versioned configuration shared by every replica, and the audit log of its changes.

- :mod:`service.control.document` -- the versioned :class:`ConfigDocument`.
- :mod:`service.control.live` -- builds the baseline document from a running Guardian
  and applies a document to it.
- :mod:`service.control.audit` -- audit records and the bounded, replicated index.
- :mod:`service.control.store` -- writes and follows ``guardian.config`` / ``guardian.audit``.
"""

from service.control.audit import AuditIndex, AuditRecord
from service.control.document import ConfigDocument, DetectorConfig
from service.control.store import ConfigStore, StaleWrite

__all__ = [
    "AuditIndex",
    "AuditRecord",
    "ConfigDocument",
    "ConfigStore",
    "DetectorConfig",
    "StaleWrite",
]
