"""The gateway's composition root: create_app wires stores, clients and routes into aiohttp.

The caller owns the MongoDB client and the service channels (they outlive one app in
tests, and __main__ closes them on shutdown); create_app builds everything else.
"""

from __future__ import annotations

import os
import socket
import uuid
from typing import Any

from aiohttp import web
from pymongo.asynchronous.database import AsyncDatabase

from chassis.clock import Clock
from chassis.feed_follower import UpstreamFeed
from chassis.mongo import Document, MongoClient
from gateway.clients import (
    CreditClient,
    LoanClient,
    PaymentClient,
    ServiceChannels,
    WealthClient,
)
from gateway.credit import representations as credit_representations
from gateway.credit.routes import admin as credit_admin
from gateway.credit.routes import consents as credit_consents
from gateway.credit.routes import merchant as credit_merchant
from gateway.credit.routes import score as credit_score
from gateway.edge.api_keys import ApiKeyStore, api_key_scope_middleware
from gateway.edge.audit_log import OPERATOR_AUDIT_LOG_COLLECTION, OperatorAuditLog
from gateway.edge.authentication import CALLER, Authenticator, authentication_middleware
from gateway.edge.idempotency import IdempotentRequests
from gateway.edge.identities import IdentityStore, Role
from gateway.edge.login_throttle import LoginThrottle
from gateway.edge.observability import (
    StuckSagas,
    http_metrics_middleware,
    trace_id_middleware,
)
from gateway.edge.openapi import build_openapi_document
from gateway.edge.operator_grants import OPERATOR_GRANTS_COLLECTION, OperatorGrants
from gateway.edge.passwords import PasswordHasher
from gateway.edge.phone_verification import PhoneVerifications, SmsChannel, load_sms_channel
from gateway.edge.problems import answer_low_level_errors_as_problems, problem_middleware
from gateway.edge.rate_limits import RateLimits, rate_limit_middleware
from gateway.edge.reauthentication import Reauthentication
from gateway.edge.registration import Registration
from gateway.edge.routes import accounts, documentation, system
from gateway.edge.routes import audit_log as audit_log_routes
from gateway.edge.routing import Route, register_routes
from gateway.edge.security_headers import install_security_headers
from gateway.edge.tokens import AccessTokens
from gateway.insurance import representations as insurance_representations
from gateway.insurance.routes import admin as insurance_admin
from gateway.insurance.routes import claims as insurance_claims
from gateway.insurance.routes import policies as insurance_policies
from gateway.insurance.wiring import InsuranceLine
from gateway.loans import representations as loan_representations
from gateway.loans.jobs import LoanJobs
from gateway.loans.ledger import LoanLedger
from gateway.loans.merchant import routes as merchant_lending_routes
from gateway.loans.merchant.schedule import OrderLoanJobsSchedule
from gateway.loans.merchant.wiring import MerchantLending
from gateway.loans.refunds import HuabeiRefunds
from gateway.loans.routes import admin as loan_admin
from gateway.loans.routes import cash_loans, huabei, repayments
from gateway.loans.schedule import LoanJobsSchedule
from gateway.operations import routes as operations
from gateway.operations.start import Operations
from gateway.payment.code_wallets import PaymentCodeWallets
from gateway.payment.routes import (
    admin,
    cards,
    merchant,
    merchant_payments,
    merchant_review,
    money_movement,
    payments,
    trades,
    wallet,
    wallet_pay,
)
from gateway.payment.wallet_funding import WalletFunding
from gateway.sagas.catalogue import define_sagas
from gateway.sagas.engine import SagaEngine
from gateway.sagas.failpoints import Failpoints
from gateway.sagas.log import SagaLog
from gateway.sagas.recovery import RecoveryLoop
from gateway.sagas.retry import BACKOFF_SECONDS_MAX, RetryPolicy
from gateway.settings import GatewaySettings
from gateway.wealth.jobs import WealthJobs
from gateway.wealth.ledger import WealthLedger
from gateway.wealth.reservations import ReservationMatching
from gateway.wealth.routes import admin as wealth_admin
from gateway.wealth.routes import fixed_term, funds, yuebao
from gateway.wealth.schedule import WealthJobsSchedule

# Bodies are small JSON objects; anything larger is refused (413) before it is read.
REQUEST_BODY_BYTES_MAX = 64 * 1024
# What aiohttp's own parser refuses (over-long lines, NUL bytes) is problem+json too.
answer_low_level_errors_as_problems()

USERS_COLLECTION = "users"
HTTP_IDEMPOTENCY_COLLECTION = "http_idempotency"
MERCHANT_API_KEYS_COLLECTION = "merchant_api_keys"
SAGAS_COLLECTION = "sagas"
PAYMENT_CODE_WALLETS_COLLECTION = "payment_code_wallets"
WEALTH_JOB_RUNS_COLLECTION = "wealth_job_runs"
LOAN_JOB_RUNS_COLLECTION = "loan_job_runs"
ORDER_LOAN_JOB_RUNS_COLLECTION = "order_loan_job_runs"
LOGIN_FAILURES_COLLECTION = "login_failures"
PHONE_VERIFICATIONS_COLLECTION = "phone_verifications"


def instance_id() -> str:
    """This gateway process among its replicas, as saga leases name their holder."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _caller_key(request: web.Request) -> str | None:
    """Whose budget a request spends: its authenticated user's (None on public routes)."""
    caller = request.get(CALLER)
    return caller.user_id if caller is not None else None


def _api_key_scopes(request: web.Request) -> tuple[str, ...] | None:
    """The scopes of the API key a request came with; None for a token or a public route."""
    caller = request.get(CALLER)
    return caller.api_key_scopes if caller is not None else None


def _sign_in_guards(
    settings: GatewaySettings,
    database: AsyncDatabase[Document],
    clock: Clock,
    sms: SmsChannel | None,
) -> tuple[LoginThrottle, PhoneVerifications]:
    """Failed log-ins' counters, and phone verification over the SMS adapter."""
    if sms is None:
        sms = load_sms_channel(settings.sms_channel, settings.environment)
    return (
        LoginThrottle(database[LOGIN_FAILURES_COLLECTION], clock),
        PhoneVerifications(database[PHONE_VERIFICATIONS_COLLECTION], sms, clock),
    )


def _install_loan_schedules(
    app: web.Application,
    settings: GatewaySettings,
    *,
    database: AsyncDatabase[Document],
    clock: Clock,
    loan_jobs: LoanJobs,
    lending: MerchantLending,
    saga_engine: SagaEngine,
) -> None:
    """The loan job by business date, and the order-loan job (withholdings relayed,
    post-loan control) once an interval on one replica."""
    LoanJobsSchedule(
        loan_jobs,
        database[LOAN_JOB_RUNS_COLLECTION],
        clock,
        interval_seconds=settings.loan_jobs_interval_seconds,
    ).install(app)
    OrderLoanJobsSchedule(
        lending.order_jobs,
        database[ORDER_LOAN_JOB_RUNS_COLLECTION],
        clock,
        instance_id=saga_engine.instance_id,
        interval_seconds=settings.order_loan_jobs_interval_seconds,
    ).install(app)


def _merge_schemas(*groups: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The route groups' schemas in one namespace; a name declared twice is a bug."""
    schemas: dict[str, dict[str, Any]] = {}
    for group in groups:
        overlap = set(schemas) & set(group)
        assert not overlap, f"schemas declared twice: {sorted(overlap)}"
        schemas.update(group)
    return schemas


def create_app(
    settings: GatewaySettings,
    mongo_client: MongoClient,
    clock: Clock,
    channels: ServiceChannels,
    sms: SmsChannel | None = None,
) -> web.Application:
    """The gateway application over the given database client, clock and service channels.

    ``sms`` is the SMS gateway for phone verification; None loads the adapter the settings
    name (a test passes its FakeSmsChannel to read the codes).
    """
    database = mongo_client[settings.database_name]
    identities = IdentityStore(database[USERS_COLLECTION], clock)
    idempotency = IdempotentRequests(
        database[HTTP_IDEMPOTENCY_COLLECTION],
        clock,
        lease_seconds=settings.idempotency_lease_seconds,
        wait_seconds=settings.idempotency_wait_seconds,
    )
    payment = PaymentClient(channels.payment, settings.rpc_deadline_seconds)
    wealth = WealthClient(channels.wealth, settings.rpc_deadline_seconds)
    credit = CreditClient(channels.credit, settings.rpc_deadline_seconds)
    loan = LoanClient(channels.loan, settings.rpc_deadline_seconds)
    wealth_ledger = WealthLedger(payment)
    loan_ledger = LoanLedger(payment)
    lending = MerchantLending.build(channels, payment, settings.rpc_deadline_seconds)
    insurance = InsuranceLine.build(
        channels.insurance, payment, credit, database, settings.rpc_deadline_seconds
    )
    passwords = PasswordHasher()
    tokens = AccessTokens(settings.jwt_secret, settings.jwt_ttl_seconds, clock)
    api_keys = ApiKeyStore(database[MERCHANT_API_KEYS_COLLECTION], clock)
    authenticator = Authenticator(
        identities,
        passwords,
        tokens,
        api_keys,
        operator_phones=settings.operator_phones,
        operator_grants=OperatorGrants(database[OPERATOR_GRANTS_COLLECTION], clock),
        audit_log=OperatorAuditLog(database[OPERATOR_AUDIT_LOG_COLLECTION], clock),
    )
    registration = Registration(identities, payment, passwords, clock)
    login_throttle, verifications = _sign_in_guards(settings, database, clock, sms)
    saga_settings = settings.sagas
    sagas = define_sagas(
        payment,
        wealth,
        wealth_ledger,
        hold_ttl_seconds=saga_settings.hold_ttl_seconds,
        loan=loan,
        loan_ledger=loan_ledger,
        insurance=insurance.client,
        insurance_ledger=insurance.ledger,
    )
    saga_log = SagaLog(database[SAGAS_COLLECTION])
    code_wallets = PaymentCodeWallets(database[PAYMENT_CODE_WALLETS_COLLECTION], clock)
    saga_engine = SagaEngine(
        saga_log,
        (*sagas.all(), *lending.sagas.all()),
        clock,
        instance_id=instance_id(),
        lease_seconds=saga_settings.lease_seconds,
        retry=RetryPolicy(
            attempts_per_pass=saga_settings.attempts_per_pass,
            attempts_max=saga_settings.attempts_max,
            backoff_seconds_first=saga_settings.backoff_seconds,
            backoff_seconds_max=max(saga_settings.backoff_seconds, BACKOFF_SECONDS_MAX),
        ),
        failpoints=Failpoints(saga_settings.failpoint),
    )

    wallet_funding = WalletFunding(
        payment, wealth, wealth_ledger, credit=credit, loan=loan, loan_ledger=loan_ledger
    )
    wealth_jobs = WealthJobs(wealth, wealth_ledger)
    wallet_operations = Operations(saga_engine, sagas, saga_settings.inline_wait_seconds, payment)
    loan_jobs = LoanJobs(
        loan,
        payment,
        wallet_funding,
        saga_engine,
        sagas.loan_repayment,
        wait_seconds=saga_settings.inline_wait_seconds,
    )
    insured = insurance.operations(payment, saga_engine, wallet_funding, wallet_operations, clock)
    documentation_routes = documentation.DocumentationRoutes(settings.api_docs_published)
    routes: list[Route] = [
        *accounts.AccountRoutes(
            registration,
            authenticator,
            login_throttle,
            verifications,
            dev_sms=verifications.dev_outbox,
        ).routes(),
        *wallet.WalletRoutes(
            payment,
            wealth,
            credit,
            loan,
            insurance.client,
            saga_of=saga_engine.get,
            lending=lending.client,
        ).routes(),
        *wallet_pay.WalletPayRoutes(
            payment, wallet_funding, wallet_operations, insured.return_shipping
        ).routes(),
        *money_movement.MoneyMovementRoutes(payment, idempotency).routes(),
        *cards.CardRoutes(payment).routes(),
        *trades.TradeRoutes(payment, idempotency).routes(),
        *payments.PaymentRoutes(
            payment, idempotency, code_wallets, Reauthentication(authenticator, login_throttle)
        ).routes(),
        *merchant_payments.MerchantPaymentRoutes(payment, wallet_operations).routes(),
        *operations.OperationRoutes(saga_engine).routes(),
        *yuebao.YuebaoRoutes(wealth, wealth_ledger, wallet_operations).routes(),
        *fixed_term.FixedTermRoutes(wealth, wealth_ledger, idempotency, wallet_operations).routes(),
        *funds.FundRoutes(wealth, wealth_ledger, idempotency, wallet_operations).routes(),
        *wealth_admin.WealthAdminRoutes(
            payment,
            wealth,
            wealth_ledger,
            wealth_jobs,
            ReservationMatching(
                payment,
                wealth,
                wealth_ledger,
                saga_engine,
                sagas.reservation_purchase,
                wait_seconds=saga_settings.inline_wait_seconds,
            ),
            clock=clock,
        ).routes(),
        *merchant.MerchantRoutes(
            payment,
            idempotency,
            api_keys,
            code_wallets=code_wallets,
            wallet_funding=wallet_funding,
            operations=wallet_operations,
            clock=clock,
        ).routes(),
        *admin.AdminRoutes(payment).routes(),
        *merchant_review.MerchantReviewRoutes(payment).routes(),
        *audit_log_routes.AuditLogRoutes(authenticator.audit_log).routes(),
        *credit_score.CreditScoreRoutes(credit, idempotency).routes(),
        *credit_consents.CreditConsentRoutes(credit, payment, idempotency).routes(),
        *credit_merchant.MerchantCreditRoutes(credit, payment).routes(),
        *credit_admin.CreditAdminRoutes(credit, idempotency).routes(),
        *huabei.HuabeiRoutes(loan, credit, idempotency).routes(),
        *cash_loans.CashLoanRoutes(loan, credit, loan_ledger, wallet_operations).routes(),
        *repayments.RepaymentRoutes(loan, wallet_funding, wallet_operations).routes(),
        *loan_admin.LoanAdminRoutes(loan, loan_jobs, clock=clock).routes(),
        *merchant_lending_routes.MerchantLendingRoutes(
            lending, payment, wallet_operations, clock=clock
        ).routes(),
        *insurance_policies.InsurancePolicyRoutes(
            insurance.client, insured.purchases, wallet_operations
        ).routes(),
        *insurance_claims.InsuranceClaimRoutes(insurance.client, payment, insured.payouts).routes(),
        *insurance_admin.InsuranceAdminRoutes(
            insurance.client, insured, payment, clock=clock
        ).routes(),
        *system.SystemRoutes(mongo_client, channels, settings.readiness_deadline_seconds).routes(),
        *documentation_routes.routes(),
    ]
    documentation_routes.publish(
        build_openapi_document(
            [
                route
                for route in routes
                if settings.openapi_includes_admin or route.required_role is not Role.OPERATOR
            ],
            _merge_schemas(
                accounts.SCHEMAS,
                wallet.SCHEMAS,
                wallet_pay.SCHEMAS,
                yuebao.SCHEMAS,
                fixed_term.SCHEMAS,
                funds.SCHEMAS,
                wealth_admin.SCHEMAS,
                money_movement.SCHEMAS,
                cards.SCHEMAS,
                trades.SCHEMAS,
                payments.SCHEMAS,
                merchant_payments.SCHEMAS,
                operations.SCHEMAS,
                merchant.SCHEMAS,
                admin.SCHEMAS,
                merchant_review.SCHEMAS,
                audit_log_routes.SCHEMAS,
                credit_representations.SCHEMAS,
                credit_score.SCHEMAS,
                credit_consents.SCHEMAS,
                credit_merchant.SCHEMAS,
                credit_admin.SCHEMAS,
                loan_representations.SCHEMAS,
                repayments.SCHEMAS,
                loan_admin.SCHEMAS,
                merchant_lending_routes.SCHEMAS,
                insurance_representations.SCHEMAS,
                insurance_policies.SCHEMAS,
                insurance_claims.SCHEMAS,
                insurance_admin.SCHEMAS,
                system.SCHEMAS,
                documentation.SCHEMAS,
            ),
        )
    )

    app = web.Application(
        middlewares=[
            # Outermost: every answer, problems included, names its trace and is measured.
            trace_id_middleware,
            http_metrics_middleware(),
            problem_middleware,
            # Per-user budgets right after authentication, where the caller is known;
            # log-ins are throttled per phone and address (gateway.edge.login_throttle).
            authentication_middleware(authenticator),
            api_key_scope_middleware(_api_key_scopes),
            rate_limit_middleware(RateLimits(settings.rate_limits), _caller_key),
        ],
        client_max_size=REQUEST_BODY_BYTES_MAX,
    )
    register_routes(app, routes)
    install_security_headers(app)

    async def ensure_indexes(app: web.Application) -> None:
        await identities.ensure_indexes()
        await authenticator.ensure_indexes()
        await login_throttle.ensure_indexes()
        await verifications.ensure_indexes()
        await idempotency.ensure_indexes()
        await api_keys.ensure_indexes()
        await saga_log.ensure_indexes()
        await code_wallets.ensure_indexes()

    app.on_startup.append(ensure_indexes)
    # After the indexes: the loop's first round runs as soon as it starts.
    RecoveryLoop(saga_engine, saga_settings.recovery_interval_seconds).install(app)
    StuckSagas(database[SAGAS_COLLECTION], clock).install(app)
    WealthJobsSchedule(
        wealth_jobs,
        database[WEALTH_JOB_RUNS_COLLECTION],
        clock,
        instance_id=saga_engine.instance_id,
        interval_seconds=settings.wealth_jobs_interval_seconds,
    ).install(app)
    _install_loan_schedules(
        app,
        settings,
        database=database,
        clock=clock,
        loan_jobs=loan_jobs,
        lending=lending,
        saga_engine=saga_engine,
    )
    # Refunds of Huabei-paid trades go back to the line (the payment feed's refund decisions).
    HuabeiRefunds(
        mongo_client,
        database,
        payment=payment,
        loan=loan,
        engine=saga_engine,
        saga=sagas.huabei_refund,
    ).install(app, UpstreamFeed("payment", settings.service_addresses["payment"]), clock)
    # The insurance job on its schedule; refunded trades' return-shipping claims paid.
    insured.install(
        app,
        clock,
        interval_seconds=settings.insurance_jobs_interval_seconds,
        payment_address=settings.service_addresses["payment"],
    )
    return app
