"""Custom field definitions, value coercion, the service's rules and the lead service's use of them."""

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from leadtide.customfields import patterns
from leadtide.customfields.models import (
    STORED,
    TEXT_MAX_LENGTH_LIMIT,
    CustomFieldDefinition,
    CustomFieldUpdate,
    CustomFieldValueError,
    parse_date,
    parse_number,
)
from leadtide.customfields.ports import CustomFieldRepository
from leadtide.customfields.service import (
    CustomFieldService,
    InvalidCustomFieldError,
    InvalidCustomFieldValueError,
    parse_definition,
)
from leadtide.dal.custom_fields import _exists_error, _missing_error
from leadtide.leads.service import LeadService
from leadtide.models.auth import Principal
from leadtide.models.common import Role
from leadtide.models.errors import ConflictError, CustomFieldNotFoundError, ForbiddenError
from leadtide.models.leads import LeadCreate, LeadUpdate

ADMIN = Principal("t1", "u-admin", Role.ADMIN)
MANAGER = Principal("t1", "u-mgr", Role.MANAGER)
REP = Principal("t1", "u-rep", Role.REP)
OTHER = Principal("t2", "u-other", Role.ADMIN)


class FakeCustomFieldRepository(CustomFieldRepository):
    def __init__(self):
        self.items: dict[tuple[str, str], CustomFieldDefinition] = {}
        self.list_calls = 0

    def list(self, tenant_id):
        self.list_calls += 1
        return [d for (t, _), d in self.items.items() if t == tenant_id]

    def get(self, tenant_id, key):
        try:
            return self.items[(tenant_id, key)]
        except KeyError:
            raise _missing_error(key) from None

    def create(self, tenant_id, definition, now):
        if (tenant_id, definition.key) in self.items:
            raise _exists_error(definition.key)
        self.items[(tenant_id, definition.key)] = definition

    def replace(self, tenant_id, definition, now):
        self.get(tenant_id, definition.key)
        self.items[(tenant_id, definition.key)] = definition

    def delete(self, tenant_id, key):
        self.get(tenant_id, key)
        del self.items[(tenant_id, key)]


class Clock:
    now = 0.0

    def __call__(self):
        return self.now


@pytest.fixture
def fields():
    return FakeCustomFieldRepository()


@pytest.fixture
def service(fields):
    return CustomFieldService(fields, clock=Clock())


def _define(**data) -> CustomFieldDefinition:
    return parse_definition({"label": data.get("key", "x").title(), **data})


# ---------------------------------------------------------------------------------------------- definitions
@pytest.mark.parametrize(
    ("data", "field", "phrase"),
    [
        ({"key": "Budget", "type": "number"}, "key", "pattern"),
        ({"key": "1st", "type": "number"}, "key", "pattern"),
        ({"key": "a" * 41, "type": "number"}, "key", "pattern"),
        ({"key": "plan", "type": "dropdown"}, "definition", "needs options"),
        ({"key": "plan", "type": "dropdown", "options": []}, "options", "must not be empty"),
        ({"key": "plan", "type": "dropdown", "options": ["Pro", "pro"]}, "options", "unique"),
        ({"key": "plan", "type": "multi_select", "options": ["a;b"]}, "options", "';'"),
        ({"key": "code", "type": "text", "pattern": "([a-z]"}, "pattern", "not a valid regular expression"),
        ({"key": "code", "type": "text", "pattern": "(a)b\\1"}, "pattern", "invalid escape sequence: \\1"),
        ({"key": "code", "type": "text", "pattern": "a(?=b)"}, "pattern", "lookarounds"),
        ({"key": "code", "type": "text", "pattern": "(?<!x)a"}, "pattern", "RE2 syntax"),
        ({"key": "code", "type": "text", "pattern": "a\\Z"}, "pattern", "not supported"),
        ({"key": "code", "type": "text", "pattern": "x" * 201}, "pattern", "at most 200"),
        ({"key": "code", "type": "number", "pattern": "\\d+"}, "definition", "text fields"),
        ({"key": "budget", "type": "number", "min": 10, "max": 1}, "definition", "greater than max"),
        ({"key": "start", "type": "date", "min": "2024-05-01", "max": "2024-01-01"}, "definition", "greater"),
        ({"key": "start", "type": "date", "min": 5}, "definition", "ISO date"),
        ({"key": "budget", "type": "number", "min": "2024-01-01"}, "definition", "must be a number"),
        ({"key": "flag", "type": "checkbox", "options": ["a"]}, "definition", "options apply"),
        ({"key": "flag", "type": "checkbox", "min": 1}, "definition", "min and max apply"),
        ({"key": "flag", "type": "colour"}, "type", "Input should be"),
    ],
)
def test_invalid_definitions_are_422_naming_the_problem(data, field, phrase):
    with pytest.raises(InvalidCustomFieldError) as caught:
        _define(**data)
    assert caught.value.status_code == 422 and caught.value.code == "invalid_custom_field"
    assert any(d["field"] == field and phrase in d["problem"] for d in caught.value.details), (
        caught.value.details
    )


def test_valid_definitions():
    assert _define(key="budget", type="number", min=0, max=1e6).min == 0
    assert _define(key="start", type="date", min="2024-01-01").min == date(2024, 1, 1)
    plan = _define(key="plan", type="dropdown", options=[" Basic ", "Pro"])
    assert plan.options == ["Basic", "Pro"]


# ---------------------------------------------------------------------------------------------- values
def test_number_values():
    budget = _define(key="budget", type="number", min=0, max=100000)
    assert [budget.coerce(v) for v in ("1,234.5", "1.234,5", "$1,200", "12", 7, 2.5, "1 500", "")] == [
        1234.5,
        1234.5,
        1200,
        12,
        7,
        2.5,
        1500,
        None,
    ]
    for bad, phrase in (("abc", "is not a number"), ("-1", "less than the minimum 0"), ("1e9", "greater")):
        with pytest.raises(CustomFieldValueError, match=f"Custom field 'budget': .*{phrase}"):
            budget.coerce(bad)
    with pytest.raises(CustomFieldValueError):
        budget.coerce(True)


def test_date_values():
    start = _define(key="start", type="date", min="2020-01-01")
    assert start.coerce("2024-03-01") == "2024-03-01"
    assert start.coerce("03/01/2024") == "2024-03-01"  # US month first
    assert start.coerce("25/12/2024") == "2024-12-25"  # day first when it cannot be a month
    assert start.coerce("01.03.2024") == "2024-03-01"  # European dots: day first
    assert start.coerce("15 Apr, 2021 00:03:00") == "2021-04-15"  # Zoho export
    assert start.coerce("Mar 1, 2024") == "2024-03-01"
    assert start.coerce("2024-01-22T20:36:47.000+0000") == "2024-01-22"  # Salesforce CreatedDate
    assert start.coerce(date(2024, 3, 1)) == "2024-03-01"
    with pytest.raises(CustomFieldValueError, match="is before 2020-01-01"):
        start.coerce("2019-12-31")
    with pytest.raises(CustomFieldValueError, match="is not a date"):
        start.coerce("2024-02-30")


def test_option_checkbox_url_email_phone_text_values():
    plan = _define(key="plan", type="dropdown", options=["Basic", "Pro"])
    assert plan.coerce(" pro ") == "Pro"
    topics = _define(key="topics", type="multi_select", options=["Sun", "Surf", "Sea, Sand"])
    assert topics.coerce("surf;sun, SURF") == ["Surf", "Sun"]
    assert topics.coerce("Sea, Sand") == ["Sea, Sand"]  # an option containing a comma, whole
    assert topics.coerce(["Sun"]) == ["Sun"]
    flag = _define(key="flag", type="checkbox")
    assert [flag.coerce(v) for v in ("yes", "No", "TRUE", "1", "x", "0", True)] == [
        True,
        False,
        True,
        True,
        True,
        False,
        True,
    ]
    site = _define(key="site", type="url")
    assert site.coerce("acme.com/pricing") == "https://acme.com/pricing"
    with pytest.raises(CustomFieldValueError, match="web address"):
        site.coerce("javascript:alert(1)")
    assert _define(key="mail", type="email").coerce(" Ana@Example.COM") == "ana@example.com"
    assert _define(key="tel", type="phone").coerce("(415) 555-2671") == "+14155552671"
    assert _define(key="tel", type="phone").coerce("0544401243", default_region="IL") == "+972544401243"
    code = _define(key="code", type="text", pattern="[A-Z]{3}-\\d+", max_length=10)
    assert code.coerce(" ABC-12 ") == "ABC-12"
    with pytest.raises(CustomFieldValueError, match="does not match the pattern"):
        code.coerce("abc-12")
    with pytest.raises(CustomFieldValueError, match="longer than 10"):
        code.coerce("ABC-1234567890")


@given(st.integers(min_value=-(10**12), max_value=10**12))
def test_parse_number_reads_thousands_separators(n):
    assert parse_number(f"{n:,}") == n
    assert parse_number(str(n)) == n


@given(st.dates(min_value=date(1900, 1, 1), max_value=date(2100, 12, 31)))
def test_parse_date_reads_iso_and_us_forms(d):
    assert parse_date(d.isoformat()) == d
    assert parse_date(f"{d.month:02d}/{d.day:02d}/{d.year}") == d  # month first, as US exports write


# ---------------------------------------------------------------------------------------------- service
def test_crud_roles_and_builtins(service, fields):
    budget = _define(key="budget", type="number")
    assert service.create(MANAGER, budget) == budget
    with pytest.raises(ForbiddenError):
        service.create(REP, _define(key="other", type="text"))
    with pytest.raises(ConflictError) as caught:
        service.create(ADMIN, budget)
    assert caught.value.code == "custom_field_exists"
    with pytest.raises(InvalidCustomFieldError, match="built-in"):
        service.create(ADMIN, _define(key="country", type="text"))
    keys = [d.key for d in service.list_definitions("t1")]
    assert keys[-1] == "budget" and {"lead_source", "country", "notes"} <= set(keys)
    assert service.get(REP, "country").builtin is True
    with pytest.raises(InvalidCustomFieldError, match="built-in"):
        service.delete(ADMIN, "country")
    updated = service.update(ADMIN, "budget", CustomFieldUpdate(label="Budget (USD)", min=0, required=True))
    assert (updated.label, updated.min, updated.required, updated.type) == ("Budget (USD)", 0, True, "number")
    with pytest.raises(InvalidCustomFieldError, match="greater than max"):
        service.update(ADMIN, "budget", CustomFieldUpdate(max=-5))
    cleared = service.update(ADMIN, "budget", CustomFieldUpdate(min=None))
    assert cleared.min is None
    service.delete(MANAGER, "budget")
    with pytest.raises(CustomFieldNotFoundError):
        service.get(ADMIN, "budget")
    with pytest.raises(CustomFieldNotFoundError):
        service.delete(ADMIN, "budget")


def test_tenants_are_isolated(service):
    service.create(ADMIN, _define(key="budget", type="number"))
    assert "budget" not in [d.key for d in service.list_definitions("t2")]
    with pytest.raises(CustomFieldNotFoundError):
        service.get(OTHER, "budget")
    with pytest.raises(InvalidCustomFieldValueError, match="unknown custom fields: budget"):
        service.validate_values("t2", {"budget": 5})


def test_definitions_are_cached_for_a_short_time(fields):
    clock = Clock()
    service = CustomFieldService(fields, clock=clock, cache_seconds=30)
    service.list_definitions("t1")
    service.list_definitions("t1")
    assert fields.list_calls == 1
    fields.items[("t1", "late")] = _define(key="late", type="text")  # written by another process
    assert "late" not in service.definitions_by_key("t1")
    clock.now = 31
    assert "late" in service.definitions_by_key("t1")


def test_validate_values(service):
    service.create(ADMIN, _define(key="budget", type="number", required=True))
    service.create(ADMIN, _define(key="plan", type="dropdown", options=["Basic", "Pro"]))
    assert service.validate_values("t1", {"budget": "1,000", "plan": "pro", "country": "Brazil"}) == {
        "budget": 1000,
        "plan": "Pro",
        "country": "Brazil",
    }
    with pytest.raises(InvalidCustomFieldValueError) as caught:
        service.validate_values("t1", {"plan": "Gold", "colour": "red", "size": 1})
    problems = {d["field"]: d["problem"] for d in caught.value.details}
    assert caught.value.message.startswith("unknown custom fields: colour, size")
    assert "not one of the options" in problems["custom_fields.plan"]
    assert problems["custom_fields.budget"] == "Custom field 'budget' is required"
    # partial (a change): only given keys; None clears, except a required field
    assert service.validate_values("t1", {"plan": None}, partial=True) == {"plan": None}
    with pytest.raises(InvalidCustomFieldValueError, match="required"):
        service.validate_values("t1", {"budget": ""}, partial=True)


# ---------------------------------------------------------------------------------------------- lead service
def test_lead_create_and_update_check_custom_fields(repo, events, service):
    service.create(ADMIN, _define(key="budget", type="number", required=True))
    service.create(ADMIN, _define(key="plan", type="dropdown", options=["Basic", "Pro"]))
    leads = LeadService(repo, events, custom_fields=service)
    # Given a lead with custom values as people type them
    lead = leads.create_lead(
        ADMIN,
        LeadCreate(email="a@x.com", custom_fields={"budget": "2,500", "plan": "basic", "city": "Lisbon"}),
    )
    # Then they are stored converted
    assert lead.custom_fields == {"budget": 2500, "plan": "Basic", "city": "Lisbon"}
    assert repo.get_lead("t1", lead.lead_id).custom_fields == lead.custom_fields
    # A required field is enforced on create, and nothing is written
    with pytest.raises(InvalidCustomFieldValueError, match="'budget' is required"):
        leads.create_lead(ADMIN, LeadCreate(email="b@x.com"))
    assert len(repo.leads) == 1
    # An update merges: given keys change, None clears, others stay
    updated = leads.update_lead(ADMIN, lead.lead_id, LeadUpdate(custom_fields={"plan": "PRO", "city": None}))
    assert updated.custom_fields == {"budget": 2500, "plan": "Pro"}
    assert events.types()[-1] == "lead.updated"
    with pytest.raises(InvalidCustomFieldValueError, match="not a number"):
        leads.update_lead(ADMIN, lead.lead_id, LeadUpdate(custom_fields={"budget": "lots"}))
    with pytest.raises(InvalidCustomFieldValueError, match="unknown custom fields: nope"):
        leads.update_lead(ADMIN, lead.lead_id, LeadUpdate(custom_fields={"nope": 1}))
    assert repo.get_lead("t1", lead.lead_id).custom_fields == {"budget": 2500, "plan": "Pro"}


# ---------------------------------------------------------------------------------------------- patterns
@pytest.mark.parametrize("pattern", ["^(a|a)*$", "^((a+))+$", "(a+)+", "(\\w*)*x", "^(a|aa)+$"])
def test_catastrophic_patterns_are_accepted_and_matched_in_linear_time(pattern):
    # Given patterns that backtrack exponentially in Python's re (28 characters took 17.7 s)
    field = _define(key="code", type="text", pattern=pattern, max_length=TEXT_MAX_LENGTH_LIMIT)
    # Then they are matched by RE2, whose automaton is linear in the value's length whatever the pattern
    assert patterns.ENGINE == "re2"
    assert type(patterns.compile_pattern(pattern)).__module__ == "re2"
    adversarial = "a" * 9_999 + "!"
    with pytest.raises(CustomFieldValueError, match="does not match the pattern"):
        field.coerce(adversarial)
    if "x" not in pattern:
        assert field.coerce("a" * 10_000) == "a" * 10_000


def test_pattern_syntax_shared_with_python_re_still_works():
    field = _define(key="code", type="text", pattern="(?i)[a-z]{2,3}-(?P<n>\\d+)(?:/x)?")
    assert field.coerce("AB-12/x") == "AB-12/x"
    with pytest.raises(CustomFieldValueError, match="does not match"):
        field.coerce("AB-12/y")
    # \\d is ASCII digits in RE2 (documented): Arabic-Indic digits do not match
    with pytest.raises(CustomFieldValueError):
        _define(key="n", type="text", pattern="\\d+").coerce("\u0661\u0662")


def test_a_stored_pattern_re2_refuses_is_read_and_refuses_values_by_name():
    # Given a definition stored before patterns ran on RE2 (Python's re accepted a lookahead)
    stored = CustomFieldDefinition.model_validate(
        {"key": "code", "label": "Code", "type": "text", "pattern": "a(?=b)b"}, context={STORED: True}
    )
    # Then reading it works, a value is refused with the reason, and changing it needs a valid pattern
    with pytest.raises(CustomFieldValueError, match="not supported any more"):
        stored.coerce("ab")
    with pytest.raises(InvalidCustomFieldError):
        _define(key="code", type="text", pattern="a(?=b)b")


def test_text_values_with_a_lone_surrogate_are_refused_by_name():
    with pytest.raises(CustomFieldValueError, match=r"Custom field 'note'.*lone UTF-16 surrogate"):
        _define(key="note", type="text").coerce("hi \ud800")
