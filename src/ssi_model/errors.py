"""Errors a user can cause (a bad file, a bad flag): reported as one clear line, never a trace."""

from __future__ import annotations


class UserError(Exception):
    """Base class for input problems the user can fix; the message names what is wrong."""


USER_ERRORS: tuple[type[BaseException], ...] = (UserError, FileNotFoundError)
