"""A page token is good only for the list, the query and the caller it was given to (Google's AIP-158).

For every list (every RPC whose request has a `page_token`, found from the proto descriptors, so a
list added anywhere is tried without anyone listing it), a token from one of its pages given
(a) to every other list, (b) with another filter value, (c) by another caller is INVALID_ARGUMENT
naming `page_token`, where it was once read as a position in the wrong list and answered, silently,
with a page of something else; (d) the same caller with the same query and another page_size gets
the next page, whatever token its channel carries. And paging through a list one item at a time
gives every item once, in the order of the whole list."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import grpc
import pytest
import pytest_asyncio
from google.protobuf import descriptor
from google.protobuf.message import Message
from google.rpc import error_details_pb2

from omnistock.common.v1 import common_pb2
from omnistock.fulfilment.v1 import fulfilment_pb2 as fpb
from omnistock.insights.v1 import insights_pb2 as spb
from omnistock.inventory.v1 import inventory_pb2 as ipb
from omnistock.orders.v1 import orders_pb2 as opb
from omnistock.reservations.v1 import reservations_pb2 as rpb
from omnistock.webhooks.v1 import webhooks_pb2 as wpb
from omnistock_platform.auth import Role
from omnistock_platform.grpc.errors import details_of
from omnistock_platform.testing.stack import unique_id
from tests.integration.security.scenarios import HOOK_URL, SCENARIOS, Fixtures
from tests.integration.security.support import QuietStack, answer, call, every_rpc, method_descriptor

FD = descriptor.FieldDescriptor
LISTS = [
    (service, method)
    for service, method in every_rpc()
    if "page_token" in method_descriptor(service, method).input_type.fields_by_name
]


@dataclass
class Lists:
    """Two of everything a list shows or more, at one store and one warehouse (each with a neighbour
    of its kind, whose lists are another filter value): holds, counts, transfers, reservations,
    orders and returns with their tasks and figures, groups, pools, subscriptions with deliveries."""

    quiet: QuietStack
    f: Fixtures
    counts: list[str] = field(default_factory=list)
    subscriptions: list[str] = field(default_factory=list)
    _others: dict[str, grpc.aio.Channel] = field(default_factory=dict)

    @property
    def store(self) -> str:
        return self.f.home["store"]

    @property
    def warehouse(self) -> str:
        return self.f.home["warehouse"]

    @property
    def next_store(self) -> str:
        return self.f.away["store"]

    @property
    def next_warehouse(self) -> str:
        return self.f.away["warehouse"]

    async def fill(self) -> Lists:
        webhooks, inventory, orders = (self.quiet.stack.stub(name) for name in ("webhooks", "inventory", "orders"))
        for _ in range(2):  # first: every stock change from here on is one of their deliveries
            created = await webhooks.CreateSubscription(
                wpb.CreateSubscriptionRequest(
                    request_id=unique_id(), url=HOOK_URL, event_types=["inventory.stock.changed"], paused=True
                )
            )
            self.subscriptions.append(created.subscription.subscription_id)
        groups = []
        for _ in range(2):
            await self.f.hold(self.store)
            self.counts.append((await self.f.count(self.store)).count_id)
            await self.f.transfer(origin=self.warehouse)
            await self.f.reservation(self.store)
            await self.f.order(self.store)
            await orders.CreateReturn(await SCENARIOS[("orders", "CreateReturn")].build(self.f, Role.ADMIN, self.store))
            group = ipb.LocationGroup(
                group_id=unique_id("GROUP-PAGES-"), display_name="Pages", location_ids=[self.store]
            )
            await inventory.UpsertLocationGroup(ipb.UpsertLocationGroupRequest(request_id=unique_id(), group=group))
            groups.append(group.group_id)
        # A count of the whole store: a line for each of its SKUs.
        whole = await inventory.CreateCount(
            ipb.CreateCountRequest(request_id=unique_id(), location_id=self.store, scope=ipb.COUNT_SCOPE_ALL)
        )
        self.counts.insert(0, whole.count.count_id)
        await inventory.SetChannelPools(
            ipb.SetChannelPoolsRequest(
                request_id=unique_id(),
                channel=common_pb2.CHANNEL_APP,
                pools=[ipb.ChannelPool(group_id=group_id) for group_id in groups],
            )
        )
        await self.quiet.settle()
        return self

    def another_caller(self, service: str) -> grpc.aio.Channel:
        """An admin too, with every right the first has: only who they are differs."""
        if service not in self._others:
            token = self.quiet.stack.token(Role.ADMIN, subject="another-admin")
            self._others[service] = self.quiet.stack.channel(service, token=token)  # type: ignore[arg-type]
        return self._others[service]


Query = Callable[[Lists], tuple[Message, Message | None]]

# Each list's query, and the same with another filter value (None: the list has no filter).
QUERIES: dict[tuple[str, str], Query] = {
    ("inventory", "ListLocations"): lambda x: (
        ipb.ListLocationsRequest(city="Hamburg"),
        ipb.ListLocationsRequest(city="Kiel"),
    ),
    ("inventory", "ListSkus"): lambda x: (ipb.ListSkusRequest(text="walk"), ipb.ListSkusRequest(text="sofa")),
    ("inventory", "ListMovements"): lambda x: (
        ipb.ListMovementsRequest(location_id=x.warehouse),
        ipb.ListMovementsRequest(location_id=x.next_warehouse),
    ),
    ("inventory", "ListHolds"): lambda x: (
        ipb.ListHoldsRequest(location_id=x.store),
        ipb.ListHoldsRequest(location_id=x.next_store),
    ),
    ("inventory", "ListCounts"): lambda x: (
        ipb.ListCountsRequest(location_id=x.store),
        ipb.ListCountsRequest(location_id=x.next_store),
    ),
    ("inventory", "ListCountLines"): lambda x: (
        ipb.ListCountLinesRequest(count_id=x.counts[0]),
        ipb.ListCountLinesRequest(count_id=x.counts[1]),
    ),
    ("inventory", "ListTransfers"): lambda x: (
        ipb.ListTransfersRequest(location_id=x.warehouse),
        ipb.ListTransfersRequest(location_id=x.next_warehouse),
    ),
    ("inventory", "ListLocationGroups"): lambda x: (ipb.ListLocationGroupsRequest(), None),
    ("inventory", "ListChannelPools"): lambda x: (
        ipb.ListChannelPoolsRequest(),
        ipb.ListChannelPoolsRequest(channel=common_pb2.CHANNEL_APP),  # the same pools, asked another way
    ),
    ("reservations", "ListReservations"): lambda x: (
        rpb.ListReservationsRequest(store_id=x.store),
        rpb.ListReservationsRequest(store_id=x.next_store),
    ),
    ("orders", "ListOrders"): lambda x: (
        opb.ListOrdersRequest(location_id=x.store),
        opb.ListOrdersRequest(location_id=x.next_store),
    ),
    ("orders", "ListReturns"): lambda x: (
        opb.ListReturnsRequest(location_id=x.store),
        opb.ListReturnsRequest(location_id=x.next_store),
    ),
    ("fulfilment", "ListTasks"): lambda x: (
        fpb.ListTasksRequest(location_id=x.store),
        fpb.ListTasksRequest(location_id=x.next_store),
    ),
    ("insights", "GetChannelInsights"): lambda x: (
        spb.GetChannelInsightsRequest(location_id=x.store),
        spb.GetChannelInsightsRequest(location_id=x.next_store),
    ),
    ("webhooks", "ListSubscriptions"): lambda x: (wpb.ListSubscriptionsRequest(), None),
    ("webhooks", "ListDeliveries"): lambda x: (
        wpb.ListDeliveriesRequest(subscription_id=x.subscriptions[0]),
        wpb.ListDeliveriesRequest(subscription_id=x.subscriptions[1]),
    ),
    ("webhooks", "ListEventTypes"): lambda x: (wpb.ListEventTypesRequest(), None),
}


@pytest_asyncio.fixture(scope="module")
async def lists(quiet: QuietStack) -> AsyncIterator[Lists]:
    yield await Lists(quiet, await Fixtures(quiet).setup()).fill()


def paged(query: Message, size: int, token: str = "") -> Message:
    request = type(query)()
    request.CopyFrom(query)
    request.page_size = size  # type: ignore[attr-defined]
    request.page_token = token  # type: ignore[attr-defined]
    return request


def items(response: Message) -> list[Message]:
    """What a page lists: the entries of its repeated message fields."""
    found: list[Message] = []
    for each, value in response.ListFields():
        if each.type == FD.TYPE_MESSAGE and each.is_repeated and not each.message_type.GetOptions().map_entry:
            found.extend(value)
    return found


async def refusal(channel: grpc.aio.Channel, service: str, method: str, request: Message, given: str) -> list[str]:
    """[] when the call is INVALID_ARGUMENT naming page_token; else what happened, as one line."""
    code, error = await call(channel, service, method, request)
    if error is None:
        return [f"given {given}: answered"]
    fields = [v.field for bad in details_of(error, error_details_pb2.BadRequest) for v in bad.field_violations]
    if code == grpc.StatusCode.INVALID_ARGUMENT and fields == ["page_token"]:
        return []
    return [f"given {given}: {code.name} {fields or error.details()}"]


def test_every_list_has_its_queries() -> None:
    """A list added anywhere fails here until it says how it is asked (and the check is not vacuous)."""
    assert set(QUERIES) == set(LISTS)
    assert {("orders", "ListOrders"), ("reservations", "ListReservations"), ("inventory", "ListHolds")} <= set(LISTS)


@pytest.mark.parametrize(("service", "method"), LISTS, ids=[f"{s}.{m}" for s, m in LISTS])
async def test_a_token_is_good_only_for_its_list_query_and_caller(lists: Lists, service: str, method: str) -> None:
    query, another_filter = QUERIES[(service, method)](lists)
    admin = lists.quiet.admin(service)
    token = (await answer(admin, service, method, paged(query, 1))).next_page_token  # type: ignore[attr-defined]
    assert token, f"{service}.{method} has one item or none: there is no token to try"
    wrong: list[str] = []
    for other_service, other_method in LISTS:
        if (other_service, other_method) != (service, method):
            elsewhere, _ = QUERIES[(other_service, other_method)](lists)
            channel = lists.quiet.admin(other_service)
            request = paged(elsewhere, 1, token)
            wrong += await refusal(channel, other_service, other_method, request, f"to {other_method}")
    if another_filter is not None:
        wrong += await refusal(admin, service, method, paged(another_filter, 1, token), "with another filter value")
    wrong += await refusal(lists.another_caller(service), service, method, paged(query, 1, token), "by another caller")
    assert not wrong, f"a token of {service}.{method}:\n  " + "\n  ".join(wrong)

    everything = items(await answer(admin, service, method, paged(query, 500)))
    same_caller = lists.quiet.stack.channel(service)  # type: ignore[arg-type]
    following = await answer(same_caller, service, method, paged(query, 2, token))
    assert items(following) == everything[1:3]


@pytest.mark.parametrize(("service", "method"), LISTS, ids=[f"{s}.{m}" for s, m in LISTS])
async def test_paging_through_a_list_gives_every_item_once(lists: Lists, service: str, method: str) -> None:
    query, _ = QUERIES[(service, method)](lists)
    admin = lists.quiet.admin(service)
    everything = items(await answer(admin, service, method, paged(query, 500)))
    assert len(everything) >= 2
    walked: list[Message] = []
    token = ""
    for _ in everything:
        page = await answer(admin, service, method, paged(query, 1, token))
        walked += items(page)
        token = page.next_page_token  # type: ignore[attr-defined]
        if not token:
            break
    assert not token, f"{service}.{method}: more pages than items"
    assert walked == everything
