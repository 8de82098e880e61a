"""Reading a cluster through the official ``kubernetes`` client, one page at a time.

Lists are paged with ``limit`` and ``_continue`` and folded into an accumulator as they arrive, so memory
holds one page plus whatever the accumulator keeps, never the whole list. Pages are decoded as plain JSON
(``_preload_content=False``) rather than into the client's model classes: the collector reads a handful
of fields per object, and building a ``V1Pod`` per pod would cost most of a collection's time.

Every answer is checked before it is folded (``parse_list``). A list answer must be a JSON object of the kind asked
for (``PodList``; ``PartialObjectMetadataList`` too for a metadata-only list) whose ``items`` is an array of
objects. A proxy's ``{"error": ...}``, a ``Status``, another kind, or items that are not objects fail the whole
collection, so a broken page is never read as a short last page. ``items: null`` is an empty list: it is how Go
encodes an empty collection. An object the accumulators cannot read fails the collection the same way.

Time is bounded as client-go bounds it: each request has a total deadline (``timeout``: connecting, the headers
and the whole body; see ``deadline``), and a collection has one too (``collection_timeout``). Answers 429, or 5xx
with a ``Retry-After`` header, are retried after the wait the server asks for, at most ``max_retries`` times, and
those waits count against the collection's deadline.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

import urllib3
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException
from urllib3.util.retry import Retry

from placement.collector import deadline
from placement.collector.errors import (
    CollectError,
    deadline_error,
    from_api_exception,
    from_transport_error,
    is_timeout,
    malformed_answer,
)
from placement.collector.resources import DEFAULT_COLLECTION_TIMEOUT, DEFAULT_PAGE_SIZE, Resource

# Ask for metadata only where the collector just counts: secrets' data and configmaps' contents stay on the server.
METADATA_ONLY = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json"
METADATA_LIST_KIND = "PartialObjectMetadataList"
# client-go's rest.Request retries an answer that asks for it at most 10 times (maxRetries in rest/request.go).
MAX_RETRIES = 10
_RETRY_AFTER = re.compile(r"^\s*(\d+)\s*$")


class Accumulator(Protocol):
    def add(self, item: dict[str, Any]) -> None: ...


AccT = TypeVar("AccT", bound=Accumulator)


class ObjectCount:
    """An accumulator that only counts."""

    def __init__(self) -> None:
        self.value = 0

    def add(self, item: dict[str, Any]) -> None:
        self.value += 1


@dataclass(frozen=True, slots=True)
class Page:
    items: list[dict[str, Any]]
    continue_token: str | None
    remaining_item_count: int | None


class _Expired(Exception):
    """The continue token expired (410) part-way through a list."""


def retry_after_seconds(exc: ApiException) -> int | None:
    """The wait an error answer asks for, or None when it is not to be retried.

    As client-go's ``checkWait`` (rest/request.go): a 429 or any 5xx whose ``Retry-After`` header holds whole
    seconds. Other statuses, a missing header or an HTTP-date are not retried.
    """
    status = exc.status or 0
    if status != 429 and status < 500:
        return None
    headers = exc.headers or {}
    value = next((str(v) for k, v in headers.items() if k.lower() == "retry-after"), None)
    match = _RETRY_AFTER.match(value) if value is not None else None
    return int(match.group(1)) if match else None


def describe(item: Any) -> str:
    """``namespace/name`` of an object, as far as it can be read."""
    meta = item.get("metadata") if isinstance(item, dict) else None
    if not isinstance(meta, dict):
        return "(no metadata)"
    name = str(meta.get("name") or "?")
    return f"{meta['namespace']}/{name}" if isinstance(meta.get("namespace"), str) else name


def _json_type(value: Any) -> str:
    names = {dict: "object", list: "array", str: "string", bool: "boolean", int: "number", float: "number"}
    return "null" if value is None else names.get(type(value), type(value).__name__)


def parse_list(body: bytes, resource: Resource, metadata_only: bool) -> Page:
    """Check that ``body`` is a list of ``resource`` and return its page, or raise ``CollectError``."""
    try:
        document = json.loads(body)
    except ValueError as exc:
        raise malformed_answer(resource, f"the body is not JSON ({exc})") from exc
    if not isinstance(document, dict):
        raise malformed_answer(resource, f"the body is a JSON {_json_type(document)}, not an object")
    kinds = (resource.list_kind, METADATA_LIST_KIND) if metadata_only else (resource.list_kind,)
    kind = document.get("kind")
    if kind not in kinds:
        expected = " or ".join(map(repr, kinds))
        if kind is None:
            keys = ", ".join(sorted(map(str, document))[:8]) or "none"
            problem = f"no 'kind' where {expected} was expected (keys: {keys})"
        else:
            problem = f"kind {str(kind)[:80]!r} where {expected} was expected"
        said = document.get("message") or document.get("error")
        if isinstance(said, str):
            problem += f": {said[:200]}"
        raise malformed_answer(resource, problem)
    if "items" not in document:
        raise malformed_answer(resource, f"a {kind} without 'items'")
    items = document["items"]
    if items is None:
        items = []
    if not isinstance(items, list):
        raise malformed_answer(resource, f"'items' is a JSON {_json_type(items)}, not an array")
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise malformed_answer(resource, f"items[{index}] is a JSON {_json_type(item)}, not an object")
    meta = document.get("metadata") or {}
    if not isinstance(meta, dict):
        raise malformed_answer(resource, "'metadata' is not an object")
    token = meta.get("continue") or None
    if token is not None and not isinstance(token, str):
        raise malformed_answer(resource, "'metadata.continue' is not a string")
    remaining = meta.get("remainingItemCount")
    if not (isinstance(remaining, int) and not isinstance(remaining, bool) and remaining >= 0):
        remaining = None
    return Page(items, token, remaining)


class KubernetesSource:
    """Lists cluster-scoped collections through one ``ApiClient``.

    ``timeout`` is the total deadline of one request; ``collection_timeout`` that of a collection, counted from
    ``start_collection()``. ``max_restarts`` bounds how often a list starts over after its continue token expired
    (HTTP 410); each restart gives the caller a fresh accumulator, so a restarted list is never counted twice.
    ``clock`` and ``sleep`` measure and spend the collection's time (the Retry-After waits).
    """

    def __init__(
        self,
        api_client: client.ApiClient,
        *,
        page_size: int = DEFAULT_PAGE_SIZE,
        timeout: float = 30.0,
        collection_timeout: float = DEFAULT_COLLECTION_TIMEOUT,
        max_restarts: int = 3,
        max_retries: int = MAX_RETRIES,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if page_size < 1:
            raise ValueError(f"page_size must be at least 1, got {page_size}")
        if timeout <= 0 or collection_timeout <= 0:
            raise ValueError("timeout and collection_timeout must be positive")
        self.api_client = api_client
        self.page_size = page_size
        self.timeout = timeout
        self.collection_timeout = collection_timeout
        self.max_restarts = max_restarts
        self.max_retries = max_retries
        self.clock = clock
        self.sleep = sleep
        self.host = api_client.configuration.host
        self.requests = 0
        self.restarts = 0
        self.retries = 0
        self.retry_wait = 0.0
        self._collection_deadline: float | None = None
        self._apis: dict[str, Any] = {}
        deadline.install(api_client)

    @classmethod
    def from_kubeconfig(
        cls, kubeconfig: str | Path | None, context: str | None = None, **options: Any
    ) -> KubernetesSource:
        """Connect with a kubeconfig file; without one, use the pod's service account, then ``~/.kube/config``."""
        configuration = client.Configuration()
        try:
            if kubeconfig is None:
                try:
                    config.load_incluster_config(client_configuration=configuration)
                except ConfigException:
                    config.load_kube_config(context=context, client_configuration=configuration, persist_config=False)
            else:
                path = Path(kubeconfig)
                if not path.is_file():
                    raise CollectError(f"kubeconfig: no such file {path}")
                config.load_kube_config(
                    config_file=str(path), context=context, client_configuration=configuration, persist_config=False
                )
        except (ConfigException, ValueError, OSError) as exc:
            raise CollectError(f"kubeconfig {kubeconfig or '(default)'}: {exc}") from exc
        # Retry refused connections once, never a read that failed: a slow server gets one timeout, not four.
        # Answers that ask to be retried (Retry-After) reach the source, which retries them against its deadlines;
        # left to urllib3, a 429 or 503 with Retry-After would end as "too many 429 error responses".
        configuration.retries = Retry(
            total=1, connect=1, read=0, status=0, redirect=0, backoff_factor=0.2, respect_retry_after_header=False
        )
        return cls(client.ApiClient(configuration), **options)

    def close(self) -> None:
        self.api_client.close()

    def __enter__(self) -> KubernetesSource:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def start_collection(self) -> None:
        """Start the collection's deadline: every request and every wait from now on counts against it."""
        self._collection_deadline = self.clock() + self.collection_timeout

    def _api(self, name: str) -> Any:
        api = self._apis.get(name)
        if api is None:
            api = self._apis[name] = getattr(client, name)(self.api_client)
        return api

    def _budget(self, resource: Resource) -> tuple[float, str]:
        """Seconds the next request may take, and which deadline sets them."""
        budget, bound = self.timeout, f"the request deadline, --timeout {self.timeout:g}"
        if self._collection_deadline is not None:
            left = self._collection_deadline - self.clock()
            if left <= 0:
                raise CollectError(
                    f"timeout: the collection deadline (--collection-timeout {self.collection_timeout:g}s) passed "
                    f"before list {resource}"
                )
            if left < budget:
                budget, bound = (
                    left,
                    f"what was left of the collection deadline, --collection-timeout {self.collection_timeout:g}",
                )
        return budget, bound

    def _get(self, resource: Resource, options: dict[str, Any]) -> bytes:
        """One GET of ``resource``'s collection, bounded by a total deadline; the raw body."""
        budget, bound = self._budget(resource)
        options = {**options, "_preload_content": False, "_request_timeout": (budget, budget)}
        api = self._api(resource.api_class)
        self.requests += 1
        with deadline.RequestDeadline(budget) as watch:
            try:
                if resource.custom:
                    response = api.list_cluster_custom_object(
                        resource.group, resource.version, resource.plural, **options
                    )
                else:
                    response = getattr(api, resource.list_method)(**options)
                try:
                    body = response.data
                finally:
                    response.release_conn()
            except ApiException as exc:
                if watch.expired:
                    raise deadline_error(resource, self.host, budget, bound) from exc
                raise
            except (urllib3.exceptions.HTTPError, OSError) as exc:
                if watch.expired or is_timeout(exc):
                    raise deadline_error(resource, self.host, budget, bound) from exc
                raise from_transport_error(exc, resource, self.host) from exc
        if watch.expired:
            raise deadline_error(resource, self.host, budget, bound)
        return body

    def _page(self, resource: Resource, limit: int, token: str | None, metadata_only: bool) -> Page:
        options: dict[str, Any] = {"limit": limit}
        if token:
            options["_continue"] = token
        if metadata_only and not resource.custom:
            options["_headers"] = {"Accept": METADATA_ONLY}
        retries = 0
        while True:
            try:
                body = self._get(resource, options)
            except ApiException as exc:
                if exc.status == 410 and token:
                    raise _Expired from exc
                wait = retry_after_seconds(exc)
                if wait is None:
                    raise from_api_exception(exc, resource) from exc
                self._before_retry(exc, resource, wait, retries)
                retries += 1
                continue
            return parse_list(body, resource, metadata_only)

    def _before_retry(self, exc: ApiException, resource: Resource, wait: int, retries: int) -> None:
        """Wait as the server asked, or raise when that would pass the retry limit or the collection deadline."""
        refused = from_api_exception(exc, resource)
        if retries >= self.max_retries:
            raise CollectError(f"{refused}; still refused after {retries} retries (Retry-After)") from exc
        if self._collection_deadline is not None and self.clock() + wait >= self._collection_deadline:
            raise CollectError(
                f"{refused}; the server asks to retry after {wait}s, past the collection deadline "
                f"(--collection-timeout {self.collection_timeout:g}s)"
            ) from exc
        self.retries += 1
        self.retry_wait += wait
        self.sleep(wait)

    def fold(self, resource: Resource, make: Callable[[], AccT], *, metadata_only: bool = False) -> AccT:
        """Feed every object of ``resource`` to a fresh ``make()`` accumulator, page by page, and return it."""
        for _attempt in range(self.max_restarts + 1):
            accumulator = make()
            try:
                self._fold_pages(resource, accumulator, metadata_only)
            except _Expired:
                self.restarts += 1
                continue
            return accumulator
        raise CollectError(
            f"list {resource}: the continue token expired (410) {self.max_restarts + 1} times in a row; "
            "the collection changes faster than it can be paged"
        )

    def _fold_pages(self, resource: Resource, accumulator: Accumulator, metadata_only: bool) -> None:
        token: str | None = None
        while True:
            page = self._page(resource, self.page_size, token, metadata_only)
            for item in page.items:
                try:
                    accumulator.add(item)
                except CollectError:
                    raise
                except (AttributeError, TypeError, ValueError, KeyError, IndexError, ArithmeticError) as exc:
                    # A field of the wrong type deep inside an object: the answer is malformed, not the collector.
                    raise malformed_answer(resource, f"object {describe(item)}: {type(exc).__name__}: {exc}") from exc
            token = page.continue_token
            del page
            if not token:
                return

    def count(self, resource: Resource) -> int:
        """How many objects of ``resource`` exist.

        Asks for one object and reads ``metadata.remainingItemCount`` when the server gives it; otherwise (old
        servers, or lists with selectors) pages through the collection counting, metadata only.
        """
        first = self._page(resource, 1, None, metadata_only=True)
        if not first.continue_token:
            return len(first.items)
        if first.remaining_item_count is not None:
            return len(first.items) + first.remaining_item_count
        return self.fold(resource, ObjectCount, metadata_only=True).value
