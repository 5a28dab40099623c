"""Pure rules of sagas: declaring one, keys, what may be undone, failpoints, settings."""

from __future__ import annotations

import pytest

from gateway.sagas.definition import (
    RETRY_FORWARD,
    JsonObject,
    SagaDefinition,
    Step,
    StepContext,
    StepStatus,
    derive_saga_id,
    may_compensate,
    step_key,
    steps_to_compensate,
)
from gateway.sagas.failpoints import Failpoint, Failpoints, Phase
from gateway.settings import GatewaySettings

SECRET = "s" * 32
PENDING, STARTED, DONE = StepStatus.PENDING, StepStatus.STARTED, StepStatus.DONE
REFUSED, COMPENSATED = StepStatus.REFUSED, StepStatus.COMPENSATED


async def _nothing(context: StepContext) -> JsonObject:
    return {}


def _saga(*markers: str) -> SagaDefinition:
    """A saga whose steps are named s0, s1, ...; "undo" has a compensation, "forward" not."""
    return SagaDefinition(
        name="example",
        steps=tuple(
            Step(
                f"s{index}",
                _nothing,
                compensation=RETRY_FORWARD if marker == "forward" else _nothing,
            )
            for index, marker in enumerate(markers)
        ),
        outcome=lambda saga_input, results: {},
    )


def test_keys_derive_from_the_saga_and_the_step_only() -> None:
    saga_id = derive_saga_id("user-1", "key-1")
    assert saga_id == derive_saga_id("user-1", "key-1")
    assert saga_id not in {derive_saga_id("user-2", "key-1"), derive_saga_id("user-1", "key-2")}
    assert len(saga_id) == 32
    context = StepContext(saga_id, "capture", {}, {})
    assert context.key == step_key(saga_id, "capture") == f"saga:{saga_id}:capture"
    assert context.key_of("reserve") == f"saga:{saga_id}:reserve"
    assert context.compensation_key == f"saga:{saga_id}:capture:compensation"
    # Hold ids are at most 200 characters (services/payment/holds.py).
    assert len(step_key(saga_id, "s" * 40) + ":compensation") <= 200


@pytest.mark.parametrize(
    "build",
    [
        _saga,
        lambda: SagaDefinition("twice", (Step("a", _nothing, _nothing),) * 2, lambda i, r: {}),
        lambda: SagaDefinition("Bad Name", (Step("a", _nothing, _nothing),), lambda i, r: {}),
        lambda: Step("has:colon", _nothing, _nothing),
    ],
    ids=["no steps", "a step named twice", "a bad saga name", "a bad step name"],
)
def test_malformed_definitions_are_refused(build: object) -> None:
    with pytest.raises(ValueError):
        build()  # type: ignore[operator]


@pytest.mark.parametrize(
    ("markers", "statuses", "compensable", "undo_order"),
    [
        # The second step refused: only the first is undone.
        (("undo", "forward"), (DONE, REFUSED), True, [0]),
        # A crash left the first step's outcome unknown: it is undone too.
        (("undo", "undo", "forward"), (DONE, STARTED, PENDING), True, [1, 0]),
        # Past the point of no return nothing is undone.
        (("undo", "forward"), (DONE, DONE), False, [0]),
        (("undo", "forward"), (DONE, STARTED), False, [0]),
        # Already compensated steps are not undone twice.
        (("undo", "undo", "undo"), (DONE, COMPENSATED, REFUSED), True, [0]),
    ],
)
def test_what_may_be_undone_and_in_which_order(
    markers: tuple[str, ...],
    statuses: tuple[StepStatus, ...],
    compensable: bool,
    undo_order: list[int],
) -> None:
    definition = _saga(*markers)
    assert may_compensate(definition, statuses) is compensable
    assert steps_to_compensate(definition, statuses) == undo_order


def test_failpoints_parse_their_documented_syntax() -> None:
    point = Failpoint.parse("kill-after:merchant_payment:capture_to_merchant:called")
    assert point == Failpoint("merchant_payment", "capture_to_merchant", Phase.CALLED)
    assert str(point) == "kill-after:merchant_payment:capture_to_merchant:called"
    created = Failpoint.parse("kill-after:merchant_payment:saga:created")
    assert created.phase is Phase.CREATED
    compensation = Failpoint.parse("kill-after:x:reserve_funds:compensation-done")
    assert compensation.phase is Phase.COMPENSATION_DONE
    for bad in (
        "kill-before:x:y:called",
        "kill-after:x:y",
        "kill-after:x:y:exploded",
        "kill-after:x:saga:called",
        "kill-after:x:y:created",
        "kill-after:X:y:called",
    ):
        with pytest.raises(ValueError):
            Failpoint.parse(bad)


def test_a_failpoint_kills_only_at_its_own_point() -> None:
    kills: list[str] = []
    failpoints = Failpoints(
        Failpoint("pay", "capture", Phase.DONE), kill=lambda: kills.append("kill")
    )
    failpoints.reach("pay", "capture", Phase.CALLED)
    failpoints.reach("pay", "reserve", Phase.DONE)
    failpoints.reach("other", "capture", Phase.DONE)
    assert kills == []
    failpoints.reach("pay", "capture", Phase.DONE)
    assert kills == ["kill"]
    Failpoints(None, kill=lambda: kills.append("never")).reach("pay", "capture", Phase.DONE)
    assert kills == ["kill"]


def test_saga_settings_default_and_override() -> None:
    defaults = GatewaySettings.from_env({"COLONY_JWT_SECRET": SECRET}).sagas
    assert (defaults.lease_seconds, defaults.recovery_interval_seconds) == (30.0, 5.0)
    assert (defaults.attempts_per_pass, defaults.attempts_max) == (3, 20)
    assert defaults.inline_wait_seconds == 10.0
    assert defaults.hold_ttl_seconds == 900
    assert defaults.failpoint is None
    overridden = GatewaySettings.from_env(
        {
            "COLONY_ENV": "dev",
            "COLONY_SAGA_LEASE_SECONDS": "1",
            "COLONY_SAGA_RECOVERY_INTERVAL_SECONDS": "0.1",
            "COLONY_SAGA_ATTEMPTS_PER_PASS": "2",
            "COLONY_SAGA_ATTEMPTS_MAX": "2",
            "COLONY_SAGA_FAILPOINT": "kill-after:merchant_payment:saga:created",
        }
    ).sagas
    assert (overridden.lease_seconds, overridden.recovery_interval_seconds) == (1.0, 0.1)
    assert overridden.failpoint == Failpoint("merchant_payment", "saga", Phase.CREATED)


@pytest.mark.parametrize(
    "environ",
    [
        # A failpoint kills the process: never outside a dev environment.
        {"COLONY_JWT_SECRET": SECRET, "COLONY_SAGA_FAILPOINT": "kill-after:a:saga:created"},
        {"COLONY_ENV": "dev", "COLONY_SAGA_FAILPOINT": "kill-after:a:b"},
        {
            "COLONY_ENV": "dev",
            "COLONY_SAGA_ATTEMPTS_PER_PASS": "5",
            "COLONY_SAGA_ATTEMPTS_MAX": "4",
        },
        {"COLONY_ENV": "dev", "COLONY_SAGA_LEASE_SECONDS": "0"},
        {"COLONY_ENV": "dev", "COLONY_SAGA_HOLD_TTL_SECONDS": str(8 * 24 * 3600)},
    ],
    ids=["failpoint outside dev", "bad failpoint", "attempts", "zero lease", "hold ttl"],
)
def test_bad_saga_settings_stop_the_start(environ: dict[str, str]) -> None:
    with pytest.raises(SystemExit):
        GatewaySettings.from_env(environ)
