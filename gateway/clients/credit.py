"""The credit service's client (DOMAIN.md §3)."""

from __future__ import annotations

import grpc

from colony.credit.v1 import credit_pb2 as cpb
from colony.credit.v1 import credit_pb2_grpc
from gateway.clients.base import ServiceClient


class CreditClient(ServiceClient):
    """The credit bureau (DOMAIN.md §3), one method per RPC the gateway uses.

    Every request names its caller (colony.credit.v1.Caller), built by gateway.credit.callers
    from the authenticated identity only; the credit service decides what that caller may see.
    """

    service_name = "credit"

    def __init__(self, channel: grpc.aio.Channel, deadline_seconds: float) -> None:
        super().__init__(deadline_seconds)
        self._stub = credit_pb2_grpc.CreditServiceStub(channel)

    async def get_score(self, request: cpb.GetScoreRequest) -> cpb.Score:
        response: cpb.GetScoreResponse = await self._call(self._stub.GetScore, request)
        return response.score

    async def get_score_history(
        self, request: cpb.GetScoreHistoryRequest
    ) -> cpb.GetScoreHistoryResponse:
        return await self._call(self._stub.GetScoreHistory, request)

    async def declare_data(self, request: cpb.DeclareDataRequest) -> cpb.DeclareDataResponse:
        return await self._call(self._stub.DeclareData, request)

    async def grant_consent(self, request: cpb.GrantConsentRequest) -> cpb.ConsentGrant:
        response: cpb.GrantConsentResponse = await self._call(self._stub.GrantConsent, request)
        return response.grant

    async def revoke_consent(self, request: cpb.RevokeConsentRequest) -> cpb.ConsentGrant:
        response: cpb.RevokeConsentResponse = await self._call(self._stub.RevokeConsent, request)
        return response.grant

    async def list_consents(self, request: cpb.ListConsentsRequest) -> cpb.ListConsentsResponse:
        return await self._call(self._stub.ListConsents, request)

    async def list_score_access(
        self, request: cpb.ListScoreAccessRequest
    ) -> cpb.ListScoreAccessResponse:
        return await self._call(self._stub.ListScoreAccess, request)

    async def check_deposit_waiver(
        self, request: cpb.CheckDepositWaiverRequest
    ) -> cpb.CheckDepositWaiverResponse:
        return await self._call(self._stub.CheckDepositWaiver, request)

    async def get_credit_limit_advice(
        self, request: cpb.GetCreditLimitAdviceRequest
    ) -> cpb.CreditLimitAdvice:
        response: cpb.GetCreditLimitAdviceResponse = await self._call(
            self._stub.GetCreditLimitAdvice, request
        )
        return response.advice

    async def import_blacklist(
        self, request: cpb.ImportBlacklistRequest
    ) -> cpb.ImportBlacklistResponse:
        return await self._call(self._stub.ImportBlacklist, request)

    async def remove_blacklist_entries(
        self, request: cpb.RemoveBlacklistEntriesRequest
    ) -> cpb.RemoveBlacklistEntriesResponse:
        return await self._call(self._stub.RemoveBlacklistEntries, request)

    async def get_blacklist_status(
        self, request: cpb.GetBlacklistStatusRequest
    ) -> cpb.GetBlacklistStatusResponse:
        return await self._call(self._stub.GetBlacklistStatus, request)

    async def load_scorecard(self, request: cpb.LoadScorecardRequest) -> cpb.LoadScorecardResponse:
        return await self._call(self._stub.LoadScorecard, request)

    async def get_scorecard(self) -> cpb.GetScorecardResponse:
        return await self._call(self._stub.GetScorecard, cpb.GetScorecardRequest())

    async def get_feed_status(self) -> list[cpb.FeedStatus]:
        response: cpb.GetFeedStatusResponse = await self._call(
            self._stub.GetFeedStatus, cpb.GetFeedStatusRequest()
        )
        return list(response.feeds)
