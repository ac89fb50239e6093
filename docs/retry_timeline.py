"""Regenerate ``docs/retry-timeline.png``: a real order's retry timeline, for the README.

Runs one order on a throwaway dev server (free ports, temporary data dir): the payment
fails twice (transient) before it succeeds, the notification hangs past its timeout once.
The chart shows each attempt as the server timed it: the hung one ends at its 5 s
start-to-close timeout, the worker's late tail hatched.
Usage: ``python docs/retry_timeline.py``.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

import matplotlib

from orderflow import notebook
from orderflow.config import Settings
from orderflow.devserver import free_port

OUTPUT = Path(__file__).with_name("retry-timeline.png")


async def main() -> None:
    matplotlib.use("Agg")
    with tempfile.TemporaryDirectory() as data_dir:
        settings = Settings(temporal_address=f"127.0.0.1:{free_port()}", data_dir=Path(data_dir))
        env = await notebook.start(settings, ui=False)
        try:
            await env.restock("pour-over-kit", 5, "39.90", name="Pour-over kit")
            order_id = await env.place_order(
                "pour-over-kit",
                order_id="retry-demo",
                faults={
                    "charge_payment": {"fail_first_n": 2},
                    "notify_customer": {"timeout": True},
                },
            )
            await env.wait(order_id)
            figure = await env.plot(order_id)
            figure.savefig(OUTPUT, dpi=110, metadata={"Software": None})
        finally:
            await env.stop()


if __name__ == "__main__":
    asyncio.run(main())
