"""Sagas in the gateway (DESIGN.md "Sagas in the gateway"): wallet operations across services.

A saga is a named, ordered list of steps. Each step calls one service once with a key
derived from the saga id and the step name, and either has a compensation that undoes it
or is marked RETRY_FORWARD: past the point of no return, it is retried until it succeeds.
The engine writes every step to a durable log in the gateway database before and after
the call, holds a lease on the saga while it drives it (so several gateway replicas can
run), and a recovery loop on every replica finishes or compensates whatever a crash or a
failed service left behind.

This package is the engine only: ``definition`` (what a saga is; pure), ``log`` (the
``sagas`` collection), ``engine`` (driving, retries, leases), ``recovery`` (the periodic
job), ``failpoints`` (test-only crash injection) and ``catalogue`` (the sagas this gateway
runs, built once). The sagas themselves live with their business area:
gateway.payment.sagas (``merchant_payment``; wallet pay's ``wallet_payment``: a trade, a
bill or a payment code) and gateway.wealth.sagas (the purchases on the PURCHASE template of
``purchase``: ``yuebao_subscription``, ``product_subscription``, ``transfer_purchase``,
``fund_purchase``, ``reservation_purchase``; and ``yuebao_redemption``). Their payment-side
mechanics (the wealth accounts, how a payout is posted) are in gateway.wealth.ledger.
gateway.loans.sagas holds ``cash_loan_disbursement``, ``loan_repayment`` and ``huabei_refund``
(started by gateway.loans.refunds from the payment feed); their accounts and transfers are
in gateway.loans.ledger.

How to add a saga — the Yu'e Bao subscription, for example (the real one is written on the
PURCHASE template, gateway.wealth.sagas.purchase.purchase_saga):

1. One module of its area, ``gateway/wealth/sagas/yuebao_subscription.py``, declares it::

       def yuebao_subscription_saga(payment: PaymentClient, wealth: WealthClient,
                                    hold_ttl_seconds: int) -> SagaDefinition:
           async def reserve(context: StepContext) -> JsonObject:
               await payment.create_hold(pb.CreateHoldRequest(
                   hold_id=context.key, account_id=context.input["payer_account_id"], ...))
               return {}

           async def release(context: StepContext) -> JsonObject:
               await payment.void_hold(pb.VoidHoldRequest(hold_id=context.key))
               return {}

           async def issue_shares(context: StepContext) -> JsonObject:
               response = await wealth.issue_shares(IssueSharesRequest(
                   idempotency_key=context.key, ...))
               return {"shares": response.shares}

           async def cancel_shares(context: StepContext) -> JsonObject:
               await wealth.cancel_shares(CancelSharesRequest(
                   idempotency_key=context.compensation_key, issue_key=context.key))
               return {}

           async def capture(context: StepContext) -> JsonObject:
               response = await payment.capture_hold(pb.CaptureHoldRequest(
                   hold_id=context.key_of("reserve"), credit_account_id=FUND_OMNIBUS))
               return {"posting_id": response.posting.posting_id}

           return SagaDefinition(
               name="yuebao_subscription",
               steps=(
                   Step("reserve", reserve, compensation=release),
                   Step("issue_shares", issue_shares, compensation=cancel_shares),
                   Step("capture", capture, compensation=RETRY_FORWARD),
               ),
               outcome=lambda saga_input, results: {"shares": results["issue_shares"]["shares"]},
           )

2. ``catalogue.Sagas`` gets a field for it and ``define_sagas`` builds it.
3. A route starts it: ``record = await engine.start(sagas.yuebao_subscription,
   saga_id=derive_saga_id(caller.user_id, idempotency_key), owner_user_id=caller.user_id,
   saga_input={...}, fingerprint=fingerprint_request(operation_id, body),
   wait_seconds=settings.inline_wait_seconds)`` and answers with
   ``gateway.operations.answers.operation_answer(record)`` (201, the refusal, or 202).

The rules a step must keep:
- An action makes one idempotent call keyed by ``context.key`` (or ``key_of`` an earlier
  step), so running it again after a crash gives the same outcome. It returns a small JSON
  object (no secrets: the log is kept) that later steps read in ``context.results``.
- A compensation is idempotent and must succeed when its action never took effect: a
  crash can leave the action's outcome unknown, and then both are run. VoidHold's
  tombstone is the model; a service without one needs it before its step can be undone.
- Steps past the point of no return are RETRY_FORWARD and come after the last step with a
  compensation. A refusal of one still compensates the steps before it (it moved nothing),
  unless another RETRY_FORWARD step is already done: then the saga parks for an operator.
- A business refusal is a DomainError with a refusal code (FAILED_PRECONDITION, ...);
  anything else is retried. ``outcome`` builds the public result from input and results:
  no keys or hold ids in it.
- The saga input is stored and shown to operators: put no secrets in it (a payment
  password, if a step needs one, cannot go through a saga).
- A step that has nothing to do for some inputs declares ``skip`` (a pure function of the
  saga input, e.g. "no Yu'e Bao part"): it is then written SKIPPED in the saga's first
  record and costs no log write, call or compensation (docs/architecture.md "Skipped
  steps"). Its action should still do nothing for such an input: sagas logged before the
  ``skip`` was declared run it.
"""
