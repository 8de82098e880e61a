"""The initial customers of a live start take their measured services instead of drawn ones (``sim.sampling``).

Customer rows ``0..n-1`` of a run are the initial fleet's, in the order of ``fleet.clusters`` (``sim.sampling.draw``);
``LiveFleet.customers`` is in that order too, one entry per customer. Every stream still draws its values for
those rows, so the grown customers after them get the same draws as without the live start.

A measured customer that signed up recently has not created all its services yet:
``sim.sampling.add_pending_services`` gives it, from a stream of its own (``live_pending``), the services the
customer mix would still bring. It draws the customer's total from the mix's count law and, for each service
beyond those measured, a creation delay from the mix's delay law; the ones whose delay exceeds the customer's age
are still to come, created that much later (after the start). Estimated customers (age unknown) get none. They are
inserted after each customer's measured services, so every other draw of the run is unchanged.
"""

from __future__ import annotations

import numpy as np

from sim.start_from.spec import LiveFleet


def live_service_counts(live: LiveFleet, initial: int) -> np.ndarray:
    """Services per initial customer, measured."""
    if len(live.customers) != initial:
        raise ValueError(
            f"start_from.live lists {len(live.customers)} customers but the fleet's clusters hold {initial}"
        )
    return np.array([len(c.ram) for c in live.customers], dtype=np.int64)


def set_live_sizes(live: LiveFleet, ram: np.ndarray, volume: np.ndarray) -> None:
    """Overwrite the initial customers' services' RAM and volume bytes (the first rows) with the measured ones."""
    if not live.customers:
        return
    measured_ram = np.concatenate([np.asarray(c.ram, dtype=np.int64) for c in live.customers])
    measured_volume = np.concatenate([np.asarray(c.volume, dtype=np.int64) for c in live.customers])
    ram[: len(measured_ram)] = measured_ram
    volume[: len(measured_volume)] = measured_volume
