"""Run every benchmark once and write ``docs/performance.md`` (+ ``.json``) and the chart.

    python -m bench.run_all            # the committed report (~35 min on 2 cores)
    python -m bench.run_all --quick    # tiny sizes: checks that everything runs (tests)
    python -m bench.run_all --render-only docs/performance.json   # the report again

Each benchmark measures its cases interleaved in one run (see ``bench/common.py``); this
script only sequences them, adds a concurrency sweep for the chart and a measurement of
where a step's dispatch time goes, and renders the report.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import itertools
import json
import os
import statistics
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from temporalio.api.enums.v1 import EventType

from bench import api, baseline, durability, latency, levers, profile_worker, throughput
from bench.common import (
    Comparison,
    Env,
    baseline_worker,
    console,
    cpu_split,
    interleave,
    machine,
    open_env,
    queue,
    run_baseline,
    run_orders,
    run_script,
    running,
    show,
    worker_processes,
)
from orderflow.devserver import LOW_LATENCY_CONFIG

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Sizes:
    orders: int
    concurrency: int
    rounds: int
    seq_orders: int
    api_requests: int
    api_concurrency: int
    lever_orders: int
    lever_concurrency: int
    sweep: tuple[int, ...]
    gap_workflows: int


FULL = Sizes(300, 100, 3, 40, 150, 50, 60, 30, (1, 10, 50, 100), 25)
QUICK = Sizes(3, 2, 1, 2, 3, 2, 2, 2, (1, 2), 2)
PROFILE_SECONDS = {False: 20, True: 2}
RAW_PROFILE = Path(tempfile.gettempdir()) / "orderflow-worker-profile.txt"
"""py-spy's raw stacks of the last profile (for a flame graph); not committed."""
"""Sampling time of the worker profile (full, quick)."""


# --- extra measurements -----------------------------------------------------------------


async def sweep(concurrencies: tuple[int, ...], *, quick: bool) -> list[dict[str, Any]]:
    """Throughput vs concurrency for the order workflow and the baseline (the chart), each
    on its own worker process as in the headline comparison."""
    points = []
    async with open_env() as env:
        order_queue, base_queue = queue("sweep-orders"), queue("sweep-base")
        async with worker_processes(env, order_queue, base_queue):
            for concurrency in concurrencies:
                count = max(3 * concurrency, 2 if quick else 20)
                results = await interleave(
                    {
                        "OrderWorkflow": lambda c=concurrency, n=count: run_orders(
                            env, order_queue, n, c
                        ),
                        throughput.BASELINE: lambda c=concurrency, n=count: run_baseline(
                            env, base_queue, n, c
                        ),
                    },
                    rounds=1 if quick else 2,
                    warmup=concurrency == concurrencies[0],
                )
                points.append(
                    {
                        "concurrency": concurrency,
                        "orders": count,
                        "order_per_s": results.median("OrderWorkflow", "throughput_per_s"),
                        "baseline_per_s": results.median(throughput.BASELINE, "throughput_per_s"),
                    }
                )
    return points


async def dispatch_gaps(workflows: int) -> dict[str, float]:
    """Median time from ActivityTaskCompleted to the next WorkflowTaskStarted (server
    clock, from the histories), with the server's defaults and with LOW_LATENCY_CONFIG."""
    gaps: dict[str, float] = {}
    for label, config in (("server defaults", {}), ("low-latency config", LOW_LATENCY_CONFIG)):
        async with open_env(dynamic_config=dict(config)) as env:
            base_queue = queue("gap")
            async with running(baseline_worker(env, base_queue)):
                gaps[label] = await _median_gap(env, base_queue, workflows)
    return gaps


async def _median_gap(env: Env, task_queue: str, workflows: int) -> float:
    values: list[float] = []
    for _ in range(workflows):
        workflow_id = f"gap-{uuid.uuid4().hex[:10]}"
        await env.client.execute_workflow(
            baseline.BASELINE_WORKFLOW,
            "gap",
            id=workflow_id,
            task_queue=task_queue,
            request_eager_start=True,
        )
        history = await env.client.get_workflow_handle(workflow_id).fetch_history()
        completed_at = None
        for event in history.events:
            if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
                completed_at = event.event_time.ToDatetime()
            elif event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED and completed_at:
                values.append((event.event_time.ToDatetime() - completed_at).total_seconds())
                completed_at = None
    return round(statistics.median(values) * 1000, 1)


# --- the report -------------------------------------------------------------------------


def chart(points: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    xs = [point["concurrency"] for point in points]
    fig, ax = plt.subplots(figsize=(7, 4), dpi=110)
    ax.plot(xs, [p["order_per_s"] for p in points], marker="o", label="OrderWorkflow")
    ax.plot(xs, [p["baseline_per_s"] for p in points], marker="s", label=throughput.BASELINE)
    ax.set_xscale("log")
    ax.set_xticks(xs, [str(x) for x in xs])
    ax.set_xlabel("orders in flight (concurrency)")
    ax.set_ylabel("completed workflows per second")
    ax.set_title("Throughput vs concurrency (interleaved, same dev server, median of 2)")
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def _fmt_ratio(c: Comparison) -> str:
    verdict = {True: "met", False: "**missed**", None: "-"}[c.meets]
    return (
        f"| {c.title} | {c.a} / {c.b} | {c.metric} | **{c.ratio:.2f}x** | {c.target} | {verdict} |"
    )


def _rows(c: Comparison) -> list[str]:
    params = ", ".join(f"{k}={v}" for k, v in c.params.items())
    lines = [
        f"**{c.title}** ({params})",
        "",
        "| case | done/s | p50 ms | p99 ms | final states |",
        "|---|---:|---:|---:|---|",
    ]
    for row in c.rows:
        states = ", ".join(f"{k} {v}" for k, v in sorted(row["states"].items()))
        lines.append(
            f"| {row['case']} | {row['throughput_per_s']:.1f} | {row['p50_ms']:.0f} "
            f"| {row['p99_ms']:.0f} | {states} |"
        )
    return [*lines, ""]


def render(
    headline: list[Comparison],
    lever_results: list[Comparison],
    points: list[dict[str, Any]],
    gaps: dict[str, float],
    profile: dict[str, Any],
    info: dict[str, Any],
    sizes: Sizes,
    minutes: float,
    quick: bool,
    generated: str,
) -> str:
    lines = [
        "# Performance",
        "",
        f"Generated by `python -m bench.run_all{' --quick' if quick else ''}` on {generated} "
        f"({minutes:.1f} min). Do not edit by hand: re-run it.",
        "",
        "Every comparison ran its cases **interleaved in one run on the same dev server** "
        "(A, B, then B, A, ...), because this machine is shared and noisy; absolute figures "
        "drift by tens of percent from one minute to the next, ratios much less. Figures are "
        "medians over rounds; a ratio is the median of the per-round ratios.",
        "",
        "## Machine",
        "",
        "| | |",
        "|---|---|",
        *[f"| {key} | {value} |" for key, value in info.items()],
        "| note | cores shared with other engineers' test runs; each worker is its own "
        "process (`orderflow worker`, `python -m bench.baseline`), the load driver another |",
        "",
        "## Ratios",
        "",
        "| benchmark | ratio of | metric | ratio | target | |",
        "|---|---|---|---:|---|---|",
        *[_fmt_ratio(c) for c in headline],
        "",
        "![throughput vs concurrency](throughput.png)",
        "",
        "| concurrency | orders per run | OrderWorkflow /s | baseline /s | ratio |",
        "|---:|---:|---:|---:|---:|",
        *[
            f"| {p['concurrency']} | {p['orders']} | {p['order_per_s']:.1f} | "
            f"{p['baseline_per_s']:.1f} | {p['order_per_s'] / p['baseline_per_s']:.2f} |"
            for p in points
        ],
        "",
        *_gap(headline),
        "## Where the worker's time goes",
        "",
        f"`python -m bench.profile_worker --orders {profile['orders']} --concurrency "
        f"{profile['concurrency']}` samples one `orderflow worker` process with py-spy "
        f"while it runs that load ({profile['samples']} samples; {profile['orders_per_s']} "
        f"orders/s while sampled; {profile['worker_log_lines']} log lines for "
        f"{profile['orders']} orders plus the warm-up's 20). A sample counts for every part "
        "on its stack, so shares overlap (the attempt tracker wraps every activity):",
        "",
        "| part of the stack | share of samples |",
        "|---|---:|",
        *[f"| {part} | {share:.1f} % |" for part, share in profile["shares_percent"].items()],
        "",
        *PROFILE_FINDINGS,
        "",
        "## Where a step's ~50 ms went",
        "",
        "The history of a three-no-op workflow on the dev server's defaults shows each activity "
        "dispatched eagerly (scheduled and started in the same millisecond: the SDK's eager "
        "activity execution works) and completed in a few ms, then a long wait before the "
        "next workflow task starts. That task is not dispatched eagerly: the history service "
        "writes it to its transfer queue, and the queue reader is rate-limited by "
        "`history.transferProcessorMaxPollRPS` (default 20 reads/s per shard), so each one "
        "waits up to 50 ms for the next read. The dev server now starts with that limit "
        "raised (`orderflow.devserver.LOW_LATENCY_CONFIG`), plus "
        "`history.timerProcessorMaxTimeShift=10ms` so retry backoffs and step delays fire "
        "on time instead of up to 1 s late. Measured in this run (median, server clock):",
        "",
        "| dev server | ActivityTaskCompleted -> next WorkflowTaskStarted |",
        "|---|---:|",
        *[f"| {label} | {value:.1f} ms |" for label, value in gaps.items()],
        "",
        "Worker options that did not explain it (checked while looking, before the "
        "server setting was found): `max_cached_workflows=0` (no sticky queue) and "
        "`nonsticky_to_sticky_poll_ratio=1.0` left the gap at ~23-26 ms; "
        "`history.transferProcessorMaxPollHostRPS` alone changed nothing. With the limit "
        "raised, the rest of a remote step is the worker's own time (a workflow task of "
        "~5 ms in the Python sandbox, the activity and its store transactions).",
        "",
        '**Local activities** (`"local_activities": true` in the create payload, off by '
        "default) run the steps inside the workflow task: no task-queue round trip per step "
        "and three marker events instead of nine activity/workflow-task events. They suit "
        "latency-critical, short steps; they do not heartbeat, their retries run on the same "
        "worker, and live `retrying` status is not reported for them (the attempt-tracking "
        "signal would fail the running workflow task). See the latency table below.",
        "",
        "## Details",
        "",
    ]
    for comparison in headline:
        lines += _rows(comparison)
    lines += [
        "## Levers, before / after",
        "",
        "Throughput levers: orders/s ratio after/before at the stated concurrency (higher is "
        "better). Latency levers: sequential p50 ratio after/before (lower is better). "
        '"before" is the setting\'s default or the code as first written '
        "(`bench/variants.py`).",
        "",
        "| lever | after / before | metric | ratio | after better here | kept |",
        "|---|---|---|---:|---|---|",
    ]
    for c in lever_results:
        helps = {True: "yes", False: "no", None: "-"}[c.meets]
        lines.append(
            f"| {c.title} | {c.a} / {c.b} | {c.metric} | {c.ratio:.2f}x | {helps} "
            f"| {KEPT.get(c.name, '')} |"
        )
    lines += ["", *itertools.chain.from_iterable(_rows(c) for c in lever_results)]
    lines += [
        "## Reproduce",
        "",
        "```sh",
        "make venv",
        ".venv/bin/python -m bench.run_all                 # this report",
        f".venv/bin/python -m bench.throughput --orders {sizes.orders} "
        f"--concurrency {sizes.concurrency} --rounds {sizes.rounds}",
        f".venv/bin/python -m bench.durability --orders {sizes.orders} "
        f"--concurrency {sizes.concurrency} --rounds {sizes.rounds}",
        f".venv/bin/python -m bench.latency --orders {sizes.seq_orders} --rounds {sizes.rounds}",
        f".venv/bin/python -m bench.api --requests {sizes.api_requests} "
        f"--concurrency {sizes.api_concurrency} --rounds {sizes.rounds}",
        f".venv/bin/python -m bench.levers --orders {sizes.lever_orders} "
        f"--concurrency {sizes.lever_concurrency} --seq-orders {sizes.seq_orders // 2} "
        f"--rounds {sizes.rounds}",
        "orderflow loadgen --orders 200 --concurrency 20   # against `orderflow up`",
        "```",
        "",
    ]
    return "\n".join(lines)


def _gap(headline: list[Comparison]) -> list[str]:
    """The throughput gap taken apart: the visibility baseline and the CPU per order."""
    found = [c for c in headline if c.name == "throughput" and c.cpu_ms_per_order]
    if not found:
        return []
    comparison = found[0]
    rate = {row["case"]: row["throughput_per_s"] for row in comparison.rows}
    order, plain = rate.get(comparison.a), rate.get(comparison.b)
    visible = rate.get(throughput.VISIBLE_BASELINE)
    lines = ["## Where the throughput gap goes", ""]
    if order and plain and visible:
        lines += [
            f"At concurrency {comparison.params['concurrency']}: the plain baseline did "
            f"{plain:.1f}/s; the same baseline with the order's visibility writes "
            f"(`bench/baseline.py`: its search-attribute upserts at the same points, and the "
            f"two patch markers, each of which upserts `TemporalChangeVersion`) did "
            f"{visible:.1f}/s ({visible / plain:.2f}x); `OrderWorkflow` did {order:.1f}/s "
            f"({order / visible:.2f}x of that, {order / plain:.2f}x of the plain one; "
            "ratios of the medians, the headline is the median of per-round ratios). "
            "The first step is the price of a listable, filterable order state "
            "(`GET /api/orders?state=`, the Temporal UI's filters); the second is the "
            "order's own work: a store transaction per step, its attempt row, the "
            "`Orders` door's catalog check and recorded attempts.",
            "",
        ]
    lines += [
        "CPU per order, by process (median over rounds, from `/proc`): with every core "
        "busy, orders/s is about cores / total CPU per order, so this is where a faster "
        "order has to come from.",
        "",
        "| case | CPU ms per order |",
        "|---|---|",
        *[
            f"| {case} | {cpu_split(spent)} |"
            for case, spent in comparison.cpu_ms_per_order.items()
        ],
        "",
    ]
    return lines


def write_outputs(
    out: Path, report: str, points: list[dict[str, Any]], results: dict[str, Any]
) -> None:
    """The report, its chart and the raw results behind them (``performance.json``, the
    same fields each script prints with ``--json``, for comparing runs by machine)."""
    out.mkdir(parents=True, exist_ok=True)
    chart(points, out / "throughput.png")
    (out / "performance.md").write_text(report)
    (out / "performance.json").write_text(json.dumps(results, indent=2, default=str) + "\n")


FINDINGS_ROWS = [
    "| every log line went through Rich's handler (wrapped over several lines with the "
    "context dict, a traceback for each expected failure) | `orderflow.logs`: one plain "
    "line per event, one per failed attempt, no traceback for expected failures "
    "| logging 19.0 % of samples, 12,486 log lines | logging 1.3-3.3 %, 6,081 lines |",
    "| each new workflow run re-imported *all three* workflow modules (the sandbox "
    "re-imports a workflow's module and its package; `orderflow/workflows/__init__.py` "
    "imported every module), and compiled them from source each time "
    "(`PYTHONDONTWRITEBYTECODE=1` here: no `.pyc` in an editable install) "
    "| the package imports lazily; the worker caches the workflow modules' bytecode "
    "(`orderflow.worker.cache_workflow_bytecode`) "
    "| sandbox 33.0 %, workflow code 25.1 %, 3.5 orders/s | sandbox 16.1 %, "
    "workflow code 6.7 %, 7.2 orders/s |",
    "| still 19 log lines per order: each step logged by the workflow (started, completed) "
    "and by its activity (doing, done), the dispatch three times | one INFO line per event "
    "(received, reserved, charged, packed, dispatched, notified, final state, each failed "
    "attempt); the rest at DEBUG | logging 3.1 %, 6,081 lines | logging 0.8 %, 2,241 lines |",
]
"""Recorded on 2026-11-30 (commits 4f463e0 -> the logging change -> the sandbox change,
then a628507 -> a199737 for the log volume), each with ``python -m bench.profile_worker
--orders 300 --concurrency 100 --seconds 20``; the first two while other test runs loaded
the machine (load average 4-8), the last on a quiet one."""


PROFILE_FINDINGS = [
    "What earlier profiles showed, what changed, and the same profile before/after "
    "(recorded runs of `bench.profile_worker`, 300 orders at concurrency 100, on this "
    "shared machine: absolute orders/s are noisy, shares much less):",
    "",
    "| finding | change | before | after |",
    "|---|---|---|---|",
    *FINDINGS_ROWS,
]


KEPT = {
    "server_config_latency": "yes (dev server default)",
    "server_config_throughput": "yes (dev server default)",
    "attempt_tracking": "yes: one write per attempt instead of two, batched under load "
    "(50 concurrent rows: one transaction); within run-to-run noise at this size",
    "sqlite_write_lock": "yes (in the store)",
    "sqlite_pragmas": "yes (already in the store)",
    "eager_start": "yes (already in start_order)",
    "eager_activities": "yes (SDK default)",
    "sticky_cache": "yes (SDK default)",
    "poller_autoscaling": "SDK default pollers (autoscaling not better here)",
}


async def run(sizes: Sizes, out: Path, quick: bool) -> None:
    began = time.monotonic()
    info = machine()
    info["load average at start (1/5/15 min)"] = " / ".join(f"{x:.1f}" for x in os.getloadavg())
    headline: list[Comparison] = []
    steps: list[tuple[str, Any]] = [
        ("throughput", lambda: throughput.measure(sizes.orders, sizes.concurrency, sizes.rounds)),
        ("durability", lambda: durability.measure(sizes.orders, sizes.concurrency, sizes.rounds)),
        ("latency", lambda: latency.measure(sizes.seq_orders, sizes.rounds)),
    ]
    for name, step in steps:
        console.rule(name)
        result = await step()
        show(result)
        headline.append(result)
    console.rule("api")
    for result in await api.measure(sizes.api_requests, sizes.api_concurrency, sizes.rounds):
        show(result)
        headline.append(result)
    console.rule("levers")
    lever_results = await levers.measure(
        sizes.lever_orders, sizes.lever_concurrency, sizes.rounds, max(2, sizes.seq_orders // 2)
    )
    for result in lever_results:
        show(result)
    console.rule("sweep and dispatch gaps")
    points = await sweep(sizes.sweep, quick=quick)
    gaps = await dispatch_gaps(sizes.gap_workflows)
    console.print(points, gaps)
    console.rule("worker profile")
    profile = await profile_worker.profile(
        max(sizes.orders, 20), sizes.concurrency, PROFILE_SECONDS[quick], RAW_PROFILE
    )
    console.print(profile)
    minutes = (time.monotonic() - began) / 60
    info["load average at end (1/5/15 min)"] = " / ".join(f"{x:.1f}" for x in os.getloadavg())
    results = {
        "generated_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "minutes": round(minutes, 1),
        "quick": quick,
        "sizes": dataclasses.asdict(sizes),
        "headline": [comparison.as_dict() for comparison in headline],
        "levers": [comparison.as_dict() for comparison in lever_results],
        "sweep": points,
        "dispatch_gaps": gaps,
        "profile": profile,
        "machine": info,
    }
    publish(results, out)


def publish(results: dict[str, Any], out: Path) -> None:
    """Render the report from the results and write it with its chart and its JSON."""
    sizes = dict(results["sizes"])
    sizes["sweep"] = tuple(sizes["sweep"])
    report = render(
        [Comparison(**comparison) for comparison in results["headline"]],
        [Comparison(**comparison) for comparison in results["levers"]],
        results["sweep"],
        results["dispatch_gaps"],
        results["profile"],
        results["machine"],
        Sizes(**sizes),
        results["minutes"],
        results["quick"],
        results["generated_at"],
    )
    write_outputs(out, report, results["sweep"], results)
    console.print(f"wrote {out / 'performance.md'}, performance.json and throughput.png")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes (smoke test)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs", help="output directory")
    parser.add_argument(
        "--render-only",
        type=Path,
        metavar="JSON",
        help="measure nothing: render the report again from a performance.json",
    )
    args = parser.parse_args()
    if args.render_only:
        publish(json.loads(args.render_only.read_text()), args.out)
        return
    asyncio.run(run(QUICK if args.quick else FULL, args.out, args.quick))


if __name__ == "__main__":
    run_script(main)
