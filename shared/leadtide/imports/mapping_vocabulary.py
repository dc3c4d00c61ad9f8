"""The header vocabulary of import mapping (:mod:`leadtide.imports.mapping`): how headers are normalised,
the synonym table of the standard export columns of the CRMs the mapping knows (each either a target with
a confidence, or a known column no field holds), and the headers that identify a file's source.

Sources: see :mod:`leadtide.imports.mapping`.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = [
    "PIPEDRIVE_PREFIX",
    "SECONDARY_PREFIXES",
    "SECONDARY_RECORD_FACTOR",
    "SIGNATURES",
    "SOURCE_NULLS",
    "SYNONYMS",
    "normalize_header",
]


def normalize_header(header: str) -> str:
    """Comparable form of a header: ``"FirstName"`` -> ``"first name"``, ``"Person - Email - Work"`` ->
    ``"person email work"``, ``"Gender__c"`` -> ``"gender"``, ``"MEMBER_RATING"`` -> ``"member rating"``."""
    text = unicodedata.normalize("NFKD", header).encode("ascii", "ignore").decode("ascii").strip()
    text = re.sub(r"__c$", "", text)
    text = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", text)
    text = re.sub(r"(?<=[A-Z])(?=[A-Z][a-z])", " ", text)
    return re.sub(r"[^a-z0-9]+", " ", text.lower()).strip()


# normalised header -> (target, confidence). None targets are known columns that map to nothing.
SYNONYMS: dict[str, tuple[str | None, float]] = {}


def _add(target: str | None, confidence: float, *phrases: str) -> None:
    for phrase in phrases:
        SYNONYMS[normalize_header(phrase)] = (target, confidence)


_add("email", 1.0, "email", "e-mail", "email address", "e-mail address", "emailaddress", "mail", "email id")
_add("email", 0.95, "primary email", "work email", "business email", "person email", "person email work")
_add("email", 0.9, "email 1", "contact email", "lead email", "emial", "emal", "e-mial")
_add("email", 0.85, "person email home", "home email", "personal email", "person email other")
_add("phone", 1.0, "phone", "phone number", "telephone", "telephone number", "tel", "phone no")
_add("phone", 0.95, "mobile", "mobile phone", "mobile number", "cell", "cell phone", "cellphone")
_add("phone", 0.95, "person phone", "person phone work", "person phone mobile", "whatsapp", "whatsapp number")
_add("phone", 0.9, "work phone", "business phone", "contact number", "phone 1", "direct phone")
_add("phone", 0.8, "home phone", "person phone home", "person phone other", "other phone")
_add("first_name", 1.0, "first name", "firstname", "given name", "forename", "fname", "person first name")
_add("last_name", 1.0, "last name", "lastname", "surname", "family name", "lname", "person last name")
_add("name", 1.0, "name", "full name", "contact name", "lead name", "person name", "display name")
_add("name", 0.8, "contact", "prospect name")
_add("company", 1.0, "company", "company name", "organization", "organisation", "organization name")
_add("company", 0.95, "organisation name", "account name", "business name", "employer")
_add("company", 0.9, "associated company", "account", "org", "firm")
_add("job_title", 1.0, "job title", "title", "jobtitle", "position", "designation", "person job title")
_add("job_title", 0.9, "role", "job role", "job position")
_add("status", 1.0, "status", "lead status", "contact status", "person lead status")
_add("lead_source", 1.0, "lead source", "source", "leadsource", "original source")
_add("lead_source", 0.9, "lead source detail", "original source type", "utm source", "referral source")
_add("tags", 1.0, "tags", "tag", "labels", "label", "person labels", "lead labels")
_add("notes", 1.0, "notes", "note", "description", "comments", "comment", "remarks")
_add("country", 1.0, "country", "country region", "mailing country", "country name")
_add("country", 0.8, "cc", "country code", "billing country", "geo country")
_add("city", 1.0, "city", "town", "mailing city", "city town")
_add("city", 0.8, "billing city")
_add("address", 1.0, "address", "street address", "full address", "mailing address", "postal address")
_add("website", 1.0, "website", "web site", "company website", "homepage", "home page", "url", "web")
_add("website", 0.9, "company domain name", "domain", "website url")
_add("owner_email", 1.0, "owner", "owner email", "lead owner", "contact owner", "record owner", "owner id")
_add(
    "owner_email",
    0.95,
    "person owner",
    "lead owner email",
    "assigned to",
    "hubspot owner",
    "hubspot owner id",
)
_add("owner_email", 0.9, "sales rep", "sales owner", "account owner")
_add(
    "source_created_at",
    1.0,
    "created time",  # Zoho
    "created date",  # Salesforce CreatedDate, Salesforce reports
    "create date",  # HubSpot
    "createdate",  # HubSpot internal name
    "person created",  # Pipedrive people
    "lead created",  # Pipedrive leads
    "date created",
    "created at",
    "created on",
    "creation date",
    "add time",  # Pipedrive API
)
# Further HubSpot internal names and label variants, Salesforce report labels, Zoho and Pipedrive names.
_add("email", 0.6, "secondary email", "email 2", "other email", "alternate email", "alternative email")
_add("phone", 0.9, "mobile phone number", "mobilephone", "mobile phone 1")
_add("company", 1.0, "company account", "company / account")
_add("status", 1.0, "hs lead status")
_add("lead_source", 0.9, "hs analytics source")
_add("address", 0.8, "address line 1", "address 1", "street 1")
_add("address", 0.7, "street", "mailing street", "billing street", "street line 1")
# Known columns of CRM exports that no Leadtide field holds: they map to nothing, are never fuzzily matched to
# a near-looking target (county ~ country), and the preview says so (reason ``not_imported``).
_add(
    None,
    1.0,
    # identifiers
    "id",
    "record id",
    "prospect id",
    "leadid",
    "lead id",
    "contactid",
    "contact id",
    "account id",
    "person id",
    "deal id",
    "hs object id",
    "master record id",
    "created by id",
    "last modified by id",
    "converted account id",
    "converted contact id",
    "converted opportunity id",
    "individual id",
    "jigsaw contact id",
    "dandb company id",
    "company duns number",
    "reports to id",
    "primary associated company id",
    "leid",
    "euid",
    "campaign id",
    "unsub campaign id",
    "clean campaign id",
    "lead number",
    # record bookkeeping
    "is deleted",
    "system modstamp",
    "created by",
    "modified by",
    "last modified by",
    "modified time",
    "last modified date",
    "lastmodifieddate",
    "update time",
    "last viewed date",
    "last referenced date",
    "last activity",
    "last activity date",
    "last activity time",
    "last cu request date",
    "last cu update date",
    "photo url",
    "record image",
    "jigsaw",
    "layout",
    "locked",
    "change log time",
    "last enriched time",
    "enrich status",
    "visible to",
    "owner assigned date",
    "hubspot team",
    "lead record type",
    "is unread by owner",
    "unread by owner",
    # location parts and geodata (address, city and country have fields)
    "county",
    "state",
    "state region",
    "state province",
    "region",
    "province",
    "postal code",
    "zip",
    "zip code",
    "zip postal code",
    "postcode",
    "mailing state",
    "mailing state province",
    "mailing postal code",
    "mailing zip",
    "mailing zip postal code",
    "other street",
    "other city",
    "other state",
    "other state province",
    "other postal code",
    "other zip",
    "other zip postal code",
    "other country",
    "other address",
    "billing state",
    "billing postal code",
    "latitude",
    "longitude",
    "geocode accuracy",
    "other latitude",
    "other longitude",
    "other geocode accuracy",
    "mailing latitude",
    "mailing longitude",
    "mailing geocode accuracy",
    "timezone",
    "time zone",
    "gmtoff",
    "dstoff",
    # people and companies: attributes without a Leadtide field
    "salutation",
    "middle name",
    "suffix",
    "fax",
    "fax number",
    "assistant",
    "assistant name",
    "asst phone",
    "assistant phone",
    "reports to",
    "department",
    "birthday",
    "birthdate",
    "date of birth",
    "skype id",
    "twitter",
    "instant messenger",
    "vendor name",
    "industry",
    "rating",
    "annual revenue",
    "no of employees",
    "number of employees",
    "employees",
    "lead origin",
    "lead quality",
    "lead title",  # Pipedrive: the lead's name, not the person's job title
    "lead value",
    "value",
    "expected close date",
    "lead expected close date",
    "archived",
    "persona",
    "email domain",
    # consent, e-mail health and marketing state
    "email opt out",
    "has opted out of email",
    "has opted out of fax",
    "do not call",
    "can allow portal self reg",
    "email bounced reason",
    "email bounced date",
    "is email bounced",
    "email hard bounce reason",
    "unsubscribed from all email",
    "unsubscribed mode",
    "unsubscribed time",
    "marketing contact status",
    "marketing status",
    "member rating",
    "optin time",
    "optin ip",
    "confirm time",
    "confirm ip",
    "last changed",
    "unsub time",
    "unsub campaign title",
    "unsub reason",
    "unsub reason other",
    "clean time",
    "clean campaign title",
    # pipeline and activity counters
    "lifecycle stage",
    "lifecyclestage",
    "became a lead date",
    "became a customer date",
    "last contacted",
    "number of sales activities",
    "recent sales email replied date",
    "contact unworked",
    "original source drill down 1",
    "original source drill down 2",
    "latest source",
    "open deals",
    "closed deals",
    "won deals",
    "lost deals",
    "next activity date",
    "total activities",
    "done activities",
    "activities to do",
    "email messages count",
    "converted",
    "is converted",
    "converted date",
    "converted date time",
    "lead conversion time",
    "converted account",
    "converted contact",
    "converted deal",
)


def _signature(*headers: str) -> frozenset[str]:
    return frozenset(normalize_header(h) for h in headers)


# Headers that identify a source; a source needs >= 2 of its headers in the file.
SIGNATURES: dict[str, frozenset[str]] = {
    "salesforce": _signature(
        # API names (Data Loader, Data Export) of the Lead and Contact objects
        "IsDeleted",
        "MasterRecordId",
        "LeadSource",
        "IsConverted",
        "OwnerId",
        "SystemModstamp",
        "CreatedById",
        "LastModifiedById",
        "IsUnreadByOwner",
        "ConvertedAccountId",
        "Jigsaw",
        "PhotoUrl",
        "GeocodeAccuracy",
        "MailingStreet",
        "MailingAddress",
        "OtherAddress",
        "ReportsToId",
        "HasOptedOutOfEmail",
        "AssistantPhone",
        "LastCURequestDate",
        "IsEmailBounced",
        # report export labels
        "Company / Account",
        "State/Province",
        "Zip/Postal Code",
        "Mailing State/Province",
        "Mailing Zip/Postal Code",
        "Lead Record Type",
    ),
    "hubspot": _signature(
        "Record ID",
        "Contact owner",
        "Lifecycle Stage",
        "Marketing contact status",
        "Associated Company",
        "Primary Associated Company ID",
        "Last Activity Date",
        "Create Date",
        "HubSpot Owner",
        "Mobile Phone Number",
        "Country/Region",
        "State/Region",
        "Website URL",
        "Original Source Drill-Down 1",
        "Original Source Drill-Down 2",
        "Became a Lead Date",
        "Number of Sales Activities",
        "hs_object_id",
        "hs_lead_status",
        "hubspot_owner_id",
        "lifecyclestage",
        "createdate",
    ),
    "mailchimp": _signature(
        "MEMBER_RATING",
        "OPTIN_TIME",
        "OPTIN_IP",
        "CONFIRM_TIME",
        "CONFIRM_IP",
        "GMTOFF",
        "DSTOFF",
        "LEID",
        "EUID",
        "LAST_CHANGED",
        "UNSUB_TIME",
        "UNSUB_CAMPAIGN_TITLE",
        "UNSUB_CAMPAIGN_ID",
        "UNSUB_REASON",
        "UNSUB_REASON_OTHER",
        "CLEAN_TIME",
        "CLEAN_CAMPAIGN_TITLE",
        "CLEAN_CAMPAIGN_ID",
    ),
    "zoho": _signature(
        "Lead Owner",
        "LEADID",
        "CONTACTID",
        "Contact Owner",
        "Account Id",
        "Record Id",
        "Created Time",
        "Modified Time",
        "Last Activity Time",
        "No of Employees",
        "Annual Revenue",
        "Lead Conversion Time",
        "Created By",
        "Modified By",
        "Email Opt Out",
        "Skype ID",
        "Secondary Email",
    ),
    "xeducation": _signature(
        "Prospect ID",
        "Lead Number",
        "Lead Origin",
        "TotalVisits",
        "Total Time Spent on Website",
        "Page Views Per Visit",
        "Last Notable Activity",
        "Asymmetrique Activity Index",
        "What is your current occupation",
        "A free copy of Mastering The Interview",
    ),
}
SOURCE_NULLS = {"xeducation": ["Select"]}
PIPEDRIVE_PREFIX = re.compile(r"^\s*(person|organization|organisation|lead|deal)\s+-\s+", re.IGNORECASE)
SECONDARY_PREFIXES = frozenset({"organization", "organisation", "deal"})
SECONDARY_RECORD_FACTOR = 0.7
"""Confidence factor of a Pipedrive ``Organization - ...`` / ``Deal - ...`` column for a target other than
the company: the person's own column (``Person - Postal address``) beats the organisation's address."""
