"""The models package's tables: the user's own catalog entries and the record of every download."""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Float, Integer, String, Table, Text, inspect, text
from sqlalchemy.engine import Engine

from ..core.storage import metadata


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


def keyed_table(name: str, key_length: int, *columns: Column) -> Table:
    """A table in the sidecar's metadata whose primary key is a string `id` of at most `key_length`."""
    return Table(name, metadata, Column("id", String(key_length), primary_key=True), *columns)


custom_models = keyed_table(
    "ainf_custom_models",
    120,
    Column("name", String(200), nullable=False),
    Column("type", String(32), nullable=False),
    Column("fetch_url", Text, nullable=False),  # as given (it may carry a token); never answered or logged
    Column("url", Text, nullable=False),  # redacted, what routes and logs show
    Column("filename", String(200), nullable=False),
    Column("license", String(64), nullable=False),
    Column("sha256", String(64)),
    Column("size_mb", Float),
    Column("tags_json", Text, nullable=False, default="[]"),
    Column("recommended_use", Text, nullable=False, default=""),
    Column("hardware_notes", Text, nullable=False, default=""),
    Column("notes", Text, nullable=False, default="", server_default=""),
    Column("acknowledge_unknown_license", Boolean, nullable=False, default=False),
    Column("acknowledge_missing_checksum", Boolean, nullable=False, default=False),
    Column("acknowledge_pickle", Boolean, nullable=False, default=False),
    Column("created_at", Float, nullable=False),
)

model_downloads = keyed_table(
    "ainf_model_downloads",
    64,
    Column("model_id", String(120), index=True),
    Column("filename", String(200), nullable=False),
    Column("url", Text, nullable=False),  # redacted
    Column("dest", Text, nullable=False),
    Column("state", String(16), nullable=False),
    Column("bytes", Integer, nullable=False, default=0),
    Column("total_bytes", Integer),
    Column("error_json", Text),
    Column("created_at", Float, nullable=False),
    Column("started_at", Float),
    Column("finished_at", Float),
    Column("updated_at", Float, nullable=False),
)
