"""``batchyard work``: run a command once per job, on any queue, under the lease supervisor.

``batchyard work --queue Q [--concurrency K] -- CMD…`` long-polls Q for jobs and runs CMD for
each one, up to K at once. CMD finds the job in its environment (``BATCHYARD_JOB_ID`` and, on a
native queue, ``BATCHYARD_JOB_QUEUE``; for a run's job ``BATCHYARD_JOB_RUN``, ``…_SOURCE``,
``…_LAYER``, ``…_NAME``) and the whole job as JSON on stdin. Its output is echoed to the
worker's stderr and, for a run's job, sent to the job's log in batches. Its exit code decides:

==========  ==========================  =====================================================
exit code   a run's job (``--queue      a native queue's job
            runs``, ``--run R``)
==========  ==========================  =====================================================
0           Success                     completed, result ``{"exit_code": 0, "log_tail"}``
3           Warn                        completed, result with ``"warn": true`` too
any other   Fail (with the log tail)    failed, the error is the log tail (the queue retries
                                        it while it has attempts left)
==========  ==========================  =====================================================

The first SIGINT/SIGTERM stops claiming and lets the running commands finish (a job claimed
but not started yet is released at once); a second one is passed on to them. The worker then
exits with 128 + the signal's number, as :mod:`batchyard.cli.supervisor` does.
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Protocol, TypeVar

import msgspec
import typer
from msgspec import UNSET

from batchyard.cli import _common, supervisor
from batchyard.cli._common import Server, server_command
from batchyard.client import (
    BatchyardError,
    Client,
    ClientError,
    Job,
    StoreUnavailable,
    TransportError,
)
from batchyard.faces.runs.client import FinishStatus
from batchyard.faces.runs.model import Claimed as ClaimedRunJob
from batchyard.faces.runs.model import RunJob

T = TypeVar("T")

PROG = "batchyard work"
RUNS_QUEUE = "runs"  # --queue runs: the jobs of every run
EXIT_SUCCESS = 0
EXIT_WARN = 3  # the command's way to say "done, with warnings"
CLAIM_WAIT = 5.0  # seconds a claim long-polls (--poll); a stop is noticed at the latest after it
IDLE_CHECK = 0.2  # how often a worker with every slot busy looks for a signal
LOG_FLUSH_INTERVAL = 0.5  # a job's output goes to its log at most this often (per job)
MAX_LINES_PER_REQUEST = 1000
MAX_LINE_CHARS = 16_384
TAIL_LINES = 40
TAIL_CHARS = 4_000
REPORT_ATTEMPTS = 5  # a finish or release is retried this often while the server is away


def warn(message: str) -> None:
    supervisor.warn(PROG, message)


def retryable(exc: BatchyardError) -> bool:
    """Whether the server may answer differently later (an outage, not a refusal)."""
    if isinstance(exc, ClientError):
        return exc.status >= 500
    return isinstance(exc, TransportError | StoreUnavailable)


def persistently(action: Callable[[], T]) -> T:
    """``action()``, retried with backoff while the server is unreachable or unavailable."""
    backoff = supervisor.FIRST_BACKOFF
    for _ in range(REPORT_ATTEMPTS - 1):
        try:
            return action()
        except BatchyardError as exc:
            if not retryable(exc):
                raise
            time.sleep(backoff)
            backoff = min(backoff * 2, supervisor.MAX_BACKOFF)
    return action()


# -- a claimed job, whatever queue it came from ---------------------------------------------


@dataclass(frozen=True)
class Claimed:
    """A job this worker holds: what the command gets, and how to report on it."""

    label: str  # "job 12": for messages and as the prefix of echoed output
    env: dict[str, str]
    document: bytes  # the job as JSON, the command's stdin
    lease_seconds: float | None
    renew: Callable[[], object]
    release: Callable[[], object]  # give it back unstarted
    finish: Callable[[int, str], str]  # (exit code, log tail) → what it became
    send_log: Callable[[list[str]], object] | None  # append lines to the job's log, if it has one


class JobSource(Protocol):
    """Where a worker's jobs come from."""

    def claim(self, n: int, wait: float) -> list[Claimed]:
        """Up to ``n`` jobs, waiting up to ``wait`` seconds for the first one."""
        ...


class NativeQueue:
    """The jobs of a native queue (``/api/v1/queues/Q``)."""

    def __init__(self, client: Client, queue: str, worker: str, lease: float | None) -> None:
        self._client, self._queue, self._worker, self._lease = client, queue, worker, lease

    def claim(self, n: int, wait: float) -> list[Claimed]:
        asked = UNSET if self._lease is None else self._lease  # None: the queue's lease
        jobs = self._client.claim(self._queue, self._worker, n=n, wait=wait, lease_seconds=asked)
        return [self._claimed(job) for job in jobs]

    def _claimed(self, job: Job) -> Claimed:
        client, queue = self._client, self._queue
        token = job.lease.token if job.lease is not None else 0
        return Claimed(
            label=f"job {job.id}",
            env={"BATCHYARD_JOB_ID": str(job.id), "BATCHYARD_JOB_QUEUE": queue},
            document=msgspec.json.encode(job),
            lease_seconds=granted_lease(job),
            renew=lambda: client.heartbeat(queue, job.id, token),  # as long as it was granted
            release=lambda: persistently(lambda: client.release(queue, job.id, token)),
            finish=lambda code, tail: self._finish(job.id, token, code, tail),
            send_log=None,
        )

    def _finish(self, job_id: int, token: int, code: int, tail: str) -> str:
        client, queue = self._client, self._queue
        if code in (EXIT_SUCCESS, EXIT_WARN):
            result: dict[str, Any] = {"exit_code": code, "log_tail": tail}
            if code == EXIT_WARN:
                result["warn"] = True
            persistently(lambda: client.complete(queue, job_id, token, result))
            return "completed" + (" (warn)" if code == EXIT_WARN else "")
        error = tail or f"exit code {code}"
        failed = persistently(lambda: client.fail(queue, job_id, token, error))
        return f"failed ({failed.state})"


def granted_lease(job: Job) -> float | None:
    """How long the job's lease was granted for (None: it never expires, nothing to renew)."""
    lease = job.lease
    if lease is None or lease.expires_at is None:
        return None
    return (lease.expires_at - lease.claimed_at).total_seconds()


class RunLease:
    """The lease on a run's job; a heartbeat may hand out a new token."""

    def __init__(self, client: Client, claimed: ClaimedRunJob) -> None:
        self._client = client
        self.job = claimed.job.id
        self.token = claimed.token

    def renew(self) -> None:
        self.token = self._client.runs.heartbeat(self.job, self.token).token

    def release(self) -> None:
        persistently(lambda: self._client.runs.release(self.job, self.token))

    def finish(self, code: int, tail: str) -> str:
        status = finish_status(code)
        log_tail = tail if status == "Fail" else None
        persistently(lambda: self._client.runs.finish(self.job, self.token, status, code, log_tail))
        return status


def finish_status(code: int) -> FinishStatus:
    if code == EXIT_SUCCESS:
        return "Success"
    return "Warn" if code == EXIT_WARN else "Fail"


def run_job_environment(job: RunJob) -> dict[str, str]:
    return {
        "BATCHYARD_JOB_ID": str(job.id),
        "BATCHYARD_JOB_RUN": str(job.run),
        "BATCHYARD_JOB_SOURCE": job.source,
        "BATCHYARD_JOB_LAYER": job.layer,
        "BATCHYARD_JOB_NAME": job.name,
    }


class RunJobs:
    """The jobs of the runs face: of one run, or of every run."""

    def __init__(self, client: Client, run: int | None, worker: str, lease: float | None) -> None:
        self._client, self._run, self._worker, self._lease = client, run, worker, lease

    def claim(self, n: int, wait: float) -> list[Claimed]:
        found: list[Claimed] = []
        while len(found) < n:  # one job per claim; only the first one waits
            claimed = self._client.runs.claim(
                self._worker, self._run, wait if not found else 0.0, self._lease
            )
            if claimed is None:
                break
            found.append(self._claimed(claimed))
        return found

    def _claimed(self, claimed: ClaimedRunJob) -> Claimed:
        lease, job, runs = RunLease(self._client, claimed), claimed.job, self._client.runs
        return Claimed(
            label=f"job {job.id}",
            env=run_job_environment(job),
            document=msgspec.json.encode(job),
            lease_seconds=claimed.lease_seconds,
            renew=lease.renew,
            release=lease.release,
            finish=lease.finish,
            send_log=lambda lines: runs.append_log(job.id, lines),
        )


# -- a job's output ---------------------------------------------------------------------------

_ECHO = threading.Lock()


def echo(prefix: bytes, line: bytes) -> None:
    """Write one line of a command's output to the worker's stderr (whole, among threads)."""
    data = prefix + line if line.endswith(b"\n") else prefix + line + b"\n"
    with _ECHO, contextlib.suppress(OSError, ValueError):
        sys.stderr.buffer.write(data)
        sys.stderr.buffer.flush()


class JobOutput:
    """A command's output: echoed, kept for the tail, sent to the job's log in batches (at
    most one request per LOG_FLUSH_INTERVAL, never one per line)."""

    def __init__(self, job: Claimed) -> None:
        self._job = job
        self._prefix = f"[{job.label}] ".encode()
        self._pending: list[str] = []
        self._tail: deque[str] = deque(maxlen=TAIL_LINES)
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._warned = False
        self._sender: threading.Thread | None = None
        if job.send_log is not None:
            self._sender = threading.Thread(target=self._send_regularly, name="job-log")
            self._sender.start()

    def write(self, raw: bytes) -> None:
        echo(self._prefix, raw)
        line = raw.decode("utf-8", "replace").rstrip("\r\n")[:MAX_LINE_CHARS]
        with self._lock:
            self._tail.append(line)
            if self._job.send_log is not None:
                self._pending.append(line)

    @property
    def tail(self) -> str:
        with self._lock:
            return "\n".join(self._tail)[-TAIL_CHARS:]

    def close(self) -> None:
        """Send what is left; idempotent."""
        if self._closed.is_set():
            return
        self._closed.set()
        if self._sender is not None:
            self._sender.join()

    def _send_regularly(self) -> None:
        while not self._closed.wait(LOG_FLUSH_INTERVAL):
            self._send()
        self._send()

    def _send(self) -> None:
        send = self._job.send_log
        with self._lock:
            batch, self._pending = self._pending, []
        for start in range(0, len(batch), MAX_LINES_PER_REQUEST):
            lines = batch[start : start + MAX_LINES_PER_REQUEST]
            try:
                if send is not None:
                    send(lines)
            except BatchyardError as exc:
                if not self._warned:  # once per job: the output is on stderr all the same
                    warn(f"{self._job.label}: could not send its output to the log: {exc.detail}")
                    self._warned = True


# -- the worker -------------------------------------------------------------------------------


class Worker:
    """Claims jobs while it has free slots and runs the command for each in a thread."""

    def __init__(
        self,
        source: JobSource,
        command: Sequence[str],
        concurrency: int,
        signals: supervisor.SignalForwarder,
        poll: float = CLAIM_WAIT,
    ) -> None:
        self._source, self._command = source, command
        self._concurrency, self._signals = concurrency, signals
        self._poll = poll
        self._running: set[threading.Thread] = set()
        self._lock = threading.Lock()
        self._freed = threading.Event()

    def run(self) -> int:
        """Work until a signal comes (128 + its number) or the queue refuses us (1)."""
        code = self._claim_while_not_stopped()
        self._drain()
        return code

    def _claim_while_not_stopped(self) -> int:
        backoff = supervisor.FIRST_BACKOFF
        while not self._stopping():
            free = self._wait_for_a_free_slot()
            if free == 0:
                continue
            try:
                claimed = self._source.claim(free, self._poll)
            except BatchyardError as exc:
                if not retryable(exc):
                    warn(f"cannot claim: {exc.detail}")
                    return 1
                warn(f"claim failed, retrying in {backoff:g} s: {exc.detail}")
                self._pause(backoff)
                backoff = min(backoff * 2, supervisor.MAX_BACKOFF)
                continue
            backoff = supervisor.FIRST_BACKOFF
            for job in claimed:
                self._start(job)  # after a signal: released at once, never started
        return self._signals.exit_code

    def _stopping(self) -> bool:
        return self._signals.received is not None

    def _free_slots(self) -> int:
        with self._lock:
            return self._concurrency - len(self._running)

    def _wait_for_a_free_slot(self) -> int:
        while not self._stopping():
            free = self._free_slots()
            if free > 0:
                return free
            self._freed.wait(IDLE_CHECK)
            self._freed.clear()
        return 0

    def _pause(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not self._stopping() and time.monotonic() < deadline:
            time.sleep(min(IDLE_CHECK, max(0.0, deadline - time.monotonic())))

    def _start(self, job: Claimed) -> None:
        thread = threading.Thread(target=self._work, args=(job,), name=job.label)
        with self._lock:
            self._running.add(thread)
        thread.start()

    def _work(self, job: Claimed) -> None:
        try:
            run_job(job, self._command, self._signals)
        finally:
            with self._lock:
                self._running.discard(threading.current_thread())
            self._freed.set()

    def _drain(self) -> None:
        with self._lock:
            running = list(self._running)
        if running and self._stopping():
            warn(
                f"stopping: waiting for the {len(running)} job(s) in hand "
                "(signal again to pass the signal on to them)"
            )
        for thread in running:
            thread.join()


def run_job(job: Claimed, command: Sequence[str], signals: supervisor.SignalForwarder) -> None:
    """Run ``command`` for one job under its lease and report how it ended."""
    output = JobOutput(job)

    def finish(code: int) -> None:
        output.close()  # the whole log is there before the job is finished
        became = job.finish(code, output.tail)
        warn(f"{job.label}: exit code {code}: {became}")

    def give_back() -> None:  # claimed while the worker was stopping: never started
        job.release()
        warn(f"{job.label}: released (not started)")

    held = supervisor.HeldLease(
        name=job.label,
        env=job.env,
        lease_seconds=job.lease_seconds,
        renew=job.renew,
        give_back=give_back,
        finish=finish,
    )
    io = supervisor.ChildIO(stdin=job.document, output=output.write)
    try:
        supervisor.run_under_lease(PROG, held, command, signals, io)
    finally:
        output.close()


# -- the command ------------------------------------------------------------------------------


def default_worker() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@contextlib.contextmanager
def job_source(
    server: Server, queue: str | None, run: int | None, worker: str, lease: float | None
) -> Iterator[JobSource]:
    with server.client() as client:
        if run is not None or queue == RUNS_QUEUE:
            yield RunJobs(client, run, worker, lease)
        else:
            assert queue is not None
            yield NativeQueue(client, queue, worker, lease)


@server_command
def work(
    server: Server,
    command: Annotated[
        list[str], typer.Argument(metavar="CMD", help="The command to run for each job.")
    ],
    queue: Annotated[
        str | None,
        typer.Option(
            "--queue",
            "-q",
            help="A native queue, or 'runs' for the jobs of every run.",
            show_default=False,
        ),
    ] = None,
    run: Annotated[
        int | None,
        typer.Option("--run", help="Work on the jobs of this run only.", show_default=False),
    ] = None,
    concurrency: Annotated[
        int, typer.Option("--concurrency", "-k", min=1, help="Jobs to run at once.")
    ] = 1,
    lease: Annotated[
        float | None,
        typer.Option(
            "--lease",
            min=0.1,
            help="Lease of each job in seconds, renewed every third of it while CMD runs "
            "(default: the queue's, 300 s unless it says otherwise; run jobs: the server's).",
            show_default=False,
        ),
    ] = None,
    worker: Annotated[
        str | None,
        typer.Option(
            "--worker", help="Who claims the jobs (default: host:pid).", show_default=False
        ),
    ] = None,
    poll: Annotated[
        float,
        typer.Option(
            "--poll",
            min=0.0,
            max=30.0,
            help="Seconds each claim waits for work; a stop is noticed within this.",
        ),
    ] = CLAIM_WAIT,
) -> None:
    """Run CMD once per job: batchyard work --queue Q -- CMD...

    CMD gets BATCHYARD_JOB_ID (and BATCHYARD_JOB_QUEUE, or for a run's job BATCHYARD_JOB_RUN,
    _SOURCE, _LAYER, _NAME) and the job as JSON on stdin; its output goes to the job's log.

    Exit code 0: Success; 3: Warn; anything else: Fail (with the end of its output).

    SIGINT/SIGTERM: stop claiming, let running commands finish (again: pass it on to them),
    then exit 128 + the signal's number.
    """
    if queue is None and run is None:
        _common.fail("give --queue Q, --queue runs or --run R", code=2)
    if run is not None and queue not in (None, RUNS_QUEUE):
        _common.fail("--run works on run jobs: it goes with --queue runs or alone", code=2)
    with (
        supervisor.forwarding_signals(forward_from=2) as signals,
        job_source(server, queue, run, worker or default_worker(), lease) as source,
    ):
        code = Worker(source, command, concurrency, signals, poll).run()
    raise typer.Exit(code)
