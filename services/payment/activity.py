"""A payer's recent activity, kept on its account for real-time risk control (DOMAIN.md §1).

The risk rules need, at the moment of a payment: how many payments and how much money left
the account in the last minute and today, whether the payee was paid before, and whether
the device was seen before. Keeping these figures on the account document, updated in the
same transaction as the debit, means the check costs no extra query and can never be out
of date. The minute is a fixed window opened by its first payment (a close, cheap
approximation of a sliding minute); the day is the business date in China Standard Time.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta

from chassis.clock import business_date_of

VELOCITY_WINDOW = timedelta(seconds=60)
# Enough history to recognise regular payees and the user's own phones; older ones fall off.
KNOWN_PAYEES_MAX = 200
KNOWN_DEVICES_MAX = 10


@dataclass(frozen=True, slots=True)
class Activity:
    """Outgoing activity of one account; a new account has none."""

    window_started_at: datetime | None = None
    window_count: int = 0
    window_amount_fen: int = 0
    business_date: date | None = None
    day_amount_fen: int = 0
    payees: tuple[str, ...] = field(default_factory=tuple)
    devices: tuple[str, ...] = field(default_factory=tuple)


@dataclass(frozen=True, slots=True)
class RecentFigures:
    """What the risk rules read: activity before the payment being evaluated."""

    last_minute_count: int
    last_minute_amount_fen: int
    today_amount_fen: int


def recent_figures(activity: Activity, now: datetime) -> RecentFigures:
    """The minute's and the day's figures as of now (zero once their window has passed)."""
    in_window = (
        activity.window_started_at is not None
        and now - activity.window_started_at < VELOCITY_WINDOW
    )
    today = activity.business_date == business_date_of(now)
    return RecentFigures(
        last_minute_count=activity.window_count if in_window else 0,
        last_minute_amount_fen=activity.window_amount_fen if in_window else 0,
        today_amount_fen=activity.day_amount_fen if today else 0,
    )


def payee_known(activity: Activity, payee_account_id: str) -> bool:
    """True if this payer has paid this payee before (within the remembered history)."""
    return payee_account_id in activity.payees


def device_known(activity: Activity, device_id: str) -> bool:
    """True for a device seen before; the device of an account's first payment is trusted.

    A request without a device id is known only while the account has never paid from a
    device: a client that sends device ids cannot dodge the rule by omitting one.
    """
    return not activity.devices or (bool(device_id) and device_id in activity.devices)


def record_outgoing(
    activity: Activity, *, now: datetime, amount_fen: int, payee_account_id: str, device_id: str
) -> Activity:
    """The activity after one more outgoing payment went through."""
    figures = recent_figures(activity, now)
    window_open = figures.last_minute_count > 0
    return replace(
        activity,
        window_started_at=activity.window_started_at if window_open else now,
        window_count=figures.last_minute_count + 1,
        window_amount_fen=figures.last_minute_amount_fen + amount_fen,
        business_date=business_date_of(now),
        day_amount_fen=figures.today_amount_fen + amount_fen,
        payees=_remember(activity.payees, payee_account_id, KNOWN_PAYEES_MAX),
        devices=(
            _remember(activity.devices, device_id, KNOWN_DEVICES_MAX)
            if device_id
            else activity.devices
        ),
    )


def _remember(history: tuple[str, ...], item: str, size_max: int) -> tuple[str, ...]:
    """Most recent last; an item seen again moves to the end; the oldest fall off."""
    kept = tuple(seen for seen in history if seen != item)
    return (*kept, item)[-size_max:]
