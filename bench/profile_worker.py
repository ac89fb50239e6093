"""Where an ``orderflow worker`` process spends its time under load (py-spy, sampled).

    python -m bench.profile_worker --orders 300 --concurrency 100 --seconds 20

Starts a dev server and one ``orderflow worker`` process exactly as a user runs it, drives
orders through the ``Orders`` door from this process, and samples the worker with py-spy
(``py-spy record --nonblocking``, from the dev extra). Prints the share of the worker's
samples spent in each part of the stack (a sample counts for every part on its stack, so
shares overlap) and writes the raw stacks next to the report for a flame graph.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

from bench.common import open_env, queue, run_orders, run_script
from bench.drillkit.procs import WorkerPool

PARTS: dict[str, tuple[str, ...]] = {
    "logging (handlers, formatters, locks)": (
        "logging/__init__.py",
        "/rich/",
        "orderflow/logs.py",
    ),
    "workflow sandbox (imports, restrictions)": (
        "workflow_sandbox/_importer.py",
        "workflow_sandbox/_restrictions.py",
        "workflow_sandbox/_runner.py",
        "<frozen importlib",
    ),
    "store (SQLAlchemy, aiosqlite)": ("/sqlalchemy/", "/aiosqlite/", "orderflow/store.py"),
    "attempt tracking": ("orderflow/tracking.py",),
    "pydantic (validate, serialize)": ("/pydantic/", "/pydantic_core/"),
    "workflow code": ("orderflow/workflows/",),
    "activity code": ("orderflow/activities.py", "orderflow/faults.py"),
    "SDK data conversion": ("temporalio/converter.py", "contrib/pydantic"),
}
"""Parts of the stack, each recognised by substrings of its frames' file names."""


def shares(raw: str) -> tuple[int, dict[str, float]]:
    """Total samples and each part's share of them, from py-spy's raw (collapsed) output."""
    total = 0
    hits: Counter[str] = Counter()
    for line in raw.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        for part, needles in PARTS.items():
            if any(needle in stack for needle in needles):
                hits[part] += count
    return total, {part: round(100 * hits[part] / total, 1) if total else 0.0 for part in PARTS}


def _read(path: Path) -> str | None:
    return path.read_text() if path.exists() else None


async def profile(orders: int, concurrency: int, seconds: float, out: Path) -> dict[str, object]:
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    async with open_env() as env:
        task_queue = queue("profile")
        logs = env.data_dir / "logs"
        with WorkerPool(
            env.server.address,
            task_queue,
            env.data_dir,
            logs,
            env={"ORDERFLOW_RECONCILE_EVERY": "0"},
        ) as pool:
            worker = await pool.spawn_ready(env.client)
            await run_orders(env, task_queue, min(20, orders), 5)  # warm: sandbox, caches
            sampler = await asyncio.create_subprocess_exec(
                py_spy, "record", "--nonblocking", "-p", str(worker.pid), "-d", str(round(seconds)),
                "-r", "200", "-f", "raw", "-o", str(out),
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            )  # fmt: skip
            result = await run_orders(env, task_queue, orders, concurrency)
            _, problem = await sampler.communicate()
            raw = await asyncio.to_thread(_read, out)
            if raw is None:
                raise RuntimeError(f"py-spy wrote no profile: {problem.decode(errors='replace')}")
            log_lines = len(worker.log().splitlines())
    total, parts = shares(raw)
    return {
        "orders": orders,
        "concurrency": concurrency,
        "orders_per_s": round(result.throughput_per_s, 1),
        "states": result.by_state,
        "samples": total,
        "worker_log_lines": log_lines,
        "shares_percent": parts,
        "raw_stacks": str(out),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=20.0, help="sampling time")
    parser.add_argument("--out", type=Path, default=Path("worker-profile.txt"))
    args = parser.parse_args()
    report = asyncio.run(profile(args.orders, args.concurrency, args.seconds, args.out.resolve()))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    run_script(main)
