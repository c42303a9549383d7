"""Coach reports: self-contained HTML pages from explanation documents, in English, Dutch, German.

``render_member`` makes one member's page, ``render_cohort`` the coach's client list, and
``write_reports`` writes both for a batch. ``member_history`` scores a member's snapshots and
explains the latest change; pass it as ``history=`` (or ``histories=`` by member id) to add a
chart and "what changed" to the pages and trends to the client list. Fixed text comes from the
gettext catalogues in ``locales/``; numbers and dates are formatted per locale with Babel.
"""

from .history import MemberHistory, member_history
from .render import member_file_name, render_cohort, render_member, write_reports

__all__ = ["MemberHistory", "member_file_name", "member_history", "render_cohort",
           "render_member", "write_reports"]
