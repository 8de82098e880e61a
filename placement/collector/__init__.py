"""The Kubernetes collector: reads a k3s cluster's load through its API server and produces the snapshot the
router stores (``placement.model.ClusterLoad``).

``source`` pages through the API, ``snapshot`` folds the pages into a snapshot, ``sinks`` store it,
``watch`` repeats with backoff and ``cli`` is ``placement collect``. Nothing is imported here, so that
``placement`` commands that do not collect do not pay for importing the Kubernetes client.
"""
