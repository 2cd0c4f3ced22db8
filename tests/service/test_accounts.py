"""Accounts on (SAAS_REQUIRE_AUTH=true): sessions, token rules, ownership, quotas, limits."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
from fastapi.testclient import TestClient

from deepshield.engine.analyze import Analyzer
from deepshield.service.app import create_app
from tests.service.conftest import make_settings, wait_for

SECRET = "s" * 40
PASSWORD = "correct horse battery"


def auth_settings(data_dir: Path, **extra: Any) -> Any:
    return make_settings(
        data_dir,
        SAAS_REQUIRE_AUTH=True,
        SAAS_JWT_SECRET=SECRET,
        SAAS_RETURN_TOKEN_IN_BODY=True,
        SAAS_AUTH_COOKIE_SECURE=False,
        **extra,
    )


@pytest.fixture
def app_client(data_dir: Path, shared_analyzer: Analyzer) -> Iterator[TestClient]:
    with TestClient(create_app(auth_settings(data_dir), analyzer=shared_analyzer)) as client:
        yield client


def register(client: TestClient, email: str) -> dict[str, Any]:
    response = client.post("/api/auth/register", json={"email": email, "password": PASSWORD})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_register_then_me_by_cookie_and_by_bearer(app_client: TestClient) -> None:
    body = register(app_client, "Ana@Example.org")
    assert body["user"]["email"] == "ana@example.org" and body["user"]["tier"] == "free"
    cookie = app_client.cookies.get("deepshield_session")
    assert cookie == body["access_token"]
    set_cookie = app_client.post(
        "/api/auth/login", json={"email": "ana@example.org", "password": PASSWORD}
    ).headers["set-cookie"]
    assert "HttpOnly" in set_cookie and "SameSite=lax" in set_cookie
    assert app_client.get("/api/auth/me").json()["email"] == "ana@example.org"  # cookie
    token = body["access_token"]
    app_client.cookies.clear()
    assert app_client.get("/api/auth/me").status_code == 401
    me = app_client.get("/api/auth/me", headers=bearer(token)).json()
    assert (
        me["email"] == "ana@example.org"
        and me["daily_upload_limit"] == 20
        and me["uploads_today"] == 0
    )


def forged(payload: dict[str, Any], secret: str = SECRET, algorithm: str = "HS256") -> str:
    return jwt.encode(payload, secret, algorithm=algorithm)


def test_forged_and_expired_tokens_are_refused(app_client: TestClient) -> None:
    body = register(app_client, "bo@example.org")
    app_client.cookies.clear()
    claims = jwt.decode(body["access_token"], SECRET, algorithms=["HS256"])
    now = datetime.now(UTC)
    header = (
        base64.urlsafe_b64encode(json.dumps({"alg": "none", "typ": "JWT"}).encode())
        .rstrip(b"=")
        .decode()
    )
    payload = base64.urlsafe_b64encode(json.dumps({**claims}).encode()).rstrip(b"=").decode()
    tokens = {
        "alg-none": f"{header}.{payload}.",
        "other-secret": forged(claims, secret="x" * 40),
        "expired": forged({**claims, "exp": now - timedelta(minutes=1)}),
        "no-exp": forged({k: v for k, v in claims.items() if k != "exp"}),
        "hs512": forged(claims, secret=SECRET * 2, algorithm="HS512"),
        "garbage": "not.a.token",
    }
    for name, token in tokens.items():
        response = app_client.get("/api/auth/me", headers=bearer(token))
        assert response.status_code == 401, name
        assert response.json()["error"]["error_code"] == "INVALID_TOKEN", name
    assert app_client.get("/api/auth/me", headers=bearer(body["access_token"])).status_code == 200


def test_logout_makes_the_old_token_useless(app_client: TestClient) -> None:
    token = register(app_client, "cy@example.org")["access_token"]
    assert app_client.post("/api/auth/logout", headers=bearer(token)).status_code == 204
    response = app_client.get("/api/auth/me", headers=bearer(token))
    assert response.status_code == 401 and response.json()["error"]["error_code"] == "SESSION_ENDED"


def test_login_does_not_reveal_which_accounts_exist(app_client: TestClient) -> None:
    register(app_client, "di@example.org")
    wrong_password = app_client.post(
        "/api/auth/login", json={"email": "di@example.org", "password": "x" * 12}
    )
    unknown = app_client.post(
        "/api/auth/login", json={"email": "nobody@example.org", "password": "x" * 12}
    )
    assert wrong_password.status_code == unknown.status_code == 401
    assert wrong_password.json()["error"] == unknown.json()["error"]

    def timed(email: str) -> float:
        start = time.perf_counter()
        app_client.post("/api/auth/login", json={"email": email, "password": "y" * 12})
        return time.perf_counter() - start

    known = sorted(timed("di@example.org") for _ in range(3))[1]
    missing = sorted(timed(f"ghost{i}@example.org") for i in range(3))[1]
    assert missing > known / 3  # both pay one argon2 verification; no fast path for unknown emails


@pytest.mark.parametrize(
    ("email", "password", "code"),
    [
        ("not-an-email", PASSWORD, "VALIDATION_ERROR"),
        ("ed@example.org", "short", "WEAK_PASSWORD"),
        ("ed@example.org", "x" * 129, "WEAK_PASSWORD"),
    ],
)
def test_registration_rules(app_client: TestClient, email: str, password: str, code: str) -> None:
    response = app_client.post("/api/auth/register", json={"email": email, "password": password})
    assert response.status_code == 422 and response.json()["error"]["error_code"] == code


def test_duplicate_email(app_client: TestClient) -> None:
    register(app_client, "fa@example.org")
    again = app_client.post(
        "/api/auth/register", json={"email": "FA@example.org", "password": PASSWORD}
    )
    assert again.status_code == 409 and again.json()["error"]["error_code"] == "EMAIL_TAKEN"


def test_login_attempts_are_rate_limited(app_client: TestClient) -> None:
    register(app_client, "gu@example.org")
    statuses = [
        app_client.post(
            "/api/auth/login", json={"email": "gu@example.org", "password": "wrong-password"}
        ).status_code
        for _ in range(12)
    ]
    assert statuses[:10] == [401] * 10 and statuses[10:] == [429, 429]
    limited = app_client.post(
        "/api/auth/login", json={"email": "gu@example.org", "password": PASSWORD}
    )
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) > 0


def test_anonymous_requests_to_protected_routes_get_401(
    app_client: TestClient, photo_bytes: bytes
) -> None:
    for method, url in (
        ("post", "/api/analyze-image"),
        ("get", "/api/results/" + "0" * 32),
        ("get", "/api/jobs/me"),
        ("get", "/api/auth/me"),
        ("delete", "/api/jobs/" + "0" * 32),
    ):
        kwargs: dict[str, Any] = (
            {"files": {"file": ("a.jpg", photo_bytes)}} if method == "post" else {}
        )
        response = getattr(app_client, method)(url, **kwargs)
        assert response.status_code == 401, url
        assert response.json()["error"]["error_code"] == "UNAUTHENTICATED"
    assert app_client.get("/api/health").status_code == 200  # operations stay public


def test_another_users_job_answers_404(app_client: TestClient, photo_bytes: bytes) -> None:
    alice = register(app_client, "al@example.org")["access_token"]
    bob = register(app_client, "bo2@example.org")["access_token"]
    app_client.cookies.clear()
    job_id = app_client.post(
        "/api/analyze-image", files={"file": ("a.jpg", photo_bytes)}, headers=bearer(alice)
    ).json()["job_id"]
    app_client.headers.update(bearer(alice))
    body = wait_for(app_client, job_id)
    heatmap = body["result"]["top_k_suspicious"][0]["heatmap_overlay_url"]
    app_client.headers.update(bearer(bob))
    for url in (
        f"/api/results/{job_id}",
        f"/api/results/{job_id}/events",
        heatmap,
        body["result"]["report_url"],
    ):
        response = app_client.get(url)
        assert (
            response.status_code == 404
            and response.json()["error"]["error_code"] == "JOB_NOT_FOUND"
        ), url
    assert app_client.delete(f"/api/jobs/{job_id}").status_code == 404
    assert app_client.get("/api/jobs/me").json() == []
    app_client.headers.update(bearer(alice))
    assert [job["job_id"] for job in app_client.get("/api/jobs/me").json()] == [job_id]
    assert app_client.get(heatmap).status_code == 200


def test_free_quota_holds_under_25_concurrent_uploads(
    data_dir: Path, shared_analyzer: Analyzer, photo_bytes: bytes
) -> None:
    settings = auth_settings(data_dir, SAAS_FREE_DAILY_UPLOADS=20)
    with TestClient(create_app(settings, analyzer=shared_analyzer)) as client:
        token = register(client, "quota@example.org")["access_token"]
        client.cookies.clear()

        def upload(i: int) -> int:
            return client.post(
                "/api/analyze-image",
                files={"file": (f"{i}.jpg", photo_bytes)},
                headers=bearer(token),
            ).status_code

        with ThreadPoolExecutor(max_workers=25) as pool:
            statuses = list(pool.map(upload, range(25)))
        assert sorted(statuses) == [202] * 20 + [429] * 5
        jobs = client.get("/api/jobs/me?limit=100", headers=bearer(token)).json()
        assert len(jobs) == 20
        me = client.get("/api/auth/me", headers=bearer(token)).json()
        assert me["uploads_today"] == 20
        refused = client.post(
            "/api/analyze-image", files={"file": ("x.jpg", photo_bytes)}, headers=bearer(token)
        )
        assert (
            refused.json()["error"]["error_code"] == "QUOTA_EXCEEDED"
            and int(refused.headers["retry-after"]) > 0
        )
        # a rejected (invalid) upload is not counted even when the quota is not yet reached
        assert sum(client.app.state.services.job_counts().values()) == 20  # type: ignore[attr-defined]


def test_rejected_uploads_do_not_count(app_client: TestClient, photo_bytes: bytes) -> None:
    token = register(app_client, "hu@example.org")["access_token"]
    assert (
        app_client.post(
            "/api/analyze-image", files={"file": ("a.jpg", b"not an image")}, headers=bearer(token)
        ).status_code
        == 415
    )
    assert (
        app_client.post(
            "/api/analyze-image", files={"file": ("a.jpg", photo_bytes)}, headers=bearer(token)
        ).status_code
        == 202
    )
    assert app_client.get("/api/auth/me", headers=bearer(token)).json()["uploads_today"] == 1


def test_accounts_off_keeps_account_routes_closed(client: TestClient) -> None:
    response = client.post("/api/auth/login", json={"email": "a@example.org", "password": PASSWORD})
    assert (
        response.status_code == 404
        and response.json()["error"]["error_code"] == "ACCOUNTS_DISABLED"
    )
    assert client.get("/api/jobs/me").status_code == 404


def test_outdated_password_hash_is_upgraded_at_login(app_client: TestClient) -> None:
    from argon2 import PasswordHasher

    from deepshield.db import accounts
    from deepshield.db.session import session_scope

    services = app_client.app.state.services  # type: ignore[attr-defined]
    weak = PasswordHasher(time_cost=1, memory_cost=8192).hash(PASSWORD)
    with session_scope(services.sessions) as session:
        accounts.create_user(session, email="old@example.org", password_hash=weak)
    response = app_client.post(
        "/api/auth/login", json={"email": "old@example.org", "password": PASSWORD}
    )
    assert response.status_code == 200
    with session_scope(services.sessions) as session:
        user = accounts.get_user_by_email(session, email="old@example.org")
        assert user is not None and user.password_hash != weak
        assert not PasswordHasher().check_needs_rehash(user.password_hash)
        assert PasswordHasher().verify(user.password_hash, PASSWORD)
