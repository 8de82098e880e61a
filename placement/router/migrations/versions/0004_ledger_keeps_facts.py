"""the ledger keeps what was placed, not the HTTP answer

Each reservation's ``response`` held the answer as the API sent it. It now holds the placement's facts (the
cluster, task queue, node, each volume's mount path, size in bytes and replicas, the reason and warnings), and
the API shapes its answer, first or replayed, from them. The answers replayed after this migration are the ones
given before it. Down, the facts are shaped back into the old answers.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from alembic import op

from placement.state import volume_block
from placement.units import to_bytes

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

LEDGER = sa.table("reservations", sa.column("request_id", sa.String), sa.column("response", sa.JSON))


def _facts(answer: dict[str, Any]) -> dict[str, Any]:
    if "volume" not in answer:  # facts already
        return answer
    volumes = [
        {"mount_path": block["mount_path"], "size_bytes": to_bytes(block["size"]), "replicas": block["replicas"]}
        for block in answer["volumes"]
    ]
    keys = ("request_id", "service_id", "cluster_id", "task_queue", "node", "reason", "warnings")
    return {**{key: answer[key] for key in keys}, "volumes": volumes}


def _answer(facts: dict[str, Any]) -> dict[str, Any]:
    if "volume" in facts:  # an answer already
        return facts
    blocks = [
        volume_block(
            volume["size_bytes"],
            volume["mount_path"],
            facts["node"],
            volume["replicas"],
            "replicated" if volume["replicas"] > 1 else "single-copy",
        )
        for volume in facts["volumes"]
    ]
    keys = ("request_id", "service_id", "cluster_id", "task_queue", "node")
    return {
        **{key: facts[key] for key in keys},
        "volume": blocks[0] if blocks else None,
        "volumes": blocks,
        "reason": facts["reason"],
        "warnings": facts["warnings"],
    }


def _rewrite(convert: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
    bind = op.get_bind()
    rows = bind.execute(sa.select(LEDGER.c.request_id, LEDGER.c.response)).all()
    for request_id, document in rows:
        converted = convert(document)
        if converted != document:
            bind.execute(sa.update(LEDGER).where(LEDGER.c.request_id == request_id).values(response=converted))


def upgrade() -> None:
    _rewrite(_facts)


def downgrade() -> None:
    _rewrite(_answer)
