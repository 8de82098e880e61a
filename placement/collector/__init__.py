"""The Kubernetes collector: reads a k3s cluster's load through its API server and produces the snapshot the
router stores (``placement.model.ClusterLoad``).

``source`` pages through the API (checking every answer, each request under a total ``deadline``), ``snapshot``
folds the pages into a snapshot with the help of ``podrequests`` (a pod's memory as kube-scheduler counts it),
``controlplane`` (the control plane's type) and ``providers`` (what a storage provider's volume limit counts),
``sinks`` store it, ``watch`` repeats with backoff and ``cli`` is ``placement collect``. ``resources`` lists all
that is read. Nothing is imported here, so that ``placement`` commands that do not collect do not pay for
importing the Kubernetes client.
"""
