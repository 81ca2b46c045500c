"""Chromium opens the class report from disk, offline, and shows every figure and section."""

import pytest

from class_builder import make_class
from course.report.class_report import write_report

pytestmark = pytest.mark.browser


def test_the_class_report_shows_every_figure(page, screenshots, tmp_path):
    import catalogue

    wrong = next(e for e in catalogue.ENTRIES if e.name == "conv_glorot_initializer").cells
    loops = next(e for e in catalogue.ENTRIES if e.name == "eq_unet_with_loops").cells
    copied = {"unet_model": loops["unet_model"].replace("skips", "saved")}
    root, db_url = make_class(tmp_path / "course", {"ref": {}, "glorot_a": wrong, "glorot_b": wrong,
                                                    "loops": loops, "loops_copy": copied})
    path = write_report(root, db_url)
    page.context.set_offline(True)  # self-contained: nothing to fetch
    page.goto(path.as_uri())
    images = page.locator("img")
    assert images.count() == 2
    for index in range(images.count()):
        image = images.nth(index)
        image.scroll_into_view_if_needed()
        assert image.evaluate("img => img.complete && img.naturalWidth > 300"), image.get_attribute("alt")
    for heading in ("1. Scores", "2. Common mistakes", "3. Grading health", "4. Similar submissions"):
        assert page.get_by_role("heading", name=heading).is_visible()
    assert page.get_by_text("Conv2D with the wrong kernel initializer").first.is_visible()
    page.locator("details summary").first.click()  # the side-by-side view of the copied pair
    assert page.locator("table.code pre").first.is_visible()
    page.screenshot(path=str(screenshots / "class_report.png"), full_page=True)
