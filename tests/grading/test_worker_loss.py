"""A Dask worker that leaves while `course grade` waits on it: Dask keeps a task whose only
allowed worker has gone waiting forever, so the grader must notice and go on without it."""

import os
import signal
import threading
import time

from distributed import Client, LocalCluster

from course.grading import grader


def test_a_worker_killed_during_its_selftest_is_left_out_not_waited_for(monkeypatch):
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                      memory_limit=0) as cluster, Client(cluster) as client:
        client.wait_for_workers(2, timeout=60)
        fast, slow = sorted(client.scheduler_info()["workers"])
        pids = client.run(os.getpid)

        def selftest(bundle, options):  # a self-test that never ends on the slow worker
            import time

            from distributed import get_worker

            address = get_worker().address
            if address == slow:
                time.sleep(600)
            return {"worker": address, "passed": True}

        monkeypatch.setattr(grader.remote, "selftest_remotely", selftest)
        said = []
        threading.Timer(3, os.kill, (pids[slow], signal.SIGKILL)).start()
        started = time.monotonic()
        healthy, broken = grader._selftests(client, None, {}, said.append)
        assert time.monotonic() - started < 60
    assert healthy == [fast] and broken == []
    assert said == [f"worker {slow} left during its self-test and grades nothing"]
