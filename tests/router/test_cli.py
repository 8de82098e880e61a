"""``placement serve`` options and settings: tokens from the environment and a file, bad --db."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from typer.testing import CliRunner

from placement.cli import app
from placement.router.auth import token_matches
from placement.router.config import settings_from_env
from tests.router.conftest import AUTH, LiveRouter, cluster_body, load_body


def test_tokens_from_env_and_file(tmp_path):
    tokens_file = tmp_path / "tokens"
    tokens_file.write_text("# router tokens\nfrom-file\n\n  spaced  \n")
    settings = settings_from_env(
        "x.db", tokens_file, None, environ={"CAPPLAN_TOKENS": "a, b,,a", "CAPPLAN_PROTECT_SELECT": "1"}
    )
    assert [t.token.get_secret_value() for t in settings.tokens] == ["a", "b", "from-file", "spaced"]
    assert settings.protect_select is True
    assert token_matches("from-file", settings.tokens)
    assert not token_matches("from-fil", settings.tokens)
    assert "from-file" not in repr(settings)  # secrets stay out of logs
    assert settings_from_env(environ={}).protect_select is False


def test_serve_rejects_an_unreachable_database_and_a_missing_tokens_file(tmp_path):
    runner = CliRunner()
    result = runner.invoke(app, ["serve", "--db", "postgresql://postgres@127.0.0.1:1/test", "--port", "0"])
    assert result.exit_code == 2
    assert "cannot open" in result.output
    result = runner.invoke(app, ["serve", "--db", str(tmp_path / "r.db"), "--tokens-file", str(tmp_path / "none")])
    assert result.exit_code == 2
    assert "--tokens-file" in result.output


def test_serve_needs_at_least_one_worker(tmp_path):
    result = CliRunner().invoke(app, ["serve", "--db", str(tmp_path / "r.db"), "--workers", "0"])
    assert result.exit_code == 2
    assert "--workers" in result.output
    assert not (tmp_path / "r.db").exists()  # refused before anything was opened


def test_clock_skew_setting_from_env_flag_and_through_real_serve(tmp_path):
    assert settings_from_env(environ={}).max_clock_skew_seconds == 300
    assert settings_from_env(environ={"CAPPLAN_MAX_CLOCK_SKEW_SECONDS": "30"}).max_clock_skew_seconds == 30
    flag_wins = settings_from_env(environ={"CAPPLAN_MAX_CLOCK_SKEW_SECONDS": "30"}, max_clock_skew_seconds=5)
    assert flag_wins.max_clock_skew_seconds == 5
    with pytest.raises(ValueError, match="CAPPLAN_MAX_CLOCK_SKEW_SECONDS"):
        settings_from_env(environ={"CAPPLAN_MAX_CLOCK_SKEW_SECONDS": "soon"})
    result = CliRunner().invoke(app, ["serve", "--db", str(tmp_path / "r.db"), "--max-clock-skew", "-1"])
    assert result.exit_code == 2
    assert "--max-clock-skew" in result.output

    # Real serve with a 60 s skew: an hour ahead is refused, a minute behind is taken.
    router = LiveRouter(str(tmp_path / "live.db"), tmp_path, extra_env={"CAPPLAN_MAX_CLOCK_SKEW_SECONDS": "60"})
    try:
        with httpx.Client(base_url=router.base_url, timeout=30) as http:
            assert http.post("/v1/clusters", json=cluster_body("skew-1"), headers=AUTH).status_code == 201
            now = datetime.now(UTC)
            ahead = http.put(
                "/v1/clusters/skew-1/load", json=load_body(observed_at=now + timedelta(hours=1)), headers=AUTH
            )
            assert ahead.status_code == 422
            assert "more than 60 s ahead" in ahead.json()["detail"][0]["msg"]
            behind = http.put(
                "/v1/clusters/skew-1/load", json=load_body(observed_at=now - timedelta(minutes=1)), headers=AUTH
            )
            assert behind.status_code == 200
    finally:
        router.stop()
