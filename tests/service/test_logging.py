from __future__ import annotations

import json
import logging

from deepshield.logging_setup import ContextFilter, JsonFormatter
from deepshield.service import request_context


def test_json_log_lines_carry_request_and_job_ids() -> None:
    token = request_context._request_id.set("req-12345678")
    try:
        record = logging.LogRecord(
            "deepshield.test", logging.INFO, __file__, 1, "job %s done", ("x",), None
        )
        record.job_id = "abc"
        ContextFilter().filter(record)
        line = json.loads(JsonFormatter().format(record))
    finally:
        request_context._request_id.reset(token)
    assert line["message"] == "job x done" and line["level"] == "INFO"
    assert line["request_id"] == "req-12345678" and line["job_id"] == "abc"
