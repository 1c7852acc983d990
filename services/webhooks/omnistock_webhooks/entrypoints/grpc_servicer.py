"""The gRPC face of webhooks: each method hands its request to the use case that owns it."""

from __future__ import annotations

import grpc

from omnistock.webhooks.v1 import webhooks_pb2 as pb
from omnistock.webhooks.v1 import webhooks_pb2_grpc
from omnistock_webhooks.service_layer.deliveries import Deliveries
from omnistock_webhooks.service_layer.subscriptions import Subscriptions

FULL_NAME = pb.DESCRIPTOR.services_by_name["WebhooksService"].full_name


class WebhooksServicer(webhooks_pb2_grpc.WebhooksServiceServicer):
    def __init__(self, subscriptions: Subscriptions, deliveries: Deliveries) -> None:
        self.subscriptions = subscriptions
        self.deliveries = deliveries

    async def CreateSubscription(
        self, request: pb.CreateSubscriptionRequest, context: grpc.aio.ServicerContext
    ) -> pb.CreateSubscriptionResponse:
        return await self.subscriptions.create(request)

    async def GetSubscription(
        self, request: pb.GetSubscriptionRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetSubscriptionResponse:
        return await self.subscriptions.get(request)

    async def ListSubscriptions(
        self, request: pb.ListSubscriptionsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListSubscriptionsResponse:
        return await self.subscriptions.list(request)

    async def UpdateSubscription(
        self, request: pb.UpdateSubscriptionRequest, context: grpc.aio.ServicerContext
    ) -> pb.UpdateSubscriptionResponse:
        return await self.subscriptions.update(request)

    async def DeleteSubscription(
        self, request: pb.DeleteSubscriptionRequest, context: grpc.aio.ServicerContext
    ) -> pb.DeleteSubscriptionResponse:
        return await self.subscriptions.delete(request)

    async def RotateSubscriptionSecret(
        self, request: pb.RotateSubscriptionSecretRequest, context: grpc.aio.ServicerContext
    ) -> pb.RotateSubscriptionSecretResponse:
        return await self.subscriptions.rotate(request)

    async def ListDeliveries(
        self, request: pb.ListDeliveriesRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListDeliveriesResponse:
        return await self.deliveries.list(request)

    async def ReplayDeliveries(
        self, request: pb.ReplayDeliveriesRequest, context: grpc.aio.ServicerContext
    ) -> pb.ReplayDeliveriesResponse:
        return await self.deliveries.replay(request)

    async def ListEventTypes(
        self, request: pb.ListEventTypesRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListEventTypesResponse:
        return self.subscriptions.event_types(request)
