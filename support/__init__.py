"""Test and benchmark support that both ``tests/`` and ``bench/`` import, and that capplan itself never does.

- ``kube_apiserver``: a small HTTP server that speaks the Kubernetes list API (paging, metadata-only lists,
  injected faults), standing in for a cluster's API server;
- ``kube_objects``: Kubernetes objects shaped like a k3s cluster's on Hetzner, recorded-style and generated.

It lives outside ``placement`` and ``sim`` (not in the wheel: production code ships no fakes) and outside
``tests`` (``bench`` must not import the test suite). Both are run from the repository's root, which is on
``sys.path`` there (``python -m bench.NAME``; pytest's rootdir).
"""
