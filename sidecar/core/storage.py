"""The SQLite store (SQLAlchemy Core, WAL) under `<user dir>/__ainfluencer/ainfluencer.db`."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    event,
    inspect,
    text,
)
from sqlalchemy.engine import Engine

metadata = MetaData()


def keyed_table(name: str, key: str, key_length: int, *columns: Any) -> Table:
    """A table of the store whose primary key is the one string column `key` of at most `key_length`."""
    return Table(name, metadata, Column(key, String(key_length), primary_key=True), *columns)


def composite_keyed_table(name: str, keys: dict[str, int], *columns: Any) -> Table:
    """A table of the store keyed by several string columns, each `name: max length`, in that order."""
    key_columns = [Column(key, String(length), primary_key=True) for key, length in keys.items()]
    return Table(name, metadata, *key_columns, *columns)


def numbered_table(name: str, *columns: Any) -> Table:
    """A table of the store whose rows are numbered by an integer `id` the database assigns."""
    return Table(name, metadata, Column("id", Integer, primary_key=True, autoincrement=True), *columns)


jobs = keyed_table(
    "jobs",
    "job_id",
    64,
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

artifacts = numbered_table(
    "artifacts",
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

providers = keyed_table(
    "providers",
    "provider_id",
    64,
    Column("status", String(16), nullable=False),  # connected | not_connected | error
    Column("key_last4", String(8)),
    Column("key_source", String(8)),  # env | vault
    Column("balance", Float),
    Column("message", String(500)),
    Column("error_json", Text),
    Column("last_check", Float),
    Column("updated_at", Float, nullable=False),
)

ledger_account = Table(
    "ledger_account",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("available_milli", Integer, nullable=False),
    Column("pending_milli", Integer, nullable=False),
    Column("updated_at", Float, nullable=False),
    CheckConstraint("available_milli >= 0", name="available_not_negative"),
    CheckConstraint("pending_milli >= 0", name="pending_not_negative"),
)

# Immutable two-phase transfers: budget | pending | post | void | single | refund (amounts in 1/1000 credit).
ledger_transfers = keyed_table(
    "ledger_transfers",
    "id",
    200,
    Column("kind", String(8), nullable=False),
    Column("job_id", String(64), index=True),
    Column("step_id", String(64)),
    Column("engine", String(64)),
    Column("amount_milli", Integer, nullable=False),
    Column("pending_id", String(200), ForeignKey("ledger_transfers.id")),
    Column("reason", String(500)),
    Column("created_at", Float, nullable=False, index=True),
    CheckConstraint("amount_milli >= 0", name="amount_not_negative"),
    CheckConstraint(
        "kind IN ('budget', 'pending', 'post', 'void', 'single', 'refund')", name="known_transfer_kind"
    ),
)
Index(
    "ledger_resolve_once",
    ledger_transfers.c.pending_id,
    unique=True,
    sqlite_where=ledger_transfers.c.kind.in_(("post", "void")),
    postgresql_where=ledger_transfers.c.kind.in_(("post", "void")),
)
Index(
    "ledger_reserve_once",
    ledger_transfers.c.job_id,
    ledger_transfers.c.step_id,
    unique=True,
    sqlite_where=ledger_transfers.c.kind == "pending",
    postgresql_where=ledger_transfers.c.kind == "pending",
)

characters = keyed_table(
    "characters",
    "character_id",
    64,
    Column("name", String(100), nullable=False),
    Column("description", String(1000), nullable=False, default=""),
    Column("avatar_url", String(2000)),
    Column("metadata_json", Text, nullable=False, default="{}"),
    Column("created_at", Float, nullable=False, index=True),
)

character_references = numbered_table(
    "character_references",
    Column(
        "character_id",
        String(64),
        ForeignKey("characters.character_id", ondelete="CASCADE"),
        index=True,
        nullable=False,
    ),
    Column("image", String(500), nullable=False),  # a file name inside ComfyUI's input folder
    Column("sha256", String(64), nullable=False),
    Column("created_at", Float, nullable=False),
)

consents = keyed_table(
    "consents",
    "consent_id",
    64,
    Column("character_id", String(64), index=True),
    Column("job_id", String(64), index=True),
    Column("confirmed_by", String(200), nullable=False),
    Column("checklist_json", Text, nullable=False, default="{}"),
    Column("source", String(16), nullable=False),  # character | run
    Column("created_at", Float, nullable=False),
)

# One row per remote step (job, node): the provider request id is written BEFORE polling starts, so a restart
# re-polls the same request instead of submitting (and paying) again.
remote_requests = Table(
    "remote_requests",
    metadata,
    Column("job_id", String(64), primary_key=True),
    Column("step_id", String(64), primary_key=True),
    Column("engine", String(64), nullable=False),
    Column("operation", String(32), nullable=False),
    Column("model", String(200)),
    Column("request_id", String(200)),
    Column("status", String(16), nullable=False),  # submitting | submitted | completed | failed
    Column("cost", Float),  # provider-reported USD cost, when the API gives one
    Column("error_json", Text),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
)

# The API prompt a job was queued with, so a job whose remote step was in flight can be queued again after a
# ComfyUI restart (ComfyUI's own queue lives in memory).
job_prompts = Table(
    "job_prompts",
    metadata,
    Column("job_id", String(64), ForeignKey("jobs.job_id", ondelete="CASCADE"), primary_key=True),
    Column("prompt_json", Text, nullable=False),
    Column("extra_json", Text, nullable=False, default="{}"),
    Column("outputs_json", Text, nullable=False, default="[]"),
    Column("resumes", Integer, nullable=False, default=0),
    Column("created_at", Float, nullable=False),
)


# The work rate each (preset, engine variant, quality level, work unit) ran at on this machine: the time
# estimates answer from it instead of the manifest's constant once a run of the same kind has finished.
throughput = composite_keyed_table(
    "throughput",
    {
        "preset_id": 200,
        "engine": 64,
        "quality_level": 16,
        "unit": 32,
    },  # unit: frame_megapixels | megapixels | runs
    Column("units_per_second", Float, nullable=False),
    Column("samples", Integer, nullable=False),
    Column("updated_at", Float, nullable=False),
)


def row_dict(row: Any, columns: tuple[str, ...], **renamed: str) -> dict[str, Any]:
    """An answer from a result row: `columns` as they are, then `key=column` pairs; `*_json` ones parsed."""
    fields = {**{column: column for column in columns}, **renamed}
    return {
        key: json.loads(row[column] or "{}") if column.endswith("_json") else row[column]
        for key, column in fields.items()
    }


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


def _ledger_pragmas(dbapi_connection, record) -> None:
    _sqlite_pragmas(dbapi_connection, record)
    dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA synchronous=FULL")  # money: durable even on power loss
    cursor.close()


def _begin_immediate(conn) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def open_ledger_engine(engine: Engine) -> Engine:
    """A sibling engine on the same database whose transactions start with `BEGIN IMMEDIATE` (SQLite)."""
    if engine.dialect.name != "sqlite":
        return engine
    ledger = create_engine(engine.url, future=True)
    event.listen(ledger, "connect", _ledger_pragmas)
    event.listen(ledger, "begin", _begin_immediate)
    return ledger


def add_missing_columns(engine: Engine, table: Table) -> None:
    """Add the columns a store made by an older version lacks (columns added later carry a server default)."""
    present = {column["name"] for column in inspect(engine).get_columns(table.name)}
    with engine.begin() as conn:
        for column in table.columns:
            if column.name in present or column.server_default is None:
                continue
            kind = column.type.compile(dialect=engine.dialect)
            default = str(column.server_default.arg).replace("'", "''")
            conn.execute(
                text(f"ALTER TABLE {table.name} ADD COLUMN {column.name} {kind} NOT NULL DEFAULT '{default}'")
            )
