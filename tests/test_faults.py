"""Fault plans decide failures deterministically (notebooks and replays depend on it)."""

from __future__ import annotations

from orderflow.faults import attempt_fails, effective_fail_first_n
from orderflow.models import FaultSpec, StepName


def test_fail_first_n_fails_exactly_those_attempts() -> None:
    spec = FaultSpec(fail_first_n=2)
    assert [attempt_fails(spec, "o", StepName.CHARGE_PAYMENT, n) for n in (1, 2, 3, 4)] == [
        True,
        True,
        False,
        False,
    ]


def test_fail_rate_is_seeded_and_reproducible() -> None:
    spec = FaultSpec(fail_rate=0.5, seed=7)
    first = [attempt_fails(spec, "order-1", StepName.RESERVE_INVENTORY, n) for n in range(1, 200)]
    again = [attempt_fails(spec, "order-1", StepName.RESERVE_INVENTORY, n) for n in range(1, 200)]
    other_seed = [
        attempt_fails(FaultSpec(fail_rate=0.5, seed=8), "order-1", StepName.RESERVE_INVENTORY, n)
        for n in range(1, 200)
    ]
    assert first == again
    assert first != other_seed
    assert 60 < sum(first) < 140  # roughly half


def test_timeout_without_count_hangs_the_first_attempt_only() -> None:
    assert effective_fail_first_n(FaultSpec(timeout=True)) == 1
    assert effective_fail_first_n(FaultSpec(timeout=True, fail_first_n=3)) == 3
    assert effective_fail_first_n(FaultSpec()) == 0
