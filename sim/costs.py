"""The cost model, EUR per month: run nodes, control-plane nodes, object storage for backups, setup fees.

Prices come from the limits profile (``limits.costs``) and are all scaled by its ``price_multiplier``.
Setup fees are one-off and reported separately (``setup_eur`` on the day a node is delivered).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from placement.limits import Limits

TB = 1000**4


@dataclass(frozen=True, slots=True)
class CostModel:
    run_node_eur_month: float
    run_node_setup_eur: float
    ctrl_eur_month: np.ndarray  # by ladder rung
    object_storage_base: float
    object_storage_per_tb: float
    object_storage_included_tb: float
    backup_used_fraction: float

    @classmethod
    def build(cls, limits: Limits, run_node_type: str, ladder: tuple[str, ...], backup_used_fraction: float):
        costs = limits.costs
        m = costs.price_multiplier
        node = costs.run_node_types[run_node_type]
        return cls(
            run_node_eur_month=node.eur_month * m,
            run_node_setup_eur=node.setup_eur * m,
            ctrl_eur_month=np.array([limits.control_plane(name).eur_month * m for name in ladder]),
            object_storage_base=costs.object_storage_eur_month_base * m,
            object_storage_per_tb=costs.object_storage_eur_per_tb_month * m,
            object_storage_included_tb=costs.object_storage_included_tb,
            backup_used_fraction=backup_used_fraction,
        )

    def compute_eur_month(self, nodes: np.ndarray, ctrl_rung: np.ndarray, ctrl_nodes: np.ndarray) -> np.ndarray:
        return nodes * self.run_node_eur_month + ctrl_nodes * self.ctrl_eur_month[ctrl_rung]

    def backup_eur_month(self, volume_bytes: np.ndarray) -> tuple[np.ndarray, float]:
        """Per-cluster shares of the fleet's object-storage bill, and the fleet total.

        One object-storage account serves the fleet: a base fee that includes some terabytes, then a price
        per terabyte-month. Each cluster carries its share by backed-up bytes.
        """
        backed_up = volume_bytes * self.backup_used_fraction
        total_tb = float(backed_up.sum()) / TB
        if total_tb <= 0:
            return np.zeros(len(volume_bytes)), 0.0
        fleet = (
            self.object_storage_base + max(0.0, total_tb - self.object_storage_included_tb) * self.object_storage_per_tb
        )
        return fleet * backed_up / backed_up.sum(), fleet
