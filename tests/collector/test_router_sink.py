"""``RouterSink`` through its httpx transport seam: what it PUTs, and how refusals and outages become errors."""

from __future__ import annotations

import json

import httpx
import pytest

from placement.collector.sinks import DeliveryError, RouterSink
from placement.collector.snapshot import Snapshot
from placement.state import ClusterLoadIn

LOAD = ClusterLoadIn(
    observed_at="2026-03-01T12:00:00Z",
    run_nodes=[{"name": "run-1", "allocatable_ram": "250Gi", "requested_ram": "10Gi", "pods": 12}],
    ctrl_node_type="CX32",
    volumes=3,
    services=7,
    customers=4,
    pods=12,
    etcd_objects=321,
)
# The sink sends the load only, so the inventory is not needed here.
SNAPSHOT = Snapshot.model_construct(cluster_id="eu-west-1", load=LOAD, inventory=None)


def sink_answering(handler) -> RouterSink:
    return RouterSink("http://router.test/", "s3cret", transport=httpx.MockTransport(handler))


def test_puts_the_load_with_the_token_and_says_where():
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"cluster_id": "eu-west-1"})

    sink = sink_answering(handler)
    assert sink.write(SNAPSHOT) == "router http://router.test/v1/clusters/eu-west-1/load"
    sink.close()
    (request,) = seen
    assert request.method == "PUT" and request.url.path == "/v1/clusters/eu-west-1/load"
    assert request.headers["authorization"] == "Bearer s3cret"
    body = json.loads(request.content)
    assert ClusterLoadIn.model_validate(body).to_model() == LOAD.to_model()
    assert body["run_nodes"][0]["allocatable_ram"] == 250 * 1024**3  # sizes go as whole bytes


@pytest.mark.parametrize(
    ("response", "message"),
    [
        (httpx.Response(422, json={"detail": "observed_at is in the future"}), "-> 422: observed_at is in the future"),
        (httpx.Response(404, json={"detail": "unknown cluster 'eu-west-1'"}), "-> 404: unknown cluster"),
        (httpx.Response(503, text="upstream down"), "-> 503: upstream down"),
    ],
)
def test_a_refusal_is_a_delivery_error_with_the_routers_reason(response, message):
    sink = sink_answering(lambda request: response)
    with pytest.raises(DeliveryError, match="router refused the load") as error:
        sink.write(SNAPSHOT)
    assert message in str(error.value)


def test_an_unreachable_router_is_a_delivery_error():
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    with pytest.raises(DeliveryError, match=r"router unreachable: PUT http://router.test/v1/clusters/eu-west-1/load"):
        sink_answering(handler).write(SNAPSHOT)
