"""Ready-made scoring models a tenant can start from (``POST /scoring-models {"template": ...}``).

Point values follow the common shape of fit + engagement lead scoring (HubSpot, Marketo and Pardot
guides): fit is capped at 40 and engagement at 60 so neither alone makes a lead hot (>= 50); high-intent
actions (meeting booked, reply, pricing-page-like content) are worth 10-25, light touches (open, page view)
1-2 with a max-occurrence limit so volume cannot fake intent; negative fit marks poor matches (students,
free mail in B2B, competitors). Decay is a half-life matched to the sales cycle: short for consumer
purchases (7 days), longer for considered B2B/financial buys (21-30 days).

Message intent: every template scores what inbound messages say (the ``intent.*`` event types of
:mod:`leadtide.scoring.intent`: price, purchase, timing, meeting, payment, and the negative not interested,
opt-out, too expensive) in its own ``intent`` group, the latest mention of each category only
(``max_occurrences`` 1, decayed like any behaviour), weighted for the business: a demo request weighs most
in B2B SaaS, a purchase or payment question in high-ticket e-commerce, a quote request in financial
services. The built-in formula (no model) weighs the same categories 8-15 points, capped at 35.
"""

from __future__ import annotations

from typing import Any

from leadtide.models.scoring import MESSAGE_INTENT_EVENT_TYPES, ScoringModelSpec, ScoringTemplate
from leadtide.scoring.intent import intent_label

_GROUPS = [
    {"name": "fit", "label": "Fit", "cap": 40},
    {"name": "engagement", "label": "Engagement", "cap": 60},
]


def _fit(rule_id: str, label: str, field: str, op: str, value: Any, points: float) -> dict[str, Any]:
    rule = {"id": rule_id, "label": label, "field": field, "op": op, "points": points}
    if value is not None:
        rule["value"] = value
    return rule


def _beh(rule_id: str, label: str, event: str, points: float, max_occ: int | None = None) -> dict[str, Any]:
    rule: dict[str, Any] = {"id": rule_id, "label": label, "event_type": event, "points": points}
    if max_occ is not None:
        rule["max_occurrences"] = max_occ
    return rule


def _intent_group(cap: float) -> dict[str, Any]:
    return {"name": "intent", "label": "Message intent", "cap": cap}


def _intent(points: dict[str, float]) -> list[dict[str, Any]]:
    """One behaviour rule per message-intent event type (``points`` names every type, by its category:
    ``pricing`` or ``negative.opt_out``); the rule id is the event type, as in the built-in formula's
    breakdown, and only the latest mention counts."""
    rules = []
    for event_type in MESSAGE_INTENT_EVENT_TYPES:
        key = event_type.removeprefix("intent.")
        rule = _beh(event_type, intent_label(event_type), event_type, points[key], 1)
        rules.append({**rule, "group": "intent"})
    return rules


TEMPLATES: dict[str, tuple[str, str, dict[str, Any]]] = {
    "b2b_saas": (
        "B2B SaaS",
        "Decision-makers at mid-size companies on business email; demo bookings and replies dominate "
        "engagement. 21-day half-life.",
        {
            "name": "B2B SaaS",
            "fit_rules": [
                _fit(
                    "fit.exec_title",
                    "Executive or VP",
                    "job_title",
                    "contains",
                    ["chief", "ceo", "founder", "vp", "vice president", "head of"],
                    15,
                ),
                _fit(
                    "fit.manager_title",
                    "Director or manager",
                    "job_title",
                    "contains",
                    ["director", "manager"],
                    10,
                ),
                _fit(
                    "fit.company_size",
                    "Company of 50-1000 employees",
                    "company_size",
                    "between",
                    [50, 1000],
                    12,
                ),
                _fit("fit.business_email", "Business email", "email_domain_type", "eq", "business", 8),
                _fit("fit.free_email", "Free email address", "email_domain_type", "eq", "free", -5),
                _fit("fit.student", "Student or intern", "job_title", "contains", ["student", "intern"], -15),
                _fit("fit.company_known", "Company known", "company", "is_not_empty", None, 3),
            ],
            "behaviour_rules": [
                _beh("eng.meeting", "Booked a demo", "meeting_booked", 25, 2),
                _beh("eng.reply", "Replied to an email", "email_replied", 10, 3),
                _beh("eng.form", "Submitted a form", "form_submitted", 12, 3),
                _beh("eng.content", "Downloaded content", "content_downloaded", 6, 3),
                _beh("eng.click", "Clicked an email", "email_clicked", 3, 5),
                _beh("eng.open", "Opened an email", "email_opened", 1, 10),
                _beh("eng.page", "Viewed a page", "page_viewed", 1, 10),
                _beh("eng.whatsapp", "Sent a WhatsApp message", "whatsapp_message", 4, 5),
                *_intent(
                    {
                        "pricing": 12,
                        "purchase": 10,
                        "timing": 6,
                        "meeting": 15,
                        "payment": 8,
                        "negative.not_interested": -15,
                        "negative.opt_out": -20,
                        "negative.too_expensive": -8,
                    }
                ),
            ],
            "groups": [*_GROUPS, _intent_group(30)],
            "decay": {"kind": "half_life", "days": 21},
            "grades": {"hot": 50, "warm": 20},
        },
    ),
    "agency": (
        "Agency / services",
        "Owners and marketing leads with a budget; briefs (forms) and calls matter most. 14-day half-life.",
        {
            "name": "Agency",
            "fit_rules": [
                _fit(
                    "fit.owner",
                    "Owner or marketing lead",
                    "job_title",
                    "contains",
                    ["owner", "founder", "ceo", "marketing manager", "cmo", "head of marketing"],
                    15,
                ),
                _fit("fit.business_email", "Business email", "email_domain_type", "eq", "business", 8),
                _fit(
                    "fit.company_size",
                    "Company of 10-500 employees",
                    "company_size",
                    "between",
                    [10, 500],
                    10,
                ),
                _fit("fit.referral_tag", "Tagged as referral", "tags", "contains", "referral", 7),
            ],
            "behaviour_rules": [
                _beh("eng.brief", "Sent a brief (form)", "form_submitted", 15, 2),
                _beh("eng.meeting", "Booked a call", "meeting_booked", 20, 2),
                _beh("eng.reply", "Replied to an email", "email_replied", 8, 3),
                _beh("eng.case_study", "Downloaded a case study", "content_downloaded", 5, 3),
                _beh("eng.whatsapp", "WhatsApp message", "whatsapp_message", 4, 5),
                _beh("eng.instagram", "Instagram message", "instagram_message", 3, 5),
                _beh("eng.click", "Clicked an email", "email_clicked", 2, 5),
                _beh("eng.page", "Viewed a page", "page_viewed", 1, 10),
                *_intent(
                    {
                        "pricing": 10,
                        "purchase": 8,
                        "timing": 6,
                        "meeting": 12,
                        "payment": 6,
                        "negative.not_interested": -15,
                        "negative.opt_out": -20,
                        "negative.too_expensive": -10,
                    }
                ),
            ],
            "groups": [*_GROUPS, _intent_group(30)],
            "decay": {"kind": "half_life", "days": 14},
        },
    ),
    "ecommerce_high_ticket": (
        "E-commerce, high ticket",
        "Considered consumer purchases (furniture, travel, jewellery): chat and checkout intent outweigh "
        "profile. Engagement cap 70, 7-day half-life.",
        {
            "name": "E-commerce high ticket",
            "custom_event_types": ["cart_added", "checkout_started"],
            "fit_rules": [
                _fit(
                    "fit.ad",
                    "Came from WhatsApp/Instagram",
                    "source_channel",
                    "in",
                    ["whatsapp", "instagram", "twilio"],
                    8,
                ),
                _fit("fit.vip", "Tagged VIP", "tags", "contains", "vip", 15),
                _fit("fit.country", "Ships to core market", "country", "in", ["US", "CA", "GB"], 5),
            ],
            "behaviour_rules": [
                _beh("eng.checkout", "Started checkout", "checkout_started", 25, 2),
                _beh("eng.cart", "Added to cart", "cart_added", 10, 3),
                _beh("eng.whatsapp", "WhatsApp message", "whatsapp_message", 6, 5),
                _beh("eng.instagram", "Instagram message", "instagram_message", 5, 5),
                _beh("eng.page", "Viewed a product page", "page_viewed", 2, 10),
                _beh("eng.click", "Clicked an email", "email_clicked", 3, 5),
                _beh("eng.open", "Opened an email", "email_opened", 1, 5),
                *_intent(
                    {
                        "pricing": 8,
                        "purchase": 15,
                        "timing": 8,
                        "meeting": 4,
                        "payment": 15,
                        "negative.not_interested": -15,
                        "negative.opt_out": -20,
                        "negative.too_expensive": -12,
                    }
                ),
            ],
            "groups": [
                {"name": "fit", "label": "Fit", "cap": 30},
                {"name": "engagement", "label": "Engagement", "cap": 70},
                _intent_group(35),
            ],
            "decay": {"kind": "half_life", "days": 7},
        },
    ),
    "financial_services_insurance": (
        "Financial services / insurance",
        "Quote requests and advisor meetings; a complete profile and a business email help; linear decay "
        "(5 points a month) for a slow, seasonal buying cycle.",
        {
            "name": "Financial services & insurance",
            "custom_event_types": ["quote_requested"],
            "fit_rules": [
                _fit("fit.company_known", "Employer known", "company", "is_not_empty", None, 5),
                _fit("fit.title_known", "Job title known", "job_title", "is_not_empty", None, 5),
                _fit("fit.business_email", "Business email", "email_domain_type", "eq", "business", 5),
                _fit("fit.income", "Declared income >= 60k", "custom.annual_income", "gte", 60000, 15),
                _fit("fit.age", "Age 25-65", "custom.age", "between", [25, 65], 10),
                _fit("fit.student", "Student", "job_title", "contains", "student", -10),
            ],
            "behaviour_rules": [
                _beh("eng.quote", "Requested a quote", "quote_requested", 25, 2),
                _beh("eng.meeting", "Booked an advisor meeting", "meeting_booked", 20, 2),
                _beh("eng.form", "Submitted a form", "form_submitted", 10, 3),
                _beh("eng.reply", "Replied to an email", "email_replied", 8, 3),
                _beh("eng.guide", "Downloaded a guide", "content_downloaded", 5, 3),
                _beh("eng.click", "Clicked an email", "email_clicked", 2, 5),
                *_intent(
                    {
                        "pricing": 15,
                        "purchase": 10,
                        "timing": 5,
                        "meeting": 12,
                        "payment": 6,
                        "negative.not_interested": -15,
                        "negative.opt_out": -20,
                        "negative.too_expensive": -10,
                    }
                ),
            ],
            "groups": [*_GROUPS, _intent_group(30)],
            "decay": {"kind": "linear", "points_per_period": 5, "period_days": 30},
            "grades": {"hot": 55, "warm": 25},
        },
    ),
    "fitness_memberships": (
        "Fitness memberships",
        "Local prospects who chat and book a trial class; fast 7-day half-life (a week-old enquiry has "
        "cooled).",
        {
            "name": "Fitness memberships",
            "custom_event_types": ["trial_booked", "class_attended"],
            "fit_rules": [
                _fit(
                    "fit.channel",
                    "Messaged on WhatsApp/Instagram",
                    "source_channel",
                    "in",
                    ["whatsapp", "instagram", "twilio"],
                    10,
                ),
                _fit("fit.local", "Lives nearby (tag)", "tags", "contains", "local", 15),
                _fit(
                    "fit.corporate",
                    "Corporate plan (business email)",
                    "email_domain_type",
                    "eq",
                    "business",
                    5,
                ),
                _fit("fit.lost", "Marked lost", "status", "eq", "Lost", -20),
            ],
            "behaviour_rules": [
                _beh("eng.trial", "Booked a trial class", "trial_booked", 25, 2),
                _beh("eng.attended", "Attended a class", "class_attended", 15, 3),
                _beh("eng.whatsapp", "WhatsApp message", "whatsapp_message", 5, 5),
                _beh("eng.instagram", "Instagram message", "instagram_message", 5, 5),
                _beh("eng.form", "Submitted a form", "form_submitted", 10, 2),
                _beh("eng.page", "Viewed the timetable/prices", "page_viewed", 2, 5),
                *_intent(
                    {
                        "pricing": 8,
                        "purchase": 12,
                        "timing": 8,
                        "meeting": 10,
                        "payment": 10,
                        "negative.not_interested": -15,
                        "negative.opt_out": -20,
                        "negative.too_expensive": -12,
                    }
                ),
            ],
            "groups": [*_GROUPS, _intent_group(30)],
            "decay": {"kind": "half_life", "days": 7},
        },
    ),
}


def template_spec(name: str) -> dict[str, Any]:
    """The spec dict of a template (a fresh copy). Raises KeyError for an unknown name."""
    import copy

    return copy.deepcopy(TEMPLATES[name][2])


def list_templates() -> list[ScoringTemplate]:
    """Every template, validated."""
    from leadtide.scoring.rules import parse_spec

    return [
        ScoringTemplate(name=name, title=title, description=description, spec=parse_spec(spec))
        for name, (title, description, spec) in TEMPLATES.items()
    ]


def template_model(name: str) -> ScoringModelSpec:
    """A template as a validated spec."""
    from leadtide.scoring.rules import parse_spec

    return parse_spec(template_spec(name))
