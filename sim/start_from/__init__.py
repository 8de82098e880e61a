"""Scenarios that start from the live fleet: the router's database, a folder of collector snapshots, or a state YAML.

Modules: ``spec`` (the scenario's ``start_from:`` key; imported by ``sim.scenario``, so it imports nothing of the
simulator), ``sources`` (each source read into one ``LiveState``), ``build`` (a base scenario plus a live state
gives the scenario that starts from it, and what was measured and what assumed). This package's ``__init__``
imports nothing, so ``sim.scenario`` can import ``sim.start_from.spec`` without loading the readers.
"""
