"""course/bounded.py: work in a forked child under limits of its own. What the child sends
comes back in order; a child over its memory, its CPU time or its clock is stopped and says
which; a child whose work raises says what; none is left running, and the parent's memory
does not grow with the child's."""

import os
import time

import psutil

from course import bounded


def _say(send, values):
    for value in values:
        send(value)


def _hog(send):
    send("started")
    hoard = []
    while True:
        hoard.append(bytearray(1 << 20))


def _spin(send):
    send("started")
    while True:
        pass


def _sleep(send):
    send("started")
    time.sleep(60)


def _raise(send):
    send("started")
    raise ValueError("a student's cell")


def _no_child_left():
    """The bounded children of this process still running (other tests' servers aside)."""
    found = []
    for child in psutil.Process().children():
        try:
            if child.name() == bounded.NAME and child.status() != psutil.STATUS_ZOMBIE:
                found.append(child)
        except psutil.Error:
            pass
    return found


def test_what_the_child_sends_comes_back_in_order():
    values = [1, "two", {"three": [3]}, None]
    result = bounded.in_child(_say, values, memory=64 << 20, seconds=10)
    assert result.finished and result.messages == values and not result.why
    assert not _no_child_left()


def test_a_child_over_its_memory_is_stopped_and_the_parent_keeps_its_own():
    before = psutil.Process().memory_info().rss
    started = time.monotonic()
    result = bounded.in_child(_hog, memory=200 << 20, seconds=30)
    assert result.stopped == "memory" and result.messages == ["started"], result
    assert time.monotonic() - started < 20
    # the child wrote 200 MB and more; none of it is the parent's
    assert psutil.Process().memory_info().rss - before < 50 << 20
    assert not _no_child_left()


def test_a_child_over_its_cpu_time_is_stopped():
    started = time.monotonic()
    result = bounded.in_child(_spin, memory=64 << 20, seconds=30, cpu_seconds=2)
    assert result.stopped == "time" and "CPU" in result.why, result
    assert time.monotonic() - started < 15
    assert not _no_child_left()


def test_a_child_over_its_clock_is_killed():
    started = time.monotonic()
    result = bounded.in_child(_sleep, memory=64 << 20, seconds=2)
    assert result.stopped == "time" and "more than 2 s" in result.why, result
    assert time.monotonic() - started < 10
    assert not _no_child_left()


def test_a_child_whose_work_raises_says_what():
    result = bounded.in_child(_raise, memory=64 << 20, seconds=10)
    assert result.stopped == "error" and "ValueError: a student's cell" in result.why, result
    assert result.messages == ["started"]


def test_a_child_is_named_for_ps_and_dies_with_its_parent():
    def name(send):
        send(open("/proc/self/comm").read().strip())

    assert bounded.in_child(name, memory=64 << 20, seconds=10).messages == [bounded.NAME]
    # a grandchild's parent killed: the grandchild goes too (PR_SET_PDEATHSIG)
    read_end, write_end = os.pipe()
    middle = os.fork()
    if middle == 0:
        os.close(read_end)

        def report(send):
            os.write(write_end, f"{os.getpid()}\n".encode())
            time.sleep(60)

        try:
            bounded.in_child(report, memory=64 << 20, seconds=60)
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end) as pipe:
        grandchild = int(pipe.readline())
    os.kill(middle, 9)
    os.waitpid(middle, 0)
    deadline = time.monotonic() + 10
    while psutil.pid_exists(grandchild) and psutil.Process(grandchild).status() != psutil.STATUS_ZOMBIE:
        assert time.monotonic() < deadline, "the bounded child outlived its parent"
        time.sleep(0.05)


def _flood(send):
    send("started")
    send("x" * (bounded.MAX_LINE + 1))


def test_a_child_that_sends_too_much_is_stopped_and_costs_the_parent_little():
    """Each byte from the child is joined once (a 64 MB line read in 64 kB pieces and joined
    again each time would cost the parent a minute of CPU)."""
    started = time.process_time()
    result = bounded.in_child(_flood, memory=512 << 20, seconds=60)
    assert result.stopped == "output" and "more than 64 MB in one message" in result.why, result
    assert result.messages == ["started"]
    assert time.process_time() - started < 5
    assert not _no_child_left()
