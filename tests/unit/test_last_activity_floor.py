"""``Lead.last_activity_at`` is never before ``created_at`` (docs/data-model.md, "Last activity")."""

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from leadtide.models.common import ChannelType
from leadtide.models.leads import Lead

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


@given(offset=st.integers(min_value=-(10**7), max_value=10**7))
def test_last_activity_is_the_later_of_creation_and_the_interaction(offset):
    interaction = T0 + timedelta(seconds=offset)
    lead = Lead(
        lead_id="a" * 32,
        tenant_id="t",
        source_channel=ChannelType.WHATSAPP,
        created_at=T0,
        updated_at=T0,
        last_activity_at=interaction,
    )
    assert lead.last_activity_at == max(T0, interaction)
    # and it round-trips (what the dal stores is what is read back)
    assert Lead.model_validate(lead.model_dump()).last_activity_at == lead.last_activity_at
