"""The scorecard: a score of 350-950 over Sesame Credit's five dimensions (DOMAIN.md §3).

Points per feature bin, summed per dimension and clipped to the dimension's declared range;
each dimension contributes its weight times the share of that range reached; the weighted sum
maps linearly onto 350-950. Caps (a blacklisted person) then bound the result. Every number
is data (a versioned JSON model, docs/credit.md "The scorecard as data"), so a new model is
loaded without code and every score names the version that made it.

Explanations are differences against the newcomer (the empty feature vector): a feature that
earns more points than a newcomer's raised the score, one that earns fewer lowered it.
Monotone bins (checked at load) make the score monotone in each feature: more on-time
repayments never lower it, a late repayment never raises it.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from enum import StrEnum

from chassis.errors import InvalidArgument
from services.credit.features import FEATURE_NAMES, NEVER_LATE_MONTHS

SCORE_MIN = 350
SCORE_MAX = 950
DIMENSIONS = (
    "credit_history",
    "behaviour_preference",
    "fulfilment_capacity",
    "identity_traits",
    "social_connections",
)
REASONS_SHOWN_MAX = 3
ACTIONS_SHOWN_MAX = 2
MODEL_JSON_LENGTH_MAX = 100_000
VERSION_LENGTH_MAX = 64


class Direction(StrEnum):
    HIGHER_IS_BETTER = "higher_is_better"
    LOWER_IS_BETTER = "lower_is_better"


@dataclass(frozen=True, slots=True)
class Bin:
    """Values below `below` (None: no bound, the last bin) that reach no earlier bin."""

    below: int | None
    points: int


@dataclass(frozen=True, slots=True)
class FeatureRule:
    feature: str
    direction: Direction
    bins: tuple[Bin, ...]
    raise_reason: str
    lower_reason: str
    action: str  # "" when the owner cannot act on it

    def points(self, value: int) -> int:
        for scored in self.bins:
            if scored.below is None or value < scored.below:
                return scored.points
        raise AssertionError("the last bin has no bound")

    def better_value(self, value: int) -> int | None:
        """The least value above this one that earns more points (None: none does)."""
        if self.direction is not Direction.HIGHER_IS_BETTER:
            return None
        now = self.points(value)
        for scored in self.bins:
            bound = scored.below
            if bound is not None and bound > value and self.points(bound) > now:
                return bound
        return None


@dataclass(frozen=True, slots=True)
class Dimension:
    name: str
    weight: Decimal
    points_min: int
    points_max: int
    features: tuple[FeatureRule, ...]


@dataclass(frozen=True, slots=True)
class Cap:
    feature: str
    at_least: int
    score_max: int
    reason: str


class Band(StrEnum):
    POOR = "POOR"  # 350-549 较差
    FAIR = "FAIR"  # 550-599 中等
    GOOD = "GOOD"  # 600-649 良好
    VERY_GOOD = "VERY_GOOD"  # 650-699 优秀
    EXCELLENT = "EXCELLENT"  # 700-950 极好


BAND_FLOORS = (
    (700, Band.EXCELLENT),
    (650, Band.VERY_GOOD),
    (600, Band.GOOD),
    (550, Band.FAIR),
    (SCORE_MIN, Band.POOR),
)


def band_of(score: int) -> Band:
    return next(band for floor, band in BAND_FLOORS if score >= floor)


@dataclass(frozen=True, slots=True)
class Model:
    version: str
    dimensions: tuple[Dimension, ...]
    caps: tuple[Cap, ...]

    @property
    def rules(self) -> tuple[tuple[Dimension, FeatureRule], ...]:
        return tuple((d, rule) for d in self.dimensions for rule in d.features)


@dataclass(frozen=True, slots=True)
class DimensionScore:
    dimension: str
    sub_score: int  # 0..100


@dataclass(frozen=True, slots=True)
class Reason:
    code: str
    dimension: str
    points: int  # signed score points against a newcomer


@dataclass(frozen=True, slots=True)
class Action:
    code: str
    points_gain: int


@dataclass(frozen=True, slots=True)
class Score:
    """One computed score with its explanation."""

    person_id: str
    score: int
    model_version: str
    dimensions: tuple[DimensionScore, ...]
    raised_by: tuple[Reason, ...]
    lowered_by: tuple[Reason, ...]
    actions: tuple[Action, ...]
    computed_at: datetime
    blacklisted: bool
    newcomer: bool
    trigger: str

    @property
    def band(self) -> Band:
        return band_of(self.score)


NEWCOMER_VECTOR: Mapping[str, int] = {
    name: NEVER_LATE_MONTHS if name == "months_since_late" else 0 for name in FEATURE_NAMES
}

_SPAN = Decimal(SCORE_MAX - SCORE_MIN)


def _fraction(dimension: Dimension, vector: Mapping[str, int]) -> Decimal:
    points = sum(rule.points(vector[rule.feature]) for rule in dimension.features)
    clipped = min(dimension.points_max, max(dimension.points_min, points))
    return Decimal(clipped - dimension.points_min) / (dimension.points_max - dimension.points_min)


def _uncapped(model: Model, vector: Mapping[str, int]) -> Decimal:
    weighted = sum((d.weight * _fraction(d, vector) for d in model.dimensions), Decimal(0))
    return SCORE_MIN + _SPAN * weighted


def score_value(model: Model, vector: Mapping[str, int]) -> int:
    """The score of a feature vector: weighted, rounded half-even, then capped."""
    score = int(_uncapped(model, vector).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))
    for cap in model.caps:
        if vector[cap.feature] >= cap.at_least:
            score = min(score, cap.score_max)
    assert SCORE_MIN <= score <= SCORE_MAX, f"score {score} outside {SCORE_MIN}-{SCORE_MAX}"
    return score


def newcomer_score(model: Model) -> int:
    return score_value(model, NEWCOMER_VECTOR)


def _reasons(model: Model, vector: Mapping[str, int]) -> tuple[list[Reason], list[Reason]]:
    raised: list[Reason] = []
    lowered: list[Reason] = []
    for dimension, rule in model.rules:
        delta = rule.points(vector[rule.feature]) - rule.points(NEWCOMER_VECTOR[rule.feature])
        if delta == 0:
            continue
        range_points = dimension.points_max - dimension.points_min
        moved = _SPAN * dimension.weight * delta / range_points
        points = int(moved.quantize(Decimal(1), rounding=ROUND_HALF_EVEN))
        if delta > 0 and rule.raise_reason:
            raised.append(Reason(rule.raise_reason, dimension.name, points))
        elif delta < 0 and rule.lower_reason:
            lowered.append(Reason(rule.lower_reason, dimension.name, points))
    uncapped = int(_uncapped(model, vector).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))
    capped = score_value(model, vector)
    if capped < uncapped:  # the cap's cut is added to the reason it names
        cap = next(c for c in model.caps if vector[c.feature] >= c.at_least)
        cut = capped - uncapped
        same = [r for r in lowered if r.code == cap.reason]
        if same:
            merged = Reason(cap.reason, same[0].dimension, same[0].points + cut)
            lowered[lowered.index(same[0])] = merged
        else:
            lowered.append(Reason(cap.reason, "cap", cut))
    raised.sort(key=lambda r: -r.points)
    lowered.sort(key=lambda r: r.points)
    return raised[:REASONS_SHOWN_MAX], lowered[:REASONS_SHOWN_MAX]


def best_actions(model: Model, vector: Mapping[str, int]) -> tuple[Action, ...]:
    """The owner's actions that would raise the score most (reaching a feature's next bin)."""
    now = score_value(model, vector)
    gains: list[Action] = []
    for _dimension, rule in model.rules:
        if not rule.action:
            continue
        better = rule.better_value(vector[rule.feature])
        if better is None:
            continue
        gain = score_value(model, {**vector, rule.feature: better}) - now
        if gain > 0:
            gains.append(Action(rule.action, gain))
    gains.sort(key=lambda a: (-a.points_gain, a.code))
    return tuple(gains[:ACTIONS_SHOWN_MAX])


def explain(
    model: Model,
    person_id: str,
    vector: Mapping[str, int],
    *,
    computed_at: datetime,
    trigger: str,
    newcomer: bool,
) -> Score:
    """The score of a person's feature vector, with sub-scores, reasons and actions."""
    raised, lowered = _reasons(model, vector)
    return Score(
        person_id=person_id,
        score=score_value(model, vector),
        model_version=model.version,
        dimensions=tuple(
            DimensionScore(
                d.name,
                int((_fraction(d, vector) * 100).quantize(Decimal(1), rounding=ROUND_HALF_EVEN)),
            )
            for d in model.dimensions
        ),
        raised_by=tuple(raised),
        lowered_by=tuple(lowered),
        actions=best_actions(model, vector),
        computed_at=computed_at,
        blacklisted=bool(vector["blacklisted"]),
        newcomer=newcomer,
        trigger=trigger,
    )


def for_viewer(score: Score, *, owner: bool, merchant: bool) -> Score:
    """What a viewer sees: actions are advice for the owner; a merchant sees score and band."""
    if owner:
        return score
    if merchant:
        return dataclasses.replace(score, dimensions=(), raised_by=(), lowered_by=(), actions=())
    return dataclasses.replace(score, actions=())


# Loading a model from its JSON document.


def invalid_model(problem: str) -> InvalidArgument:
    return InvalidArgument(
        f"scorecard model: {problem}", reason="INVALID_SCORECARD", metadata={"problem": problem}
    )


def _require(condition: bool, problem: str) -> None:
    if not condition:
        raise invalid_model(problem)


def _int(value: object, where: str) -> int:
    _require(isinstance(value, int) and not isinstance(value, bool), f"{where} is not an integer")
    assert isinstance(value, int)
    return value


def _text(value: object, where: str, *, required: bool = True) -> str:
    _require(isinstance(value, str), f"{where} is not a string")
    assert isinstance(value, str)
    _require(bool(value) or not required, f"{where} is empty")
    return value


def _bins(raw: object, where: str) -> tuple[Bin, ...]:
    _require(isinstance(raw, list) and len(raw) >= 1, f"{where}.bins is not a non-empty list")
    assert isinstance(raw, list)
    bins: list[Bin] = []
    for index, item in enumerate(raw):
        _require(isinstance(item, dict), f"{where}.bins[{index}] is not an object")
        last = index == len(raw) - 1
        below = item.get("below")
        _require((below is None) == last, f"{where}: only the last bin has no 'below'")
        bound = None if below is None else _int(below, f"{where}.bins[{index}].below")
        if bound is not None and bins and bins[-1].below is not None:
            _require(bound > bins[-1].below, f"{where}: bin bounds must increase")
        bins.append(Bin(bound, _int(item.get("points"), f"{where}.bins[{index}].points")))
    return tuple(bins)


def _feature_rule(raw: object, where: str) -> FeatureRule:
    _require(isinstance(raw, dict), f"{where} is not an object")
    assert isinstance(raw, dict)
    feature = _text(raw.get("feature"), f"{where}.feature")
    _require(feature in FEATURE_NAMES, f"{where}: unknown feature {feature!r}")
    try:
        direction = Direction(str(raw.get("direction")))
    except ValueError:
        choices = [d.value for d in Direction]
        raise invalid_model(f"{where}.direction is not one of {choices}") from None
    bins = _bins(raw.get("bins"), where)
    points = [b.points for b in bins]
    monotone = points == sorted(points, reverse=direction is Direction.LOWER_IS_BETTER)
    _require(monotone, f"{where}: points must be monotone in the feature's direction")
    return FeatureRule(
        feature=feature,
        direction=direction,
        bins=bins,
        raise_reason=_text(raw.get("raise_reason", ""), f"{where}.raise_reason", required=False),
        lower_reason=_text(raw.get("lower_reason", ""), f"{where}.lower_reason", required=False),
        action=_text(raw.get("action", ""), f"{where}.action", required=False),
    )


def _dimension(raw: object, where: str) -> Dimension:
    _require(isinstance(raw, dict), f"{where} is not an object")
    assert isinstance(raw, dict)
    try:
        weight = Decimal(_text(raw.get("weight"), f"{where}.weight"))
    except InvalidOperation:
        raise invalid_model(f"{where}.weight is not a decimal string") from None
    _require(weight.is_finite() and Decimal(0) <= weight <= 1, f"{where}.weight outside 0..1")
    features = raw.get("features")
    _require(isinstance(features, list) and bool(features), f"{where}.features is empty")
    assert isinstance(features, list)
    points_min = _int(raw.get("points_min"), f"{where}.points_min")
    points_max = _int(raw.get("points_max"), f"{where}.points_max")
    _require(points_min < points_max, f"{where}: points_min must be below points_max")
    return Dimension(
        name=_text(raw.get("name"), f"{where}.name"),
        weight=weight,
        points_min=points_min,
        points_max=points_max,
        features=tuple(_feature_rule(f, f"{where}.features[{i}]") for i, f in enumerate(features)),
    )


def _cap(raw: object, where: str) -> Cap:
    _require(isinstance(raw, dict), f"{where} is not an object")
    assert isinstance(raw, dict)
    cap = Cap(
        feature=_text(raw.get("feature"), f"{where}.feature"),
        at_least=_int(raw.get("at_least"), f"{where}.at_least"),
        score_max=_int(raw.get("score_max"), f"{where}.score_max"),
        reason=_text(raw.get("reason"), f"{where}.reason"),
    )
    _require(cap.feature in FEATURE_NAMES, f"{where}: unknown feature {cap.feature!r}")
    _require(SCORE_MIN <= cap.score_max <= SCORE_MAX, f"{where}.score_max outside 350-950")
    return cap


def parse_model(model_json: str) -> Model:
    """A validated model from its JSON document, or INVALID_SCORECARD saying what is wrong."""
    _require(len(model_json) <= MODEL_JSON_LENGTH_MAX, "the document is too long")
    try:
        raw = json.loads(model_json)
    except ValueError as error:
        raise invalid_model(f"not JSON ({error})") from None
    _require(isinstance(raw, dict), "the document is not an object")
    version = _text(raw.get("version"), "version")
    _require(len(version) <= VERSION_LENGTH_MAX, "version is too long")
    dimensions_raw = raw.get("dimensions")
    _require(isinstance(dimensions_raw, list), "dimensions is not a list")
    assert isinstance(dimensions_raw, list)
    dimensions = tuple(_dimension(d, f"dimensions[{i}]") for i, d in enumerate(dimensions_raw))
    _require(
        tuple(d.name for d in dimensions) == DIMENSIONS,
        f"dimensions must be exactly {', '.join(DIMENSIONS)} in that order",
    )
    _require(sum(d.weight for d in dimensions) == 1, "the dimension weights must sum to 1")
    caps_raw = raw.get("caps", [])
    _require(isinstance(caps_raw, list), "caps is not a list")
    return Model(
        version=version,
        dimensions=dimensions,
        caps=tuple(_cap(c, f"caps[{i}]") for i, c in enumerate(caps_raw)),
    )
