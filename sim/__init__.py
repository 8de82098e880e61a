"""capplan's growth simulator (SimPy). It places every service through ``placement.select_cluster``."""
