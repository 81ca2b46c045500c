"""formgrader in Chromium, as an instructor opens a hostile submission sent to manual grading:
nothing of the student's runs (no file written through the contents API, no global set, no
dialog), the harmless content still shows; and an unsanitised copy of the same notebook
shows that the attack is real. Also the unit tests' corpus, sanitised, in one page."""

import os
import time

import pytest

import markup_class
from course.judge.markup import inert_html, inert_markdown
from markup_class import MARK

from .lab_server import TOKEN, running_lab

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def formgrader(tmp_path_factory):
    """(base url, course folder, submission id of the hostile notebook) of a Jupyter server
    started in the graded course folder, as an instructor starts it for formgrader."""
    from nbgrader.api import Gradebook

    from course.assignment import ASSIGNMENT, NOTEBOOK

    root, runs = markup_class.graded(tmp_path_factory)
    for code, log, _ in runs:
        assert code == 0, log[-3000:]
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gradebook:
        submission = gradebook.find_submission_notebook(NOTEBOOK.removesuffix(".ipynb"), ASSIGNMENT,
                                                        markup_class.HOSTILE).id
    env = {k: v for k, v in os.environ.items() if not k.startswith("JUPYTER") and k != "UNET_EXCHANGE"}
    with running_lab(tmp_path_factory.mktemp("formgrader"), root, env) as url:
        yield url, root, submission


def _watched(page, url):
    """Dialogs and PUT requests of `page`; requests that leave the server are refused (the
    machine is offline: MathJax's CDN would only make the page wait)."""
    seen = {"dialogs": [], "puts": []}

    def on_dialog(dialog):
        seen["dialogs"].append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    page.on("response", lambda r: seen["puts"].append((r.url, r.status)) if r.request.method == "PUT" else None)
    page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(url) else route.abort())
    return seen


def _open_submission(page, url, submission):
    """Log in as an instructor does (the login cookie for the whole server: one set by a
    formgrader page with ?token= would be limited to that page's folder), then open the
    submission's manual-grading page."""
    assert page.request.get(f"{url}/api/status?token={TOKEN}").ok
    page.goto(f"{url}/formgrader/submissions/{submission}/", wait_until="load", timeout=120_000)


def _fired(page):
    return page.evaluate(f"() => window.{MARK} || null")


def _written(root):
    return sorted(p.name for p in root.glob("pwned_*.txt"))


def test_formgrader_runs_nothing_of_a_hostile_submission(formgrader, page, screenshots):
    url, root, submission = formgrader
    seen = _watched(page, url)
    _open_submission(page, url, submission)
    page.get_by_role("cell", name="harmless cell").wait_for(timeout=30_000)
    page.wait_for_timeout(2000)  # time for images to fail and handlers to fire, were there any
    assert _fired(page) is None
    assert seen["dialogs"] == [] and seen["puts"] == []
    assert _written(root) == []
    # The sanitised content still shows, and the notebook is there to grade.
    assert page.locator("b", has_text="harmless bold").is_visible()
    image = page.get_by_alt_text("harmless image")
    assert image.evaluate("img => img.complete && img.naturalWidth === 8")
    assert page.get_by_text("[a JavaScript output removed by the grader]").first.is_visible()
    assert page.locator("p", has_text="A student's note.").is_visible()
    assert page.locator(".score").count() == 6  # the graded cells, ready for a score
    page.screenshot(path=str(screenshots / "formgrader_hostile_submission.png"), full_page=True)


def test_the_attack_is_real_without_inert_markup(formgrader, page):
    """The same notebook as the kernel left it: its markdown cell's script runs in formgrader
    (its markdown cells never pass through nbconvert's clean_html) and writes into the course
    folder with the instructor's session; the HTML and JavaScript outputs are stopped by the
    second line (HTMLExporter.sanitize_html with the course's clean_html, nbgrader_config.py)."""
    url, root, submission = formgrader
    path = markup_class.autograded_path(root)
    sanitised = path.read_text()
    path.write_text(markup_class.unsanitised(sanitised))
    try:
        seen = _watched(page, url)
        _open_submission(page, url, submission)
        page.wait_for_function(f"() => (window.{MARK} || []).includes('markdown_cell')", timeout=30_000)
        deadline = time.monotonic() + 20
        while "pwned_markdown_cell.txt" not in _written(root) and time.monotonic() < deadline:
            page.wait_for_timeout(200)
        page.wait_for_timeout(1000)
        fired = set(_fired(page))
        assert "pwned_markdown_cell.txt" in _written(root), seen["puts"]
        assert any(u.endswith("/api/contents/pwned_markdown_cell.txt") and s == 201 for u, s in seen["puts"]), seen
        assert "markdown_cell" in seen["dialogs"]
        # The second line holds in formgrader: nbgrader_config.py reaches its exporter.
        outputs = {name for name, _, kernel_outputs in markup_class.ATTACKS if kernel_outputs is not None}
        assert not fired & (outputs | set(markup_class.corpus())), fired
    finally:
        path.write_text(sanitised)
        for name in _written(root):
            (root / name).unlink()


def test_the_sanitised_corpus_runs_nothing_in_chromium(page):
    seen = _watched(page, "data:")
    attacks = markup_class.corpus()
    body = "".join(f"<div>{inert_html(html)}</div>" for html in attacks.values())
    from nbconvert.filters.markdown_mistune import markdown2html_mistune

    body += "".join(f"<div>{markdown2html_mistune(inert_markdown(html))}</div>" for html in attacks.values())
    body += "".join(f"<div>{inert_html(html)}" for html in attacks.values())  # each left open for the next
    page.set_content(f"<!DOCTYPE html><html><body>{body}<p id='end'>end</p></body></html>", wait_until="load")
    page.wait_for_timeout(1500)
    assert _fired(page) is None and seen["dialogs"] == []
    assert page.locator("script, iframe, object, embed, form, base, meta, link, svg, math, style").count() == 0


def test_the_corpus_itself_runs_in_chromium(page):
    """The control: unsanitised, the payloads run (so the test above proves something); each
    in a page of its own, as one can change how the next is parsed."""
    _watched(page, "data:")
    for html in markup_class.corpus().values():
        page.set_content(f"<!DOCTYPE html><html><body><div>{html}</div><p>end</p></body></html>", wait_until="load")
        page.wait_for_timeout(150)
    fired = set(page.evaluate(f"() => window.{MARK} || []"))
    assert {"script", "img_onerror", "svg_onload", "svg_script", "svg_foreign", "iframe_srcdoc", "mxss_noscript",
            "unclosed", "details"} <= fired, fired
