"""Schemathesis fuzzes every public route from /api/openapi.json: no input may cause a 5xx."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings

from deepshield.engine.analyze import Analyzer
from deepshield.service.app import create_app
from tests.service.conftest import make_settings

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def api_schema(
    tmp_path_factory: pytest.TempPathFactory, shared_analyzer: Analyzer
) -> Iterator[Any]:
    data_dir: Path = tmp_path_factory.mktemp("fuzz")
    app = create_app(make_settings(data_dir), analyzer=shared_analyzer)
    with TestClient(
        app
    ):  # keeps the lifespan (database, runner) running while the cases call the app
        yield schemathesis.openapi.from_asgi("/api/openapi.json", app)


def test_no_route_answers_a_server_error(api_schema: Any) -> None:
    """Every operation, 30 generated requests each (schemathesis strategies driven by Hypothesis
    directly; its pytest plugin does not support this pytest version)."""
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 9
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), database=None
        )
        def check(case: Any) -> None:
            response = case.call()
            assert response.status_code < 500, (case.method, case.formatted_path, response.text)

        check()
