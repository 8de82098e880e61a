"""Token roles: ``collector`` puts load, ``api`` places and releases, ``admin`` manages clusters; over real HTTP.

A token configured without a role keeps full access, and ``placement serve`` warns about it at start-up.
"""

from __future__ import annotations

import httpx
import pytest

from placement.router.config import (
    RouterSettings,
    parse_token_lines,
    read_settings_file,
    settings_from_env,
    write_settings_file,
)
from tests.router.conftest import LiveRouter, cluster_body, load_body

ROLE_TOKENS = {"collector": "tok-collector", "api": "tok-api", "admin": "tok-admin"}


def grants_by_token(settings: RouterSettings) -> dict[str, frozenset[str] | None]:
    return {grant.token.get_secret_value(): grant.roles for grant in settings.tokens}


def test_token_lines_in_the_environment_and_the_file(tmp_path):
    tokens_file = tmp_path / "tokens"
    tokens_file.write_text("# router tokens\ntok-admin admin\n  tok-both   api, collector \nlegacy-1\n\n")
    env = {"CAPPLAN_TOKENS": "tok-collector collector;tok-api api\nold-a,old-b"}
    settings = settings_from_env("x.db", tokens_file, None, environ=env)
    assert grants_by_token(settings) == {
        "tok-collector": frozenset({"collector"}),
        "tok-api": frozenset({"api"}),
        "old-a": None,
        "old-b": None,
        "tok-admin": frozenset({"admin"}),
        "tok-both": frozenset({"api", "collector"}),
        "legacy-1": None,
    }
    assert settings.roleless_tokens() == 3
    assert "tok-admin" not in repr(settings)
    # The same token on two lines has both lines' roles; a line without roles gives it every role.
    merged = settings_from_env(environ={"CAPPLAN_TOKENS": "t api;t admin;u api;u"})
    assert grants_by_token(merged) == {"t": frozenset({"api", "admin"}), "u": None}


@pytest.mark.parametrize("line", ["secret-token apii", "secret-token api,root", "secret-token ,"])
def test_an_unknown_role_is_refused_naming_the_line_not_the_token(line):
    with pytest.raises(ValueError, match=r"CAPPLAN_TOKENS line 2: unknown role") as error:
        parse_token_lines(f"ok api\n{line}", "CAPPLAN_TOKENS")
    assert "secret-token" not in str(error.value)


def test_roles_survive_the_settings_file_workers_read(tmp_path):
    settings = RouterSettings(tokens=("a api,admin", "b"))
    write_settings_file(settings, tmp_path / "settings.json")
    read_back = read_settings_file(tmp_path / "settings.json")
    assert grants_by_token(read_back) == {"a": frozenset({"api", "admin"}), "b": None}


def calls() -> dict[str, tuple[str, str, dict | None]]:
    """One call per endpoint that needs a role, keyed by that role's name and the endpoint."""
    placement = {"request_id": "r-roles", "service_name": "s", "request": {"customer_id": "c", "ram": "1Gi"}}
    return {
        "api:place": ("POST", "/v1/placements", placement),
        "api:release": ("DELETE", "/v1/placements/no-such-service", None),
        "admin:add": ("POST", "/v1/clusters", cluster_body("roles-2")),
        "admin:status": ("PATCH", "/v1/clusters/roles-1", {"status": "active"}),
        "collector:load": ("PUT", "/v1/clusters/roles-1/load", load_body(observed_at=None)),
    }


def test_each_role_reaches_only_its_endpoints_and_a_roleless_token_reaches_all(tmp_path):
    tokens_file = tmp_path / "tokens"
    tokens_file.write_text("tok-admin admin\ntok-legacy\n")
    env = {"CAPPLAN_TOKENS": "tok-collector collector;tok-api api", "CAPPLAN_PROTECT_SELECT": "1"}
    router = LiveRouter(str(tmp_path / "roles.db"), tmp_path, env, extra_args=("--tokens-file", str(tokens_file)))
    try:
        log = router.log_path.read_text()
        assert "1 bearer token(s) without a role have full access" in log
        assert "tok-legacy" not in log
        with httpx.Client(base_url=router.base_url, timeout=30) as http:

            def call(name: str, token: str | None) -> httpx.Response:
                method, path, body = calls()[name]
                headers = {"Authorization": f"Bearer {token}"} if token else {}
                return http.request(method, path, json=body, headers=headers)

            legacy = "tok-legacy"
            assert call("admin:add", "tok-admin").status_code == 201
            http.post("/v1/clusters", json=cluster_body("roles-1"), headers={"Authorization": f"Bearer {legacy}"})
            for name in calls():
                needed = name.split(":")[0]
                for role, token in ROLE_TOKENS.items():
                    answer = call(name, token)
                    if role == needed:
                        assert answer.status_code not in (401, 403), (name, role, answer.text)
                    else:
                        assert answer.status_code == 403, (name, role, answer.text)
                        assert answer.json()["detail"] == f"this token does not have the {needed!r} role"
                assert call(name, legacy).status_code not in (401, 403), name
                assert call(name, "tok-unknown").json()["detail"] == "invalid bearer token"
                assert call(name, None).status_code == 401
            # select-cluster, protected here, only decides: any known token may ask.
            ask = {"customer_id": "c", "ram": "1Gi"}
            for token in [*ROLE_TOKENS.values(), legacy]:
                answer = http.post("/v1/select-cluster", json=ask, headers={"Authorization": f"Bearer {token}"})
                assert answer.status_code == 200, token
            assert http.post("/v1/select-cluster", json=ask).status_code == 401
            # Reads need no token.
            assert http.get("/v1/clusters/roles-1").status_code == 200
    finally:
        router.stop()


def test_a_bearer_check_keeps_only_the_header_values_it_admitted():
    from placement.router.auth import ADMITTED, BearerRole

    grants = parse_token_lines("tok-api api\ntok-collector collector\nlegacy", "test")
    check = BearerRole(grants, "api")
    for _ in range(2):  # the second time from what it kept, with the same answers
        assert check.admits("Bearer tok-api")
        assert check.admits("bearer legacy")  # a token without roles has them all
        assert not check.admits("Bearer tok-collector")  # known, without the role
        assert not check.admits("Bearer tok-wrong")
        assert not check.admits("Basic tok-api")
        assert not check.admits(None)
    assert set(check._admitted) == {"Bearer tok-api", "bearer legacy"}
    for n in range(ADMITTED + 10):  # at most ADMITTED values kept, and the rest still checked
        assert check.admits(f"Bearer{' ' * (n + 1)}tok-api")
    assert len(check._admitted) == ADMITTED
    assert check.admits(f"Bearer{' ' * (ADMITTED + 5)}tok-api")
