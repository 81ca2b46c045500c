"""Where `course grade` runs its tasks: Dask distributed.

By default a `LocalCluster` on this machine, one single-threaded worker process per
submission graded at a time (nothing to set up). `--scheduler tcp://HOST:8786` uses a
cluster that is already running: `dask scheduler` and `dask worker` by hand, dask-jobqueue on
Slurm or PBS, dask-kubernetes (README, "Grading on a cluster"). Workers need the course's
Python environment, not its folder.
"""

import contextlib
import logging
import os
import signal
import threading


@contextlib.contextmanager
def dask_client(scheduler="", workers=None):
    """A Dask client of the scheduler at `scheduler`, or of a new local cluster of `workers`
    worker processes; closed (and the local cluster stopped) on the way out."""
    from distributed import Client, LocalCluster

    if scheduler:
        client = Client(scheduler, timeout="30s")
        try:
            yield client
        finally:
            client.close()
        return
    # The workers' own logs (a worker restarted, a task retried) would break the progress bar;
    # what matters reaches the instructor through the outcomes.
    with _sigint_ignored():  # Ctrl-C is for this process; it stops the workers in order
        cluster = LocalCluster(n_workers=max(1, workers or os.cpu_count() or 1), threads_per_worker=1,
                               processes=True, dashboard_address=":0", silence_logs=logging.ERROR, memory_limit=0)
    client = Client(cluster)
    try:
        yield client
    finally:
        client.close()
        cluster.close()


@contextlib.contextmanager
def _sigint_ignored():
    """Processes started in the block ignore SIGINT (a terminal's Ctrl-C reaches them all)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def worker_addresses(client):
    """The addresses of the workers the scheduler has now. Asked of the scheduler itself:
    `client.scheduler_info()` returns a cache that the client's own periodic update may have
    just replaced with one that lists no worker."""
    return set(client.sync(client.scheduler.identity, n_workers=-1)["workers"])


def workers_per_host(client):
    """{host: number of worker processes} of the cluster, to share each machine's cores."""
    counts = {}
    for address in worker_addresses(client):
        host = address.rsplit(":", 1)[0]
        counts[host] = counts.get(host, 0) + 1
    return counts


def dashboard(client):
    """The address of the Dask dashboard, or '' when nothing answers there (bokeh missing, a
    scheduler started with --no-dashboard)."""
    import urllib.request

    try:
        link = client.dashboard_link
        with urllib.request.urlopen(link, timeout=3):
            return link
    except Exception:  # noqa: BLE001 - only a convenience
        return ""
