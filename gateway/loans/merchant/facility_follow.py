"""Post-loan control of facilities, run with the order-loan job (OrderLoanJobs.run): a
facility past its end date with money owed is withheld from every later settlement of the
merchant until repaid (docs/loans.md "Post-loan control").

For each facility the loan service lists (past its end date, or with excess to give back):
each application of its withholdings → ApplyFacilityCollection (once per application id);
its excess → PlatformTransfer "loan-facility-excess:<application>" then
ConfirmFacilityExcessReturned; owing with no active instruction → SetWithholding
"<facility>:overdue:<n>" for what it owes, into platform:loan:capital; owing nothing → its
active instructions released. Every call is keyed: the job may stop anywhere and run again.
"""

from __future__ import annotations

from dataclasses import dataclass

from chassis.money import Money
from colony.common.v1 import paging_pb2
from colony.loan.v1 import merchant_lending_pb2 as mpb
from colony.payment.v1 import withholding_pb2 as wpb
from gateway.clients.merchant_lending import MerchantLendingClient
from gateway.clients.withholding import WithholdingClient
from gateway.loans.merchant.ledger import MERCHANT_LOAN_ACCOUNT_ID, MerchantLoanLedger

EXCESS_KEY_PREFIX = "loan-facility-excess:"
EXCESS_MEMO = "facility: withheld beyond the debt, given back"
PAGE = 100


@dataclass
class FacilityFollowRun:
    facilities: int = 0
    facility_collected_fen: int = 0
    facility_excess_returned_fen: int = 0
    facility_withholdings: int = 0
    facility_released: int = 0


class FacilityFollow:
    def __init__(
        self,
        lending: MerchantLendingClient,
        withholding: WithholdingClient,
        ledger: MerchantLoanLedger,
    ) -> None:
        self._lending = lending
        self._withholding = withholding
        self._ledger = ledger

    async def run(self) -> FacilityFollowRun:
        run = FacilityFollowRun()
        token = ""
        while True:
            page = await self._lending.list_facilities_to_follow(
                mpb.ListFacilitiesToFollowRequest(
                    page=paging_pb2.PageRequest(page_size=PAGE, page_token=token)
                )
            )
            for facility in page.facilities:
                run.facilities += 1
                await self._follow(facility, run)
            token = page.page.next_page_token
            if not token:
                return run

    async def _follow(self, facility: mpb.Facility, run: FacilityFollowRun) -> None:
        listed = await self._withholding.list_withholdings(
            wpb.ListWithholdingsRequest(reference=facility.facility_id)
        )
        for instruction in listed.withholdings:
            for application in instruction.applications:
                application_id = f"{instruction.withholding_id}:{application.posting_id}"
                answer = await self._lending.apply_facility_collection(
                    mpb.ApplyFacilityCollectionRequest(
                        idempotency_key=f"facility-collection:{application_id}",
                        facility_id=facility.facility_id,
                        application_id=application_id,
                        amount=application.amount,
                    )
                )
                facility = answer.facility
                if answer.excess.amount_fen:
                    await self._give_back(facility, application_id, answer.excess.amount_fen)
                    run.facility_excess_returned_fen += answer.excess.amount_fen
                run.facility_collected_fen += application.amount.amount_fen
        active = [w for w in listed.withholdings if w.state == wpb.WITHHOLDING_STATE_ACTIVE]
        if facility.owed.amount_fen == 0:
            for instruction in active:
                await self._withholding.release_withholding(
                    wpb.ReleaseWithholdingRequest(
                        idempotency_key=f"facility-release:{instruction.withholding_id}",
                        withholding_id=instruction.withholding_id,
                    )
                )
                run.facility_released += 1
        elif facility.overdue and not active:
            withholding_id = f"{facility.facility_id}:overdue:{len(listed.withholdings)}"
            await self._withholding.set_withholding(
                wpb.SetWithholdingRequest(
                    idempotency_key=f"facility-overdue:{withholding_id}",
                    withholding_id=withholding_id,
                    merchant_account_id=facility.merchant_id,
                    account_id=MERCHANT_LOAN_ACCOUNT_ID,
                    reference=facility.facility_id,
                    amount=facility.owed,
                )
            )
            run.facility_withholdings += 1

    async def _give_back(self, facility: mpb.Facility, application_id: str, fen: int) -> None:
        posting_id = await self._ledger.lend(
            EXCESS_KEY_PREFIX + application_id,
            facility.merchant_id,
            Money(fen),
            facility.facility_id,
            memo=EXCESS_MEMO,
        )
        await self._lending.confirm_facility_excess_returned(
            mpb.ConfirmFacilityExcessReturnedRequest(
                idempotency_key=f"facility-excess:{application_id}",
                application_id=application_id,
                payment_posting_id=posting_id,
            )
        )
