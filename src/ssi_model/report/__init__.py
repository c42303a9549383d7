"""Coach reports: self-contained HTML pages from explanation documents, in English, Dutch, German.

``render_member`` makes one member's page, ``render_cohort`` the coach's client list, and
``write_reports`` writes both for a batch. Fixed text comes from the gettext catalogues in
``locales/``; numbers and dates are formatted per locale with Babel.
"""

from .render import member_file_name, render_cohort, render_member, write_reports

__all__ = ["member_file_name", "render_cohort", "render_member", "write_reports"]
