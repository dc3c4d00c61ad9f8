"""DynamoDB implementation of :class:`leadtide.lists.ports.ListRepository`.

Items (see leadtide.dal.items and docs/data-model.md):

* list meta ``pk=T#<t>#LISTS, sk=LIST#<list_id>`` with ``member_count`` (ADD with each change);
* membership ``pk=T#<t>#LIST#<list_id>, sk=L#<lead_id>``, also in the ``leads_by_created`` index under its
  own partition (``list_pk`` = its pk, ``created_sk`` = ``<added iso>#<lead_id>``): members page newest
  added first without touching the tenant's lead partition;
* the lead profile's ``list_ids`` string set, so conditions on list membership read the lead alone.

Each add/remove is one TransactWriteItems over the three.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from pynamodb.exceptions import DoesNotExist, TransactWriteError
from pynamodb.transactions import TransactWrite

from leadtide.dal.base import DynamoRepository
from leadtide.dal.cursor import decode_cursor, encode_cursor
from leadtide.dal.errors import condition_failed, refused_by_condition
from leadtide.dal.items import LeadItem, ListMemberItem, StaticListItem, lead_pk
from leadtide.dal.lead_profile import PROFILE, lead_from_item
from leadtide.lists.models import StaticList
from leadtide.lists.ports import LeadRef, ListRepository
from leadtide.models.auth import owner_visible
from leadtide.models.common import iso
from leadtide.models.errors import LeadNotFoundError, ListNotFoundError
from leadtide.models.leads import LeadSummary


def lists_pk(tenant_id: str) -> str:
    """Partition of the tenant's list meta items."""
    return f"T#{tenant_id}#LISTS"


def list_sk(list_id: str) -> str:
    """Sort key of a list's meta item."""
    return f"LIST#{list_id}"


def list_members_pk(tenant_id: str, list_id: str) -> str:
    """Partition of a list's membership items (and their index partition)."""
    return f"T#{tenant_id}#LIST#{list_id}"


def member_sk(lead_id: str) -> str:
    """Sort key of a membership item (lists and segments)."""
    return f"L#{lead_id}"


def batch_get_leads(
    tenant_id: str, lead_ids: Sequence[str], attributes: list[str] | None = None
) -> dict[str, LeadItem]:
    """The lead profiles among ``lead_ids`` that exist (BatchGetItem, 100 keys per call)."""
    keys = [(lead_pk(tenant_id, lead_id), PROFILE) for lead_id in dict.fromkeys(lead_ids)]
    found: dict[str, LeadItem] = {}
    for item in LeadItem.batch_get(keys, attributes_to_get=attributes):
        found[item.lead_id] = item
    return found


def lead_summaries(tenant_id: str, lead_ids: Sequence[str]) -> list[LeadSummary]:
    """Inbox rows of the existing leads among ``lead_ids``, in that order."""
    found = batch_get_leads(tenant_id, lead_ids)
    return [
        LeadSummary.model_validate(lead_from_item(found[lead_id]).model_dump())
        for lead_id in lead_ids
        if lead_id in found
    ]


MAX_MEMBERS_EVALUATED_PER_PAGE = 2000
"""A member page filtered by visibility reads at most this many members before it returns what it has
(with a cursor), as the inbox does: an interactive request stays bounded however few the caller sees."""

_INDEX_KEYS = ("pk", "sk", "list_pk", "created_sk")


def page_index_partition(
    partition: str,
    *,
    tenant_id: str,
    scope: str,
    limit: int,
    cursor: str | None,
    attribute: str = "lead_id",
    visible_to: str | None = None,
) -> tuple[list[str], str | None]:
    """One page of ``attribute`` values (lead ids) of the items of one ``leads_by_created`` partition,
    newest first.

    With ``visible_to`` (a rep's user id, :attr:`~leadtide.models.auth.Principal.visible_to`) only the leads
    :func:`~leadtide.models.auth.owner_visible` accepts are returned (owners read with one BatchGetItem of
    ``owner_id`` per Query page), and the page is filled up to ``limit`` of them: the cursor points just
    after the last lead returned (built from its index keys), so the page size never tells how many leads
    the caller cannot see, up to :data:`MAX_MEMBERS_EVALUATED_PER_PAGE` members read per request.

    Raises:
        InvalidRequestError: a cursor from another query or tenant.
    """
    start_key = decode_cursor(cursor, scope=scope, tenant_prefix=f"T#{tenant_id}")
    names = [attribute] if visible_to is None else [attribute, *_INDEX_KEYS]
    results = LeadItem.by_created.query(
        partition,
        scan_index_forward=False,
        last_evaluated_key=start_key,
        limit=None if visible_to is not None else limit,
        page_size=limit if visible_to is None else max(limit, 100),
        attributes_to_get=names,
    )
    values: list[str] = []
    last_key: dict[str, Any] | None = None
    evaluated = 0
    for page in results.page_iter:
        items = page.get("Items", [])
        last_key = page.get("LastEvaluatedKey")
        if visible_to is None:
            values.extend(raw[attribute]["S"] for raw in items)
            break
        owners = batch_get_leads(tenant_id, [raw[attribute]["S"] for raw in items], ["lead_id", "owner_id"])
        for n, raw in enumerate(items):
            evaluated += 1
            value = raw[attribute]["S"]
            owner = owners.get(value)
            if owner is not None and owner_visible(owner.owner_id, visible_to):
                values.append(value)
            if len(values) == limit or evaluated >= MAX_MEMBERS_EVALUATED_PER_PAGE:
                more = n + 1 < len(items) or last_key is not None
                after = {name: raw[name] for name in _INDEX_KEYS} if more else None
                return values, encode_cursor(after, scope=scope)
        if not last_key:
            break
    return values, encode_cursor(last_key, scope=scope)


def visible_list_counts(tenant_id: str, visible_to: str) -> dict[str, int]:
    """Members of each static list among the leads ``visible_to`` may see (list id -> count): one read of
    the tenant's sparse condition index (``leads_by_condition_shard``), which projects ``owner_id`` and
    ``list_ids``, 16 shards in parallel."""
    from leadtide.dal.segments import DynamoSegmentRepository  # the condition index reader

    counts: dict[str, int] = {}
    for page in DynamoSegmentRepository().read_condition_records(tenant_id, ("owner_id", "list_ids")):
        for record in page.records:
            if owner_visible(record.get("owner_id"), visible_to):
                for list_id in record.get("list_ids") or ():
                    counts[list_id] = counts.get(list_id, 0) + 1
    return counts


class DynamoListRepository(DynamoRepository, ListRepository):
    """Static lists over the leads table."""

    def create_list(self, tenant_id: str, static_list: StaticList) -> None:
        StaticListItem(
            lists_pk(tenant_id),
            list_sk(static_list.list_id),
            list_id=static_list.list_id,
            name=static_list.name,
            description=static_list.description,
            member_count=0,
            created_by=static_list.created_by,
            created_at=static_list.created_at,
            updated_at=static_list.updated_at,
        ).save(condition=StaticListItem.pk.does_not_exist())

    def list_lists(self, tenant_id: str) -> list[StaticList]:
        return [_list_from_item(item) for item in StaticListItem.query(lists_pk(tenant_id))]

    def get_list(self, tenant_id: str, list_id: str) -> StaticList:
        try:
            return _list_from_item(StaticListItem.get(lists_pk(tenant_id), list_sk(list_id)))
        except DoesNotExist:
            raise ListNotFoundError(f"list {list_id} not found") from None

    def update_list(
        self, tenant_id: str, list_id: str, *, changes: dict[str, str | None], updated_at: datetime
    ) -> StaticList:
        from pynamodb.exceptions import UpdateError

        actions: list[Any] = [StaticListItem.updated_at.set(updated_at)]
        for name, value in changes.items():
            attr = getattr(StaticListItem, name)
            actions.append(attr.remove() if value is None else attr.set(value))
        item = StaticListItem(lists_pk(tenant_id), list_sk(list_id))
        try:
            item.update(actions=actions, condition=StaticListItem.pk.exists())
        except UpdateError as err:
            if condition_failed(err):
                raise ListNotFoundError(f"list {list_id} not found") from None
            raise
        return self.get_list(tenant_id, list_id)

    def delete_list(self, tenant_id: str, list_id: str) -> None:
        from pynamodb.exceptions import DeleteError

        try:
            StaticListItem(lists_pk(tenant_id), list_sk(list_id)).delete(condition=StaticListItem.pk.exists())
        except DeleteError as err:
            if condition_failed(err):
                raise ListNotFoundError(f"list {list_id} not found") from None
            raise

    def add_member(
        self, tenant_id: str, list_id: str, lead_id: str, *, added_at: datetime, added_by: str | None
    ) -> bool:
        pk = list_members_pk(tenant_id, list_id)
        try:
            with TransactWrite(connection=self.connection) as tx:
                tx.update(
                    StaticListItem(lists_pk(tenant_id), list_sk(list_id)),
                    actions=[StaticListItem.member_count.add(1), StaticListItem.updated_at.set(added_at)],
                    condition=StaticListItem.pk.exists(),
                )
                tx.save(
                    ListMemberItem(
                        pk,
                        member_sk(lead_id),
                        list_pk=pk,
                        created_sk=f"{iso(added_at)}#{lead_id}",
                        lead_id=lead_id,
                        added_at=added_at,
                        added_by=added_by,
                    ),
                    condition=ListMemberItem.pk.does_not_exist(),
                )
                tx.update(
                    LeadItem(lead_pk(tenant_id, lead_id), PROFILE),
                    actions=[LeadItem.list_ids.add({list_id})],
                    condition=LeadItem.pk.exists(),
                )
        except TransactWriteError as err:
            failed = [*refused_by_condition(err), False, False, False]
            if failed[0]:
                raise ListNotFoundError(f"list {list_id} not found") from None
            if failed[2]:
                raise LeadNotFoundError(f"lead {lead_id} not found") from None
            if failed[1]:
                return False
            raise
        return True

    def remove_member(self, tenant_id: str, list_id: str, lead_id: str, *, adjust_count: bool = True) -> bool:
        return self._remove(tenant_id, list_id, lead_id, adjust_count=adjust_count, touch_lead=True)

    def _remove(
        self, tenant_id: str, list_id: str, lead_id: str, *, adjust_count: bool, touch_lead: bool
    ) -> bool:
        ops: list[str] = []
        try:
            with TransactWrite(connection=self.connection) as tx:
                tx.delete(
                    ListMemberItem(list_members_pk(tenant_id, list_id), member_sk(lead_id)),
                    condition=ListMemberItem.pk.exists(),
                )
                ops.append("member")
                if touch_lead:
                    tx.update(
                        LeadItem(lead_pk(tenant_id, lead_id), PROFILE),
                        actions=[LeadItem.list_ids.delete({list_id})],
                        condition=LeadItem.pk.exists(),
                    )
                    ops.append("lead")
                if adjust_count:
                    tx.update(
                        StaticListItem(lists_pk(tenant_id), list_sk(list_id)),
                        actions=[StaticListItem.member_count.add(-1)],
                        condition=StaticListItem.pk.exists(),
                    )
                    ops.append("list")
        except TransactWriteError as err:
            failed = {op for op, refused in zip(ops, refused_by_condition(err), strict=False) if refused}
            if "member" in failed:
                return False
            if failed & {"lead", "list"}:  # the lead or the list is gone: remove what remains
                return self._remove(
                    tenant_id,
                    list_id,
                    lead_id,
                    adjust_count=adjust_count and "list" not in failed,
                    touch_lead=touch_lead and "lead" not in failed,
                )
            raise
        return True

    def page_members(
        self, tenant_id: str, list_id: str, *, limit: int, cursor: str | None, visible_to: str | None = None
    ) -> tuple[list[str], str | None]:
        return page_index_partition(
            list_members_pk(tenant_id, list_id),
            tenant_id=tenant_id,
            scope=f"list:{list_id}",
            limit=limit,
            cursor=cursor,
            visible_to=visible_to,
        )

    def visible_member_counts(self, tenant_id: str, visible_to: str) -> dict[str, int]:
        return visible_list_counts(tenant_id, visible_to)

    def iter_member_ids(self, tenant_id: str, list_id: str) -> Iterator[str]:
        for item in ListMemberItem.query(list_members_pk(tenant_id, list_id), attributes_to_get=["lead_id"]):
            yield item.lead_id

    def lists_with_member(self, tenant_id: str, lead_id: str, list_ids: Sequence[str]) -> set[str]:
        keys = [
            (list_members_pk(tenant_id, list_id), member_sk(lead_id)) for list_id in dict.fromkeys(list_ids)
        ]
        by_pk = {pk: list_id for (pk, _), list_id in zip(keys, dict.fromkeys(list_ids), strict=True)}
        return {by_pk[item.pk] for item in ListMemberItem.batch_get(keys, attributes_to_get=["pk"])}

    def lead_refs(self, tenant_id: str, lead_ids: Sequence[str]) -> dict[str, LeadRef]:
        found = batch_get_leads(tenant_id, lead_ids, ["lead_id", "owner_id", "list_ids"])
        return {
            lead_id: LeadRef(lead_id, item.owner_id, frozenset(item.list_ids or ()))
            for lead_id, item in found.items()
        }

    def lead_summaries(self, tenant_id: str, lead_ids: Sequence[str]) -> list[LeadSummary]:
        return lead_summaries(tenant_id, lead_ids)


def _list_from_item(item: StaticListItem) -> StaticList:
    return StaticList(
        list_id=item.list_id,
        name=item.name,
        description=item.description,
        count=int(item.member_count or 0),
        created_by=item.created_by,
        created_at=item.created_at,
        updated_at=item.updated_at,
    )
