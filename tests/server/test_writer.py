"""The server's writer runs in a process of its own: what crosses between the two processes,
what the server reads afterwards, and what a stopped writer answers."""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import pickle
import queue
import signal
import threading
import time
from concurrent.futures import Future

import pytest
from hypothesis import given
from hypothesis import strategies as st

from safepassage.errors import (
    FormatError,
    ProofError,
    RuleError,
    SafepassageError,
    SignatureError,
    StoreError,
    VerificationError,
)
from safepassage.server import writer as writer_module
from safepassage.server.writer import Writer, WriterProcess, WriterStoppedError, _Call
from tests.server.conftest import Served

API = "/api/v1"
KINDS = [FormatError, ProofError, RuleError, SignatureError, StoreError, WriterStoppedError]

PERSON = {
    "household": "H-writer-1", "site": "azovstal", "age_band": "18-59", "sex": "female",
    "destination": "zaporizhzhia", "given_name": "Writer", "family_name": "Test",
    "submission_id": "writer-test-1",
}  # fmt: skip


@given(
    kind=st.sampled_from(KINDS),
    reason=st.text(min_size=1),
    field=st.none() | st.text(min_size=1),
)
def test_an_error_crosses_from_the_writer_whole(
    kind: type[SafepassageError], reason: str, field: str | None
) -> None:
    error = pickle.loads(pickle.dumps(kind(reason, field=field)))
    assert type(error) is kind
    assert (error.field, error.reason) == (field, reason)
    assert str(error) == (f"{field}: {reason}" if field else reason)


def test_a_verification_error_keeps_its_index() -> None:
    error = pickle.loads(pickle.dumps(VerificationError("bad", field="entry", index=7)))
    assert (error.field, error.reason, error.index) == ("entry", "bad", 7)


def test_the_server_reads_at_once_what_its_writer_process_recorded(served: Served) -> None:
    assert served.service.writer.pid not in (None, os.getpid())
    response = served.client.post(
        f"{API}/registrations", headers=served.headers("registrar"), json=PERSON
    )
    assert response.status_code == 201, response.text
    answer = response.json()
    with served.service.op.reading() as state:  # no wait, no poll: read your own write
        person = state.persons[answer["person"]]
        assert person.household == "H-writer-1"
    assert served.service.op.index_of(answer["id"]) == answer["index"]
    listed = served.client.get(f"{API}/persons", headers=served.headers("registrar"))
    assert answer["person"] in {p["person"] for p in listed.json()}


def test_a_stopped_writer_is_answered_503_naming_it_and_nothing_is_written(
    served: Served,
) -> None:
    size = served.service.op.log.size()
    pid = served.service.writer.pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 30
    gone = False
    while not gone and time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            gone = True
        time.sleep(0.05)
    assert gone
    for _ in range(2):  # whether or not the server has noticed yet
        response = served.client.post(
            f"{API}/registrations", headers=served.headers("registrar"), json=PERSON
        )
        assert response.status_code == 503, response.text
        problem = response.json()
        assert problem["field"] == "writer"
        assert "stopped" in problem["detail"]
    assert served.service.op.log.size() == size
    health = served.client.get(f"{API}/public/report")  # reading goes on
    assert health.status_code == 200


def _slow(_op: object, _vault: object, seconds: float) -> str:
    """Run in the writer process (``WriterProcess.call``)."""
    time.sleep(seconds)
    return "done"


def test_a_request_given_up_on_does_not_stop_the_writer(served: Served) -> None:
    writer = served.service.writer

    async def give_up() -> None:
        waiting = asyncio.ensure_future(asyncio.wrap_future(writer.call(_slow, 0.5)))
        await asyncio.sleep(0.1)
        waiting.cancel()  # as when a client goes away while its command is recorded
        with contextlib.suppress(asyncio.CancelledError):
            await waiting

    asyncio.run(give_up())
    first = writer.call(_slow, 0.2)
    assert not first.cancel()  # handed over: the command runs whatever its caller does
    assert first.result(timeout=30) == "done"
    assert writer.call(_slow, 0).result(timeout=30) == "done"  # the answers still come back
    response = served.client.post(
        f"{API}/registrations", headers=served.headers("registrar"), json=PERSON
    )
    assert response.status_code == 201, response.text


def _counting_sends(monkeypatch: pytest.MonkeyPatch, writer: WriterProcess) -> list[int]:
    """How many commands each message to the writer process carried."""
    sent: list[int] = []
    send = writer._conn.send

    def counted(obj: object) -> None:
        if isinstance(obj, list):
            sent.append(len(obj))
        send(obj)

    monkeypatch.setattr(writer._conn, "send", counted)
    return sent


def test_commands_handed_in_during_one_turn_of_the_loop_cross_in_one_message(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    writer = served.service.writer
    sent = _counting_sends(monkeypatch, writer)

    async def burst() -> list[str]:
        handed = [writer.call(_slow, 0) for _ in range(5)]  # five handlers, one turn
        return list(await asyncio.gather(*(asyncio.wrap_future(f) for f in handed)))

    assert asyncio.run(burst()) == ["done"] * 5
    assert sent == [5]
    sent.clear()
    # a thread without an event loop hands each command over at once
    assert [writer.call(_slow, 0).result(timeout=30) for _ in range(2)] == ["done", "done"]
    assert sent == [1, 1]


def test_what_the_loop_handed_in_is_sent_before_the_writer_stops(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    writer = served.service.writer
    sent = _counting_sends(monkeypatch, writer)

    async def hand_in_then_stop() -> Future[str]:
        handed = writer.call(_slow, 0)
        writer.close()  # before the loop's turn ends: the command goes first, then the stop
        return handed

    handed = asyncio.run(hand_in_then_stop())
    assert handed.result(timeout=30) == "done"
    assert sent == [1]
    with pytest.raises(WriterStoppedError):
        writer.call(_slow, 0).result(timeout=30)


def test_a_command_from_a_second_loop_does_not_wait_for_the_first_loops_turn(
    served: Served,
) -> None:
    writer = served.service.writer
    handed = threading.Event()

    async def busy() -> str:  # hands a command in, then holds its loop for 3 s
        waiting = asyncio.wrap_future(writer.call(_slow, 0))
        handed.set()
        time.sleep(3)  # noqa: ASYNC251 - the point: this loop is busy, not waiting
        return await waiting

    first = threading.Thread(target=lambda: asyncio.run(busy()))
    first.start()
    try:
        assert handed.wait(timeout=30)

        async def other() -> tuple[str, float]:
            start = time.monotonic()
            answer = await asyncio.wrap_future(writer.call(_slow, 0))
            return answer, time.monotonic() - start

        answer, took = asyncio.run(other())
        assert answer == "done"
        assert took < 2.5  # sent at its own loop's turn, not when the busy loop's comes
    finally:
        first.join()


def test_a_lambda_is_refused_before_anything_is_sent(served: Served) -> None:
    writer = served.service.writer
    with pytest.raises((pickle.PicklingError, AttributeError, TypeError)):
        writer.call(lambda _op, _vault: None)
    assert writer.call(_slow, 0).result(timeout=30) == "done"


def test_an_event_the_writer_recorded_is_found_by_its_id_and_reading_nests(
    served: Served,
) -> None:
    response = served.client.post(
        f"{API}/registrations", headers=served.headers("registrar"), json=PERSON
    )
    answer = response.json()
    op = served.service.op
    found: list[int] = []

    def look() -> None:
        found.append(op.index_of(answer["id"]))  # nobody read since: it catches up itself
        with op.reading(), op.reading():  # a reader that reads again does not wait on itself
            found.append(op.index_of(answer["id"]))

    looking = threading.Thread(target=look)
    looking.start()
    looking.join(timeout=30)
    assert not looking.is_alive()
    assert found == [answer["index"], answer["index"]]


# --- gathering a batch: after a batch of several, wait briefly for as many -------------------


def _gatherer(monkeypatch: pytest.MonkeyPatch, seconds: float) -> Writer:
    """A ``Writer`` whose queue is filled by hand (no thread takes from it)."""
    monkeypatch.setattr(writer_module, "_GATHER_SECONDS", seconds)
    gatherer = Writer.__new__(Writer)
    gatherer._jobs = queue.SimpleQueue()
    return gatherer


def _later(gatherer: Writer, jobs: list[_Call], after: float = 0.05) -> threading.Timer:
    def put() -> None:
        for job in jobs:
            gatherer._jobs.put(job)

    timer = threading.Timer(after, put)
    timer.start()
    return timer


def _job() -> _Call:
    return _Call(lambda op: None)


def test_under_load_the_writer_waits_for_the_requests_it_just_answered(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    gatherer = _gatherer(monkeypatch, seconds=60)  # the wait ends when they are all back
    first, back = _job(), [_job(), _job()]
    timer = _later(gatherer, back)
    batch, stop = gatherer._gather(first, expected=3)
    timer.join()
    assert (batch, stop) == ([first, *back], False)


def test_a_lone_request_is_not_held_back_for_others(monkeypatch: pytest.MonkeyPatch) -> None:
    gatherer = _gatherer(monkeypatch, seconds=60)
    first, late = _job(), _job()
    timer = _later(gatherer, [late])
    batch, _ = gatherer._gather(first, expected=1)
    assert batch == [first]  # taken alone, without waiting for the one still to come
    timer.join()
    assert gatherer._jobs.get_nowait() is late


def test_the_wait_for_a_batch_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    gatherer = _gatherer(monkeypatch, seconds=0.2)
    first, one = _job(), _job()
    timer = _later(gatherer, [one], after=0.01)
    batch, _ = gatherer._gather(first, expected=5)  # 5 answered last time, 2 come back
    timer.join()
    assert batch == [first, one]


def test_a_stop_while_gathering_ends_the_batch_there(monkeypatch: pytest.MonkeyPatch) -> None:
    gatherer = _gatherer(monkeypatch, seconds=60)
    first, one = _job(), _job()
    gatherer._jobs.put(one)
    gatherer._jobs.put(None)
    assert gatherer._gather(first, expected=4) == ([first, one], True)


def _answers_over_a_pipe(replies: list[tuple[int, bool, object, int] | None]) -> list[object]:
    """What crosses the pipe when the writer's sending thread finds ``replies`` queued
    together (a batch's answers): each message, its answers unpickled one by one."""
    ours, theirs = multiprocessing.Pipe()
    answers: queue.SimpleQueue[tuple[int, bool, object, int] | None] = queue.SimpleQueue()
    for reply in replies:
        answers.put(reply)
    writer_module._send_answers(theirs, answers)  # type: ignore[arg-type]
    theirs.close()
    received = []
    with contextlib.suppress(EOFError):
        while True:
            received.append([(job, *pickle.loads(data)) for job, data in ours.recv()])
    return received


def test_a_batchs_answers_cross_in_one_message_in_order() -> None:
    replies = [(n, True, f"answer {n}", 3) for n in range(16)]
    assert _answers_over_a_pipe([*replies, None]) == [replies]  # one message, then the stop


def test_an_answer_that_does_not_pickle_is_an_error_and_spares_the_others() -> None:
    unpicklable = threading.Lock()
    [answers] = _answers_over_a_pipe([(1, True, "one", 1), (2, True, unpicklable, 1), None])
    first, (job, ok, error, _) = answers
    assert first == (1, True, "one", 1)
    assert (job, ok) == (2, False)
    assert isinstance(error, Exception)
    assert "cannot pickle '_thread.lock'" in str(error)  # what it was, not a lost answer


def test_an_answer_that_does_not_unpickle_fails_only_its_own_request() -> None:
    ours, theirs = multiprocessing.Pipe()
    server = WriterProcess.__new__(WriterProcess)  # its reading side only
    futures: dict[int, Future[object]] = {n: Future() for n in (1, 2, 3)}
    server._conn, server._pending, server._pending_lock = ours, dict(futures), threading.Lock()
    server._stopping, server._stopped, server.batches = True, False, 0
    theirs.send(
        [
            (1, pickle.dumps((True, "one", 7))),
            (2, b"not a pickle"),
            (3, pickle.dumps((True, "three", 7))),
        ]
    )
    theirs.close()
    server._read()
    assert (futures[1].result(), futures[3].result(), server.batches) == ("one", "three", 7)
    error = futures[2].exception()
    assert isinstance(error, StoreError)
    assert error.field == "writer"
    assert "did not arrive whole" in str(error)
