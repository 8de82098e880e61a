"""No module in ``placement/``, ``sim/``, ``bench/``, ``support/`` or ``notebooks/`` is over 450 lines: one module,
one job.

Migrations are exempt (each is a frozen record of one schema step). A module that is over the limit while its owner
splits it is listed in ``BEING_SPLIT`` with the reason; the entry must go as soon as the module is back under the
limit.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("placement", "sim", "bench", "support", "notebooks")
MAX_LINES = 450
BEING_SPLIT: dict[str, str] = {}


def _line_count(path: Path) -> int:
    return len(path.read_text().splitlines())


def _modules() -> dict[str, int]:
    sizes = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            relative = path.relative_to(ROOT)
            if "migrations" in relative.parts:
                continue
            sizes[relative.as_posix()] = _line_count(path)
    return sizes


def test_no_module_is_over_the_limit() -> None:
    sizes = _modules()
    assert len(sizes) > 50, "the packages were not found"
    over = {name: lines for name, lines in sizes.items() if lines > MAX_LINES and name not in BEING_SPLIT}
    assert not over, f"modules over {MAX_LINES} lines (split them by job): {over}"


def test_a_module_being_split_leaves_the_list_once_it_is_under_the_limit() -> None:
    sizes = _modules()
    done = [name for name in BEING_SPLIT if sizes.get(name, 0) <= MAX_LINES]
    assert not done, f"back under {MAX_LINES} lines or gone: remove from BEING_SPLIT: {done}"
