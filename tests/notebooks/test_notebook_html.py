"""A notebook exported to HTML, as the README says (nbconvert with notebooks/offline.html.j2), opened in Debian's
headless Chromium: every figure the notebook made is an image that loaded, and the page logs no error."""

from __future__ import annotations

import pytest
from nbconvert import HTMLExporter

from tests.notebooks.conftest import NAMES, NOTEBOOKS, outputs

TEMPLATE = NOTEBOOKS / "offline.html.j2"


@pytest.mark.parametrize("name", NAMES)
def test_exported_notebook_shows_every_figure_in_chromium(executed, browser, tmp_path, name):
    notebook = executed(name)
    figures = len(outputs(notebook, "image/png"))
    assert figures > 0
    html, _ = HTMLExporter(template_file=str(TEMPLATE)).from_notebook_node(notebook)
    assert "cdnjs" not in html  # readable offline: nothing fetched from a CDN
    page_file = tmp_path / f"{name}.html"
    page_file.write_text(html)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    problems: list[str] = []
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("requestfailed", lambda request: problems.append(f"request failed: {request.url}"))
    page.goto(page_file.as_uri())
    page.wait_for_load_state("load")
    images = page.eval_on_selector_all("img", "els => els.map(e => [e.complete, e.naturalWidth, e.naturalHeight])")
    assert len(images) == figures
    assert all(complete and width > 0 and height > 0 for complete, width, height in images), images
    assert problems == []
    assert page.locator("h1").first.inner_text().strip() != ""
    page.close()
