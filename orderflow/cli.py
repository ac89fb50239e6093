"""The ``orderflow`` command: run the service pieces and place, inspect and cancel orders.

Settings come from the environment (see ``config.py``); the shared options (address,
namespace, task queue, data dir) are given once, before the command, and override it:
``orderflow --address HOST:PORT order list``. Each command then only does its own thing,
through the composition root (:mod:`orderflow.stack`) and the ``Orders`` door.

Expected problems (bad input, unknown order, Temporal unreachable) print one line and exit
non-zero, never a traceback. Short-lived commands leave through ``os._exit`` after flushing:
the Temporal SDK can abort at interpreter shutdown ("Fatal Python error:
PyGILState_Release", temporalio/sdk-python#300), which would replace our exit status.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
from collections.abc import Awaitable, Callable
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from orderflow import logs
from orderflow.config import Settings, get_settings
from orderflow.devserver import DevServerError
from orderflow.errors import OrderError
from orderflow.links import order_url, temporal_ui_url
from orderflow.models import (
    FINAL_STATES,
    OrderRequest,
    OrderState,
    OrderStatus,
    ReviewDecision,
    ReviewRequest,
)
from orderflow.orders import Orders
from orderflow.stack import Stack, open_stack, stop_event
from orderflow.tracing import shutdown_tracing
from orderflow.watch import watch_order

T = TypeVar("T")

app = typer.Typer(
    help="Durable order processing on Temporal: run the service, place and inspect orders.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
order_app = typer.Typer(help="Create, inspect, cancel and list orders.", no_args_is_help=True)
app.add_typer(order_app, name="order")

out = Console()
err = Console(stderr=True)


class CliError(Exception):
    """An expected failure: printed as one line, exit status 1."""


JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]


# --- shared options: one callback, before any command -------------------------------------


@app.callback()
def shared_options(
    ctx: typer.Context,
    address: Annotated[
        str | None, typer.Option("--address", help="Temporal frontend host:port [TEMPORAL_ADDRESS]")
    ] = None,
    namespace: Annotated[
        str | None, typer.Option("--namespace", help="Temporal namespace [TEMPORAL_NAMESPACE]")
    ] = None,
    task_queue: Annotated[
        str | None, typer.Option("--task-queue", help="Task queue [ORDERFLOW_TASK_QUEUE]")
    ] = None,
    data_dir: Annotated[
        Path | None,
        typer.Option("--data-dir", help="Store and dev server files [ORDERFLOW_DATA_DIR]"),
    ] = None,
) -> None:
    """Durable order processing on Temporal: run the service, place and inspect orders."""
    ctx.obj = {
        "temporal_address": address,
        "temporal_namespace": namespace,
        "task_queue": task_queue,
        "data_dir": data_dir,
    }


def _settings(ctx: typer.Context, **more: Any) -> Settings:
    """The settings: environment, then the shared options, then the command's own flags."""
    try:
        return get_settings(**{**(ctx.obj or {}), **more})
    except ValidationError as error:
        raise CliError(f"invalid setting: {_first_error(error)}") from error


def _first_error(error: ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(part) for part in first["loc"])
    return f"{where}: {first['msg']}" if where else str(first["msg"])


def _run(coro_fn: Callable[[], Awaitable[T]]) -> T:
    return asyncio.run(_guarded(coro_fn))


async def _guarded(coro_fn: Callable[[], Awaitable[T]]) -> T:
    try:
        return await coro_fn()
    except (OrderError, DevServerError) as error:
        raise CliError(str(error)) from error


def _with_orders(settings: Settings, action: Callable[[Orders], Awaitable[T]]) -> T:
    """Connect (no waiting: a short command fails at once), run ``action`` on the door."""

    async def run() -> T:
        async with open_stack(settings, devserver="never", worker=False, wait=0.0) as stack:
            return await action(stack.orders)

    return _run(run)


def _configure_logging(settings: Settings) -> None:
    """Plain lines (or JSON) for the long-running commands; Rich stays for our own tables."""
    logs.configure(settings.log_level, settings.log_format)


def _echo_json(data: Any) -> None:
    out.print_json(json.dumps(data, default=str))


# --- long-running processes ---------------------------------------------------------------


def _serve(settings: Settings, announce: Callable[[Stack], None], **pieces: Any) -> None:
    """Open the stack with ``pieces``, announce it, run until Ctrl-C / SIGTERM."""

    async def serve() -> None:
        stop = stop_event()
        async with open_stack(settings, **pieces) as stack:
            announce(stack)
            await stop.wait()
            out.print("stopping...")

    _run(serve)


@app.command()
def up(
    ctx: typer.Context,
    api: Annotated[bool, typer.Option(help="Serve the HTTP API and web console too.")] = True,
    ui: Annotated[bool, typer.Option(help="Start the dev server with the Temporal UI.")] = True,
    worker_processes: Annotated[
        int,
        typer.Option(
            min=0,
            max=16,
            help="Run the worker as N supervised child processes, which the web console can "
            "stop, kill (-9) and start; 0 runs it in this process.",
        ),
    ] = 0,
) -> None:
    """Dev server (unless one answers) + worker (+ API) in one process. Ctrl-C stops all."""
    settings = _settings(ctx)
    _configure_logging(settings)

    def announce(stack: Stack) -> None:
        if stack.server is not None:
            out.print(
                f"Temporal dev server  [bold]{settings.address}[/] "
                f"(data in {escape(str(settings.data_dir))})"
            )
            if stack.ui_url:
                out.print(f"Temporal UI          [bold]{stack.ui_url}[/]")
        else:
            out.print(f"Temporal             [bold]{settings.address}[/] (already running)")
        queue = escape(settings.task_queue)
        if stack.workers is not None:
            names = ", ".join(stack.workers.names)
            out.print(f"workers              {names} (processes), task queue [bold]{queue}[/]")
            if reason := stack.workers.refusal():
                out.print(f"worker controls      off: {escape(reason)}")
        else:
            out.print(f"worker               polling task queue [bold]{queue}[/]")
        if stack.api is not None:
            base = stack.api.url
            out.print(f"HTTP API             [bold]{base}/api/orders[/] (OpenAPI: /docs)")
            out.print(f"web console          [bold]{base}/web/[/]")
        out.print("Ctrl-C stops everything.")

    _serve(
        settings,
        announce,
        devserver="auto",
        worker=True,
        api=api,
        ui=ui,
        worker_processes=worker_processes,
    )


@app.command()
def devserver(
    ctx: typer.Context,
    ui: Annotated[bool, typer.Option(help="Serve the Temporal UI.")] = True,
    in_memory: Annotated[bool, typer.Option(help="Keep no state on disk.")] = False,
) -> None:
    """Run the Temporal dev server (file-backed in the data dir) until Ctrl-C."""
    from orderflow.devserver import for_settings

    settings = _settings(ctx)
    _configure_logging(settings)
    server = for_settings(
        settings.address,
        settings.data_dir,
        ui_port=settings.ui_port if ui else None,
        in_memory=in_memory,
    )
    try:
        server.start()
    except DevServerError as error:
        raise CliError(str(error)) from error
    if not server.owned:
        raise CliError(f"a Temporal server already listens on {server.address}")
    out.print(f"Temporal dev server on [bold]{server.address}[/]")
    if server.ui_url:
        out.print(f"Temporal UI        on [bold]{temporal_ui_url(settings)}[/]")
    try:
        assert server.process is not None
        server.process.wait()
    except KeyboardInterrupt:
        out.print("stopping the dev server")
    finally:
        server.stop()


@app.command()
def worker(
    ctx: typer.Context,
    metrics_port: Annotated[
        int | None, typer.Option(help="Expose SDK metrics (Prometheus) on this port.")
    ] = None,
    identity: Annotated[
        str | None, typer.Option(help="Worker identity Temporal records (default: pid@host).")
    ] = None,
) -> None:
    """Run a worker: executes order workflows and activities until Ctrl-C / SIGTERM.

    Started before Temporal answers, it waits (``ORDERFLOW_STARTUP_WAIT``, 60 s)."""
    settings = _settings(ctx, worker_metrics_port=metrics_port)
    _configure_logging(settings)
    logging.getLogger(__name__).debug("settings: %s", settings.redacted())  # secrets masked

    def announce(stack: Stack) -> None:
        assert stack.worker is not None and stack.worker.worker is not None
        logging.getLogger(__name__).info(
            "worker %s polling task queue %r on %s",
            stack.worker.worker.config()["identity"], settings.task_queue, settings.address,
        )  # fmt: skip

    _serve(settings, announce, devserver="never", worker=True, identity=identity)


@app.command("api")
def api_command(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option(help="Bind address [ORDERFLOW_API_HOST]")] = None,
    port: Annotated[int | None, typer.Option(help="Port [ORDERFLOW_API_PORT]")] = None,
) -> None:
    """Serve the HTTP API and the web console (no worker, no dev server).

    Started before Temporal answers, it waits (``ORDERFLOW_STARTUP_WAIT``, 60 s)."""
    settings = _settings(ctx, api_host=host, api_port=port)
    _configure_logging(settings)

    def announce(stack: Stack) -> None:
        assert stack.api is not None
        out.print(f"HTTP API on {stack.api.url} (web: /web/)")

    _serve(settings, announce, devserver="never", worker=False, api=True)


# --- orders -------------------------------------------------------------------------------


def _parse_items(items: list[str]) -> list[dict[str, Any]]:
    parsed = []
    for item in items:
        sku, sep, quantity = item.partition("=")
        if not sep or not quantity.strip().lstrip("-").isdigit():
            raise CliError(f"--item must look like SKU=QUANTITY, got {item!r}")
        parsed.append({"sku": sku.strip(), "quantity": int(quantity)})
    return parsed


def _parse_json_option(name: str, value: str | None) -> Any:
    if value is None:
        return None
    try:
        return json.loads(value)
    except json.JSONDecodeError as error:
        raise CliError(f"{name} is not valid JSON: {error.msg}") from error


@order_app.command("create")
def order_create(
    ctx: typer.Context,
    customer: Annotated[str, typer.Option("--customer", help="Customer id.")],
    item: Annotated[list[str], typer.Option("--item", help="SKU=QUANTITY; repeat for more lines.")],
    order_id: Annotated[str | None, typer.Option("--order-id", help="Your own order id.")] = None,
    name: Annotated[str | None, typer.Option("--name", help="Customer name.")] = None,
    step_delay: Annotated[float, typer.Option(help="Seconds to wait before each step.")] = 0.0,
    faults: Annotated[
        str | None,
        typer.Option(help='Fault plan JSON, e.g. \'{"charge_payment": {"fail_first_n": 2}}\''),
    ] = None,
    wait: Annotated[bool, typer.Option("--wait", help="Wait for the final state.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Place an order (prices come from the catalog)."""
    settings = _settings(ctx)
    body: dict[str, Any] = {
        "customer_id": customer,
        "items": _parse_items(item),
        "step_delay": step_delay,
    }
    if order_id is not None:
        body["order_id"] = order_id
    if name is not None:
        body["customer_name"] = name
    if faults is not None:
        body["faults"] = _parse_json_option("--faults", faults)
    try:
        request = OrderRequest.model_validate(body)
    except ValidationError as error:
        raise CliError(f"invalid order: {_first_error(error)}") from error

    async def create(orders: Orders) -> tuple[Any, OrderStatus | None]:
        placed = await orders.place(request)
        if not wait:
            return placed, None
        if as_json:
            return placed, await orders.wait(placed.order_id)
        _print_placed(placed)  # then the steps live, until the order is final
        return placed, await watch_order(orders, placed.order_id, out)

    placed, final = _with_orders(settings, create)
    if as_json:
        _echo_json(
            {
                "order_id": placed.order_id,
                "workflow_id": placed.workflow_id,
                "created": placed.created,
                **({"status": final.model_dump(mode="json")} if final else {}),
            }
        )
    else:
        if not wait:
            _print_placed(placed)
        if final:
            _print_status(final)


def _print_placed(placed: Any) -> None:
    verb = "created" if placed.created else "already exists (same request)"
    order, workflow = escape(placed.order_id), escape(placed.workflow_id)
    out.print(f"order [bold]{order}[/] {verb}, workflow {workflow}")


@order_app.command("status")
def order_status(
    ctx: typer.Context,
    order_id: Annotated[str, typer.Argument(help="The order id.")],
    watch: Annotated[
        bool, typer.Option("--watch", help="Follow the steps live until the order is final.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Show an order's state and steps (and its page in the Temporal UI)."""
    settings = _settings(ctx)

    async def look(orders: Orders) -> OrderStatus:
        if not watch:
            return await orders.status(order_id)
        return await (orders.wait(order_id) if as_json else watch_order(orders, order_id, out))

    status = _with_orders(settings, look)
    if as_json:
        _echo_json(status.model_dump(mode="json"))
    else:
        _print_status(status)
        link = order_url(settings, status.workflow_id)
        if link:
            out.print(f"Temporal UI: {link}", markup=False, highlight=False, soft_wrap=True)


@order_app.command("cancel")
def order_cancel(
    ctx: typer.Context,
    order_id: Annotated[str, typer.Argument(help="The order id.")],
    reason: Annotated[str, typer.Option(help="Why the customer cancels.")] = "cancelled from CLI",
    signal: Annotated[
        bool, typer.Option("--signal", help="Send the Signal instead of the Update.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Cancel an order (Update: refused with a reason once the order is settled)."""
    status = _with_orders(
        _settings(ctx), lambda orders: orders.cancel(order_id, reason, signal=signal)
    )
    if as_json:
        _echo_json(status.model_dump(mode="json"))
    else:
        out.print(f"cancel of order [bold]{escape(order_id)}[/] accepted; compensation follows")


@order_app.command("review")
def order_review(
    ctx: typer.Context,
    order_id: Annotated[str, typer.Argument(help="The order id.")],
    approve: Annotated[
        bool | None, typer.Option("--approve/--reject", help="The decision.", show_default=False)
    ] = None,
    reviewer: Annotated[str, typer.Option(help="Who decides.")] = os.environ.get("USER", "cli"),
    note: Annotated[str | None, typer.Option(help="Why (shown in the order).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Approve or reject an order awaiting review (refused unless it awaits one)."""
    if approve is None:
        raise CliError("say --approve or --reject")
    try:
        decision = ReviewRequest(
            decision=ReviewDecision.APPROVE if approve else ReviewDecision.REJECT,
            reviewer=reviewer,
            note=note,
        )
    except ValidationError as error:
        raise CliError(f"invalid review: {_first_error(error)}") from error
    status = _with_orders(_settings(ctx), lambda orders: orders.review(order_id, decision))
    if as_json:
        _echo_json(status.model_dump(mode="json"))
    else:
        verb = "approved" if approve else "rejected"
        out.print(f"order [bold]{escape(order_id)}[/] {verb}; it is now {status.state.value}")


@order_app.command("list")
def order_list(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="How many orders.")] = 20,
    state: Annotated[
        OrderState | None, typer.Option(help="Only orders in this state.", case_sensitive=False)
    ] = None,
    customer: Annotated[str | None, typer.Option(help="Only this customer's orders.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """List recent orders (Temporal visibility)."""
    summaries = _with_orders(
        _settings(ctx), lambda orders: orders.list(limit, state=state, customer_id=customer)
    )
    if as_json:
        _echo_json([summary.model_dump(mode="json") for summary in summaries])
        return
    table = Table("order", "state", "customer", "total", "created")
    for summary in summaries:
        table.add_row(
            escape(summary.order_id),
            summary.state.value,
            escape(summary.customer_id or ""),
            str(summary.total or ""),
            f"{summary.created_at:%Y-%m-%d %H:%M:%S}" if summary.created_at else "",
        )
    out.print(table)


@app.command()
def reconcile(
    ctx: typer.Context,
    lookback_hours: Annotated[
        float, typer.Option(min=0.01, help="Look at orders closed this many hours back.")
    ] = 48.0,
    as_json: JsonOpt = False,
) -> None:
    """Give back stock and money of orders Temporal closed mid-way (terminated, timed out,
    failed) now, instead of at the next run of the `orderflow-reconcile` schedule."""
    report = _with_orders(_settings(ctx), lambda orders: orders.reconcile(lookback_hours * 3600))
    if as_json:
        _echo_json(report.model_dump(mode="json"))
        return
    if not report.repaired:
        out.print("nothing to reconcile: every closed order has given back its stock and money")
    for repair in report.repaired:
        moved = (
            f"stock {'released' if repair.released else 'untouched'}, refunded {repair.refunded}"
        )
        out.print(f"order {escape(repair.order_id)}: {escape(repair.reason)}: {moved}")


@app.command()
def products(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Show the catalog with prices and stock (reads the store; no Temporal needed)."""
    from orderflow.store import Store

    settings = _settings(ctx)

    async def fetch() -> list[Any]:
        store = await Store.open(settings.store_url)
        try:
            return await store.list_products()
        finally:
            await store.close()

    catalog = _run(fetch)
    if as_json:
        _echo_json([product.model_dump(mode="json") for product in catalog])
        return
    table = Table("sku", "name", "price", "stock")
    for product in catalog:
        table.add_row(product.sku, escape(product.name), str(product.price), str(product.stock))
    out.print(table)


# --- load ---------------------------------------------------------------------------------


class Via(StrEnum):
    client = "client"
    api = "api"


@app.command()
def loadgen(
    ctx: typer.Context,
    count: Annotated[
        int, typer.Option("--orders", min=1, max=100_000, help="Orders to place.")
    ] = 100,
    concurrency: Annotated[
        int, typer.Option(min=1, max=1000, help="Orders in flight at once.")
    ] = 10,
    via: Annotated[
        Via, typer.Option(help="Temporal client directly, or the HTTP API.")
    ] = Via.client,
    fault_rate: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Share of orders carrying a fault plan.")
    ] = 0.0,
    seed: Annotated[int, typer.Option(help="Seed choosing the faulted orders.")] = 0,
    api_url: Annotated[
        str | None, typer.Option(help="API base URL (default: the configured API host/port).")
    ] = None,
    allow_remote: Annotated[
        bool, typer.Option("--allow-remote", help="Allow non-local Temporal/API targets.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Place N orders, C at a time, against a running worker; print throughput and latency."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from orderflow import loadgen as lg

    settings = _settings(ctx)
    url = api_url or f"http://{settings.api_host}:{settings.api_port}"

    async def run(orders: Orders) -> lg.LoadResult:
        if not await lg.pollers_present(orders):
            raise CliError(
                f"no worker polls task queue {settings.task_queue!r} on {settings.address}: "
                "start `orderflow up` or `orderflow worker` first"
            )
        columns = ("[progress.description]{task.description}", BarColumn(),
                   MofNCompleteColumn(), TimeElapsedColumn())  # fmt: skip
        with Progress(*columns, console=err, transient=as_json) as bar:
            task = bar.add_task(f"orders via {via.value}", total=count)
            return await lg.run_load(
                orders,
                orders=count,
                concurrency=concurrency,
                via=via.value,
                api_url=url,
                fault_rate=fault_rate,
                seed=seed,
                allow_remote=allow_remote,
                progress=lambda done, _total: bar.update(task, completed=done),
            )

    try:
        lg.check_local(settings.address, "Temporal address", allow_remote=allow_remote)
        if via == Via.api:
            lg.check_local(url, "API URL", allow_remote=allow_remote)
        result = _with_orders(settings, run)
    except lg.LoadgenError as error:
        raise CliError(str(error)) from error
    if as_json:
        _echo_json(result.summary())
        return
    table = Table("metric", "value", title=f"loadgen: {result.orders} orders via {result.via}")
    table.add_row("concurrency", str(result.concurrency))
    table.add_row("seconds", f"{result.seconds:.2f}")
    table.add_row("orders/s", f"{result.throughput_per_s:.1f}")
    for name in ("p50_ms", "p95_ms", "p99_ms"):
        table.add_row(f"latency {name[:3]}", f"{getattr(result, name):.0f} ms")
    for state, n in result.by_state.items():
        table.add_row(f"state {state}", str(n))
    for reason, n in result.by_reason.items():
        table.add_row(f"reason {reason}", str(n))
    out.print(table)


def _print_status(status: OrderStatus) -> None:
    """The order as text; everything a caller sent (names, reasons) is shown, never parsed."""
    colour = {"COMPLETED": "green", "FAILED": "red", "CANCELLED": "yellow"}.get(
        status.state.value, "cyan"
    )
    out.print(
        f"order [bold]{escape(status.order_id)}[/]: [{colour}]{status.state.value}[/]", end=""
    )
    out.print(f"  total {status.total} {status.currency}" if status.total is not None else "")
    table = Table("step", "status", "attempts", "last error")
    for step in status.steps:
        table.add_row(
            step.name.value, step.status.value, str(step.attempts), escape(step.last_error or "")
        )
    out.print(table)
    if status.review is not None:
        review = status.review
        decided = (
            f"{review.decision.value}d by {review.reviewer}"
            if review.decision
            else f"awaiting a decision until {review.deadline:%Y-%m-%d %H:%M} UTC"
        )
        out.print(f"review: {decided}", markup=False, highlight=False)
    if status.shipment is not None:
        tracking = (
            f" ({status.shipment.tracking_number})" if status.shipment.tracking_number else ""
        )
        out.print(f"shipment: {status.shipment.state.value}{tracking}", markup=False)
    if status.error:
        out.print(f"error: {status.error}", markup=False, highlight=False)
    if status.cancel_reason:
        out.print(f"cancel reason: {status.cancel_reason}", markup=False, highlight=False)
    if status.state not in FINAL_STATES and status.cancellable:
        out.print("(still running: cancellable)")


def _print_error(message: str) -> None:
    """One line on stderr, whatever the message holds (newlines from input, long text)."""
    err.print(f"error: {' '.join(message.split())}", highlight=False, markup=False, soft_wrap=True)


def run(argv: list[str] | None = None) -> int:
    """Run the app and return its exit status; expected errors print one line, no traceback."""
    try:
        app(args=argv, standalone_mode=False)
    except CliError as error:
        _print_error(str(error))
        return 1
    except typer.Abort:
        return 130
    except typer.TyperException as error:  # usage errors: one line too, exit status 2
        # (typer vendors click: ``click.ClickException`` never matches what it raises)
        _print_error(error.format_message())
        return error.exit_code
    except typer.Exit as error:
        return error.exit_code
    except KeyboardInterrupt:
        return 130
    except Exception as error:  # unexpected: still one line, but say where to look
        _print_error(f"{type(error).__name__}: {error}")
        return 1
    return 0


def main(argv: list[str] | None = None) -> None:
    """Entry point: :func:`run`, then exit hard with its status (see the module docstring)."""
    code = run(argv)
    shutdown_tracing()  # os._exit below skips atexit: export buffered spans first
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    main()
