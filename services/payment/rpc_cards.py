"""Card RPCs: binding a bank card in the account's real name, listing and unbinding them.

Binding asks the bank channel to confirm the card's holder is the account's real name (the
display name of a real-name personal account, a merchant's registered name); only then is
the card bound and the account raised to KYC level 3 (a bank card in the same name).
"""

from __future__ import annotations

from chassis.grpc_server import Context
from chassis.idempotency import require_idempotency_key
from chassis.mongo import Session
from chassis.wire import timestamp_to_proto
from colony.payment.v1 import payment_pb2 as pb
from services.payment.bank_channel import validate_card_number
from services.payment.cards import BoundCard, new_card_id
from services.payment.ledger import AccountKind, require_active, require_kind
from services.payment.risk import KycLevel
from services.payment.rpc_base import PaymentRpcBase, require_account_id
from services.payment.wire import account_to_proto

PEOPLE_AND_MERCHANTS = (AccountKind.PERSONAL, AccountKind.MERCHANT)


def card_to_proto(card: BoundCard) -> pb.BoundCard:
    return pb.BoundCard(
        card_id=card.card_id,
        account_id=card.account_id,
        card_last4=card.card_last4,
        bound_at=timestamp_to_proto(card.bound_at),
    )


class CardsRpc(PaymentRpcBase):
    """BindCard, ListBoundCards, UnbindCard."""

    async def BindCard(self, request: pb.BindCardRequest, context: Context) -> pb.BindCardResponse:
        require_idempotency_key(request.idempotency_key)
        account_id = require_account_id(request.account_id)
        card_number = validate_card_number(request.bank_card_number)
        account = await self._store.get_account(account_id)
        require_kind(account, PEOPLE_AND_MERCHANTS, "bind a bank card")
        require_active(account)
        # The bank's answer comes before the transaction: a refusal changes nothing.
        await self._bank.confirm_card_holder(
            card_number, account.display_name, await self._store.get_resident_id(account_id)
        )

        async def bind(session: Session) -> pb.BindCardResponse:
            card = BoundCard(new_card_id(), account_id, card_number, self._clock.now())
            bound = await self._store.bind_card(session, card)
            await self._store.raise_kyc_level(session, account_id, KycLevel.BANK_CARD_VERIFIED)
            after = await self._store.get_account(account_id, session)
            return pb.BindCardResponse(card=card_to_proto(bound), account=account_to_proto(after))

        return await self._once("bind-card", request, pb.BindCardResponse, bind)

    async def ListBoundCards(
        self, request: pb.ListBoundCardsRequest, context: Context
    ) -> pb.ListBoundCardsResponse:
        account_id = require_account_id(request.account_id)
        await self._store.get_account(account_id, with_balance=False)  # NOT_FOUND if unknown
        cards = await self._store.list_bound_cards(account_id)
        return pb.ListBoundCardsResponse(cards=[card_to_proto(card) for card in cards])

    async def UnbindCard(
        self, request: pb.UnbindCardRequest, context: Context
    ) -> pb.UnbindCardResponse:
        account_id = require_account_id(request.account_id)
        card_id = require_account_id(request.card_id, "card_id")
        await self._store.unbind_card(account_id, card_id)
        return pb.UnbindCardResponse()
