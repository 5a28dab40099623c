"""Recent activity for risk control: the minute window, the business day, payees, devices."""

from datetime import UTC, datetime, timedelta

from services.payment.activity import (
    KNOWN_DEVICES_MAX,
    Activity,
    business_date_of,
    device_known,
    payee_known,
    recent_figures,
    record_outgoing,
)

# 2026-11-25 15:59:30 UTC is 23:59:30 in Beijing: thirty seconds before the business day ends.
LATE_EVENING = datetime(2026, 11, 25, 15, 59, 30, tzinfo=UTC)


def pay(activity: Activity, now: datetime, fen: int, payee: str = "p", device: str = "d"):
    return record_outgoing(
        activity, now=now, amount_fen=fen, payee_account_id=payee, device_id=device
    )


def test_a_new_account_has_no_recent_activity() -> None:
    figures = recent_figures(Activity(), LATE_EVENING)
    assert (
        figures.last_minute_count,
        figures.last_minute_amount_fen,
        figures.today_amount_fen,
    ) == (0, 0, 0)


def test_payments_within_a_minute_add_up() -> None:
    activity = pay(Activity(), LATE_EVENING, 100)
    activity = pay(activity, LATE_EVENING + timedelta(seconds=59), 250)
    figures = recent_figures(activity, LATE_EVENING + timedelta(seconds=59))
    assert (figures.last_minute_count, figures.last_minute_amount_fen) == (2, 350)


def test_the_minute_window_closes_sixty_seconds_after_it_opened() -> None:
    activity = pay(Activity(), LATE_EVENING, 100)
    figures = recent_figures(activity, LATE_EVENING + timedelta(seconds=60))
    assert figures.last_minute_count == 0


def test_the_day_total_resets_at_midnight_beijing_time() -> None:
    activity = pay(Activity(), LATE_EVENING, 100)  # 23:59:30 in Beijing
    assert recent_figures(activity, LATE_EVENING + timedelta(seconds=29)).today_amount_fen == 100
    # 00:00:00 of the next business date
    assert recent_figures(activity, LATE_EVENING + timedelta(seconds=30)).today_amount_fen == 0
    assert business_date_of(LATE_EVENING + timedelta(seconds=30)).isoformat() == "2026-11-26"


def test_a_payee_becomes_known_after_a_payment() -> None:
    activity = pay(Activity(), LATE_EVENING, 100, payee="alice")
    assert payee_known(activity, "alice")
    assert not payee_known(activity, "bob")


def test_the_first_device_is_trusted_and_others_are_not() -> None:
    assert device_known(Activity(), "phone-1")
    activity = pay(Activity(), LATE_EVENING, 100, device="phone-1")
    assert device_known(activity, "phone-1")
    assert not device_known(activity, "phone-2")


def test_device_history_is_bounded_and_keeps_the_most_recent() -> None:
    activity = Activity()
    for i in range(KNOWN_DEVICES_MAX + 3):
        activity = pay(activity, LATE_EVENING, 1, device=f"d{i}")
    assert len(activity.devices) == KNOWN_DEVICES_MAX
    assert not device_known(activity, "d0")
    assert device_known(activity, f"d{KNOWN_DEVICES_MAX + 2}")


def test_a_request_without_a_device_id_is_unknown_once_the_account_uses_devices() -> None:
    assert device_known(Activity(), "")  # an API client that never sends device ids
    activity = pay(Activity(), LATE_EVENING, 100, device="")
    assert activity.devices == ()  # an absent device id is not remembered as a device
    activity = pay(activity, LATE_EVENING, 100, device="phone-1")
    assert not device_known(activity, "")
