"""The one exception the export reader raises for bad input.

Messages name the file (by its canonical LinkedIn name, never the entry path, which can carry a
member's name or numeric id) and the line, and never quote a cell: no names, e-mail addresses,
URLs or message text.
"""

from __future__ import annotations

from ssi_model.errors import UserError


class ExportError(UserError):
    """The archive, or one of its files, cannot be read (damaged, unsafe or not an export)."""

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None) -> None:
        self.file = file
        self.line = line
        self.reason = message
        where = file or ""
        if line is not None:
            where = f"{where}, line {line}" if where else f"line {line}"
        super().__init__(f"{where}: {message}" if where else message)
