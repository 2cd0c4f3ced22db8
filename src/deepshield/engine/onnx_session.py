"""One place that creates ONNX Runtime sessions, with explicit thread settings."""

from __future__ import annotations

from pathlib import Path

import onnxruntime as ort


def create_session(path: Path, *, threads: int = 0) -> ort.InferenceSession:
    """A CPU session for ``path``. ``threads=0`` lets ONNX Runtime use one thread per core."""
    if not path.is_file():
        raise FileNotFoundError(f"ONNX model not found: {path}")
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    # Two sessions (detector, classifier) run one after the other in each analysis; with
    # ORT's default spin-waiting, the idle pool's threads keep spinning and steal the cores
    # the busy one needs. Sleeping idle threads measured faster on 2 cores (benchmarks/engine.py).
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
