"""``batchyard deveui register``: a batch of DevEUIs registered with a provider, stand-alone;
``batchyard lorawan-sim``: a provider stand-in to try it against.

``register`` needs no server and no database: the ids live in memory until they are printed.
Exit status: 0 every id registered; 1 the provider failed (the ids registered so far are still
printed); 2 bad arguments; 128 + signal (130 for Ctrl-C) when interrupted.
"""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from batchyard.cli import _common
from batchyard.cli._common import JsonOption
from batchyard.domain.errors import InvalidInput
from batchyard.faces.deveui.model import MAX_BATCH_SIZE, short_code
from batchyard.faces.deveui.provider import (
    DEFAULT_TIMEOUT,
    MAX_CONNECTIONS,
    Provider,
    check_provider_url,
)
from batchyard.faces.deveui.registration import RetryPolicy
from batchyard.faces.deveui.standalone import BatchResult, LocalBatch

app = typer.Typer(
    help="DevEUI batches: device ids registered with a LoRaWAN provider, none wasted.",
    no_args_is_help=True,
)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="deveui")
    root.command("lorawan-sim")(lorawan_sim)


def _provider_url(value: str) -> str:
    try:
        return check_provider_url(value)
    except InvalidInput as exc:
        raise typer.BadParameter(exc.detail) from exc


def _concurrency(value: int) -> int:
    if value > MAX_CONNECTIONS:
        raise typer.BadParameter(
            f"{value} is above {MAX_CONNECTIONS}: the provider allows at most "
            f"{MAX_CONNECTIONS} requests in flight"
        )
    return value


@app.command("register")
def register_batch(
    provider_url: Annotated[
        str,
        typer.Argument(
            metavar="PROVIDER_URL",
            help="Base URL of the LoRaWAN provider (http:// or https://).",
            callback=_provider_url,
        ),
    ],
    count: Annotated[
        int, typer.Option(min=1, max=MAX_BATCH_SIZE, help="How many DevEUIs to register.")
    ] = 100,
    concurrency: Annotated[
        int,
        typer.Option(
            min=1, callback=_concurrency, help=f"Requests in flight (1 … {MAX_CONNECTIONS})."
        ),
    ] = MAX_CONNECTIONS,
    retry_seconds: Annotated[
        float,
        typer.Option(min=0, help="How long an id whose outcome is unknown is retried."),
    ] = RetryPolicy.budget_seconds,
    timeout: Annotated[
        float, typer.Option(min=0.001, help="Seconds to wait for each answer.")
    ] = DEFAULT_TIMEOUT,
    as_json: JsonOption = False,
) -> None:
    """Register COUNT new DevEUIs (short codes unique in the batch) and print them.

    Ctrl-C: no new registration starts, the ones in flight finish, every id is printed.

    A second Ctrl-C stops waiting; the ids it could not confirm are listed on stderr.
    """
    policy = RetryPolicy(budget_seconds=retry_seconds)
    result, stopped_by = asyncio.run(_register(provider_url, count, concurrency, policy, timeout))
    _print_ids(result, count, as_json)
    _report_problems(result)
    if stopped_by is not None:
        raise typer.Exit(128 + stopped_by)
    if result.error is not None:
        raise typer.Exit(1)


async def _register(
    url: str, count: int, concurrency: int, policy: RetryPolicy, request_timeout: float
) -> tuple[BatchResult, int | None]:
    """Run the batch under a progress bar; also the signal that stopped it, if one did."""
    with _progress(count) as (progress, advance):
        async with Provider(url, timeout=request_timeout) as provider:
            batch = LocalBatch(provider, count, concurrency, policy, lambda _: advance())
            with _stopping_on_signals(batch, progress.console) as stopped_by:
                result = await batch.run()
    return result, (stopped_by[0] if stopped_by else None)


@contextmanager
def _progress(count: int) -> Iterator[tuple[Progress, Callable[[], None]]]:
    """A progress bar on stderr, and the function that advances it by one."""
    columns = (TextColumn("registered"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True)) as progress:
        task = progress.add_task("registered", total=count)
        yield progress, lambda: progress.advance(task)


@contextmanager
def _stopping_on_signals(batch: LocalBatch, console: Console) -> Iterator[list[int]]:
    """SIGINT/SIGTERM interrupt ``batch`` (see :meth:`LocalBatch.interrupt`); the list gets the
    first signal's number."""
    loop = asyncio.get_running_loop()
    received: list[int] = []

    def on_signal(signum: int) -> None:
        received.append(signum)
        if batch.interrupt():
            console.print(
                f"interrupted: finishing the {batch.in_flight} registrations in flight "
                "(Ctrl-C again to stop waiting)"
            )
        else:
            console.print("stopped waiting for the registrations in flight")

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal, sig)
    try:
        yield received
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


def _print_ids(result: BatchResult, count: int, as_json: bool) -> None:
    """Every registered id on stdout: a table and a total, or exactly ``{"deveuis": [...]}``."""
    if as_json:
        typer.echo(json.dumps({"deveuis": result.deveuis}))
        return
    table = Table("short code", "DevEUI")
    for deveui in result.deveuis:
        table.add_row(short_code(deveui), deveui)
    if result.deveuis:
        _common.console().print(table)
    registered = len(result.deveuis)
    typer.echo(f"{registered} DevEUIs registered" + ("" if registered == count else f" of {count}"))


def _report_problems(result: BatchResult) -> None:
    """Why the batch stopped short, and the ids whose registration is unknown, on stderr."""
    if result.error is not None:
        typer.echo(f"error: {result.error}", err=True)
    if result.unconfirmed:
        typer.echo(
            "unconfirmed (may or may not be registered): " + " ".join(result.unconfirmed),
            err=True,
        )


def lorawan_sim(
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port (0: any free one).")] = 8090,
    latency_ms: Annotated[
        float, typer.Option(min=0, help="Milliseconds before each registration answer.")
    ] = 50,
    conflict_rate: Annotated[
        float,
        typer.Option(min=0, max=1, help="Probability that a fresh id is someone else's (422)."),
    ] = 0.05,
    failure_rate: Annotated[
        float,
        typer.Option(min=0, max=1, help="Probability of a 503 after registering the id."),
    ] = 0,
    max_inflight: Annotated[
        int | None,
        typer.Option(min=1, help="Answer 429 beyond this many requests in flight."),
    ] = None,
    seed: Annotated[
        int | None, typer.Option(help="Seed of the random draws (a repeatable run).")
    ] = None,
    ssl_certfile: Annotated[
        str | None, typer.Option(help="Serve https with this certificate (PEM).")
    ] = None,
    ssl_keyfile: Annotated[str | None, typer.Option(help="The certificate's key (PEM).")] = None,
) -> None:
    """Run a LoRaWAN provider stand-in: POST /sensor-onboarding-sample, GET /registered,
    GET /stats. Prints "lorawan-sim listening on http://HOST:PORT" once it accepts
    connections; Ctrl-C or SIGTERM stops it."""
    from batchyard.faces.deveui import sim  # uvicorn: only when serving

    tls = None
    if ssl_certfile is not None and ssl_keyfile is not None:
        tls = sim.Tls(ssl_certfile, ssl_keyfile)
    elif ssl_certfile is not None or ssl_keyfile is not None:
        raise typer.BadParameter("--ssl-certfile and --ssl-keyfile go together")
    settings = sim.SimSettings(latency_ms / 1000, conflict_rate, failure_rate, max_inflight, seed)
    if not sim.serve(settings, host, port, tls):
        raise typer.Exit(1)
