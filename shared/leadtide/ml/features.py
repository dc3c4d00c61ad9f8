"""Features for predictive lead scoring: which fields a model reads and how records become a matrix.

A :class:`FeatureSpec` names the input fields by kind (numeric, categorical, text, boolean) and gives each
a plain-language label for explanations. :func:`records_to_matrix` turns records (mappings of field name
to value) into a 2-D ``numpy`` object array with one column per field, in :meth:`FeatureSpec.columns`
order: numeric and boolean columns hold ``float`` (``nan`` when missing), categorical columns hold ``str``
(``MISSING`` when missing) and text columns hold lower-cased ``str`` (``""`` when missing).
:func:`build_preprocessor` returns the scikit-learn ``ColumnTransformer`` that turns that matrix into
numbers: numeric passthrough, ordinal-encoded categories (rare ones pooled, unseen ones -> ``nan``) and,
per text field, binary keyword flags for the most frequent words. pandas is deliberately not used (not in
the Lambda layer).

For Leadtide's own leads, :func:`lead_feature_spec` and :func:`lead_record` derive the fields from a
stored lead (``Lead.model_dump()``). ``status`` is never a feature: it *is* the outcome (Converted/Lost)
or a step on the way to it, so using it would leak the label.

Only ``leadtide.ml`` modules import scikit-learn; the Api function never imports this package.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.preprocessing import OrdinalEncoder

MISSING = "(missing)"
"""Category used for an absent categorical value (kept as its own level: missingness is often telling)."""

MAX_CATEGORIES = 64
"""Levels kept per categorical field; the rest are pooled as infrequent (HistGradientBoosting allows 255)."""

MIN_CATEGORY_COUNT = 5
"""A level seen fewer times than this in training is pooled with the other infrequent levels."""

TEXT_KEYWORDS = 20
"""Keyword flags per text field: the most frequent words seen in at least ``MIN_CATEGORY_COUNT`` rows."""


@dataclass(frozen=True)
class FeatureSpec:
    """Which record fields a model reads, by kind, with plain-language labels for explanations.

    Attributes:
        numeric: fields holding numbers (int/float/numeric strings); missing -> ``nan``.
        categorical: fields holding one label each (source, country...); missing -> ``MISSING``.
        text: free-text fields (job title, company); become keyword flags.
        boolean: yes/no fields (``True``/``False``, ``"yes"``/``"no"``, 1/0); missing -> ``nan``.
        labels: field name -> label shown to users ("Lead source"); fields without one show their name.
    """

    numeric: list[str] = field(default_factory=list)
    categorical: list[str] = field(default_factory=list)
    text: list[str] = field(default_factory=list)
    boolean: list[str] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)

    def columns(self) -> list[str]:
        """Field names in matrix column order: numeric, boolean, categorical, text."""
        return [*self.numeric, *self.boolean, *self.categorical, *self.text]

    def kind_of(self, name: str) -> str:
        """``"numeric"``, ``"boolean"``, ``"categorical"`` or ``"text"`` for a field of the spec."""
        for kind in ("numeric", "boolean", "categorical", "text"):
            if name in getattr(self, kind):
                return kind
        raise KeyError(name)

    def label(self, name: str) -> str:
        """Plain-language label of a field (its name when none was given)."""
        return self.labels.get(name, name)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (used in model metadata)."""
        return {
            "numeric": list(self.numeric),
            "categorical": list(self.categorical),
            "text": list(self.text),
            "boolean": list(self.boolean),
            "labels": dict(self.labels),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FeatureSpec:
        """Inverse of :meth:`to_dict`; raises ``KeyError``/``TypeError`` on a malformed mapping."""
        return cls(
            numeric=[str(x) for x in data["numeric"]],
            categorical=[str(x) for x in data["categorical"]],
            text=[str(x) for x in data["text"]],
            boolean=[str(x) for x in data["boolean"]],
            labels={str(k): str(v) for k, v in dict(data.get("labels", {})).items()},
        )


# --------------------------------------------------------------------------------------------------
# Records -> matrix
# --------------------------------------------------------------------------------------------------

_TRUE = {"true", "yes", "y", "1", "t", "on"}
_FALSE = {"false", "no", "n", "0", "f", "off"}


def _number(value: Any) -> float:
    if value is None or isinstance(value, bool):
        return float(value) if isinstance(value, bool) else math.nan
    if isinstance(value, int | float):
        return float(value)
    text = str(value).strip().replace(",", "")
    if not text:
        return math.nan
    try:
        return float(text)
    except ValueError:
        return math.nan


def _boolean(value: Any) -> float:
    if value is None:
        return math.nan
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int | float):
        return math.nan if isinstance(value, float) and math.isnan(value) else float(value != 0)
    text = str(value).strip().lower()
    return 1.0 if text in _TRUE else 0.0 if text in _FALSE else math.nan


def _category(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return MISSING
    text = str(value).strip()
    return text if text else MISSING


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list | tuple | set):
        return " ".join(str(v) for v in value).lower()
    return str(value).lower()


def records_to_matrix(records: Sequence[Mapping[str, Any]], spec: FeatureSpec) -> np.ndarray:
    """Turn records into the pipeline's input: an ``(n_records, len(spec.columns()))`` object array.

    Fields absent from a record count as missing. Values are coerced per kind (see the module
    docstring); a value that cannot be read as its kind is missing, never an error.
    """
    converters = (
        [(_number, name) for name in spec.numeric]
        + [(_boolean, name) for name in spec.boolean]
        + [(_category, name) for name in spec.categorical]
        + [(_text, name) for name in spec.text]
    )
    matrix = np.empty((len(records), len(converters)), dtype=object)
    for j, (convert, name) in enumerate(converters):
        matrix[:, j] = [convert(record.get(name)) for record in records]
    return matrix


# --------------------------------------------------------------------------------------------------
# Matrix -> numbers (scikit-learn)
# --------------------------------------------------------------------------------------------------

_WORD = re.compile(r"[a-z0-9][a-z0-9+#&.-]*")


def _words(text: str) -> set[str]:
    return {w.strip(".-") for w in _WORD.findall(text)} - {""}


def as_float(x: np.ndarray) -> np.ndarray:
    """Cast numeric/boolean columns of the object matrix to ``float64`` (module level: picklable)."""
    return np.asarray(x, dtype=np.float64)


class NumericColumns(TransformerMixin, BaseEstimator):
    """Numeric/boolean columns of the object matrix as ``float64``, ``nan`` kept for the trees.

    A column with no value at all in training is emitted as constant 0 (gradient boosting cannot bin an
    all-missing column; a constant carries the same information: none).
    """

    def fit(self, x: np.ndarray, y: Any = None) -> NumericColumns:
        values = as_float(x)
        self.empty_ = np.isnan(values).all(axis=0) if len(values) else np.ones(values.shape[1], dtype=bool)
        self.n_features_in_ = values.shape[1]
        return self

    def transform(self, x: np.ndarray) -> np.ndarray:
        values = as_float(x).copy()
        values[:, self.empty_] = 0.0
        return values

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        return np.asarray(input_features if input_features is not None else [], dtype=object)


class KeywordFlags(TransformerMixin, BaseEstimator):
    """One text column -> binary flags for its ``max_words`` most frequent words.

    Only words present in at least ``min_count`` training rows are kept (document frequency), so a
    tenant's rare free text cannot become a feature. Input: 2-D array with one column of strings.
    Output: ``float64`` array ``(n, len(vocabulary_))`` (possibly zero columns).
    """

    def __init__(self, max_words: int = TEXT_KEYWORDS, min_count: int = MIN_CATEGORY_COUNT):
        self.max_words = max_words
        self.min_count = min_count

    def fit(self, x: np.ndarray, y: Any = None) -> KeywordFlags:
        counts: Counter[str] = Counter()
        for text in np.asarray(x, dtype=object)[:, 0]:
            counts.update(_words(str(text)))
        kept = [(w, c) for w, c in counts.items() if c >= self.min_count]
        kept.sort(key=lambda wc: (-wc[1], wc[0]))
        self.vocabulary_ = [w for w, _ in kept[: self.max_words]]
        self.n_features_in_ = 1
        return self

    def transform(self, x: np.ndarray) -> np.ndarray:
        """Flags per row, vectorised over distinct texts: each distinct text is tokenised once into a
        row of a small table, and the output is that table indexed by each row's text (a page of leads
        repeats job titles and tags, so the Python work is per distinct text, not per row)."""
        column = np.asarray(x, dtype=object)[:, 0]
        width = len(self.vocabulary_)
        codes: dict[str, int] = {}
        rows = np.fromiter(
            (codes.setdefault(str(t), len(codes)) for t in column), dtype=np.intp, count=len(column)
        )
        table = np.zeros((len(codes), width), dtype=np.float64)
        if width:
            index = {w: j for j, w in enumerate(self.vocabulary_)}
            for text, code in codes.items():
                hits = [j for j in map(index.get, _words(text)) if j is not None]
                table[code, hits] = 1.0
        return table[rows]

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        return np.asarray([f"has:{w}" for w in self.vocabulary_], dtype=object)


def build_preprocessor(spec: FeatureSpec) -> ColumnTransformer:
    """The ``ColumnTransformer`` turning :func:`records_to_matrix` output into a dense float matrix.

    Output columns, in order: numeric + boolean (passthrough as float, ``nan`` kept for the model's
    native missing-value handling), categorical (ordinal codes; levels rarer than ``MIN_CATEGORY_COUNT``
    or beyond ``MAX_CATEGORIES`` pooled; unseen levels -> ``nan``), then keyword flags per text field.
    Transformer names are ``num``, ``cat`` and ``text:<field>``; :func:`categorical_output_mask` tells
    which outputs are categorical.
    """
    n_num = len(spec.numeric) + len(spec.boolean)
    n_cat = len(spec.categorical)
    transformers: list[tuple[str, Any, list[int]]] = []
    if n_num:
        transformers.append(("num", NumericColumns(), list(range(n_num))))
    if n_cat:
        encoder = OrdinalEncoder(
            handle_unknown="use_encoded_value",
            unknown_value=np.nan,
            encoded_missing_value=np.nan,
            min_frequency=MIN_CATEGORY_COUNT,
            max_categories=MAX_CATEGORIES,
            dtype=np.float64,
        )
        transformers.append(("cat", encoder, list(range(n_num, n_num + n_cat))))
    for j, name in enumerate(spec.text):
        transformers.append((f"text:{name}", KeywordFlags(), [n_num + n_cat + j]))
    return ColumnTransformer(transformers, sparse_threshold=0.0, verbose_feature_names_out=False)


def categorical_output_mask(spec: FeatureSpec) -> list[int]:
    """Indices of the preprocessor's output columns that are categorical codes."""
    start = len(spec.numeric) + len(spec.boolean)
    return list(range(start, start + len(spec.categorical)))


# --------------------------------------------------------------------------------------------------
# Leadtide leads
# --------------------------------------------------------------------------------------------------

FREE_EMAIL_DOMAINS = frozenset(
    {
        "gmail.com", "googlemail.com", "yahoo.com", "yahoo.co.uk", "yahoo.es", "yahoo.com.br", "ymail.com",
        "hotmail.com", "hotmail.co.uk", "hotmail.es", "hotmail.fr", "outlook.com", "outlook.es", "live.com",
        "msn.com", "icloud.com", "me.com", "mac.com", "aol.com", "proton.me", "protonmail.com", "gmx.com",
        "gmx.de", "gmx.net", "web.de", "mail.com", "mail.ru", "yandex.ru", "yandex.com", "zoho.com",
        "qq.com", "163.com", "126.com", "uol.com.br", "bol.com.br", "terra.com.br", "libero.it", "orange.fr",
        "free.fr", "t-online.de", "rediffmail.com",
    }
)  # fmt: skip
"""Common free mailbox providers; a lead writing from one of these is not identified by a company domain."""

CUSTOM_FIELD_KINDS: dict[str, str] = {
    "number": "numeric", "integer": "numeric", "decimal": "numeric", "currency": "numeric",
    "percent": "numeric", "date": "numeric", "datetime": "numeric",
    "boolean": "boolean", "checkbox": "boolean",
    "select": "categorical", "single_select": "categorical", "dropdown": "categorical",
    "enum": "categorical", "picklist": "categorical", "radio": "categorical",
    "text": "text", "string": "text", "textarea": "text", "multi_select": "text", "multiselect": "text",
}  # fmt: skip
"""Custom-field type -> feature kind; dates become "days since"; other types (email, url, phone) are skipped."""

_LEAD_LABELS = {
    "source_channel": "Lead source",
    "job_title": "Job title",
    "seniority": "Seniority",
    "company": "Company",
    "email_type": "Email address",
    "has_email": "Has an email address",
    "has_phone": "Has a phone number",
    "has_name": "Has a name",
    "country": "Country (from phone)",
    "message_count": "Messages exchanged",
    "days_since_created": "Days since created",
    "days_since_last_activity": "Days since last activity",
    "rule_score": "Engagement score",
    "tags": "Tags",
    "has_referral": "Came from an ad",
    "referral_source": "Ad referral source",
}

_SENIORITY = (
    (
        "owner",
        ("owner", "founder", "co-founder", "cofounder", "proprietor", "dono", "dueño", "dueno", "socio"),
    ),
    ("executive", ("ceo", "cfo", "coo", "cto", "cmo", "president", "chief", "managing", "partner", "vp")),
    ("director", ("director", "head", "diretor", "directora", "gerente general")),
    ("manager", ("manager", "lead", "supervisor", "gerente", "coordinator", "coordinador", "coordenador")),
    ("student", ("student", "intern", "estudiante", "estudante", "trainee")),
)


def lead_feature_spec(custom_field_types: Mapping[str, str] | None = None) -> FeatureSpec:
    """Feature spec for Leadtide leads as produced by :func:`lead_record`.

    Args:
        custom_field_types: tenant custom field name -> type (``number``, ``select``, ``boolean``,
            ``text``, ``date``... see ``CUSTOM_FIELD_KINDS``); each becomes feature ``custom.<name>``.
            Unknown types are skipped.

    ``status`` (the outcome), ``owner_id`` (assignment follows perceived quality) and identities
    (name, email, phone values) are not features.
    """
    spec = FeatureSpec(
        numeric=["message_count", "days_since_created", "days_since_last_activity", "rule_score"],
        categorical=["source_channel", "seniority", "email_type", "country", "referral_source"],
        text=["job_title", "company", "tags"],
        boolean=["has_email", "has_phone", "has_name", "has_referral"],
        labels=dict(_LEAD_LABELS),
    )
    for name, ftype in sorted((custom_field_types or {}).items()):
        kind = CUSTOM_FIELD_KINDS.get(str(ftype).lower())
        if kind is None:
            continue
        key = f"custom.{name}"
        getattr(spec, kind).append(key)
        spec.labels[key] = name.replace("_", " ").capitalize()
    return spec


def _email_type(email: str | None) -> str | None:
    if not email or "@" not in email:
        return None
    return _domain_type(email.rsplit("@", 1)[1].lower())


@lru_cache(maxsize=8192)
def _domain_type(domain: str) -> str:
    """``free``, ``disposable`` or ``business`` (cached: a page of leads repeats a few domains)."""
    if domain in FREE_EMAIL_DOMAINS:
        return "free"
    try:
        from disposable_email_domains import blocklist
    except ImportError:  # pragma: no cover - the package is a runtime dependency
        blocklist = set()
    return "disposable" if domain in blocklist else "business"


def _country(phone: str | None) -> str | None:
    if not phone or not phone.startswith("+"):
        return None
    import phonenumbers

    try:
        region = phonenumbers.region_code_for_number(phonenumbers.parse(phone, None))
    except phonenumbers.NumberParseException:  # an unparsable number simply has no country
        return None
    return region if region and region != "ZZ" else None


def _seniority(title: str | None) -> str | None:
    return _seniority_of(title) if title else None


@lru_cache(maxsize=8192)
def _seniority_of(title: str) -> str:
    """Seniority level of a job title (cached: job titles repeat across a tenant's leads)."""
    words = " " + re.sub(r"[^\w-]+", " ", title.lower()) + " "
    for level, keys in _SENIORITY:
        if any(f" {k} " in words for k in keys):
            return level
    return "other"


def _parse_time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, str) and value:
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def _days(since: Any, now: datetime) -> float | None:
    ts = _parse_time(since)
    return None if ts is None else max(0.0, (now - ts).total_seconds() / 86400.0)


def lead_record(
    lead: Mapping[str, Any], *, as_of: datetime, custom_field_types: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """Derive the :func:`lead_feature_spec` fields from a stored lead (``Lead.model_dump()`` shape).

    Args:
        lead: the lead as a mapping (datetimes or ISO strings both accepted).
        as_of: the moment the prediction is for. For training rows, pass the moment the lead was still
            open (e.g. just before it was closed), so "days since" features do not see the outcome.
        custom_field_types: as for :func:`lead_feature_spec`.

    ``rule_score`` sums the rule-based score breakdown, leaving out factors starting with ``ml.`` so
    the model never learns from its own earlier predictions.
    """
    now = as_of if as_of.tzinfo else as_of.replace(tzinfo=UTC)
    breakdown = lead.get("score_breakdown") or []
    rule_points = [
        float(f.get("points", 0.0) if isinstance(f, Mapping) else getattr(f, "points", 0.0))
        for f in breakdown
        if not str(f.get("factor", "") if isinstance(f, Mapping) else getattr(f, "factor", "")).startswith(
            "ml."
        )
    ]
    referral = lead.get("referral")
    referral_source = None
    if isinstance(referral, Mapping):
        referral_source = referral.get("source_type") or referral.get("source")
    elif referral is not None:
        referral_source = getattr(referral, "source_type", None)
    record: dict[str, Any] = {
        "source_channel": str(lead.get("source_channel") or "") or None,
        "job_title": lead.get("job_title"),
        "seniority": _seniority(lead.get("job_title")),
        "company": lead.get("company"),
        "email_type": _email_type(lead.get("email")),
        "has_email": bool(lead.get("email")),
        "has_phone": bool(lead.get("phone")),
        "has_name": bool(lead.get("name") or lead.get("first_name") or lead.get("last_name")),
        "country": _country(lead.get("phone")),
        "message_count": lead.get("message_count") or 0,
        "days_since_created": _days(lead.get("created_at"), now),
        "days_since_last_activity": _days(lead.get("last_activity_at"), now),
        "rule_score": sum(rule_points) if rule_points else None,
        "tags": " ".join(lead.get("tags") or []),
        "has_referral": referral is not None,
        "referral_source": referral_source,
    }
    custom = lead.get("custom_fields") or {}
    for name, ftype in (custom_field_types or {}).items():
        kind = CUSTOM_FIELD_KINDS.get(str(ftype).lower())
        if kind is None:
            continue
        value = custom.get(name)
        if str(ftype).lower() in ("date", "datetime"):
            value = _days(value, now)
        record[f"custom.{name}"] = value
    return record


def iter_fields(spec: FeatureSpec) -> Iterable[tuple[str, str]]:
    """``(field, kind)`` pairs in matrix column order."""
    for name in spec.columns():
        yield name, spec.kind_of(name)
