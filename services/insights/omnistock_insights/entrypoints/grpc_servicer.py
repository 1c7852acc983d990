"""The gRPC face of insights: each method hands its request to the use case that owns it."""

from __future__ import annotations

import grpc

from omnistock.insights.v1 import insights_pb2, insights_pb2_grpc
from omnistock_insights.service_layer.rebuild import Rebuild
from omnistock_insights.service_layer.report import ChannelInsightsReport

FULL_NAME = insights_pb2.DESCRIPTOR.services_by_name["InsightsService"].full_name


class InsightsServicer(insights_pb2_grpc.InsightsServiceServicer):
    def __init__(self, report: ChannelInsightsReport, rebuild: Rebuild) -> None:
        self.report = report
        self.rebuilder = rebuild

    async def GetChannelInsights(
        self, request: insights_pb2.GetChannelInsightsRequest, context: grpc.aio.ServicerContext
    ) -> insights_pb2.GetChannelInsightsResponse:
        return await self.report.get(request)

    async def RebuildInsights(
        self, request: insights_pb2.RebuildInsightsRequest, context: grpc.aio.ServicerContext
    ) -> insights_pb2.RebuildInsightsResponse:
        return await self.rebuilder.rebuild(request)
