"""Engine and migrations for the snapshot store, from ``SSI_DATABASE_URL``.

The embedded default is a SQLite file ``ssi.db`` in the working folder (the Makefile passes the
project's absolute path); teams point ``SSI_DATABASE_URL`` at PostgreSQL
(``postgresql+psycopg://user:pw@host/db``) and run the same code.

SQLite is opened in WAL mode (readers never block the writer), with foreign keys enforced and a
busy timeout; write transactions start with ``BEGIN IMMEDIATE`` so concurrent writers queue on the
lock instead of failing when a read transaction tries to become a write transaction.
The schema is Alembic's (``migrations/``, shipped in the package): :func:`upgrade` brings any
older store to the head revision, and :func:`open_engine` does so on first open.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import Engine, create_engine, event, make_url, text
from sqlalchemy.engine import URL, Connection

DEFAULT_DATABASE_URL = "sqlite:///ssi.db"
BUSY_TIMEOUT_SECONDS = 30.0
WRITE = "ssi_write"  # execution option: this transaction will write (SQLite: BEGIN IMMEDIATE)
# Any constant: the PostgreSQL advisory lock that serialises concurrent first opens (migrations).
_MIGRATION_LOCK = 0x551_5107E


class StoreSettings(BaseSettings):
    """``SSI_DATABASE_URL``: where the snapshot store lives."""

    model_config = SettingsConfigDict(env_prefix="", extra="ignore")

    ssi_database_url: str = Field(DEFAULT_DATABASE_URL, alias="SSI_DATABASE_URL")


def database_url(url: str | None = None) -> str:
    """The URL given, else ``SSI_DATABASE_URL``; a relative SQLite path is made absolute."""
    url = url or StoreSettings().ssi_database_url
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith(prefix + "/") and url != prefix:
        return prefix + str(Path(url[len(prefix):]).resolve())
    return url


def safe_url(url: str | URL) -> str:
    """The URL with its password masked, for logs and run tags."""
    return make_url(url).render_as_string(hide_password=True)


def _sqlite_pragmas(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        # The driver must not open transactions itself; the "begin" hook below does it.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_SECONDS * 1000)}")
        # synchronous stays FULL (the default): a commit is on disk before it is acknowledged.
        cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get(WRITE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def create_store_engine(url: str | None = None, **kwargs: Any) -> Engine:
    """An engine for the store (no schema check; see :func:`open_engine`)."""
    resolved = make_url(database_url(url))
    if resolved.get_backend_name() == "sqlite":
        if resolved.database and resolved.database != ":memory:":
            Path(resolved.database).parent.mkdir(parents=True, exist_ok=True)
        kwargs.setdefault("connect_args", {"timeout": BUSY_TIMEOUT_SECONDS})
        engine = create_engine(resolved, **kwargs)
        _sqlite_pragmas(engine)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(resolved, **kwargs)


def _alembic_config(connection: Connection | None = None) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(resources.files("ssi_model.store") /
                                                 "migrations"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> str | None:
    """Run the migrations up to ``revision`` in one transaction; returns the new revision.

    Concurrent callers (many processes opening a fresh store) are serialised: SQLite by the
    write lock, PostgreSQL by an advisory lock; the second finds the work done.
    """
    from alembic import command

    with engine.execution_options(**{WRITE: True}).begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _MIGRATION_LOCK})
        command.upgrade(_alembic_config(conn), revision)
    return current_revision(engine)


def downgrade(engine: Engine, revision: str) -> None:
    """Undo migrations down to ``revision`` (for tests of upgrades from older stores)."""
    from alembic import command

    with engine.execution_options(**{WRITE: True}).begin() as conn:
        command.downgrade(_alembic_config(conn), revision)


def open_engine(url: str | None = None, *, migrate: bool = True, **kwargs: Any) -> Engine:
    """An engine on a store at the head revision (upgraded first if it is older or empty)."""
    engine = create_store_engine(url, **kwargs)
    if migrate and current_revision(engine) != head_revision():
        upgrade(engine)
    return engine
