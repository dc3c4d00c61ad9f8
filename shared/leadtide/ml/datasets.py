"""Loaders for the public lead-conversion datasets in ``../shared/data`` (see its SOURCES.md).

Each loader returns a :class:`Dataset`: ``records`` (one dict per lead), ``labels`` (1 converted / 0 not),
``timestamps`` (or None), the :class:`~leadtide.ml.features.FeatureSpec` and a source note. Only fields
known *before* the outcome are kept; every dropped column has its reason next to it. The data stays in
``../shared/data`` (licences: X Education none stated, UCI bank marketing CC BY 4.0, Olist CC BY-NC-SA
4.0 - none of it is copied into the repository).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from leadtide.ml.features import FeatureSpec

DATASETS = ("xeducation", "bank", "olist")


@dataclass(frozen=True)
class Dataset:
    """A labelled lead dataset: records, labels (1 = converted), timestamps or None, spec, source note."""

    name: str
    records: list[dict[str, Any]]
    labels: list[int]
    timestamps: list[datetime] | None
    spec: FeatureSpec
    source: str


# --------------------------------------------------------------------------------------------------
# X Education (upGrad / Kaggle lead-scoring case study)
# --------------------------------------------------------------------------------------------------

XEDU_DROPPED = {
    "Prospect ID": "identifier",
    "Lead Number": "identifier",
    "Converted": "the target",
    "Tags": "the sales team's status notes ('Closed by Horizzon', 'Lost to EINS', 'Will revert after "
    "reading the email'): written while or after the outcome is decided - leaks the label",
    "Lead Quality": "the assigned employee's judgement of the lead after working it - leaks the label",
    "Lead Profile": "a level assigned by the company after profiling the lead ('Potential Lead', "
    "'Lateral Student'): set during qualification, not at capture",
    "Asymmetrique Activity Index": "a vendor score computed from later activity and profiling (46 % "
    "missing, timing unknown) - possibly post-outcome, and the 4 Asymmetrique columns are one score",
    "Asymmetrique Profile Index": "see Asymmetrique Activity Index",
    "Asymmetrique Activity Score": "see Asymmetrique Activity Index",
    "Asymmetrique Profile Score": "see Asymmetrique Activity Index",
    "Last Notable Activity": "the final state of the record ('Modified' is the record edit that "
    "closes it); 'Last Activity' carries the same information as of scoring time",
    "Magazine": "constant 'No'",
    "Receive More Updates About Our Courses": "constant 'No'",
    "Update me on Supply Chain Content": "constant 'No'",
    "Get updates on DM Content": "constant 'No'",
    "I agree to pay the amount through cheque": "constant 'No'",
}
XEDU_NUMERIC = ["TotalVisits", "Total Time Spent on Website", "Page Views Per Visit"]
XEDU_BOOLEAN = [
    "Do Not Email", "Do Not Call", "Search", "Newspaper Article", "X Education Forums", "Newspaper",
    "Digital Advertisement", "Through Recommendations", "A free copy of Mastering The Interview",
]  # fmt: skip
XEDU_CATEGORICAL = [
    "Lead Origin", "Lead Source", "Last Activity", "Country", "Specialization",
    "How did you hear about X Education", "What is your current occupation",
    "What matters most to you in choosing a course", "City",
]  # fmt: skip
XEDU_LABELS = {
    "Total Time Spent on Website": "Total time on website (s)",
    "TotalVisits": "Website visits",
    "What is your current occupation": "Occupation",
    "What matters most to you in choosing a course": "What matters most",
    "How did you hear about X Education": "Heard about us via",
}


def load_xeducation(data_dir: Path) -> Dataset:
    """X Education leads (9,240 rows, target ``Converted``); no timestamps, so a stratified split.

    The form default ``Select`` means "not answered" and becomes missing.
    """
    path = Path(data_dir) / "xeducation_leads.csv"
    records: list[dict[str, Any]] = []
    labels: list[int] = []
    with path.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            labels.append(int(row["Converted"]))
            record: dict[str, Any] = {}
            for name in (*XEDU_NUMERIC, *XEDU_BOOLEAN, *XEDU_CATEGORICAL):
                value = row.get(name, "")
                record[name] = None if value in ("", "Select") else value
            records.append(record)
    spec = FeatureSpec(
        numeric=list(XEDU_NUMERIC),
        categorical=list(XEDU_CATEGORICAL),
        text=[],
        boolean=list(XEDU_BOOLEAN),
        labels=dict(XEDU_LABELS),
    )
    note = "X Education leads (github.com/abhisek-web/leads_scoring_data, upGrad/Kaggle; no licence stated)"
    return Dataset("xeducation", records, labels, None, spec, note)


# --------------------------------------------------------------------------------------------------
# UCI bank marketing (Moro, Cortez & Rita 2014), bank-additional-full
# --------------------------------------------------------------------------------------------------

_MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
BANK_NUMERIC = [
    "age", "campaign", "pdays", "previous", "emp.var.rate", "cons.price.idx", "cons.conf.idx",
    "euribor3m", "nr.employed",
]  # fmt: skip
BANK_CATEGORICAL = [
    "job", "marital", "education", "default", "housing", "loan", "contact", "month", "day_of_week",
    "poutcome",
]  # fmt: skip
# Dropped: "duration" - the call's length, known only after the call whose outcome is the label
# (bank-additional-names.txt: "should be discarded if the intention is to have a realistic predictive model").
BANK_LABELS = {
    "campaign": "Contacts in this campaign",
    "pdays": "Days since previous campaign contact",
    "previous": "Contacts before this campaign",
    "poutcome": "Previous campaign outcome",
    "euribor3m": "Euribor 3-month rate",
    "nr.employed": "Employees (quarterly, thousands)",
    "emp.var.rate": "Employment variation rate",
    "cons.price.idx": "Consumer price index",
    "cons.conf.idx": "Consumer confidence index",
    "day_of_week": "Day of week of contact",
    "month": "Month of contact",
}


def load_bank(data_dir: Path) -> Dataset:
    """UCI bank marketing, ``bank-additional-full.csv`` (41,188 calls, target ``y``), without ``duration``.

    The rows are in date order (May 2008 - Nov 2010) with a month but no year: the year is rebuilt by
    counting wrap-arounds of the month (dec -> mar happens at rows 27,690 and 39,130), and each row gets
    the first of its month as timestamp; the split keeps row order among equal timestamps. ``pdays`` = 999
    ("never contacted") becomes missing. Falls back to ``bank-additional.csv`` (10 % sample, no order).
    """
    folder = Path(data_dir) / "bank_marketing"
    path = folder / "bank-additional-full.csv"
    ordered = path.exists()
    if not ordered:
        path = folder / "bank-additional.csv"
    records: list[dict[str, Any]] = []
    labels: list[int] = []
    timestamps: list[datetime] = []
    year, previous_month = 2008, None
    with path.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle, delimiter=";"):
            labels.append(1 if row["y"] == "yes" else 0)
            record: dict[str, Any] = {name: row[name] for name in BANK_CATEGORICAL}
            for name in BANK_NUMERIC:
                record[name] = row[name]
            if record["pdays"] == "999":
                record["pdays"] = None
            records.append(record)
            month = _MONTHS.index(row["month"]) + 1
            if previous_month is not None and month < previous_month:
                year += 1
            previous_month = month
            timestamps.append(datetime(year, month, 1))
    spec = FeatureSpec(
        numeric=list(BANK_NUMERIC),
        categorical=list(BANK_CATEGORICAL),
        text=[],
        boolean=[],
        labels=dict(BANK_LABELS),
    )
    note = "UCI Bank Marketing, bank-additional-full (Moro, Cortez & Rita 2014; CC BY 4.0), without duration"
    return Dataset("bank", records, labels, timestamps if ordered else None, spec, note)


# --------------------------------------------------------------------------------------------------
# Olist marketing funnel: MQLs joined to closed deals
# --------------------------------------------------------------------------------------------------

# Only the MQL file's fields are features. Every closed-deal column (business_segment, lead_type,
# lead_behaviour_profile, declared revenue, sdr/sr ids...) exists only for won leads: using any would
# reveal the label.
OLIST_LABELS = {
    "origin": "Marketing channel",
    "landing_page_id": "Landing page",
    "contact_weekday": "Weekday of first contact",
}


def load_olist(data_dir: Path) -> Dataset:
    """Olist MQLs (8,000, first contact 2017-06-14..2018-05-31); label 1 when the MQL is in closed deals.

    Features: origin, landing page, weekday of first contact. Timestamp: ``first_contact_date``.
    The month of contact is left out: with a time split the test months were never seen in training.
    """
    folder = Path(data_dir) / "olist_marketing_funnel"
    with (folder / "olist_closed_deals_dataset.csv").open(newline="", encoding="utf-8") as handle:
        won = {row["mql_id"] for row in csv.DictReader(handle)}
    records: list[dict[str, Any]] = []
    labels: list[int] = []
    timestamps: list[datetime] = []
    with (folder / "olist_marketing_qualified_leads_dataset.csv").open(
        newline="", encoding="utf-8"
    ) as handle:
        for row in csv.DictReader(handle):
            ts = datetime.fromisoformat(row["first_contact_date"])
            records.append(
                {
                    "origin": row["origin"] or None,
                    "landing_page_id": row["landing_page_id"] or None,
                    "contact_weekday": ts.strftime("%a"),
                }
            )
            labels.append(1 if row["mql_id"] in won else 0)
            timestamps.append(ts)
    spec = FeatureSpec(
        numeric=[],
        categorical=["origin", "landing_page_id", "contact_weekday"],
        text=[],
        boolean=[],
        labels=dict(OLIST_LABELS),
    )
    note = "Olist Marketing Funnel (Kaggle olistbr/marketing-funnel-olist; CC BY-NC-SA 4.0)"
    return Dataset("olist", records, labels, timestamps, spec, note)


LOADERS = {"xeducation": load_xeducation, "bank": load_bank, "olist": load_olist}


def load_dataset(name: str, data_dir: Path) -> Dataset:
    """Load a dataset by name (``xeducation``, ``bank``, ``olist``); ``KeyError`` for another name."""
    return LOADERS[name](Path(data_dir))
