"""Drill 5 in the notebook console: hostile widget values become a message, never a start.

The :class:`~orderflow.lab.console.OrderConsole` is driven the way its handlers run in a kernel:
on the event loop (here the loop thread of :class:`LoopEnv`), values set on the widgets,
then a click. A product the catalog does not have is injected into the dropdown (a
browser can send any value over the comm), so even a well-formed form must be refused.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import suppress
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from traitlets import TraitError

from bench.drillkit import audit
from orderflow.devserver import DevServer
from orderflow.lab.console import OrderConsole
from tests.reliability.hostile import GHOST_SKU, TEXT, LoopEnv, open_loop_env

WARNING = "\N{WARNING SIGN}"
MARKUP = st.sampled_from(["<script>alert(1)</script>", "<img src=x onerror=alert(1)>", "<b>x"])


@pytest.fixture(scope="module")
def env(dev_server: DevServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoopEnv]:
    yield from open_loop_env(dev_server, tmp_path_factory)


@pytest.fixture(scope="module")
def console(env: LoopEnv) -> Iterator[OrderConsole]:
    async def make() -> OrderConsole:
        made = OrderConsole(env.orders, refresh_every=None)
        await made.start()
        return made

    made = env.run(make())
    yield made
    env.run(made.close())


def assert_safe_message(html_value: str, text: str) -> None:
    assert text.startswith(WARNING), text
    assert "Traceback" not in html_value
    lowered = html_value.lower()
    assert "<script" not in lowered and "<img" not in lowered and "<b>" not in lowered


def test_hostile_form_values_show_an_escaped_message_and_start_nothing(
    env: LoopEnv, console: OrderConsole
) -> None:
    before = env.run(audit.counts(env.store))

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
    @given(
        customer=st.one_of(TEXT, MARKUP),
        order_id=st.one_of(TEXT, MARKUP),
        sku=st.one_of(GHOST_SKU.filter(bool), MARKUP),
        delay=st.floats(allow_nan=True, allow_infinity=True),
        quantity=st.integers(-(10**6), 10**6),
    )
    def check(customer: str, order_id: str, sku: str, delay: float, quantity: int) -> None:
        async def act() -> tuple[Any, str, str]:
            console.customer.value = customer
            console.order_id.value = order_id
            console.product.options = [("ghost", sku)]
            console.product.value = sku
            for widget, value in ((console.step_delay, delay), (console.quantity, quantity)):
                with suppress(TraitError):  # bounded widgets clamp or refuse what they can
                    widget.value = value
            console.create_button.click()
            assert console.last_task is not None
            result = await console.last_task
            return result, console.message.value, console.message_text

        result, html_value, text = env.run(act())
        assert result is None  # no order id: nothing was placed
        assert_safe_message(html_value, text)

    check()
    assert env.run(audit.counts(env.store)) == before
    env.assert_nothing_started()


def test_hostile_cancel_targets_and_reasons_are_messages(
    env: LoopEnv, console: OrderConsole
) -> None:
    @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
    @given(order_id=st.one_of(TEXT.filter(bool), MARKUP), reason=st.one_of(TEXT, MARKUP))
    def check(order_id: str, reason: str) -> None:
        async def act() -> tuple[Any, str, str]:
            console.selected = order_id  # what a crafted selection would leave behind
            console.cancel_reason.value = reason
            result = await console._schedule(console.cancel_selected())
            return result, console.message.value, console.message_text

        result, html_value, text = env.run(act())
        assert result is None
        assert_safe_message(html_value, text)

    check()
