"""The payment gRPC servicer: proto in, one ledger rule, proto out.

Each mutating method is a short use case: validate the request, then inside one
idempotent transaction load the accounts, ask the ledger rules, apply the posting and
append its event. Rules live in the domain modules (ledger.py, escrow.py, screening.py, ...);
documents in store/.
"""

from __future__ import annotations

import logging

from chassis.clock import Clock
from chassis.feed_follower import FeedFollower, UpstreamFeed
from chassis.grpc_server import GrpcService, build_grpc_service
from chassis.mongo import MongoClient
from chassis.outbox import EventFeedRpc, OutboxFeed
from chassis.settings import ENVIRONMENT_DEV, ServiceSettings
from colony.payment.v1 import payment_pb2 as pb
from colony.payment.v1 import payment_pb2_grpc, withholding_pb2, withholding_pb2_grpc
from services.payment.bank_channel import BankChannel, FakeBankChannel
from services.payment.batch_withdrawals import (
    WITHDRAWALS_IN_TRANSIT_ACCOUNT_ID,
    WITHDRAWALS_IN_TRANSIT_HOT_SHARDS,
)
from services.payment.bills import DEMO_BILLERS
from services.payment.escrow import ESCROW_ACCOUNT_ID, ESCROW_HOT_SHARDS
from services.payment.feeds.credit_blacklist import CreditBlacklistIntake
from services.payment.ledger import (
    BANK_CLEARING_HOT_SHARDS,
    PLATFORM_FEE_INCOME_ACCOUNT_ID,
    AccountKind,
)
from services.payment.merchant_review import MerchantOnboarding
from services.payment.risk import DEFAULT_RULES, parse_rules
from services.payment.rpc_accounts import AccountsRpc
from services.payment.rpc_bank_requests import RECOVERY_INTERVAL_SECONDS
from services.payment.rpc_cards import CardsRpc
from services.payment.rpc_holds import HOLD_SWEEP_INTERVAL_SECONDS, HoldsRpc
from services.payment.rpc_merchant_review import MerchantReviewRpc
from services.payment.rpc_metrics import export_payment_metrics
from services.payment.rpc_platform_transfer import PlatformTransferRpc
from services.payment.rpc_retail import RetailRpc
from services.payment.rpc_risk import RiskRpc
from services.payment.rpc_trades import TradesRpc
from services.payment.rpc_withholding import WithholdingRpc
from services.payment.store import PaymentStore

log = logging.getLogger(__name__)

# Another replica's rule change reaches this one within this many seconds.
RISK_RULES_REFRESH_SECONDS = 10.0
SERVICE_NAME = pb.DESCRIPTOR.services_by_name["PaymentService"].full_name
WITHHOLDING_SERVICE_NAME = withholding_pb2.DESCRIPTOR.services_by_name[
    "WithholdingService"
].full_name


class PaymentServicer(
    EventFeedRpc,
    PlatformTransferRpc,  # PlatformTransfer batched (group commit), else AccountsRpc's
    AccountsRpc,
    CardsRpc,
    HoldsRpc,
    TradesRpc,
    RetailRpc,
    RiskRpc,
    MerchantReviewRpc,
    WithholdingRpc,
    payment_pb2_grpc.PaymentServiceServicer,
    withholding_pb2_grpc.WithholdingServiceServicer,
):
    """The PaymentService: every RPC group mixed into one servicer over one PaymentStore."""

    feed_response = pb.StreamEventsResponse


async def _ensure_system_accounts(store: PaymentStore, bank: BankChannel, clock: Clock) -> None:
    """The accounts the service posts to on its own: bank clearing, fee income, withdrawals in
    transit, escrow, billers."""
    now = clock.now()
    await store.ensure_system_account(
        bank.clearing_account_id,
        AccountKind.EXTERNAL,
        "Bank clearing (fake bank)",
        now,
        hot_shards=BANK_CLEARING_HOT_SHARDS,
    )
    await store.ensure_system_account(
        PLATFORM_FEE_INCOME_ACCOUNT_ID, AccountKind.PLATFORM, "Colony fee income", now
    )
    await store.ensure_system_account(
        WITHDRAWALS_IN_TRANSIT_ACCOUNT_ID,
        AccountKind.PLATFORM,
        "Withdrawals in transit",
        now,
        hot_shards=WITHDRAWALS_IN_TRANSIT_HOT_SHARDS,
    )
    await store.ensure_system_account(
        ESCROW_ACCOUNT_ID,
        AccountKind.PLATFORM,
        "Escrow (担保交易)",
        now,
        hot_shards=ESCROW_HOT_SHARDS,
    )
    for biller in DEMO_BILLERS:
        await store.ensure_system_account(
            biller.merchant_account_id, AccountKind.MERCHANT, biller.name, now
        )


async def build_payment_service(
    settings: ServiceSettings,
    client: MongoClient,
    clock: Clock,
    bank: BankChannel | None = None,
    *,
    credit_feed: UpstreamFeed | None = None,
    password_pepper: bytes = b"",
    group_commit: bool = True,
    merchant_onboarding: MerchantOnboarding | None = None,
) -> GrpcService:
    """Prepare the payment database (indexes, system accounts) and build its gRPC server.

    With credit_feed, risk control follows the credit service's blacklist (the
    dishonest-debtor rule); without it, nobody is listed as one. group_commit=False makes
    every Transfer its own transaction (the path before group commit; the benchmark's
    "before"). merchant_onboarding (COLONY_MERCHANT_ONBOARDING): how new merchants open;
    None is auto-approve in dev (the in-process tests) and review elsewhere; auto-approve
    outside dev is refused.
    """
    dev = settings.environment == ENVIRONMENT_DEV
    onboarding = merchant_onboarding or (
        MerchantOnboarding.AUTO_APPROVE if dev else MerchantOnboarding.REVIEW
    )
    if onboarding is MerchantOnboarding.AUTO_APPROVE and not dev:
        raise ValueError("merchant auto-approval is for COLONY_ENV=dev only")
    store = PaymentStore(client[settings.database_name])
    await store.ensure_indexes()
    feed = OutboxFeed(client, store.database)
    await feed.ensure_indexes()
    bank_channel = bank or FakeBankChannel()
    await _ensure_system_accounts(store, bank_channel, clock)
    stored_rules = await store.load_risk_rules()
    servicer = PaymentServicer(
        client,
        store,
        bank_channel,
        clock,
        feed,
        risk_rules=DEFAULT_RULES if stored_rules is None else parse_rules(stored_rules),
        billers=DEMO_BILLERS,
        password_pepper=password_pepper,
        group_commit=group_commit,
    )
    servicer.merchant_onboarding = onboarding
    service = build_grpc_service(
        settings,
        register=[
            lambda server: payment_pb2_grpc.add_PaymentServiceServicer_to_server(servicer, server),
            lambda server: withholding_pb2_grpc.add_WithholdingServiceServicer_to_server(
                servicer, server
            ),
        ],
        service_names=[SERVICE_NAME, WITHHOLDING_SERVICE_NAME],
    )
    service.add_background("outbox-sequencer", feed.run_sequencer)
    if credit_feed is not None:
        intake = CreditBlacklistIntake(client, store)
        service.add_background("credit-blacklist", FeedFollower(credit_feed, intake, clock).run)
    service.add_periodic("hold-sweeper", HOLD_SWEEP_INTERVAL_SECONDS, servicer.expire_due_holds)
    # Withdrawals a crash left reserved and unsettled: paid out (or refunded) by their key.
    service.add_periodic(
        "withdrawal-recovery",
        RECOVERY_INTERVAL_SECONDS,
        servicer.withdrawal_payouts.complete_pending,
    )
    # Top-ups a crash left reserved and unsettled: the card charged (or not) by their key,
    # then credited (or declined).
    service.add_periodic(
        "top-up-recovery", RECOVERY_INTERVAL_SECONDS, servicer.top_up_charges.complete_pending
    )
    export_payment_metrics(service, store.database)
    service.add_periodic(
        "risk-rules-refresh", RISK_RULES_REFRESH_SECONDS, servicer.refresh_risk_rules
    )
    return service
