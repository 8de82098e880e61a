"""A sweep's run store: one Parquet file per finished run, written atomically, and the manifest that says which
arguments made the directory, so a rerun with the same arguments resumes and one with others is refused."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from placement.atomic import TEMP_SUFFIX, atomic_write
from sim.scenario import Scenario
from sim.sweep.vary import VarySpec

RUN_METADATA_KEY = b"capplan.sweep.run"
MANIFEST = "manifest.json"
RUNS_DIR = "runs"


class SweepError(RuntimeError):
    """A sweep that cannot start (e.g. an output directory made with other arguments)."""


def run_path(out: Path, index: int) -> Path:
    """Where run ``index``'s file lives."""
    return out / RUNS_DIR / f"run-{index:06d}.parquet"


def write_run(out: Path, record: dict[str, Any], series: pd.DataFrame) -> Path:
    """Write one finished run (ok or failed) atomically; the record rides in the Parquet schema metadata."""
    table = pa.Table.from_pandas(series, preserve_index=False)
    meta = dict(table.schema.metadata or {})
    meta[RUN_METADATA_KEY] = json.dumps(record, sort_keys=True).encode()
    table = table.replace_schema_metadata(meta)
    target = run_path(out, record["run"])
    return atomic_write(target, lambda tmp: pq.write_table(table, tmp))


def read_run(path: Path) -> tuple[dict[str, Any], pd.DataFrame] | None:
    """A finished run's record and series, or None when the file is not a complete run file."""
    try:
        table = pq.read_table(path)
        record = json.loads(table.schema.metadata[RUN_METADATA_KEY])
    except (OSError, KeyError, TypeError, ValueError, pa.ArrowException):
        return None
    return record, table.to_pandas()


def manifest_for(scenario: Scenario, runs: int, specs: list[VarySpec], seed: int) -> dict[str, Any]:
    """The arguments that define a sweep's results (not the executor: every executor gives the same results)."""
    scenario_json = scenario.model_dump_json()
    return {
        "scenario": scenario.name,
        "scenario_sha256": hashlib.sha256(scenario_json.encode()).hexdigest(),
        "runs": runs,
        "seed": seed,
        "vary": [s.text for s in specs],
    }


def prepare_out(out: Path, manifest: dict[str, Any]) -> dict[int, tuple[dict[str, Any], pd.DataFrame]]:
    """Create or reopen a sweep directory; return the runs already finished in it."""
    path = out / MANIFEST
    if path.exists():
        try:
            existing = json.loads(path.read_text())
        except ValueError:
            raise SweepError(f"{path} is not a sweep manifest (invalid JSON); use another --out") from None
        if existing != manifest:
            diffs = [
                f"{k}: {existing.get(k)!r} there, {manifest.get(k)!r} now"
                for k in manifest
                if existing.get(k) != manifest.get(k)
            ]
            raise SweepError(
                f"{out} holds a sweep made with different arguments ({'; '.join(diffs)}); "
                "rerun with the same arguments to resume, or use another --out"
            )
    elif out.exists() and any(out.iterdir()):
        raise SweepError(f"{out} is not empty and has no {MANIFEST}; use an empty or new --out directory")
    (out / RUNS_DIR).mkdir(parents=True, exist_ok=True)
    if not path.exists():
        atomic_write(path, json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    done: dict[int, tuple[dict[str, Any], pd.DataFrame]] = {}
    for index in range(manifest["runs"]):
        file = run_path(out, index)
        if file.exists():
            loaded = read_run(file)
            if loaded is not None and loaded[0].get("run") == index:
                done[index] = loaded
    for stale in (out / RUNS_DIR).glob(f".run-*{TEMP_SUFFIX}"):
        stale.unlink(missing_ok=True)  # a temp file a killed sweep left behind: never a finished run
    return done
