"""``placement serve`` options and settings: tokens from the environment and a file, bad --db."""

from __future__ import annotations

from typer.testing import CliRunner

from placement.cli import app
from placement.router.auth import token_matches
from placement.router.config import settings_from_env


def test_tokens_from_env_and_file(tmp_path):
    tokens_file = tmp_path / "tokens"
    tokens_file.write_text("# router tokens\nfrom-file\n\n  spaced  \n")
    settings = settings_from_env(
        "x.db", tokens_file, None, environ={"CAPPLAN_TOKENS": "a, b,,a", "CAPPLAN_PROTECT_SELECT": "1"}
    )
    assert [t.get_secret_value() for t in settings.tokens] == ["a", "b", "from-file", "spaced"]
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
