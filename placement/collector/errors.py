"""Collection failures, phrased so that an operator knows what to fix.

A failed collection raises ``CollectError`` and nothing is written: the previous snapshot stays in place and
the router's staleness rule takes over.
"""

from __future__ import annotations

import json

import urllib3
from kubernetes.client.exceptions import ApiException

from placement.collector.resources import Resource

RBAC_MANIFEST = "deploy/collector-rbac.yaml"


class CollectError(RuntimeError):
    """A collection that could not finish. The message says what failed and, where known, what to do."""


class MissingResource(CollectError):
    """The API server does not serve a custom resource (404): its CRD is not installed."""


def _server_message(exc: ApiException) -> str:
    """The ``message`` of the API server's Status body, or the HTTP reason."""
    try:
        body = json.loads(exc.body or "")
    except (TypeError, ValueError):
        body = None
    if isinstance(body, dict) and body.get("message"):
        return str(body["message"])
    return str(exc.reason or "").strip() or "no detail"


def from_api_exception(exc: ApiException, resource: Resource, verb: str = "list") -> CollectError:
    """Translate an HTTP error answer for ``verb`` on ``resource`` at cluster scope."""
    status = exc.status or 0
    detail = _server_message(exc)
    what = f"{verb} {resource.plural} ({resource.group_version}) at cluster scope"
    if status == 403:
        return CollectError(
            f"forbidden: {what}; grant it to the collector's ServiceAccount ({RBAC_MANIFEST}). Server: {detail}"
        )
    if status == 401:
        return CollectError(f"unauthorized: the API server rejected the kubeconfig's credentials ({what}): {detail}")
    if status == 404 and resource.custom:
        return MissingResource(
            f"{resource.kind} CRD missing: the API server has no {resource.plural}.{resource.group}/{resource.version} "
            f"(404 on {resource.path}); is the storage provider its storage classes name ({resource.group}) installed, "
            "or does --storage-provider name another?"
        )
    if status == 404:
        return CollectError(f"not found: {what} (404 on {resource.path}): {detail}")
    if status >= 500:
        return CollectError(f"API server error {status} on {what}: {detail}")
    if status == 0:
        return CollectError(f"cannot reach the API server ({what}): {detail}")
    return CollectError(f"unexpected answer {status} on {what}: {detail}")


def is_timeout(exc: BaseException) -> bool:
    """Whether a transport failure is a timeout (urllib3 wraps the cause in ``reason``)."""
    reason = getattr(exc, "reason", None) or exc
    # NewConnectionError derives from ConnectTimeoutError in urllib3, but a refused connection is no timeout.
    timed_out = isinstance(reason, urllib3.exceptions.TimeoutError | TimeoutError)
    return timed_out and not isinstance(reason, urllib3.exceptions.NewConnectionError)


def from_transport_error(exc: BaseException, resource: Resource, host: str) -> CollectError:
    """Translate a failure below HTTP: refused connection, DNS failure, TLS failure or a broken connection."""
    reason = getattr(exc, "reason", None) or exc
    return CollectError(
        f"unreachable: cannot connect to the API server at {host} (list {resource.plural} "
        f"({resource.group_version})): {reason}"
    )


def deadline_error(resource: Resource, host: str, seconds: float, bound: str) -> CollectError:
    """A request that did not finish (connect, headers and whole body) within its deadline."""
    return CollectError(
        f"timeout: the API server at {host} did not answer list {resource.plural} ({resource.group_version}) "
        f"within {seconds:.3g}s ({bound})"
    )


def malformed_answer(resource: Resource, problem: str) -> CollectError:
    """A 200 answer that is not the list asked for: a proxy's error page, another kind, items that are not objects."""
    return CollectError(f"malformed answer to list {resource.plural} ({resource.group_version}): {problem}")
