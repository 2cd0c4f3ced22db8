"""Prometheus metrics, one registry per app: jobs by state (read from the database at scrape
time), stage durations, analysis latency, upload bytes, errors by code."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)


class _JobStateCollector(Collector):
    def __init__(self, counts: Callable[[], dict[str, int]]) -> None:
        self._counts = counts

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "deepshield_jobs", "Jobs in the database by state", labels=["state"]
        )
        try:
            for state, count in self._counts().items():
                family.add_metric([state], count)
        except Exception:  # an unreachable database must not break the scrape
            pass
        yield family


class Metrics:
    def __init__(self, job_counts: Callable[[], dict[str, int]]) -> None:
        self.registry = CollectorRegistry()
        self.registry.register(_JobStateCollector(job_counts))
        self.stage_seconds = Histogram(
            "deepshield_stage_seconds",
            "Time spent per pipeline stage",
            ["stage"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.analysis_seconds = Histogram(
            "deepshield_analysis_seconds",
            "End-to-end analysis (inference) latency per job",
            ["kind"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.upload_bytes = Counter(
            "deepshield_upload_bytes", "Bytes accepted in uploads", registry=self.registry
        )
        self.errors = Counter(
            "deepshield_errors",
            "Error responses by error code",
            ["error_code"],
            registry=self.registry,
        )
        self.jobs_finished = Counter(
            "deepshield_jobs_finished",
            "Jobs that reached an end state",
            ["state"],
            registry=self.registry,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
