"""The fleet page (``GET /``) in Debian's headless Chromium, driven by Playwright, against a real router on real
SQLite and PostgreSQL: it loads with no console errors, and its numbers are the API's (``/v1/clusters/{id}``'s
headroom and snapshot, ``/v1/forecast``'s rows, the placements made). With ``--protect-select`` it needs a token."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from placement.router.forecasts import ForecastOrder, ForecastRow, forecast_engine
from placement.units import human_bytes
from tests.router.conftest import AUTH, TOKEN, LiveRouter, cluster_body, load_body
from tests.router.forecast_data import publish


def forecast_rows(http: httpx.Client, cluster_ids: list[str]) -> list[ForecastRow]:
    """A forecast for the router's clusters over the limits its headroom names, as the forecast writes them."""
    rows = []
    for number, cluster_id in enumerate(cluster_ids):
        view = http.get(f"/v1/clusters/{cluster_id}").json()
        for index, limit in enumerate(view["headroom"]):
            binds = index % 3 != 2  # some limits do not bind within the horizon
            p10 = 20.0 + 10 * index + number
            rows.append(
                ForecastRow(
                    cluster_id,
                    limit["limit"],
                    "bytes" if "bytes" in limit["limit"] else "count",
                    max(limit["used"], 0),
                    limit["capacity"],
                    p10 if binds else None,
                    p10 + 15.5 if binds else None,
                    p10 + 40.25 if binds and index % 2 else None,
                    p10 - 14 if binds else None,
                    "add run node" if binds else None,
                    14.0,
                )
            )
    return rows


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def fleet(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    """A protected router with three clusters (one without a snapshot), placements and a published forecast."""
    from tests.router.conftest import live_router_on

    tmp = tmp_path_factory.mktemp("page")
    with live_router_on(request.param, tmp) as (plain, db):
        plain.stop()  # the same database, served with --protect-select
        router = LiveRouter(db, tmp, extra_args=("--protect-select",))
        try:
            with httpx.Client(base_url=router.base_url, timeout=30, headers=AUTH) as http:
                now = datetime.now(UTC)
                fleet = [
                    (cluster_body("eu-west-1"), load_body(observed_at=now - timedelta(minutes=3))),
                    (cluster_body("eu-west-2", provider="rook-ceph"), load_body(observed_at=now, ctrl="CX32")),
                    (cluster_body("us-east-1", region="us-east"), None),
                ]
                for cluster, load in fleet:
                    assert http.post("/v1/clusters", json=cluster).status_code == 201
                    if load is not None:
                        assert http.put(f"/v1/clusters/{cluster['id']}/load", json=load).is_success
                services = []
                for number in range(4):
                    request_ = {"customer_id": f"c{number}", "region": "eu-west", "has_volume": number % 2 == 0}
                    body = {"request_id": f"req-{number}", "service_name": f"web-{number}", "request": request_}
                    answer = http.post("/v1/placements", json=body)
                    assert answer.status_code == 201, answer.text
                    services.append(answer.json())
                assert http.delete(f"/v1/placements/{services[0]['service_id']}").status_code == 200
                engine = forecast_engine(db)
                try:
                    rows = forecast_rows(http, ["eu-west-1", "eu-west-2"])
                    said = (
                        "cluster eu-west-1: the model starts it at 285 etcd objects where its snapshot measured "
                        "230 etcd objects (...): its dates for this limit are early <early>",
                    )
                    orders = [
                        ForecastOrder("eu-west-2", "run nodes", 0.9, 1.5, 3.0, None, 14.0, "pods per run node"),
                        ForecastOrder("eu-west-2", "control-plane upgrade", 0.0, None, None, None, 1.0, None),
                        # A region's new cluster (``sim.forecast.orders.region_row``): on no cluster's section.
                        ForecastOrder(
                            "us-east (region)", "a new cluster in us-east", 0.5, 20.0, 41.0, None, 30.0,
                            "a region's demand (its customers had no open cluster nearby)",
                        ),
                        ForecastOrder(
                            "ap-south (region)", "a new cluster in ap-south", 0.0, None, None, None, 30.0, None
                        ),
                    ]  # fmt: skip
                    publish(engine, rows=rows, created_at=now - timedelta(hours=1), warnings=said, orders=orders)
                finally:
                    engine.dispose()
            yield router, services
        finally:
            router.stop()


def test_the_page_needs_a_token_with_protect_select(fleet):
    router, _services = fleet
    assert httpx.get(f"{router.base_url}/", timeout=10).status_code == 401
    assert "Basic" in httpx.get(f"{router.base_url}/", timeout=10).headers["www-authenticate"]
    assert httpx.get(f"{router.base_url}/", auth=("planner", "wrong"), timeout=10).status_code == 403
    assert httpx.get(f"{router.base_url}/", headers={"Authorization": "Basic !!"}, timeout=10).status_code == 401
    assert httpx.get(f"{router.base_url}/", headers=AUTH, timeout=10).status_code == 200
    answer = httpx.get(f"{router.base_url}/", auth=("planner", TOKEN), timeout=10)
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/html")


def test_the_page_is_open_without_protect_select(tmp_path):
    router = LiveRouter(f"sqlite:///{tmp_path / 'router.db'}", tmp_path)
    try:
        answer = httpx.get(f"{router.base_url}/", timeout=10)
        assert answer.status_code == 200
        assert "No clusters yet" in answer.text and "No forecast has been published yet" in answer.text
        assert httpx.post(f"{router.base_url}/", timeout=10).status_code == 405  # read-only
    finally:
        router.stop()


def cells(page, selector: str) -> list[dict]:
    return page.eval_on_selector_all(
        selector,
        """rows => rows.map(row => ({cluster: row.dataset.cluster, limit: row.dataset.limit,
            cells: Object.fromEntries([...row.querySelectorAll('td[data-field]')].map(
                td => [td.dataset.field, {value: td.dataset.value ?? null, text: td.innerText}]))}))""",
    )


def test_the_page_renders_cleanly_and_its_numbers_are_the_apis(browser, fleet):
    router, services = fleet
    context = browser.new_context(http_credentials={"username": "planner", "password": TOKEN})
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    assert page.goto(f"{router.base_url}/").status == 200
    page.wait_for_load_state("load")
    assert problems == []

    with httpx.Client(base_url=router.base_url, timeout=30) as http:
        clusters = [cluster["id"] for cluster in http.get("/v1/clusters").json()]
        views = {cluster_id: http.get(f"/v1/clusters/{cluster_id}").json() for cluster_id in clusters}
        forecast = http.get("/v1/forecast").json()

    # Every cluster's headroom against every limit, as /v1/clusters/{id} gives it.
    assert page.eval_on_selector_all("section[id^=cluster-]", "s => s.map(e => e.dataset.cluster)") == clusters
    for cluster_id, view in views.items():
        shown = cells(page, f'section[data-cluster="{cluster_id}"] table:first-of-type tr[data-limit]')
        assert [row["limit"] for row in shown] == [row["limit"] for row in view["headroom"]]
        for row, expected in zip(shown, view["headroom"], strict=True):
            for field in ("used", "capacity", "free"):
                value = expected[field]
                cell = row["cells"][field]
                assert cell["value"] == (None if value is None else str(value)), (cluster_id, row["limit"], field)
                if value is not None and "bytes" in row["limit"]:
                    assert cell["text"] == human_bytes(value)
                elif value is not None:
                    assert int(cell["text"].replace(",", "")) == value
        observed = page.get_attribute(f'section[data-cluster="{cluster_id}"] [data-field="observed_at"]', "data-value")
        assert observed == (view["load"]["observed_at"] if view["load"] else "")
        if view["load"] is None:
            assert "no snapshot" in page.inner_text(f'section[data-cluster="{cluster_id}"] p')

    # The forecast's bands and order-by days, as /v1/forecast gives them.
    assert page.get_attribute("#forecast", "data-forecast-id") == str(forecast["id"])
    # What its numbers rest on, as /v1/forecast says it (escaped, not markup).
    assert (
        page.eval_on_selector_all("#forecast-warnings li", "items => items.map(e => e.textContent)")
        == forecast["warnings"]
    )
    assert forecast["warnings"] and forecast["warnings"][0].endswith("<early>")
    shown = {(row["cluster"], row["limit"]): row["cells"] for row in cells(page, "section table tr[data-limit]")
             if "p50_days" in row["cells"]}  # fmt: skip
    assert set(shown) == {(row["cluster"], row["limit"]) for row in forecast["rows"]}
    for row in forecast["rows"]:
        cell = shown[(row["cluster"], row["limit"])]
        for field in ("p10_days", "p50_days", "p90_days", "order_by_days", "lead_days"):
            expected = row[field]
            assert (None if cell[field]["value"] is None else float(cell[field]["value"])) == expected, field
        if row["p50_days"] is None:
            assert cell["p50_days"]["text"] == "not within horizon"
        else:
            assert cell["p50_days"]["text"] == f"{row['p50_days']:.1f} d ({row['p50_date'][:10]})"
        assert cell["action"]["text"] == (row["action"] or "—")
    assert "Not in the latest forecast" in page.inner_text('section[data-cluster="us-east-1"]')
    # The operator's orders some run placed, as /v1/forecast gives them (none it never placed).
    placed = [order for order in forecast["orders"] if order["runs_ordering"] > 0]
    rows = page.eval_on_selector_all(
        "tr[data-order]",
        """rows => rows.map(row => ({cluster: row.dataset.cluster, order: row.dataset.order,
            cells: Object.fromEntries([...row.querySelectorAll('td[data-field]')].map(
                td => [td.dataset.field, td.dataset.value ?? null]))}))""",
    )
    # Each cluster's in its section, then the regions' new clusters: the API's order within each.
    placed.sort(key=lambda order: (order["cluster"].endswith("(region)"), order["cluster"], order["order"]))
    assert [(row["cluster"], row["order"]) for row in rows] == [(o["cluster"], o["order"]) for o in placed]
    assert "a new cluster in us-east" in page.inner_text('section[data-cluster="us-east (region)"]')
    assert page.locator('section[data-cluster="ap-south (region)"]').count() == 0  # no run ordered it
    for row, order in zip(rows, placed, strict=True):
        for field in ("runs_ordering", "p10_days", "p50_days", "p90_days", "lead_days"):
            value = row["cells"][field]
            assert (None if value is None else float(value)) == order[field], field
        assert row["cells"]["limit"] == order["limit"]

    # The recent decisions: every placement, newest first, the released one marked.
    decisions = cells(page, "#decisions tr[data-service]")
    placed = {service["service_id"]: service for service in services}
    assert {row["cells"]["service_id"]["text"] for row in decisions} == set(placed)
    for row in decisions:
        service = placed[row["cells"]["service_id"]["text"]]
        assert row["cells"]["cluster_id"]["text"] == service["cluster_id"]
        released = row["cells"]["released_at"]["text"]
        assert (released != "active") == (service is services[0])
    context.close()
