"""Prometheus metrics of a Celery worker: its pool processes run the jobs, so their counters
and histograms are shared through prometheus_client's multiprocess mode and served by the
worker's main process (``deepshield worker --metrics-port``)."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def enable_multiprocess_metrics() -> str:
    """Point prometheus_client at a fresh folder for this worker. Must run before
    prometheus_client is imported, which reads the variable once at import."""
    folder = tempfile.mkdtemp(prefix="deepshield-worker-metrics-")
    os.environ[MULTIPROC_ENV] = folder
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


def serve_worker_metrics(port: int, folder: str) -> None:
    """Serve what every process of this worker recorded, on 0.0.0.0:``port``/metrics."""
    from prometheus_client import CollectorRegistry, start_http_server
    from prometheus_client.multiprocess import MultiProcessCollector

    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=folder)  # type: ignore[no-untyped-call]
    start_http_server(port, registry=registry)


def multiprocess_metrics_enabled() -> bool:
    return MULTIPROC_ENV in os.environ
