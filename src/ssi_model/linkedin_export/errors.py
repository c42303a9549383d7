"""The one exception the export reader raises for bad input.

Messages name the file (by its canonical LinkedIn name, never the entry path, which can carry a
member's name or numeric id) and the line, and never quote a cell: no names, e-mail addresses,
URLs or message text.
"""

from __future__ import annotations

from ssi_model.errors import UserError


class ExportError(UserError):
    """The archive, or one of its files, cannot be read (damaged, unsafe or not an export).

    ``unsafe`` marks what refuses the whole archive even when raised for one file (a zip bomb, a
    nested archive, an entry the ZIP cannot decompress); any other error in one file only makes
    that file unreadable, and the reader goes on with the rest.
    """

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None,
                 unsafe: bool = False) -> None:
        self.file = file
        self.line = line
        self.reason = message
        self.unsafe = unsafe
        where = file or ""
        if line is not None:
            where = f"{where}, line {line}" if where else f"line {line}"
        super().__init__(f"{where}: {message}" if where else message)

    @property
    def located_reason(self) -> str:
        """The reason with its line, without the file name (for a per-file account)."""
        return f"line {self.line}: {self.reason}" if self.line is not None else self.reason
