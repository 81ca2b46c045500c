"""The interactive views render in JupyterLab: the frame browser and the prediction browser
show a slider, a class menu and a picture, and moving the slider draws another frame."""

import nbformat
import pytest

from course.assignment import ASSIGNMENT
from course.unet_segmentation.examples import solved

from .test_student_experience import PANEL, cell_with, errors_by_cell, open_notebook, run_every_cell

pytestmark = pytest.mark.browser


def _picture(cell):
    return cell.locator(".widget-output img").first.get_attribute("src")


def _redrawn(page, cell, action):
    """Do ``action``; returns once the view's picture has changed."""
    before = _picture(cell)
    action()
    page.wait_for_function("([cell, before]) => { const img = cell.querySelector('.widget-output img');"
                           " return img && img.getAttribute('src') !== before; }",
                           arg=[cell.element_handle(), before], timeout=120_000)


def test_frame_and_prediction_browsers_are_interactive(lab, page, screenshots):
    url, work = lab
    nbformat.write(solved((1, 2, 3)), work / ASSIGNMENT / "views.ipynb")
    cells = open_notebook(page, url, "views.ipynb")
    run_every_cell(page, cells)
    assert errors_by_cell(cells) == {}
    for source, shot in (("su.browse_frames(", "frame_browser.png"), ("su.browse_predictions(", "prediction_browser.png")):
        view = cell_with(cells, source)
        view.scroll_into_view_if_needed()
        view.locator(".widget-slider").first.wait_for(timeout=60_000)
        assert view.locator(".widget-dropdown select").count() == 1
        view.locator(".widget-output img").first.wait_for(timeout=60_000)
        handle = view.locator(".widget-slider .noUi-handle, .widget-slider [role='slider']").first
        _redrawn(page, view, lambda: (handle.focus(), page.keyboard.press("ArrowRight")))
        _redrawn(page, view, lambda: view.locator(".widget-dropdown select").select_option(label="10 Vehicles"))
        # The view's result is shown, never its return value.
        assert view.locator(".jp-OutputArea-executeResult").count() == 0
        view.screenshot(path=str(screenshots / shot))
    assert page.locator(f"{PANEL} .widget-output img").count() >= 2
