"""What a student sees in JupyterLab: the released notebook opens, diagrams load, cells run,
public tests explain what is missing, figures render, and nbgrader's Validate button works."""

import re

import nbformat
import pytest
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from course.assignment import ASSIGNMENT, NOTEBOOK
from course.unet_segmentation.examples import solved

from .lab_server import TOKEN, start_kernel  # the fixtures come from conftest.py

pytestmark = pytest.mark.browser

STUB_ERRORS = ("NotImplementedError", "CheckFailed")
# The notebook on screen: JupyterLab restores tabs opened by earlier tests behind it.
PANEL = ".jp-NotebookPanel:not(.lm-mod-hidden)"


def open_notebook(page, url, name):
    start_kernel(url, f"{ASSIGNMENT}/{name}")
    page.goto(f"{url}/lab/tree/{ASSIGNMENT}/{name}?token={TOKEN}&reset")
    page.wait_for_selector(f"{PANEL} .jp-Cell", timeout=90_000)
    page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=90_000)
    return page.locator(f"{PANEL} .jp-Cell")


def run_every_cell(page, cells):
    """Run the code cells one at a time, each to completion, so that an error in one cell does
    not cancel the cells after it (Run All stops at the first error). A run request is made
    again when its cell shows no sign of running: on a busy machine a request sent while the
    page is still connecting to the kernel can be dropped."""
    code = page.locator(f"{PANEL} .jp-CodeCell")
    for index in range(code.count()):
        cell = code.nth(index)
        prompt = cell.locator(".jp-InputArea-prompt").first
        for attempt in range(4):
            try:  # JupyterLab may re-render a cell under the pointer: the locator finds it again
                cell.scroll_into_view_if_needed()
                prompt.click(timeout=30_000)
            except PlaywrightError as error:
                dialog = page.locator(".jp-Dialog")
                if dialog.count():  # say what JupyterLab asked instead of timing out mutely
                    raise AssertionError(f"a dialog covers the notebook: {dialog.first.inner_text()!r}") from error
                if attempt == 3:
                    raise
                continue
            page.keyboard.press("Escape")
            page.keyboard.press("Control+Enter")  # run the selected cell, stay on it
            try:
                page.wait_for_function("(p) => /\\[(\\*|\\d+)\\]/.test(p.textContent)",
                                       arg=prompt.element_handle(), timeout=30_000)
                break
            except PlaywrightTimeout:
                if attempt == 3:
                    raise
        page.wait_for_function("(p) => /\\[\\d+\\]/.test(p.textContent)", arg=prompt.element_handle(),
                               timeout=300_000)


def errors_by_cell(cells):
    found = {}
    for index in range(cells.count()):
        text = " ".join(cells.nth(index).locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
                        .all_inner_texts())
        names = re.findall(r"^(\w+(?:Error|Failed|Exception))\b", text, re.M)
        if names:
            found[index] = (names, text)
    return found


def cell_with(cells, text):
    return cells.filter(has_text=text).first


def test_released_notebook_opens_and_its_diagrams_load(lab, page, screenshots):
    url, _ = lab
    cells = open_notebook(page, url, NOTEBOOK)
    page.wait_for_function("() => document.querySelectorAll('.jp-MarkdownOutput img').length >= 4", timeout=60_000)
    images = page.locator(".jp-MarkdownOutput img")
    assert images.count() == 4  # the FCN, the U-Net, the encoder block and the decoder block
    for index in range(images.count()):
        images.nth(index).scroll_into_view_if_needed()
        page.wait_for_function("(img) => img.complete", arg=images.nth(index).element_handle())
        assert images.nth(index).evaluate("img => img.naturalWidth") > 500
    diagram = cell_with(cells, "U-Net (Ronneberger")
    diagram.scroll_into_view_if_needed()
    diagram.screenshot(path=str(screenshots / "architecture_diagram.png"))


def test_untouched_release_runs_with_helpful_public_test_failures(lab, page, screenshots):
    url, _ = lab
    cells = open_notebook(page, url, NOTEBOOK)
    run_every_cell(page, cells)
    errors = errors_by_cell(cells)
    unexpected = {i: names for i, (names, _) in errors.items() if not set(names) <= set(STUB_ERRORS)}
    assert not unexpected
    texts = " ".join(text for _, text in errors.values())
    for name in ("conv_block", "upsampling_block", "unet_model"):
        assert f"{name} is not implemented yet" in texts
    failing = cell_with(cells, "unet_checks.test_conv_block(conv_block)")
    failing.scroll_into_view_if_needed()
    failing.screenshot(path=str(screenshots / "public_test_failure.png"))
    exploration = cell_with(cells, "su.browse_frames(")
    exploration.locator(".widget-output img").first.wait_for(timeout=60_000)
    exploration.screenshot(path=str(screenshots / "exploration_figure.png"))


def test_solved_notebook_runs_clean_and_shows_its_figures(lab, page, screenshots):
    url, work = lab
    nbformat.write(solved((1, 2, 3)), work / ASSIGNMENT / "solved.ipynb")
    cells = open_notebook(page, url, "solved.ipynb")
    run_every_cell(page, cells)
    assert errors_by_cell(cells) == {}
    text = page.locator(PANEL).inner_text()
    for name in ("conv_block", "upsampling_block", "unet_model"):
        assert f"All tests passed for {name}." in text
    assert "trained 1 epoch(s)" in text
    assert page.locator(f"{PANEL} .jp-OutputArea-output img").count() >= 5
    predictions = cell_with(cells, "def create_mask")
    predictions.locator(".widget-output img").first.wait_for(timeout=60_000)
    predictions.scroll_into_view_if_needed()
    predictions.screenshot(path=str(screenshots / "predictions.png"))
    # section 12: each figure, and the sentence that says it in words
    assert re.search(r"Strongest confusions: |No class is taken for another", text)
    assert re.search(r"validation frame \d+: \d+% of the pixels wrong", text)
    for source, name in (("su.browse_errors(", "error_maps.png"), ("su.browse_worst_frames(", "worst_frames.png")):
        view = cell_with(cells, source)
        view.locator(".widget-output img").first.wait_for(timeout=60_000)
        view.scroll_into_view_if_needed()
        view.screenshot(path=str(screenshots / name))


def _validate(page):
    """Click nbgrader's Validate button; returns the text of the dialog it opens when done."""
    page.locator(f"{PANEL} .validate-button").click()
    page.wait_for_selector(".jp-Dialog .validation-success, .jp-Dialog .validation-failed", timeout=300_000)
    return page.locator(".jp-Dialog").inner_text()


def test_validate_button_passes_the_solved_notebook(lab, page, screenshots):
    url, work = lab
    nbformat.write(solved((1, 2, 3)), work / ASSIGNMENT / "validate_solved.ipynb")
    open_notebook(page, url, "validate_solved.ipynb")
    report = _validate(page)
    page.screenshot(path=str(screenshots / "validate_success.png"))
    assert "Success" in report, report


def test_validate_button_names_the_failing_cells_of_the_blank(lab, page, screenshots):
    url, work = lab
    nbformat.write(solved(()), work / ASSIGNMENT / "validate_blank.ipynb")
    open_notebook(page, url, "validate_blank.ipynb")
    report = _validate(page)
    page.screenshot(path=str(screenshots / "validate_failure.png"))
    assert "Success" not in report
    assert "not implemented yet" in report, report
