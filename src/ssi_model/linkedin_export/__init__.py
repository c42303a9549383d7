"""Read a member's LinkedIn data export ("Get a copy of your data") into one contract row.

``read_export(zip)`` returns an ``ExportResult``: the row (counts and lengths only, never names,
e-mail addresses, URLs or message text), which columns the archive supplied, which were derived by
rules (``rules.yaml``), which stay unknown, the provenance of every column (``ColumnSource``:
from the archive, empty by the export's kind, unknown because a file is absent or could not be
read, and why), and warnings. An unsafe archive, or one with nothing readable, raises
``ExportError``, which names the file and line and never quotes the data.
"""

from .archive import ArchiveLimits
from .errors import ExportError
from .provenance import ColumnProvenance, ColumnSource
from .reader import ExportResult, read_export

__all__ = ["ArchiveLimits", "ColumnProvenance", "ColumnSource", "ExportError", "ExportResult",
           "read_export"]
