"""What every HTML report (a run's, a sweep's, a comparison's) is made of: figures on their own canvas, inline
PNGs, tables that fit the page, one style sheet, and the plot conventions (distinct colours, legends outside the
data, the x-axis spanning the scenario, integer ticks for counts)."""

from __future__ import annotations

import base64
import html
import io

import matplotlib.dates as mdates
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; padding: 0 1em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.85em; max-width: 100%; }
.scroll { max-width: 100%; overflow-x: auto; }
th, td { border: 1px solid #ccc; padding: 4px 8px; text-align: left; vertical-align: top; overflow-wrap: break-word; }
td.num { text-align: right; white-space: nowrap; }
th.num { text-align: right; }
td.nowrap { white-space: nowrap; }
td.long { overflow-wrap: anywhere; }
th { background: #f3f3f3; }
img { max-width: 100%; border: 1px solid #eee; margin: 0.5em 0 1.5em; }
.muted { color: #777; }
.override { background: #fff3cd; }
.summary li { margin: 0.3em 0; }
"""

# Twenty distinct colours (tab10, then the lighter tab20 shades): no two series of one plot share a colour.
COLORS = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
    "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94", "#f7b6d2", "#c7c7c7", "#dbdb8d", "#9edae5",
)  # fmt: skip
OTHERS_COLOR = "#555555"


def figure(**kwargs) -> Figure:
    """A figure on its own Agg canvas, outside pyplot: reports never touch the global backend (a notebook's
    inline figures keep showing) and leave no figure behind in pyplot's registry."""
    fig = Figure(**kwargs)
    FigureCanvasAgg(fig)
    return fig


def png(fig: Figure) -> str:
    buffer = io.BytesIO()
    # No software/version metadata: the same run gives the same bytes.
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight", metadata={"Software": None})
    return base64.b64encode(buffer.getvalue()).decode()


def img(title: str, data: str) -> str:
    """A titled inline PNG."""
    title = html.escape(title)
    return f"<h3>{title}</h3><img alt='{title}' src='data:image/png;base64,{data}'>"


def legend_outside(ax, *, below: bool = False, handles=None, labels=None, ncol: int = 1) -> None:
    """The legend beside the plot (or under it), never over the data."""
    if handles is None:
        handles, labels = ax.get_legend_handles_labels()
    if not handles:
        return
    if below:
        ax.legend(handles, labels, loc="upper left", bbox_to_anchor=(0, -0.22), fontsize=8, frameon=False, ncol=ncol)
    else:
        ax.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.02, 1), borderaxespad=0, fontsize=8,
                  frameon=False, ncol=ncol)  # fmt: skip


def date_axis(ax, start, end) -> None:
    """The x-axis spans the scenario, from its start date to its last day, with short non-overlapping labels."""
    ax.set_xlim(start, end)
    locator = mdates.AutoDateLocator(minticks=4, maxticks=9)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))


def count_axis(ax, axis: str = "y") -> None:
    """Whole-number ticks with thousands separators, for counts (nodes, clusters, customers)."""
    target = ax.yaxis if axis == "y" else ax.xaxis
    target.set_major_locator(MaxNLocator(integer=True))
    target.set_major_formatter(FuncFormatter(lambda value, _: f"{value:,.0f}"))


def money_axis(ax, axis: str = "y") -> None:
    target = ax.yaxis if axis == "y" else ax.xaxis
    target.set_major_formatter(FuncFormatter(lambda value, _: f"{value:,.0f}"))


def _cell(value, css: str) -> str:
    text = html.escape("" if value is None else str(value))
    return f"<td class='{css}'>{text}</td>" if css else f"<td>{text}</td>"


def table(
    rows: list[dict],
    columns: list[str],
    *,
    numeric: tuple[str, ...] = (),
    nowrap: tuple[str, ...] = (),
    long: tuple[str, ...] = (),
    marked: str | None = None,
) -> str:
    """An HTML table (in a box that scrolls sideways rather than running off the page). ``numeric`` columns are
    right-aligned, they and ``nowrap`` ones never wrap, ``long`` ones (paths, hashes, dotted names) may break
    anywhere; a row whose ``marked`` key is true gets the ``override`` class."""
    css = {c: "num" if c in numeric else "nowrap" if c in nowrap else "long" if c in long else "" for c in columns}
    head = "".join(f"<th class='num'>{html.escape(c)}</th>" if c in numeric else f"<th>{html.escape(c)}</th>"
                   for c in columns)  # fmt: skip
    body = "".join(
        ("<tr class='override'>" if marked and r.get(marked) else "<tr>")
        + "".join(_cell(r.get(c), css[c]) for c in columns)
        + "</tr>"
        for r in rows
    )
    return f"<div class='scroll'><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>"


def page(title: str, body: str) -> str:
    """A self-contained HTML document."""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title><style>{STYLE}</style></head>
<body>
{body}
</body></html>
"""
