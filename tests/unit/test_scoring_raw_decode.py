"""The dal's fast raw-item decoder against PynamoDB's own ``from_raw_data`` on the same items.

Items are built as PynamoDB models (random attribute values, including absent and NULL ones) and
serialized to the low-level DynamoDB JSON that BatchGetItem returns; both decoders read the same dict.
"""

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from leadtide.dal.items import EngagementItem, LeadItem
from leadtide.dal.rawdecode import ItemDecoder
from leadtide.dal.scoring_models import (
    engagement_to_input,
    engagement_values_to_input,
    lead_values,
    profile_values,
)

LEADS, ENGAGEMENT = ItemDecoder(LeadItem), ItemDecoder(EngagementItem)
T0 = datetime(2026, 1, 1, tzinfo=UTC)

maybe_text = st.none() | st.text(max_size=12)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**12), 10**12) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=6),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)  # fmt: skip
numbers = st.none() | st.integers(-(10**9), 10**9) | st.floats(-1e6, 1e6, allow_nan=False)
times = st.none() | st.integers(0, 10**9).map(lambda us: T0 + timedelta(microseconds=us * 997))


@st.composite
def lead_items(draw):
    lead_id = draw(st.text("0123456789abcdef", min_size=4, max_size=8))
    item = LeadItem(
        f"T#t1#L#{lead_id}",
        "PROFILE",
        list_pk="T#t1",
        created_sk="c",
        activity_sk="a",
        score_sk="s",
        lead_id=lead_id,
        tenant_id="t1",
        job_title=draw(maybe_text),
        email=draw(maybe_text),
        company=draw(maybe_text),
        source_channel="manual",
        status=draw(st.sampled_from(["New", "Converted"])),
        score=draw(numbers),
        fit_score=draw(numbers),
        score_breakdown=draw(st.none() | st.lists(json_values, max_size=3)),
        custom_fields=draw(st.none() | st.dictionaries(st.text(max_size=5), json_values, max_size=4)),
        referral=draw(st.none() | json_values.filter(lambda v: v is not None)),
        tags=draw(st.none() | st.lists(st.text(max_size=5), max_size=4)),
        segment_ids=draw(st.none() | st.sets(st.text(min_size=1, max_size=4), min_size=1, max_size=3)),
        scored_at=draw(times),
        created_at=T0,
        updated_at=T0,
        last_activity_at=draw(times) or T0,
    )
    if draw(st.booleans()):
        item.message_count = draw(st.integers(0, 10**6))
    return item


@settings(max_examples=200, deadline=None)
@given(item=lead_items(), drop_message_count=st.booleans())
def test_profiles_decode_exactly_as_pynamodb_decodes_them(item, drop_message_count):
    # Given a profile as BatchGetItem returns it (sometimes without message_count: the default applies)
    raw = item.serialize()
    if drop_message_count:
        raw.pop("message_count", None)
    # When both decoders read it
    expected = LeadItem.from_raw_data(raw).attribute_values
    got = LEADS.decode(raw)
    # Then the values (and their types) are identical, and so is the scoring view of them
    assert got == expected
    assert {k: type(v) for k, v in got.items()} == {k: type(v) for k, v in expected.items()}
    assert profile_values(got) == lead_values(LeadItem.from_raw_data(raw))


@settings(max_examples=100, deadline=None)
@given(
    occ=st.dictionaries(
        st.sampled_from(["email_opened", "page_viewed"]),
        st.lists(st.tuples(st.floats(1e9, 2e9), st.text(max_size=6)).map(list), max_size=5),
        max_size=2,
    ),
    last=times,
)
def test_engagement_records_decode_exactly_and_give_the_same_scoring_input(occ, last):
    item = EngagementItem(
        "T#t1#L#abc", "ENGAGEMENT", occ=occ, counts={k: len(v) for k, v in occ.items()}, last_event_at=last
    )
    raw = item.serialize()
    decoded = ENGAGEMENT.decode(raw)
    pynamo = EngagementItem.from_raw_data(raw)
    assert decoded == pynamo.attribute_values
    assert engagement_values_to_input({"x": 1}, decoded) == engagement_to_input({"x": 1}, pynamo)
    assert engagement_values_to_input({"x": 1}, None) == engagement_to_input({"x": 1}, None)


def test_null_attributes_list_nulls_and_unknown_attributes_follow_pynamodb():
    raw = {
        "pk": {"S": "T#t1#L#1"},
        "sk": {"S": "PROFILE"},
        "lead_id": {"S": "1"},
        "email": {"NULL": True},  # an explicit NULL is absent, as in PynamoDB
        "tags": {"L": [{"S": "a"}, {"NULL": True}]},
        "score": {"N": "-3.25"},
        "fit_score": {"N": "1e+20"},
        "message_count": {"N": "0"},
        "not_in_the_model": {"S": "ignored"},
        "created_at": {"S": "2026-01-02T03:04:05.123456+0000"},
    }
    assert LEADS.decode(raw) == LeadItem.from_raw_data(raw).attribute_values


@pytest.mark.parametrize(
    "bad",
    [
        {"score": {"S": "12"}},  # a string under a number attribute
        {"score": {"N": "007"}},  # not a JSON number
        {"created_at": {"S": "yesterday"}},
        {"tags": {"L": [{"N": "1"}]}},
    ],
)
def test_items_the_fast_path_cannot_read_get_pynamodbs_result_or_error(bad):
    raw = {"pk": {"S": "T#t1#L#1"}, "sk": {"S": "PROFILE"}, **bad}
    try:
        expected = LeadItem.from_raw_data(raw).attribute_values
    except Exception as err:  # whatever PynamoDB raises, the decoder raises too
        with pytest.raises(type(err)):
            LEADS.decode(raw)
    else:
        assert LEADS.decode(raw) == expected


def test_the_fast_path_decodes_the_dal_json_attributes_itself():
    # Given the item classes whose JSON attributes are JSONValueAttributes (leadtide.dal.jsoncodec)
    # Then their decoders stay on the fast path rather than handing every item to PynamoDB
    assert not LEADS._slow and not ENGAGEMENT._slow
    # and a datetime written inside a JSON attribute reads back as its ISO text, as PynamoDB reads it
    item = LeadItem(
        "T#t1#L#1",
        "PROFILE",
        list_pk="T#t1",
        created_sk="c",
        activity_sk="a",
        score_sk="s",
        lead_id="1",
        tenant_id="t1",
        source_channel="manual",
        status="New",
        created_at=T0,
        updated_at=T0,
        last_activity_at=T0,
    )
    item.grade_override = {"grade": "hot", "reason": "fair", "by": "u1", "at": T0}
    raw = item.serialize()
    assert LEADS.decode(raw)["grade_override"]["at"] == "2026-01-01T00:00:00Z"
    assert LEADS.decode(raw) == LeadItem.from_raw_data(raw).attribute_values
