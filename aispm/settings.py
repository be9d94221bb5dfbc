"""Environment defaults (``AISPM_*``), the lowest layer under the config file and the flags.

Deployed functions are configured only through these variables.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BeforeValidator, Field
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


def _split(value: object) -> object:
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return value


CommaList = Annotated[list[str], NoDecode, BeforeValidator(_split)]


class Settings(BaseSettings):
    # An empty variable means "not configured" (a deployment template cannot omit one conditionally).
    model_config = SettingsConfigDict(env_prefix="AISPM_", extra="ignore", env_ignore_empty=True)

    regions: CommaList = Field(default_factory=list)
    sinks: CommaList = Field(default_factory=list)
    azure_subscriptions: CommaList = Field(default_factory=list)
    gcp_projects: CommaList = Field(default_factory=list)
    gcp_locations: CommaList = Field(default_factory=list)
    org: bool = False
    member_role_name: str = "aispm-member-read"
    external_id: str | None = None
    workers: int = 8
    scope_workers: int = 16
    rate_limits: CommaList = Field(default_factory=list)   # SERVICE=REQUESTS_PER_SECOND, comma-separated
    job_window_days: int = 30
    state_table: str | None = None
    dead_letter_queue_url: str | None = None
    detect_since: str = "15m"   # a deployed detect run's window when a scope has none remembered (the schedule)
    detect_lookback: str = "2h"   # how far back a deployed detect unit reads; Deliver trims to each scope's window
