"""``batchyard work``'s handling of a command's output: batched to the job log, tail kept."""

from __future__ import annotations

import threading
import time

import pytest

from batchyard.cli import work
from batchyard.client import TransportError


def claimed(send: object) -> work.Claimed:
    return work.Claimed(
        label="job 7",
        env={},
        document=b"{}",
        lease_seconds=None,
        renew=lambda: None,
        release=lambda: None,
        finish=lambda code, tail: "",
        send_log=send,  # type: ignore[arg-type]
    )


def test_lines_go_to_the_log_in_batches_not_one_request_per_line(
    capfd: pytest.CaptureFixture[str],
) -> None:
    batches: list[list[str]] = []
    output = work.JobOutput(claimed(batches.append))
    for n in range(2500):
        output.write(f"line {n}\n".encode())
    output.close()
    lines = [line for batch in batches for line in batch]
    assert lines == [f"line {n}" for n in range(2500)]
    assert len(batches) <= 6  # ≤ 1000 lines a request, one flush per interval
    assert output.tail.splitlines()[-1] == "line 2499"
    assert len(output.tail.splitlines()) == work.TAIL_LINES
    assert "[job 7] line 0\n" in capfd.readouterr().err


def test_a_slow_trickle_is_sent_while_the_command_runs() -> None:
    sent = threading.Event()
    output = work.JobOutput(claimed(lambda lines: sent.set()))
    output.write(b"first\n")
    assert sent.wait(10)  # without waiting for the command to end
    output.close()


def test_a_log_that_cannot_be_sent_warns_once_and_keeps_the_tail(
    capfd: pytest.CaptureFixture[str],
) -> None:
    def refuse(lines: list[str]) -> None:
        raise TransportError("cannot connect")

    output = work.JobOutput(claimed(refuse))
    output.write(b"one\n")
    time.sleep(work.LOG_FLUSH_INTERVAL * 2)  # likely two refused sends (one is enough too)
    output.write(b"two\r\n")
    output.close()
    assert output.tail == "one\ntwo"
    assert capfd.readouterr().err.count("could not send its output") == 1


def test_exit_codes_map_to_statuses() -> None:
    assert [work.finish_status(code) for code in (0, 3, 1, 5, 130)] == [
        "Success",
        "Warn",
        "Fail",
        "Fail",
        "Fail",
    ]
