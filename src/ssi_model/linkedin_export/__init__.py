"""Read a member's LinkedIn data export ("Get a copy of your data") into one contract row.

``read_export(zip)`` returns an ``ExportResult``: the row (counts and lengths only, never names,
e-mail addresses, URLs or message text), which columns the archive supplied, which were derived by
rules (``rules.yaml``), which stay unknown, and warnings. Bad or hostile input raises
``ExportError``, which names the file and line and never quotes the data.
"""

from .archive import ArchiveLimits
from .errors import ExportError
from .reader import ExportResult, read_export

__all__ = ["ArchiveLimits", "ExportError", "ExportResult", "read_export"]
