"""The live forecast: from the fleet as it is now (``sim.start_from``), how many days until each catalogue limit
binds on each cluster, how sure we are, by when to order, and what the operator would do.

Modules: ``runs`` (one Monte Carlo run as a task any executor runs: its growth and churn drawn from their fits,
the simulation, the day each limit binds), ``core`` (``prepare`` a source, ``forecast`` over an executor, the
bands, order-by dates and actions from ``sim.planning``), ``output`` (the table as Parquet and CSV, the HTML
page, written atomically), ``cli`` (``sim forecast``), ``backtest`` and ``export`` (``sim backtest``: a run's
state and history as the router's database would hold them, and the forecast from it against the run's truth),
``baseline`` (Prometheus's ``predict_linear`` over a used series).

A limit *binds* on the first day its used level reaches the capacity it has today (``sim.planning.measures``:
the hard limit the engine's filters reject at, not the operator's earlier trigger); the simulated operator keeps
acting meanwhile (adds nodes, upgrades, closes clusters), which changes what each cluster receives.
"""
