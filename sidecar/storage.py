"""The SQLite store (SQLAlchemy Core, WAL) under `<user dir>/__ainfluencer/ainfluencer.db`."""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import (
    Boolean,
    Column,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    event,
)
from sqlalchemy.engine import Engine

metadata = MetaData()

jobs = Table(
    "jobs",
    metadata,
    Column("job_id", String(64), primary_key=True),
    Column("prompt_id", String(64), unique=True, index=True),
    Column("preset_id", String(200), index=True),
    Column("source", String(16), nullable=False),  # api | cli | editor
    Column("status", String(16), nullable=False, index=True),
    Column("quality_level", String(16)),
    Column("engine", String(64)),
    Column("inputs_json", Text, nullable=False, default="{}"),
    Column("error_json", Text),
    Column("progress", Float, nullable=False, default=0.0),
    Column("progress_text", String(500)),
    Column("credit_cost", Float),
    Column("consent_given", Boolean, nullable=False, default=False),
    Column("owner_pid", Integer),  # the ComfyUI process that queued it; used to reconcile after a crash
    Column("created_at", Float, nullable=False, index=True),
    Column("started_at", Float),
    Column("finished_at", Float),
    Column("updated_at", Float, nullable=False),
)

artifacts = Table(
    "artifacts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("job_id", String(64), ForeignKey("jobs.job_id", ondelete="CASCADE"), index=True, nullable=False),
    Column("kind", String(16), nullable=False),  # video | image | audio | file
    Column("path", Text, nullable=False),
    Column("filename", String(500), nullable=False),
    Column("subfolder", String(500), nullable=False, default=""),
    Column("folder_type", String(16), nullable=False, default="output"),
    Column("node_id", String(64)),
    Column("sha256", String(64), nullable=False),
    Column("size_bytes", Integer, nullable=False),
    Column("metadata_json", Text, nullable=False, default="{}"),
    Column("created_at", Float, nullable=False),
)


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def open_database(data_dir: str | os.PathLike[str]) -> Engine:
    """Open (and create) the store; `AINFLUENCER_DATABASE_URL` selects another database."""
    url = os.environ.get("AINFLUENCER_DATABASE_URL")
    if not url:
        url = f"sqlite:///{Path(data_dir) / 'ainfluencer.db'}"
    engine = create_engine(url, future=True)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    metadata.create_all(engine)
    return engine
