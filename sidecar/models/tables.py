"""The models package's tables: the user's own catalog entries and the record of every download."""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Float, Integer, String, Text

from ..core.storage import keyed_table

custom_models = keyed_table(
    "ainf_custom_models",
    "id",
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
    "id",
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
