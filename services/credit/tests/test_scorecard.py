"""The scorecard on hand-built people, and its invariants (hypothesis)."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chassis.errors import InvalidArgument
from services.credit.features import (
    Declaration,
    Education,
    MonthActivity,
    PersonFeatures,
    Repayment,
    apply_fact,
    feature_vector,
    month_of,
)
from services.credit.scorecard import (
    NEWCOMER_VECTOR,
    SCORE_MAX,
    SCORE_MIN,
    Band,
    explain,
    newcomer_score,
    parse_model,
)
from services.credit.server import DEFAULT_MODEL_PATH

MODEL_JSON = DEFAULT_MODEL_PATH.read_text(encoding="utf-8")
MODEL = parse_model(MODEL_JSON)
NOW = datetime(2025, 6, 15, 4, 0, tzinfo=UTC)


def months_back(count: int, payments: int, spent_fen: int) -> tuple[MonthActivity, ...]:
    """`count` consecutive active months ending this one."""
    return tuple(
        MonthActivity(month_of(NOW - timedelta(days=30 * back)), payments, spent_fen)
        for back in reversed(range(count))
    )


NEWCOMER = PersonFeatures("2088000000000001", opened_at=NOW, kyc_level=2)
HEAVY_REGULAR_PAYER = PersonFeatures(
    "2088000000000002",
    opened_at=NOW - timedelta(days=1200),
    kyc_level=3,
    balance_fen=2_000_000,
    yuebao_fen=4_000_000,  # assets 60,000 yuan in all
    months=months_back(12, payments=25, spent_fen=500_000),  # 300 payments, 60,000 yuan
    payments_total=300,
    trades_completed=25,
    counterparts=tuple(f"2088{n:012d}" for n in range(60)),
)
LATE_REPAYER = PersonFeatures(
    "2088000000000003",
    opened_at=NOW - timedelta(days=400),
    kyc_level=3,
    balance_fen=200_000,
    months=months_back(6, payments=5, spent_fen=50_000),
    repayments_on_time=3,
    repayments_late=2,
    last_late_at=NOW - timedelta(days=35),
    counterparts=tuple(f"2188{n:012d}" for n in range(5)),
)
BLACKLISTED_DEBTOR = dataclasses.replace(
    LATE_REPAYER,
    person_id="2088000000000004",
    repayments_late=3,
    overdue_90_loans=("loan-1",),
    blacklisted=True,
)


def score_of(person: PersonFeatures, good_counterparts: int | None = None):
    good = len(person.counterparts) if good_counterparts is None else good_counterparts
    vector = feature_vector(person, good, NOW)
    return explain(MODEL, person.person_id, vector, computed_at=NOW, trigger="t", newcomer=False)


def codes(reasons) -> list[str]:
    return [r.code for r in reasons]


def test_the_newcomer_score_is_defined_by_the_model() -> None:
    # Every dimension at its newcomer points: credit history 400/550 of its range (no
    # negative record), behaviour 20/160, the rest 0 → 350 + 600 x (0.35x0.7273 + 0.25x0.125)
    # = 350 + 171.5 = 521.
    assert newcomer_score(MODEL) == 521
    assert NEWCOMER_VECTOR["months_since_late"] == 999


@pytest.mark.parametrize(
    ("person", "score", "band", "raised", "lowered"),
    [
        # Real-name (KYC 2): identity 35/105 x 0.15 x 600 = +30 → 551.
        (NEWCOMER, 551, Band.FAIR, ["IDENTITY_VERIFIED"], []),
        # Behaviour full (140+20)/160, assets 70/95, identity 90/105, connections 100/100:
        # 350 + 600 x (0.2545 + 0.25 + 0.1474 + 0.1286 + 0.05) = 848.
        (
            HEAVY_REGULAR_PAYER,
            848,
            Band.EXCELLENT,
            ["ASSETS_HELD", "REGULAR_PAYMENTS", "IDENTITY_VERIFIED"],
            [],
        ),
        # Credit history 60 - 240 - 160 = -340 → 60/550: the late repayments cost 92 + 61.
        (LATE_REPAYER, 594, Band.FAIR, None, ["LATE_REPAYMENTS", "LATE_REPAYMENT_RECENT"]),
        # Capped at 450 by the blacklist, whatever else they do.
        (BLACKLISTED_DEBTOR, 450, Band.POOR, None, ["BLACKLISTED", "OVERDUE_90_DAYS"]),
    ],
    ids=["thin-file newcomer", "heavy regular payer", "late repayer", "blacklisted debtor"],
)
def test_hand_built_people(person, score, band, raised, lowered) -> None:
    scored = score_of(person)
    assert (scored.score, scored.band) == (score, band)
    if raised is not None:
        assert codes(scored.raised_by) == raised
    assert codes(scored.lowered_by)[: len(lowered)] == lowered
    assert len(scored.dimensions) == 5
    assert all(0 <= d.sub_score <= 100 for d in scored.dimensions)


def test_the_owner_gets_the_two_actions_that_raise_the_score_most() -> None:
    actions = score_of(NEWCOMER).actions
    assert len(actions) == 2
    assert actions[0].points_gain >= actions[1].points_gain > 0
    # Assets from 0 to 100 yuan: 15/95 x 0.20 x 600 = 19 points.
    assert (actions[0].code, actions[0].points_gain) == ("HOLD_MORE_ASSETS", 19)


def test_counterparts_in_poor_standing_lower_the_connections_dimension() -> None:
    all_good = score_of(HEAVY_REGULAR_PAYER)
    half_bad = score_of(HEAVY_REGULAR_PAYER, good_counterparts=30)
    assert half_bad.score < all_good.score


def test_declared_data_counts_for_less_than_observed_data() -> None:
    declared = dataclasses.replace(
        NEWCOMER,
        declaration=Declaration(3_000_000, Education.POSTGRADUATE, "Colony Ltd", NOW),
    )
    gained = score_of(declared).score - score_of(NEWCOMER).score
    # Income ≥ 20,000 yuan: 15/95 x 120 = 19; education 8 and employer 7: 15/105 x 90 = 13.
    assert gained == 32
    assert gained < score_of(HEAVY_REGULAR_PAYER).score - score_of(NEWCOMER).score


def test_a_model_whose_points_are_not_monotone_is_refused() -> None:
    raw = json.loads(MODEL_JSON)
    raw["dimensions"][0]["features"][0]["bins"][1]["points"] = -5
    with pytest.raises(InvalidArgument) as refused:
        parse_model(json.dumps(raw))
    assert refused.value.reason == "INVALID_SCORECARD"


def test_a_model_whose_weights_do_not_sum_to_one_is_refused() -> None:
    raw = json.loads(MODEL_JSON)
    raw["dimensions"][0]["weight"] = "0.40"
    with pytest.raises(InvalidArgument, match="sum to 1"):
        parse_model(json.dumps(raw))


people = st.builds(
    PersonFeatures,
    person_id=st.just("2088000000000009"),
    opened_at=st.one_of(st.none(), st.just(NOW - timedelta(days=500))),
    kyc_level=st.integers(0, 3),
    balance_fen=st.integers(0, 10**9),
    yuebao_fen=st.integers(0, 10**9),
    months=st.lists(
        st.builds(
            MonthActivity,
            month=st.sampled_from(["2025-01", "2025-03", "2025-05", "2025-06"]),
            payments=st.integers(0, 400),
            spent_fen=st.integers(0, 10**8),
        ),
        max_size=4,
    ).map(tuple),
    repayments_on_time=st.integers(0, 60),
    repayments_late=st.integers(0, 10),
    last_late_at=st.one_of(st.none(), st.just(NOW - timedelta(days=200))),
    overdue_90_loans=st.lists(st.text("abc", min_size=1), max_size=2).map(tuple),
    blacklisted=st.booleans(),
)


@settings(max_examples=300, deadline=None)
@given(person=people, extra=st.integers(1, 30))
def test_more_on_time_repayments_never_lower_the_score(person, extra) -> None:
    later = person
    for n in range(extra):
        later = apply_fact(later, Repayment(person.person_id, f"l{n}", True, NOW))
    assert score_of(later).score >= score_of(person).score


@settings(max_examples=300, deadline=None)
@given(person=people, days_ago=st.integers(0, 2000))
def test_a_late_repayment_never_raises_the_score(person, days_ago) -> None:
    late = apply_fact(
        person, Repayment(person.person_id, "l", False, NOW - timedelta(days=days_ago))
    )
    assert score_of(late).score <= score_of(person).score


@settings(max_examples=300, deadline=None)
@given(person=people, good=st.integers(0, 60))
def test_the_score_stays_within_350_and_950(person, good) -> None:
    assert SCORE_MIN <= score_of(person, min(good, len(person.counterparts))).score <= SCORE_MAX
