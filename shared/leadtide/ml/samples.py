"""X Education leads as Leadtide leads: the sample the local demo, the integration test and the starter model
train on.

The X Education case-study data (``../shared/data/xeducation_leads.csv``, see its SOURCES.md) has **no
licence stated** and may be used for internal testing only, so nothing derived from it is committed or
shipped: the starter model is trained from the file at first use (``leadtide model train --starter``) where
the file is present.

Mapping onto lead fields (as far as they map):

==============================================  =====================================================
X Education column                              Leadtide lead
==============================================  =====================================================
Converted                                       status Converted (1) / Lost (0)
Lead Source (Olark Chat, Live Chat, WeLearn)    source_channel ``whatsapp`` (chat)
Lead Source (Facebook, Social Media)            source_channel ``instagram``
Lead Source (Reference, referral, Pay per ...)  source_channel ``manual`` (entered by the team)
any other Lead Source (Google, Direct, ...)     source_channel ``web_form``
What is your current occupation                 job_title
TotalVisits                                     message_count (engagement proxy)
Do Not Email = No                               has an email (``<prospect id>@example.com``)
Lead Origin, Lead Source, Total Time Spent      custom fields ``lead_origin``, ``lead_source``,
on Website, Page Views Per Visit, Last           ``time_on_website``, ``page_views_per_visit``,
Activity, Specialization, Country               ``last_activity``, ``specialization``, ``country``
==============================================  =====================================================

The file has no timestamps: ``created_at`` is spread evenly over ``days`` days in file order, and each lead
is closed (``updated_at``) ``close_after_days`` later. Tags, Lead Quality, Lead Profile, the Asymmetrique
scores and Last Notable Activity are left out (they leak the outcome; see :mod:`leadtide.ml.datasets`).
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from leadtide.models.common import ChannelType, LeadStatus, utc_now
from leadtide.models.leads import Lead

XEDU_FILE = "xeducation_leads.csv"
XEDU_CUSTOM_FIELD_TYPES = {
    "lead_origin": "select",
    "lead_source": "select",
    "time_on_website": "number",
    "page_views_per_visit": "number",
    "last_activity": "select",
    "specialization": "select",
    "country": "select",
}
"""Custom field name -> type of the mapped X Education columns (types as :func:`lead_feature_spec` takes)."""

_CHAT = {"olark chat", "live chat", "welearn", "welearnblog_home"}
_SOCIAL = {"facebook", "social media"}
_MANUAL = {"reference", "referral sites", "pay per click ads"}


def _blank(value: str | None) -> str | None:
    value = (value or "").strip()
    return None if value in ("", "Select") else value


def _number(value: str | None) -> float | None:
    text = _blank(value)
    try:
        return float(text) if text is not None else None
    except ValueError:
        return None


def _channel(source: str | None) -> ChannelType:
    key = (source or "").strip().lower()
    if key in _CHAT:
        return ChannelType.WHATSAPP
    if key in _SOCIAL:
        return ChannelType.INSTAGRAM
    if key in _MANUAL:
        return ChannelType.MANUAL
    return ChannelType.WEB_FORM


def xeducation_leads(
    data_dir: Path,
    tenant_id: str,
    *,
    limit: int | None = None,
    days: int = 365,
    close_after_days: int = 14,
    end: datetime | None = None,
) -> Iterator[Lead]:
    """Yield X Education rows as closed Leadtide leads of ``tenant_id`` (see the module docstring).

    Args:
        data_dir: ``../shared/data``.
        limit: first ``limit`` rows only.
        days: span of the synthetic ``created_at`` values, ending ``close_after_days`` before ``end``.
        end: the last lead's closing time (default now).

    Raises:
        FileNotFoundError: the dataset is absent.
    """
    path = Path(data_dir) / XEDU_FILE
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    if limit is not None:
        rows = rows[:limit]
    last_close = end or utc_now()
    start = last_close - timedelta(days=days + close_after_days)
    step = timedelta(days=days) / max(1, len(rows))
    for n, row in enumerate(rows):
        created = start + step * n
        prospect = row.get("Prospect ID") or str(n)
        custom: dict[str, Any] = {
            "lead_origin": _blank(row.get("Lead Origin")),
            "lead_source": _blank(row.get("Lead Source")),
            "time_on_website": _number(row.get("Total Time Spent on Website")),
            "page_views_per_visit": _number(row.get("Page Views Per Visit")),
            "last_activity": _blank(row.get("Last Activity")),
            "specialization": _blank(row.get("Specialization")),
            "country": _blank(row.get("Country")),
        }
        visits = _number(row.get("TotalVisits"))
        yield Lead(
            lead_id=hashlib.md5(prospect.encode(), usedforsecurity=False).hexdigest(),
            tenant_id=tenant_id,
            email=None if row.get("Do Not Email") == "Yes" else f"{prospect[:8]}@example.com",
            job_title=_blank(row.get("What is your current occupation")),
            source_channel=_channel(row.get("Lead Source")),
            status=LeadStatus.CONVERTED if row.get("Converted") == "1" else LeadStatus.LOST,
            custom_fields={k: v for k, v in custom.items() if v is not None},
            message_count=int(visits or 0),
            created_at=created,
            updated_at=created + timedelta(days=close_after_days),
            last_activity_at=created + timedelta(days=close_after_days),
        )
