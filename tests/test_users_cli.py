from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from deepshield.cli import app
from deepshield.config import get_settings

runner = CliRunner()


@pytest.fixture(autouse=True)
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("STORAGE_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def test_create_list_set_tier_disable() -> None:
    created = runner.invoke(
        app, ["users", "create", "Op@Example.org", "--password", "long enough pw"]
    )
    assert created.exit_code == 0, created.output
    assert "op@example.org (free)" in created.stdout
    assert runner.invoke(app, ["users", "set-tier", "op@example.org", "pro"]).exit_code == 0
    assert runner.invoke(app, ["users", "disable", "op@example.org"]).exit_code == 0
    listed = runner.invoke(app, ["users", "list"]).stdout
    assert "op@example.org\tpro\tdisabled" in listed


def test_operator_errors() -> None:
    assert (
        runner.invoke(app, ["users", "create", "x@example.org", "--password", "short"]).exit_code
        == 2
    )
    assert (
        runner.invoke(
            app, ["users", "create", "not-an-email", "--password", "long enough pw"]
        ).exit_code
        == 2
    )
    assert (
        runner.invoke(
            app,
            ["users", "create", "y@example.org", "--tier", "gold", "--password", "long enough pw"],
        ).exit_code
        == 2
    )
    assert (
        runner.invoke(
            app, ["users", "create", "y@example.org", "--password", "long enough pw"]
        ).exit_code
        == 0
    )
    duplicate = runner.invoke(
        app, ["users", "create", "y@example.org", "--password", "long enough pw"]
    )
    assert duplicate.exit_code == 1 and "exists" in duplicate.stderr
    assert runner.invoke(app, ["users", "disable", "nobody@example.org"]).exit_code == 1


def test_disabled_account_cannot_log_in_or_use_its_session(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from deepshield.service.app import create_app
    from tests.service.conftest import make_settings

    runner.invoke(app, ["users", "create", "z@example.org", "--password", "long enough pw"])
    settings = make_settings(
        tmp_path, SAAS_REQUIRE_AUTH=True, SAAS_JWT_SECRET="k" * 32, SAAS_RETURN_TOKEN_IN_BODY=True
    )
    with TestClient(create_app(settings)) as client:
        token = client.post(
            "/api/auth/login", json={"email": "z@example.org", "password": "long enough pw"}
        ).json()["access_token"]
        assert (
            client.get("/api/auth/me", headers={"Authorization": f"Bearer {token}"}).status_code
            == 200
        )
        assert runner.invoke(app, ["users", "disable", "z@example.org"]).exit_code == 0
        client.cookies.clear()
        refused = client.get("/api/auth/me", headers={"Authorization": f"Bearer {token}"})
        assert (
            refused.status_code == 401
            and refused.json()["error"]["error_code"] == "ACCOUNT_DISABLED"
        )
        login = client.post(
            "/api/auth/login", json={"email": "z@example.org", "password": "long enough pw"}
        )
        assert login.status_code == 401
