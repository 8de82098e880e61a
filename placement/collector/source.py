"""Reading a cluster through the official ``kubernetes`` client, one page at a time.

Lists are paged with ``limit`` and ``_continue`` and folded into an accumulator as they arrive, so memory
holds one page plus whatever the accumulator keeps, never the whole list. Pages are decoded as plain JSON
(``_preload_content=False``) rather than into the client's model classes: the collector reads a handful
of fields per object, and building a ``V1Pod`` per pod would cost most of a collection's time.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol, TypeVar

import urllib3
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException
from urllib3.util.retry import Retry

from placement.collector.errors import CollectError, from_api_exception, from_transport_error
from placement.collector.resources import DEFAULT_PAGE_SIZE, Resource

# Ask for metadata only where the collector just counts: secrets' data and configmaps' contents stay on the server.
METADATA_ONLY = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json"


class Accumulator(Protocol):
    def add(self, item: dict[str, Any]) -> None: ...


AccT = TypeVar("AccT", bound=Accumulator)


class ObjectCount:
    """An accumulator that only counts."""

    def __init__(self) -> None:
        self.value = 0

    def add(self, item: dict[str, Any]) -> None:
        self.value += 1


class _Expired(Exception):
    """The continue token expired (410) part-way through a list."""


class KubernetesSource:
    """Lists cluster-scoped collections through one ``ApiClient``.

    ``max_restarts`` bounds how often a list starts over after its continue token expired (HTTP 410); each
    restart gives the caller a fresh accumulator, so a restarted list is never counted twice.
    """

    def __init__(
        self,
        api_client: client.ApiClient,
        *,
        page_size: int = DEFAULT_PAGE_SIZE,
        timeout: float = 30.0,
        max_restarts: int = 3,
    ) -> None:
        if page_size < 1:
            raise ValueError(f"page_size must be at least 1, got {page_size}")
        self.api_client = api_client
        self.page_size = page_size
        self.timeout = timeout
        self.max_restarts = max_restarts
        self.host = api_client.configuration.host
        self.requests = 0
        self.restarts = 0
        self._apis: dict[str, Any] = {}

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
        # Retry refused connections once, never a read that timed out: a slow server gets one timeout, not four.
        configuration.retries = Retry(total=1, connect=1, read=0, status=0, redirect=0, backoff_factor=0.2)
        return cls(client.ApiClient(configuration), **options)

    def close(self) -> None:
        self.api_client.close()

    def __enter__(self) -> KubernetesSource:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _api(self, name: str) -> Any:
        api = self._apis.get(name)
        if api is None:
            api = self._apis[name] = getattr(client, name)(self.api_client)
        return api

    def _page(self, resource: Resource, limit: int, token: str | None, metadata_only: bool) -> dict[str, Any]:
        options: dict[str, Any] = {
            "limit": limit,
            "_preload_content": False,
            "_request_timeout": self.timeout,
        }
        if token:
            options["_continue"] = token
        api = self._api(resource.api_class)
        self.requests += 1
        try:
            if resource.custom:
                response = api.list_cluster_custom_object(resource.group, resource.version, resource.plural, **options)
            else:
                if metadata_only:
                    options["_headers"] = {"Accept": METADATA_ONLY}
                response = getattr(api, resource.list_method)(**options)
            try:
                body = response.data
            finally:
                response.release_conn()
        except ApiException as exc:
            if exc.status == 410 and token:
                raise _Expired from exc
            raise from_api_exception(exc, resource) from exc
        except urllib3.exceptions.HTTPError as exc:
            raise from_transport_error(exc, resource, self.host) from exc
        try:
            page = json.loads(body)
            page["items"] = page.get("items") or []
        except (ValueError, AttributeError, TypeError) as exc:
            raise CollectError(f"list {resource}: the API server sent a body that is not a list: {exc}") from exc
        return page

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
            for item in page["items"]:
                accumulator.add(item)
            token = (page.get("metadata") or {}).get("continue") or None
            del page
            if not token:
                return

    def count(self, resource: Resource) -> int:
        """How many objects of ``resource`` exist.

        Asks for one object and reads ``metadata.remainingItemCount`` when the server gives it; otherwise (old
        servers, or lists with selectors) pages through the collection counting, metadata only.
        """
        first = self._page(resource, 1, None, metadata_only=True)
        meta = first.get("metadata") or {}
        if not meta.get("continue"):
            return len(first["items"])
        remaining = meta.get("remainingItemCount")
        if isinstance(remaining, int) and remaining >= 0:
            return len(first["items"]) + remaining
        return self.fold(resource, ObjectCount, metadata_only=True).value
