"""A class of two, graded once per test session by plain nbgrader: a hostile submission whose
outputs and markdown carry scripts for the instructor's browser, and a correct bystander.

Every payload, wherever it could run, marks `window.__pwned`, writes `pwned_<name>.txt` into
the course folder through the contents API with the page's XSRF token (the Jupyter server of
tests/browser serves the course folder), and opens a dialog. ATTACKS also give what the kernel
outputs for each cell, so that the browser test can show an unsanitised copy.
"""

import re
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_output

MARK = "__pwned"
HOSTILE, BYSTANDER = "hostile", "bystander"
PNG = ("iVBORw0KGgoAAAANSUhEUgAAAAgAAAAICAIAAABLbSncAAAAEklEQVR4nGP4z8CAFWEXHbQSACj/P8Fu7N9hAAAAAElFTkSu"
       "QmCC")  # an 8x8 red square


def payload(name):
    """JavaScript that records `name`, PUTs pwned_<name>.txt and opens a dialog (no double quote:
    it goes into attributes)."""
    return (f"window.{MARK}=(window.{MARK}||[]).concat('{name}');"
            "var t=(document.cookie.match(/_xsrf=([^;]*)/)||[])[1]||'';"
            f"fetch('/api/contents/pwned_{name}.txt',{{method:'PUT',headers:{{'X-XSRFToken':t,"
            "'Content-Type':'application/json'},"
            f"body:JSON.stringify({{type:'file',format:'text',content:'{name}'}})}});alert('{name}')")


def corpus():
    """{name: HTML} of the unit tests' attacks, each with its own payload."""
    p = payload
    return {
        "script": f"<script>{p('script')}</script>",
        "img_onerror": f'<img src=x onerror="{p("img_onerror")}">',
        "svg_onload": f'<svg onload="{p("svg_onload")}"></svg>',
        "svg_script": f"<svg><script>{p('svg_script')}</script></svg>",
        "svg_foreign": f'<svg><foreignObject><img src=x onerror="{p("svg_foreign")}"></foreignObject></svg>',
        "href_js": f'<a href="javascript:{p("href_js")}">click</a>',
        "href_entity": f'<a href="&#106;avascript:{p("href_entity")}">click</a>',
        "href_case": f'<a href="JaVaScRiPt:{p("href_case")}">click</a>',
        "iframe_srcdoc": f"<iframe srcdoc=\"<script>parent.{MARK}=(parent.{MARK}||[]).concat('iframe_srcdoc');"
                         "parent.alert('iframe_srcdoc')</script>\"></iframe>",
        "object": '<object data="data:text/html;base64,PHNjcmlwdD5wYXJlbnQuYWxlcnQoMSk8L3NjcmlwdD4="></object>',
        "embed": '<embed src="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">',
        "form": f'<form action="javascript:{p("form")}"><button id="f">go</button></form>',
        "meta": '<meta http-equiv="refresh" content="0;url=javascript:alert(1)">',
        "base": '<base href="javascript:/">',
        "link": '<link rel="import" href="data:text/html,x">',
        "style_import": "<style>@import url(data:text/css,body{color:red});</style>",
        "mxss_math": f'<math><mtext><table><mglyph><style><img src=x onerror="{p("mxss_math")}">',
        "mxss_noscript": f'<noscript><p title="</noscript><img src=x onerror={p("mxss_noscript").replace(" ", "")}>">',
        "unclosed": f'<img src=x onerror="{p("unclosed")}"',
        "details": f'<details open ontoggle="{p("details")}">x</details>',
    }


HARMLESS = (f'<p><b>harmless bold</b></p><table id="harmless"><tr><th>key</th><td>harmless cell</td></tr></table>'
            f'<img alt="harmless image" src="data:image/png;base64,{PNG}" width="16">')
SVG_ATTACK = (f'<svg xmlns="http://www.w3.org/2000/svg" width="20" height="20" onload="{payload("svg_output")}">'
              '<rect width="20" height="20" fill="blue"/></svg>')
MARKDOWN_ATTACK = (f"A student's note.\n\n<script>{payload('markdown_cell')}</script>\n\n"
                   f"<img src=x onerror=\"{payload('markdown_img')}\">\n")


def _display(data):
    return new_output("display_data", data=data, metadata={})


# (name, the cell's source, what the kernel outputs for it: None for a markdown cell)
ATTACKS = [
    ("script", f"display(HTML({corpus()['script']!r}))",
     [_display({"text/html": corpus()["script"], "text/plain": "<IPython.core.display.HTML object>"})]),
    ("img_onerror", f"display(HTML({corpus()['img_onerror']!r}))",
     [_display({"text/html": corpus()["img_onerror"], "text/plain": "<IPython.core.display.HTML object>"})]),
    ("svg_in_html", f"display(HTML({corpus()['svg_onload']!r}))",
     [_display({"text/html": corpus()["svg_onload"], "text/plain": "<IPython.core.display.HTML object>"})]),
    ("svg_output", f"display(SVG({SVG_ATTACK!r}))",
     [_display({"image/svg+xml": SVG_ATTACK, "text/plain": "<IPython.core.display.SVG object>"})]),
    ("javascript", f"display(Javascript({payload('javascript')!r}))",
     [_display({"application/javascript": payload("javascript"),
                "text/plain": "<IPython.core.display.Javascript object>"})]),
    ("markdown_output", f"display(Markdown({('<script>' + payload('markdown_output') + '</script>')!r}))",
     [_display({"text/markdown": f"<script>{payload('markdown_output')}</script>",
                "text/plain": "<IPython.core.display.Markdown object>"})]),
    ("corpus", f"display(HTML({''.join(corpus().values())!r}))",
     [_display({"text/html": "".join(corpus().values()), "text/plain": "<IPython.core.display.HTML object>"})]),
    ("markdown_cell", MARKDOWN_ATTACK, None),
]
COMMENT_ATTACK = f'<img src=x onerror="{payload("comment")}">'
EXTRA_CELLS = [  # harmless or inert whatever happens: their outputs are the kernel's own
    "import gc  # what no exercise needs: the tamper reader sends the notebook to a person\n"
    "from IPython.display import HTML, SVG, Javascript, Latex, Markdown, display",
    f"display(HTML({HARMLESS!r}))",
    "display(Latex(r'$\\href{javascript:alert(1)}{x}$'))",
    "display({'application/vnd.jupyter.widget-view+json': {'model_id': 'x', 'version_major': 2, "
    "'version_minor': 0}, 'text/plain': 'a widget'}, raw=True)",
    # The tamper reader quotes the magic's name in its note, which the feedback shows as markdown.
    f"get_ipython().run_line_magic({COMMENT_ATTACK!r}, '')",
]
WIDGET_STATE = {"application/vnd.jupyter.widget-state+json": {"version_major": 2, "version_minor": 0, "state": {
    "x": {"model_name": "HTMLModel", "model_module": "@jupyter-widgets/controls", "model_module_version": "2.0.0",
          "state": {"value": f'<img src=x onerror="{payload("widget")}">'}}}}}


def hostile_notebook():
    from course.unet_segmentation.examples import solved

    notebook = solved((1, 2, 3))
    notebook.metadata["widgets"] = WIDGET_STATE
    cells = [new_code_cell(source) for source in EXTRA_CELLS]
    for _, source, outputs in ATTACKS:
        cells.append(new_code_cell(source) if outputs is not None else new_markdown_cell(source))
    notebook.cells += cells
    return notebook


def unsanitised(autograded):
    """The autograded notebook (its text) as it would be without InertMarkup: each attack cell
    with what its kernel output, the markdown as the student wrote it, the widget state."""
    notebook = nbformat.reads(autograded, as_version=4)
    by_source = {source: outputs for _, source, outputs in ATTACKS}
    for cell in notebook.cells:
        if cell.cell_type == "code" and cell.source in by_source:
            cell.outputs = nbformat.from_dict(by_source[cell.source])
        elif cell.cell_type == "markdown" and "A student's note." in cell.source:
            cell.source = MARKDOWN_ATTACK
    notebook.metadata["widgets"] = WIDGET_STATE
    return nbformat.writes(notebook)


def build(root):
    """The course folder `root` with the two submissions, the assignment generated."""
    from course.assignment import ASSIGNMENT, NOTEBOOK
    from course.layout import nbgrader
    from course.unet_segmentation.examples import solved
    from course_helpers import copy_course

    copy_course(root)
    nbgrader("generate_assignment", ASSIGNMENT, "--force", root=root, capture=True, timeout=600,
             extra_env={"UNET_EXCHANGE": ""})
    for student, notebook in ((HOSTILE, hostile_notebook()), (BYSTANDER, solved((1, 2, 3)))):
        folder = Path(root) / "submitted" / student / ASSIGNMENT
        folder.mkdir(parents=True)
        nbformat.write(notebook, folder / NOTEBOOK)
    return root


_GRADED = {}


def graded(tmp_path_factory):
    """(course folder, plain_nbgrader's runs) of the class, graded once per test session."""
    if "class" not in _GRADED:
        from course_helpers import NBGRADER_LIMITS, plain_nbgrader

        root = build(tmp_path_factory.mktemp("markup") / "course")
        _GRADED["class"] = root, plain_nbgrader(root, NBGRADER_LIMITS)
    return _GRADED["class"]


def autograded_path(root, student=HOSTILE):
    from course.assignment import ASSIGNMENT, NOTEBOOK

    return Path(root) / "autograded" / student / ASSIGNMENT / NOTEBOOK


# --- what a browser would run ---------------------------------------------------------------------

def _parse(page_html):
    from bleach._vendor import html5lib  # the HTML5 parsing algorithm, as browsers parse

    return html5lib.parse(page_html, namespaceHTMLElements=False)


RUNS_CODE = {"script", "iframe", "object", "embed", "form", "base", "meta", "link", "svg", "math", "frame",
             "frameset", "applet", "foreignobject", "template", "noscript"}


def live_markup(page_html, marker=MARK):
    """What in `page_html` (a whole page or a fragment) could run a payload that contains
    `marker` (any payload, with marker=""), as an HTML5 parser builds it: elements that run or
    load code holding it, event attributes, URLs with a script scheme; [] when there is none.
    Escaped text is not markup."""
    found = []
    for element in _parse(page_html).iter():
        if not isinstance(element.tag, str):
            continue
        tag = element.tag.rsplit("}", 1)[-1].lower()
        text = "".join(element.itertext()) if tag in RUNS_CODE else ""
        attributes = " ".join(f"{k}={v}" for k, v in element.attrib.items())
        if tag in RUNS_CODE and (marker in text or any(m in attributes.lower() for m in (marker, "javascript:",
                                                                                          "data:"))):
            found.append(f"<{tag} {attributes[:80]}>{text[:80]}")
        for name, value in element.attrib.items():
            name = name.rsplit("}", 1)[-1].lower()
            plain = re.sub(r"[\s\x00-\x20]+", "", value).lower()
            if (name.startswith("on") and (not marker or marker in value)) or name == "srcdoc" \
                    or (name in ("href", "src", "action", "formaction", "data", "xlink:href")
                        and re.match(r"(javascript|vbscript|data:text|data:application)", plain)):
                found.append(f"<{tag} {name}={value[:80]!r}>")
    return found
