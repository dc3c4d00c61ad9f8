"""Runtime settings: one validated model read from the environment (see template.yaml Globals)."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Leadtide's settings, read once per process from environment variables.

    Every name below maps to the upper-case environment variable of the same name
    (``leads_table`` <- ``LEADS_TABLE``). The SAM template sets them in ``Globals``; the
    local runtime sets them from the same template.
    """

    model_config = SettingsConfigDict(frozen=True, extra="ignore")

    stage: str = "dev"
    aws_region: str = Field(default="us-east-1", alias="AWS_REGION")
    leads_table: str = "leadtide-leads"
    channels_table: str = "leadtide-channels"
    ingest_queue_url: str = ""
    scoring_queue_url: str = ""
    # Background jobs (imports, exports, bulk actions, duplicate detection...): see leadtide.jobs.
    jobs_queue_url: str = ""
    # On-demand and scheduled model training (see leadtide.ml.train_job).
    training_queue_url: str = ""
    # How often a warm scoring process re-reads a tenant's champion/challenger pointer, in seconds.
    model_pointer_cache_seconds: int = 60
    event_bus_name: str = "leadtide"
    artifacts_bucket: str = ""
    secrets_prefix: str = "leadtide/dev"
    # Public base URL of the webhook endpoints (e.g. https://api.example.com) when a custom domain or
    # proxy sits in front of API Gateway; Twilio signs the exact URL it called. Empty: use the Host header.
    public_base_url: str = ""
    # Default region for phone numbers written without a country code (ISO 3166-1 alpha-2).
    default_phone_region: str = "US"
    # How long a channel secret read from Secrets Manager is reused, in seconds.
    secret_cache_seconds: int = 300
    # XLSX imports: limits checked before openpyxl parses a workbook (leadtide.imports.reading.XlsxLimits;
    # README "Imports"). The sum of the ZIP members' uncompressed sizes, in bytes; the largest
    # uncompressed/compressed ratio of a member over 1 MiB; the shared-string table (which openpyxl holds
    # in memory whole) in uncompressed bytes and in strings.
    import_xlsx_max_uncompressed_bytes: int = Field(default=512 * 1024 * 1024, gt=0)
    import_xlsx_max_compression_ratio: float = Field(default=100.0, gt=1)
    import_xlsx_max_shared_strings_bytes: int = Field(default=128 * 1024 * 1024, gt=0)
    import_xlsx_max_shared_strings: int = Field(default=2_000_000, gt=0)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Return the process-wide settings, read from the environment on first call."""
    return Settings()
