"""Student markup made inert (course/judge/markup.py): an attack corpus against the HTML, SVG,
markdown and LaTeX rules, harmless content that must survive, bounded time on large and
deeply nested markup, and a hostile notebook graded by plain nbgrader whose autograded
notebook and feedback run nothing of the student's."""

import base64
import io
import json
import time

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output, new_raw_cell

from course.assignment import MIME as EVIDENCE
from course.judge import markup
from course.judge.markup import InertMarkup, inert_html, inert_markdown, inert_svg

import markup_class
from markup_class import HARMLESS, PNG, corpus, live_markup

ATTACKS = corpus()


def inert(notebook, **settings):
    """The notebook made inert as nbgrader runs it: nbconvert validates it after each step."""
    InertMarkup(**settings).preprocess(notebook, {})
    nbformat.validate(notebook)
    return notebook


def rendered_markdown(source):
    """What formgrader makes of a markdown cell's source (no clean_html there)."""
    from nbconvert.filters.markdown_mistune import markdown2html_mistune

    return markdown2html_mistune(source)


# --- the attack corpus ------------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_no_attack_survives_as_html(name):
    attack = ATTACKS[name]
    after = '</div><p title="x">after</p>'  # what the page puts next: an unclosed tag takes it in
    assert live_markup(attack + after, marker="") or name in ("style_import",), "the corpus entry should be live"
    cleaned = inert_html(attack)
    assert not live_markup(cleaned + after, marker=""), cleaned
    assert "<style" not in cleaned and "@import" not in cleaned.replace("&lt;style&gt;@import", "")


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_no_attack_survives_as_markdown(name):
    cleaned = inert_markdown(f"Some *text* first.\n\n{ATTACKS[name]}\n\nand after")
    assert not live_markup(rendered_markdown(cleaned), marker=""), cleaned


@pytest.mark.parametrize("url", ["javascript:alert(1)", "JaVaScRiPt:alert(1)", "&#106;avascript:alert(1)",
                                 "&#x6A;avascript:alert(1)", "java&#9;script:alert(1)", " javascript:alert(1)",
                                 "vbscript:msgbox(1)", "data:text/html;base64,PHNjcmlwdD4=",
                                 "DATA:text/html,<script>alert(1)</script>", "/api/contents/x", "//evil.example/x",
                                 "../../formgrader?path=/tmp", "http://127.0.0.1:8888/formgrader?path=/tmp"])
def test_no_script_url_and_no_request_to_the_instructor_s_server(url):
    for attack in (f'<a href="{url}">x</a>', f'<img src="{url}">', f'<a href=\'{url}\'>x</a>'):
        cleaned = inert_html(attack)
        assert not live_markup(cleaned, marker=""), cleaned
        assert "href=" not in cleaned and "src=" not in cleaned, cleaned
    cleaned = inert_markdown(f"[x]({url}) ![y]({url}) <{url}>")
    assert "href=" not in rendered_markdown(cleaned) and "src=" not in rendered_markdown(cleaned)


def test_styles_keep_plain_values_only():
    cleaned = inert_html('<div style="color: red; background: url(javascript:alert(1)); width: 10px; '
                         'background-image: url(x); behavior: url(x.htc); x: expression(alert(1)); '
                         'font-family: &quot;a&quot;; position: fixed; z-index: 99">s</div>')
    assert cleaned == '<div style="color: red; width: 10px">s</div>'
    assert inert_html('<p style="color: rgb(1, 2, 3)">x</p>') == '<p style="color: rgb(1, 2, 3)">x</p>'


def test_no_clobbering_or_page_classes():
    cleaned = inert_html('<p id="submission_id" name="notebook_id" class="score tabbable">x</p>'
                         '<span class="highlight">y</span><span class="kn">z</span>')
    assert cleaned == '<p>x</p><span class="highlight">y</span><span class="kn">z</span>'


def test_a_link_shows_its_target_and_cannot_be_followed():
    cleaned = inert_html('<a href="https://keras.io/api/">the docs</a>')
    assert cleaned == '<a title="link not followed by the grader: https://keras.io/api/">the docs</a>'


# --- what must survive --------------------------------------------------------------------------------

def test_harmless_html_survives():
    cleaned = inert_html(HARMLESS)
    assert "<b>harmless bold</b>" in cleaned
    assert "<th>key</th><td>harmless cell</td>" in cleaned
    assert f'src="data:image/png;base64,{PNG}"' in cleaned and 'width="16"' in cleaned
    assert 'id="harmless"' not in cleaned


def test_plain_markdown_is_left_as_it_is_and_markdown_with_html_still_renders():
    plain = "# Title\n\n**bold**, *italic*, `code`, $x^2$\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n- one\n- two\n"
    assert markup.markdown_is_plain(plain)
    notebook = new_notebook(cells=[new_markdown_cell(plain), new_markdown_cell(plain + "\n<b>html</b>\n")])
    inert(notebook)
    assert notebook.cells[0].source == plain
    shown = rendered_markdown(notebook.cells[1].source)
    for piece in ("<h1>Title</h1>", "<strong>bold</strong>", "<em>italic</em>", "<code>code</code>", "<td>2</td>",
                  "<li>one</li>", "<b>html</b>", "$x^2$"):
        assert piece in shown, piece
    assert notebook.cells[1].source.count("\n") == 0  # one HTML block, whatever the renderer


def test_images_and_data_stay():
    png, jpeg = PNG, base64.b64encode(b"\xff\xd8\xff\xe0 not really a jpeg").decode()
    evidence = {"cases": [1, 2]}
    notebook = new_notebook(cells=[new_code_cell("x", outputs=[
        new_output("display_data", data={"image/png": png, "text/plain": "<Figure>"},
                   metadata={"image/png": {"width": 300, "height": 200}}),
        new_output("display_data", data={"image/jpeg": jpeg}),
        new_output("display_data", data={EVIDENCE: evidence, "application/json": {"a": 1}}),
        new_output("execute_result", data={"text/plain": "10"}, execution_count=4),
        new_output("display_data", data={"text/latex": "$x^2 + \\frac{1}{2}$"}),
    ])])
    before = json.loads(json.dumps(notebook))
    inert(notebook)
    assert json.loads(json.dumps(notebook)) == before


def test_a_matplotlib_svg_keeps_its_drawing():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots()
    axis.plot([1, 2, 3], [3, 1, 2], "o-")
    axis.set_title("loss")
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg")
    plt.close(figure)
    svg = inert_svg(buffer.getvalue())
    assert svg.startswith('<svg xmlns="http://www.w3.org/2000/svg"')
    assert svg.count("<path") > 10 and svg.count("<use") > 5 and 'clip-path="url(#' in svg


# --- SVG, JavaScript, widgets, LaTeX, metadata ------------------------------------------------------------

def test_svg_outputs_lose_scripts_handlers_and_foreign_content():
    hostile = ('<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" onload="alert(1)">'
               '<script>alert(1)</script><foreignObject><body xmlns="http://www.w3.org/1999/xhtml">'
               '<img src="x" onerror="alert(1)"/></body></foreignObject>'
               '<a href="javascript:alert(1)"><text>t</text></a><use xlink:href="&#106;avascript:alert(1)"/>'
               '<use xlink:href="#ok"/><use href="data:image/svg+xml,x"/>'
               '<animate attributeName="href" values="javascript:alert(1)"/>'
               '<set attributeName="onmouseover" to="alert(1)"/>'
               '<rect fill="url(http://evil/x)" style="fill: url(#a); stroke: red" onclick="alert(1)"/>'
               '<style>@import url(//evil/x.css)</style><image href="x.svg"/></svg>')
    svg = inert_svg(hostile)
    assert svg == ('<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink"><use /><use '
                   'xlink:href="#ok" /><use /><rect style="stroke: red" /></svg>')
    # Not XML, an entity, or not SVG at all: it goes, with a note.
    for text in ('<svg onload=alert(1)>',
                 '<!DOCTYPE s [<!ENTITY a "x">]><svg xmlns="http://www.w3.org/2000/svg">&a;</svg>',
                 '<html xmlns="http://www.w3.org/1999/xhtml"><script>alert(1)</script></html>'):
        assert inert_svg(text) is None
        notebook = new_notebook(cells=[new_code_cell("x", outputs=[new_output("display_data", data={
            "image/svg+xml": text, "text/plain": "<SVG>"})])])
        inert(notebook)
        assert notebook.cells[0].outputs[0].data == {"text/plain": f"{markup.SVG_NOTE}\n<SVG>"}


def test_code_and_widget_outputs_are_replaced_by_a_note():
    notebook = new_notebook(metadata={"widgets": markup_class.WIDGET_STATE, "title": "<script>x</script>",
                                      "kernelspec": {"name": "python3", "display_name": "Python 3",
                                                     "language": "python"},
                                      "language_info": {"name": "python", "pygments_lexer": "no-such-lexer"}},
                            cells=[new_code_cell("x", execution_count=3, outputs=[
        new_output("display_data", data={"application/javascript": "alert(1)",
                                         "text/plain": "<IPython.core.display.Javascript object>"}),
        new_output("display_data", data={"text/javascript": "alert(1)"}),
        new_output("display_data", data={"application/vnd.jupyter.widget-view+json": {"model_id": "m"},
                                         "text/plain": "IntSlider(value=3)"}),
        new_output("display_data", data={"application/vnd.plotly.v1+json": {}, "text/x-weird<script>": "x"}),
        new_output("display_data", data={"text/latex": "$\\href{javascript:alert(1)}{x}$"}),
        new_output("display_data", data={"text/html": "<b>a</b>"},
                   metadata={"text/html": {"isolated": True}, "filenames": {"image/png": "/etc/passwd"}}),
        new_output("display_data", data={"image/png": "not base64 \" onerror=alert(1)"}),
    ])])
    notebook.cells[0].execution_count = "<script>alert(1)</script>"
    notebook.cells[0].metadata = {"alt": "x", "tags": ["ok", "<bad>"], "nbgrader": {"grade": False}}
    inert(notebook)
    outputs = [o.data for o in notebook.cells[0].outputs]
    assert outputs[0] == {"text/plain": f"{markup.JAVASCRIPT_NOTE}\n<IPython.core.display.Javascript object>"}
    assert outputs[1] == {"text/plain": markup.JAVASCRIPT_NOTE}
    assert outputs[2] == {"text/plain": f"{markup.WIDGET_NOTE}\nIntSlider(value=3)"}
    assert outputs[3] == {"text/plain": "[an output of type application/vnd.plotly.v1+json removed by the grader]\n"
                                        "[an output of type text/x-weird?script? removed by the grader]"}
    assert outputs[4] == {"text/plain": f"{markup.LATEX_NOTE}\n$\\href{{javascript:alert(1)}}{{x}}$"}
    assert notebook.cells[0].outputs[5].metadata == {}
    assert outputs[6] == {"text/plain": markup.IMAGE_NOTE}
    assert notebook.metadata == {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
                                 "language_info": {"name": "python"}}
    assert notebook.cells[0].execution_count is None
    assert notebook.cells[0].metadata == {"tags": ["ok"], "nbgrader": {"grade": False}}
    nbformat.validate(notebook)


def test_markdown_raw_and_locked_cells():
    attack = "Mine.\n\n<script>alert(1)</script><img src=x onerror=alert(1)>"
    notebook = new_notebook(cells=[
        new_markdown_cell(attack),  # a student's
        new_markdown_cell(attack, metadata={"nbgrader": {"locked": True, "grade_id": "md_01"}}),  # the source's
        new_markdown_cell(attack, metadata={"nbgrader": {"locked": True}}),  # claims to be locked: no grade id
        new_raw_cell(attack),
        new_markdown_cell("![a](attachment:a.png) [l](https://x.example)",
                          attachments={"a.png": {"image/png": PNG}, "b": {"text/html": "<script>x</script>"}}),
    ])
    inert(notebook)
    assert notebook.cells[1].source == attack  # OverwriteCells restored it from the gradebook
    for index in (0, 2, 4):
        assert not live_markup(rendered_markdown(notebook.cells[index].source), marker="")
        assert "attachments" not in notebook.cells[index]
    assert "Mine." in rendered_markdown(notebook.cells[0].source)
    assert not live_markup(notebook.cells[3].source, marker="")
    assert f'<img src="data:image/png;base64,{PNG}" alt="a">' in notebook.cells[4].source


# --- bounded time ---------------------------------------------------------------------------------------

def test_a_5_mb_html_output_is_shown_as_text_in_bounded_time():
    big = "<table>" + "<tr><td onclick=alert(1)>x</td></tr>" * 140_000 + "</table><script>alert(1)</script>"
    assert len(big) > 5_000_000
    notebook = new_notebook(cells=[new_code_cell("x", outputs=[new_output("display_data", data={"text/html": big})])])
    start = time.perf_counter()
    inert(notebook)
    seconds = time.perf_counter() - start
    shown = notebook.cells[0].outputs[0].data["text/html"]
    print(f"\n5.0 MB of HTML made inert in {seconds:.2f} s")
    assert seconds < 3
    assert shown.startswith("<p><em>[shown as text by the grader") and not live_markup(shown[:100_000], marker="")


def test_deep_nesting_costs_seconds_at_most():
    for attack in ("".join(f"<b title={i}><p>" for i in range(1000)) + "</b>x" * 1000,  # 12 s and 9 MB in bleach
                   "<div>" * 7900, "<p><b>" * 3900):
        start = time.thread_time()  # this thread's CPU time: what the attack costs, whatever else runs
        cleaned = inert_html(attack)
        spent = time.thread_time() - start
        assert spent < 8, f"{attack[:20]}...: {spent:.1f} CPU-s"
        assert len(cleaned) < 2 * len(attack) + 70_000


def test_a_child_that_runs_out_of_time_leaves_the_text_escaped():
    from course import bounded

    if not bounded.available():
        pytest.skip("no fork here")
    slow = "<div>" * 7900 + "<script>alert(1)</script>"  # about 3 s of parsing on a busy core
    notebook = new_notebook(cells=[new_code_cell("x", outputs=[
        new_output("display_data", data={"text/html": "<b>first</b>"}),
        new_output("display_data", data={"text/html": slow}),
        new_output("display_data", data={"text/markdown": "<i>m</i>"})])])
    start = time.perf_counter()
    inert(notebook, seconds=1)
    assert time.perf_counter() - start < 4
    first, second, third = (o.data for o in notebook.cells[0].outputs)
    assert first["text/html"] == "<b>first</b>"  # done before the clock ran out
    assert second["text/html"].startswith("<p><em>[shown as text by the grader")
    assert not live_markup(second["text/html"], marker="")
    assert not live_markup(rendered_markdown(third["text/markdown"]), marker="")


def test_without_a_child_the_same_rules_hold():
    notebook = new_notebook(cells=[new_code_cell("x", outputs=[new_output("display_data", data={
        "text/html": ATTACKS["img_onerror"] + HARMLESS, "image/svg+xml": "<svg onload=alert(1)>"})])])
    inert(notebook, isolated=False)
    data = notebook.cells[0].outputs[0].data
    assert not live_markup(data["text/html"]) and "<b>harmless bold</b>" in data["text/html"]
    assert "image/svg+xml" not in data and data["text/plain"] == markup.SVG_NOTE


# --- nbconvert's clean_html filter, replaced (nbgrader_config.py) -------------------------------------------

def test_the_second_line_uses_the_allowlist_and_keeps_the_course_s_markdown():
    from nbconvert import HTMLExporter
    from traitlets.config import Config

    config = Config()
    config.HTMLExporter.sanitize_html = True
    config.HTMLExporter.filters = {"clean_html": "course.judge.markup.clean_html"}
    config.HTMLExporter.template_name = "classic"  # what the feedback's and formgrader's templates extend
    notebook = new_notebook(cells=[
        new_markdown_cell("# The U-Net\n\nA *paragraph* with ![a figure](images/unet_architecture.png)."),
        new_code_cell("x = '<b>'", outputs=[
            new_output("display_data", data={"text/html": ATTACKS["img_onerror"] + HARMLESS}),
            new_output("display_data", data={"application/javascript": "alert('js')"})])])
    page, _ = HTMLExporter(config=config).from_notebook_node(notebook)
    assert not live_markup(page)
    assert "alert('js')" not in page
    for piece in ("<em>paragraph</em>", 'src="images/unet_architecture.png"', "<b>harmless bold</b>",
                  '<span class="s1">'):
        assert piece in page, piece


def test_comments_shown_as_markdown_are_inert():
    from course.judge.markup import InertComments

    note = "sent to manual grading: cell 3: runs the magic %<img src=x onerror=alert(1)>"
    plain = "Well done: see *section 2*, $x^2$."
    notebook = new_notebook(cells=[new_code_cell("x", metadata={"nbgrader": {"comment": note}}),
                                   new_code_cell("y", metadata={"nbgrader": {"comment": plain}}),
                                   new_code_cell("z", metadata={"nbgrader": {"comment": None}})])
    InertComments().preprocess(notebook, {})
    shown = rendered_markdown(notebook.cells[0].metadata.nbgrader.comment)
    assert not live_markup(shown, marker="") and "runs the magic %&lt;img src=x" in shown
    assert notebook.cells[1].metadata.nbgrader.comment == plain
    assert notebook.cells[2].metadata.nbgrader.comment is None


# --- end to end: plain nbgrader ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root, runs = markup_class.graded(tmp_path_factory)
    for code, log, _ in runs:
        assert code == 0, log[-3000:]
    return root


def test_plain_nbgrader_writes_an_inert_notebook_and_feedback(graded):
    from course_helpers import feedback_page, sent_to_manual_grading

    autograded = json.loads(markup_class.autograded_path(graded).read_text())
    assert "widgets" not in autograded["metadata"]
    for cell in autograded["cells"]:
        if cell["cell_type"] == "markdown":
            assert not live_markup(rendered_markdown("".join(cell["source"]))), cell["source"]
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            assert not set(data) & {"application/javascript", "application/vnd.jupyter.widget-view+json"}
            for mime in ("text/html", "image/svg+xml"):
                assert not live_markup("".join(data.get(mime, ""))), data[mime]
            assert not live_markup(rendered_markdown("".join(data.get("text/markdown", ""))))
            assert "text/latex" not in data
    feedback = feedback_page(graded, markup_class.HOSTILE)
    assert not live_markup(feedback), live_markup(feedback)
    assert "<b>harmless bold</b>" in feedback and "<td>harmless cell</td>" in feedback
    assert f'src="data:image/png;base64,{PNG}"' in feedback
    assert markup.JAVASCRIPT_NOTE in feedback
    assert "runs the magic %&lt;img src=x onerror=" in feedback  # the judge's note, inert

    db_url = f"sqlite:///{graded / 'gradebook.db'}"
    flagged, comments = sent_to_manual_grading(db_url, markup_class.HOSTILE)
    assert flagged and all("gc" in note for note in comments.values()), (flagged, comments)
    assert sent_to_manual_grading(db_url, markup_class.BYSTANDER) == (set(), {})


def test_the_bystander_is_graded_as_usual(graded):
    from course_helpers import gradebook_rows

    rows = gradebook_rows(f"sqlite:///{graded / 'gradebook.db'}", [markup_class.BYSTANDER])
    grades = next(iter(rows[markup_class.BYSTANDER]["notebooks"].values()))["grades"]
    scored = {name: auto for name, (auto, _, _, _) in grades.items() if auto is not None}
    assert len(scored) == 6 and sum(scored.values()) == 30, grades
