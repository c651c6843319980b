"""Settings: one pydantic-settings class, `BIZCTX_` prefix, plus `DATABASE_URL`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import platformdirs
from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


def default_data_dir() -> Path:
    return platformdirs.user_data_path("bizctx", appauthor=False)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BIZCTX_", extra="ignore")

    database_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("DATABASE_URL", "BIZCTX_DATABASE_URL"),
        description="PostgreSQL DSN. Unset: the embedded PostgreSQL in data_dir.",
    )
    agent_database_url: str | None = Field(
        default=None,
        description="PostgreSQL DSN agent calls log in with (a role that can only become bizctx_app). "
        "Unset: the login role the migrations made, or, if they could not, DATABASE_URL's user.",
    )
    data_dir: Path = Field(default_factory=default_data_dir, description="Embedded database and demo keys.")
    agent_key: SecretStr | None = Field(default=None, description="The agent key for stdio.")
    pool_min_size: int = Field(default=1, ge=0)
    pool_max_size: int = Field(default=10, ge=1)
    pool_timeout: float = Field(default=5.0, gt=0, description="Seconds a call waits for a connection.")
    statement_timeout_ms: int = Field(
        default=15_000, ge=0, description="Per-statement limit for agent calls."
    )
    page_size: int = Field(default=50, ge=1, le=500, description="Items per page of tools/list etc.")
    calls_per_minute: int = Field(
        default=6000, ge=1, le=1_000_000, description="Each agent's tool calls and resource reads per minute."
    )
    read_audit_commit: Literal["durable", "async"] = Field(
        default="durable",
        description="How a read call's transaction (a read-only tool with no policy on it, a resource "
        "read, a completion) commits its audit row. durable: it waits for the WAL to reach disk, like "
        "every write. async: PostgreSQL's synchronous_commit off for those transactions only, so a "
        "read does not wait for an fsync (0.5-3 ms on small machines); a database crash may then lose "
        "the audit rows of the last moment's reads (never a write's, and never half a row). recall, which "
        "stamps the documents it returns, commits durably either way.",
    )
    log_level: str = Field(default="INFO")
    embedding_dim: int = Field(default=384, ge=1, le=16_000, description="Fixed at first migrate.")
    embedding_provider: Literal["auto", "local", "openai", "none"] = Field(
        default="auto",
        description="auto: the offline local model when installed (the embeddings extra), else none "
        "(full-text recall only); local; openai (an OpenAI-compatible endpoint); none.",
    )
    embedding_url: str | None = Field(
        default=None, description="OpenAI-compatible API base URL (e.g. https://api.openai.com/v1)."
    )
    embedding_model: str | None = Field(default=None, description="Model name sent to that endpoint.")
    embedding_api_key: SecretStr | None = Field(default=None, description="Bearer key for that endpoint.")
    embedding_send_dimensions: bool = Field(
        default=False, description="Send embedding_dim as `dimensions` (models that can shorten vectors)."
    )
    embedding_timeout: float = Field(default=30.0, gt=0, description="Seconds per embedding request.")
    costly_read_ms: int = Field(
        default=3000,
        ge=1,
        description="Per-statement limit of the reads whose cost grows with the business "
        "(search_clients, recall, receivables_aging, find_available_slots).",
    )
    calls_in_flight: int = Field(
        default=4,
        ge=1,
        description="Calls one agent may have running at once; more wait their turn (at most "
        "pool_timeout, then rate_limited), so one agent cannot hold every pooled connection.",
    )
    rate_limited_seconds: float = Field(
        default=1.0,
        ge=0,
        le=60,
        description="A rate_limited answer is sent no sooner than this after its call arrived, so "
        "an agent that calls again at once, ignoring retry_after_s, makes a few refusals a second "
        "per call it keeps open, not hundreds (0: at once).",
    )
    costly_seconds_per_minute: float = Field(
        default=5.0,
        gt=0,
        description="Database time one agent's costly reads may take per minute (a budget "
        "refilled evenly, holding at most a fifth of it); past it they are rate_limited until "
        "it refills.",
    )
    costly_reads_at_once: int = Field(
        default_factory=lambda: max(1, (os.cpu_count() or 2) // 2),
        ge=1,
        description="Costly reads (see costly_read_ms) running at once in this process, all agents "
        "together (one per agent); default half the CPU cores.",
    )
    http_sessions_per_agent: int = Field(
        default=20, ge=1, description="Streamable HTTP sessions one agent may hold open at once."
    )
    listeners_per_agent: int = Field(
        default=10,
        ge=1,
        description="Live-update listeners (subscriptions/listen streams, resources/subscribe "
        "sessions) one agent may hold open at once on one server.",
    )
    http_stateless: bool = Field(
        default=False,
        description="Streamable HTTP without server-side sessions, so any load balancer can spread "
        "requests across replicas (live updates still reach listeners through the database).",
    )
    http_json_response: bool = Field(
        default=False,
        description="Answer plain streamable HTTP requests with one JSON body instead of an SSE "
        "stream (cheaper per call; no notification is sent during a call, so the warning notices "
        "of server/notices.py are not delivered, and answers cannot be resumed). "
        "subscriptions/listen always streams.",
    )
    http_resumable_events: int = Field(
        default=500,
        ge=0,
        description="Events each streamable HTTP session keeps for a client resuming a dropped SSE "
        "stream (Last-Event-ID); 0 turns resumability off. Stateless HTTP keeps none.",
    )
    http_retry_ms: int = Field(
        default=2000, ge=100, description="The reconnect delay SSE streams suggest to clients (retry:)."
    )
    http_session_idle_seconds: float = Field(
        default=600.0, gt=0, description="An HTTP session unused this long is closed."
    )
    billing_run_seconds: float = Field(
        default=3600.0,
        ge=0,
        description="HTTP serve runs the subscription billing run at start-up and then this often "
        "(0: never; `bizctx billing run` runs it by hand). Each period is invoiced once however "
        "often it runs.",
    )
    audit_retention_days: int = Field(
        default=365,
        ge=1,
        le=36_500,
        description="How long audit rows are kept: `bizctx audit prune` removes older ones (with "
        "--export PATH, written to a file first). Nothing is removed unless it is run.",
    )
    http_body_seconds: float = Field(
        default=30.0, gt=0, description="How long a request's body may take to arrive, per part."
    )
    allowed_hosts: list[str] = Field(
        default_factory=list,
        description="Host headers HTTP accepts besides loopback and the bound host (DNS rebinding).",
    )
    allowed_origins: list[str] = Field(
        default_factory=list,
        description="Origin headers HTTP accepts besides loopback (e.g. https://app.example.com).",
    )
