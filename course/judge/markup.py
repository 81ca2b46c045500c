"""Student markup made inert before anyone renders it on the instructor's side.

formgrader, the feedback pages and JupyterLab show an autograded notebook on the
instructor's Jupyter origin, where a script could act with the instructor's session (write
files through the contents API, start kernels, change grades). `InertMarkup` runs after
SandboxedExecute in nbgrader_config.py, so the notebook SaveAutoGrades records and nbgrader
writes is already inert. It rewrites every cell, locked ones too (a student can redefine a
helper that a locked cell calls):

- `text/html` outputs and the raw cells a student could have written: rebuilt from an
  allowlist by bleach (html5lib, the HTML5 parsing algorithm): text, tables, lists, headings,
  emphasis, code and images only; no attribute that runs code, no id or name (they could
  clobber the page's own elements), classes only of syntax highlighting; `img` only from
  data:image/png|jpeg|gif|webp or a plain relative path; a link keeps its text and shows its
  target in a tooltip, never as a target; `style` only with plain values (no url(),
  expression, escapes) of a few properties (colour, alignment, borders, sizes). What is not
  allowed is shown escaped, as text: the instructor sees what the student tried.
- markdown (`text/markdown` outputs, and the markdown cells a student could have written,
  that is every one but the locked cells of the source, which OverwriteCells restored):
  kept as it is when it cannot make markup (no `<`, `&`, link or URL); otherwise rendered as
  nbconvert renders it and rebuilt as above, kept as one line of HTML that every Markdown
  renderer passes through unchanged.
- `image/svg+xml`: parsed by defusedxml (no entities, nothing external) and rebuilt from an
  allowlist of shapes, text and gradients (no script, foreignObject, animation, style
  element, event attribute, or reference other than `#id`); one that cannot be read goes.
- `text/latex` with markup or with MathJax macros that make links, styles or HTML goes.
- `image/png` and `image/jpeg` (valid base64), `text/plain`, `application/json` and the
  evidence stay; JavaScript, widgets and every other type go. Whatever goes leaves a note in
  `text/plain` ("[a JavaScript output removed by the grader]"), before the text kept there.
- metadata the templates read: the notebook's (widget state: the lab template loads a
  widget manager from a CDN to render it) keeps only its kernel and language; a cell's only
  nbgrader's and the editor's flags; an output's only the sizes of its images (no
  `filenames`, no `isolated` iframe); execution counts are numbers or nothing.

The parser's work grows with nesting (html5lib re-opens formatting elements: 20 kB can cost
seconds and megabytes), so the rich work happens in a forked child with limits of its own
(course.bounded), and only over texts within MAX_TEXT characters and MAX_TAGS tags; past
them, or past the child's limits, a text is shown escaped inside `<pre>`, which is linear.

`clean_html` is the same HTML allowlist for nbconvert's `clean_html` filter, which the
templates apply to HTML and markdown outputs when `HTMLExporter.sanitize_html` is set
(nbgrader_config.py sets both for formgrader and the feedback): a second line for notebooks
graded before this existed. It never reaches their markdown cells. `InertComments` makes the
comments that the feedback shows as markdown inert (GenerateFeedback.preprocessors).
"""

import base64
import binascii
import html
import re

import bleach
import tinycss2
from bleach.html5lib_shim import Filter
from defusedxml import ElementTree as SafeTree
from nbformat import from_dict
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Bool, Integer

from .. import bounded
from ..assignment import MIME as EVIDENCE

MAX_TEXT = 256_000  # characters of one HTML, markdown or SVG text the parsers read
MAX_TAGS = 8_000  # `<` in one such text
MAX_MARKDOWN = 64_000  # characters of markdown rendered before it is sanitised
MAX_DEPTH = 64  # levels of SVG elements kept
MAX_SVG_ELEMENTS = 50_000

# --- notes left in text/plain ---------------------------------------------------------------
JAVASCRIPT_NOTE = "[a JavaScript output removed by the grader]"
WIDGET_NOTE = "[a widget output removed by the grader]"
SVG_NOTE = "[an SVG image the grader could not make safe was removed]"
LATEX_NOTE = "[a LaTeX output with markup or links removed by the grader; its text:]"
IMAGE_NOTE = "[an image whose data is not base64 removed by the grader]"
AS_TEXT_NOTE = "[shown as text by the grader: markup it does not read ({why})]"

JAVASCRIPT = {"application/javascript", "text/javascript", "application/x-javascript", "application/ecmascript",
              "text/ecmascript", "text/jscript", "module"}
KEPT = {"text/plain", "application/json", EVIDENCE}  # inert data, kept as it is
IMAGES = {"image/png", "image/jpeg"}

# --- the HTML allowlist -----------------------------------------------------------------------
TAGS = frozenset({
    "a", "abbr", "acronym", "b", "bdi", "blockquote", "br", "caption", "center", "cite", "code", "col", "colgroup",
    "dd", "del", "details", "dfn", "div", "dl", "dt", "em", "figcaption", "figure", "h1", "h2", "h3", "h4", "h5",
    "h6", "hr", "i", "img", "ins", "kbd", "li", "mark", "ol", "p", "pre", "q", "s", "samp", "small", "span",
    "strike", "strong", "sub", "summary", "sup", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "tt", "u",
    "ul", "var", "wbr"})
_NUMBER = re.compile(r"\d{1,5}(?:px|%)?", re.A)
_SMALL = re.compile(r"\d{1,4}", re.A)
_CHOICES = {
    "align": {"left", "right", "center", "justify", "char"}, "valign": {"top", "middle", "bottom", "baseline"},
    "dir": {"ltr", "rtl", "auto"}, "scope": {"row", "col", "rowgroup", "colgroup"},
    "type": {"1", "a", "A", "i", "I", "disc", "circle", "square"},
}
_PATTERNS = {"width": _NUMBER, "height": _NUMBER, "border": _SMALL, "colspan": _SMALL, "rowspan": _SMALL,
             "span": _SMALL, "start": _SMALL, "value": _SMALL,
             "lang": re.compile(r"[A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8})*", re.A)}
_ANY_TEXT = {"title", "alt", "datetime"}  # escaped by the serializer, never a URL
_ATTRIBUTES = {  # tag -> attributes it may keep besides the global ones
    "img": {"src", "alt", "width", "height"}, "a": {"href"}, "td": {"colspan", "rowspan", "align", "valign", "width"},
    "th": {"colspan", "rowspan", "align", "valign", "width", "scope"}, "table": {"border", "width"},
    "col": {"span", "width"}, "colgroup": {"span", "width"}, "ol": {"start", "type"}, "ul": {"type"},
    "li": {"value"}, "details": {"open"}, "tr": {"align", "valign"}, "p": {"align"}, "div": {"align"},
}
_GLOBAL = {"title", "lang", "dir", "style", "class"}
_IMAGE_DATA = re.compile(r"\s*data:image/(?:png|jpeg|gif|webp);base64,[A-Za-z0-9+/=\s]*", re.I | re.A)
_RELATIVE_PATH = re.compile(r"[\w-][\w.-]*(?:/[\w-][\w.-]*)*", re.A)  # no scheme, no leading / or .., no ?, no %
_LINK = re.compile(r"(?:https?://|mailto:)[^\s\"'<>\\&`]{1,2000}", re.I | re.A)


def _highlight_classes():
    from pygments.token import STANDARD_TYPES

    return frozenset(c for c in STANDARD_TYPES.values() if c) | {"highlight", "dataframe"}


CLASSES = _highlight_classes()  # syntax highlighting (nbconvert's and pandas'): nothing the page selects
_CLASS_PATTERN = re.compile(r"hl-[a-z0-9_+-]{1,30}", re.A)


def _attribute(tag, name, value):
    """Whether `tag` may keep attribute `name` with the raw `value` (entities not decoded, so
    URLs are matched as written and may contain no entity at all)."""
    if name not in _GLOBAL and name not in _ATTRIBUTES.get(tag, ()):
        return False
    if name in _ANY_TEXT or name == "style" or (tag == "details" and name == "open"):
        return True  # style: the CSS sanitiser below
    if name == "class":
        return all(c in CLASSES or _CLASS_PATTERN.fullmatch(c) for c in value.split())
    if name == "src":
        return bool(_IMAGE_DATA.fullmatch(value) or _RELATIVE_PATH.fullmatch(value))
    if name == "href":
        return bool(_LINK.fullmatch(value))  # moved into the title (_LinkTargets)
    if name in _CHOICES:
        return value in _CHOICES[name]
    pattern = _PATTERNS.get(name)
    return bool(pattern and pattern.fullmatch(value))


class _LinkTargets(Filter):
    """A link keeps its text; its target is shown in the tooltip, never followed (a target on
    the instructor's own server is a request with the instructor's session)."""

    def __iter__(self):
        for token in super().__iter__():
            if token["type"] in ("StartTag", "EmptyTag") and token["name"] == "a":
                data = token.get("data") or {}
                href = data.pop((None, "href"), None)
                if href:
                    data[(None, "title")] = f"link not followed by the grader: {href}"
                token["data"] = data
            yield token


# --- CSS: a few properties with plain values --------------------------------------------------
CSS_PROPERTIES = frozenset({
    "color", "background-color", "text-align", "text-decoration", "font-weight", "font-style", "font-size",
    "font-family", "vertical-align", "white-space", "line-height", "width", "height", "max-width", "min-width",
    "border", "border-collapse", "border-color", "border-style", "border-width", "border-top", "border-bottom",
    "border-left", "border-right", "padding", "padding-top", "padding-bottom", "padding-left", "padding-right"})
SVG_CSS_PROPERTIES = CSS_PROPERTIES | {
    "fill", "fill-opacity", "fill-rule", "stroke", "stroke-width", "stroke-opacity", "stroke-linecap",
    "stroke-linejoin", "stroke-dasharray", "stroke-dashoffset", "stroke-miterlimit", "opacity", "clip-rule",
    "stop-color", "stop-opacity", "text-anchor", "dominant-baseline", "letter-spacing"}
_CSS_FUNCTIONS = {"rgb", "rgba", "hsl", "hsla"}
_PLAIN_TOKENS = ("whitespace", "number", "percentage", "dimension", "hash")


def _plain_css(tokens, depth=0):
    for token in tokens:
        kind = token.type
        if kind in _PLAIN_TOKENS:
            continue
        if kind == "ident" and re.fullmatch(r"-?[a-z][a-z0-9-]{0,40}", token.lower_value, re.A) \
                and "expression" not in token.lower_value:
            continue
        if kind == "literal" and token.value in (",", "/"):
            continue
        if kind == "string" and re.fullmatch(r"[\w .-]{0,60}", token.value, re.A):
            continue
        if kind == "function" and depth == 0 and token.lower_name in _CSS_FUNCTIONS \
                and _plain_css(token.arguments, 1):
            continue
        return False
    return True


class CssSanitizer:
    """bleach's css_sanitizer: keeps the declarations of `properties` whose values are plain
    (idents, numbers, colours, quoted names, rgb()/hsl()): no url(), image, expression, escape
    or comment survives, whatever the browser would make of it."""

    def __init__(self, properties=CSS_PROPERTIES):
        self.properties = properties

    def sanitize_css(self, style):
        if len(style) > 4096:
            return ""
        kept = []
        for item in tinycss2.parse_declaration_list(style, skip_comments=True, skip_whitespace=True):
            if item.type == "declaration" and item.lower_name in self.properties and _plain_css(item.value):
                value = tinycss2.serialize(item.value).strip()
                if value and not re.search(r"[\\<>&@]", value):
                    kept.append(f"{item.lower_name}: {value}")
        return "; ".join(kept)


def _cleaner():
    # A Cleaner is not thread-safe: one per call (a few milliseconds).
    return bleach.Cleaner(tags=TAGS, attributes=_attribute, protocols={"http", "https", "mailto", "data"},
                          strip=False, strip_comments=True, css_sanitizer=CssSanitizer(), filters=[_LinkTargets])


def as_text(text, why):
    """`text` escaped inside <pre>, after a note: inert, and linear in its length."""
    return f"<p><em>{html.escape(AS_TEXT_NOTE.format(why=why))}</em></p><pre>{html.escape(text)}</pre>"


# html5lib re-opens the formatting elements a block closed, up to all that are open, and the
# Noah's-ark clause keeps at most three alike (same name and attributes): so each tag can cost
# as many elements as there are formatting start tags with attributes, plus 3 of each of the
# 14 names. Texts whose tags times that bound exceed FORMATTING_BUDGET are not parsed.
_FORMATTING = re.compile(r"<(?:a|b|big|code|em|font|i|nobr|s|small|strike|strong|tt|u)[\s/]", re.I)
FORMATTING_BUDGET = 600_000


def _too_much(text):
    """Why `text` is not for the parser (None: it is)."""
    if len(text) > MAX_TEXT:
        return f"{len(text) / 1e6:.1f} MB is more than the {MAX_TEXT // 1000} kB it reads"
    tags = text.count("<")
    if tags > MAX_TAGS:
        return f"{tags} tags are more than the {MAX_TAGS} it reads"
    if tags * (len(_FORMATTING.findall(text)) + 42) > FORMATTING_BUDGET:
        return "too many formatting elements with attributes"
    return None


def inert_html(text):
    """HTML that runs nothing: the allowlist above, or `text` escaped when it is too big."""
    text = _text(text)
    why = _too_much(text)
    if why:
        return as_text(text, why)
    cleaned = _cleaner().clean(text)
    if len(cleaned) > 2 * len(text) + 65_536:  # elements re-opened by the parser: nesting to the brim
        return as_text(text, "it nests too deeply")
    return cleaned


def clean_html(element):
    """nbconvert's `clean_html` filter, with this allowlist (HTMLExporter.filters)."""
    element = element.decode("utf-8", "replace") if isinstance(element, bytes) else str(element)
    return inert_html(element)


# --- markdown -----------------------------------------------------------------------------------
_MARKUP_IN_MARKDOWN = re.compile(r"<|&|\]\(|\]:|://|www\.|@|mermaid|javascript|vbscript", re.I)
_LINE_BREAKS = re.compile(r"[\r\n\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")


def markdown_is_plain(source):
    """Whether markdown `source` renders without markup of its own: no HTML, entity, link,
    URL or diagram (emphasis, lists, tables, code and math are all it has)."""
    return not _MARKUP_IN_MARKDOWN.search(source)


def as_markdown(html_text):
    """Markdown that renders as `html_text` in every renderer: one line that opens with a
    <div> is an HTML block, passed through as it is (line breaks become &#10;)."""
    return "<div>" + _LINE_BREAKS.sub(lambda m: f"&#{ord(m.group())};", html_text) + "</div>"


def inert_markdown(source, attachments=None):
    """Markdown that renders as nbconvert would render `source`, sanitised."""
    source = _text(source)
    if len(source) > MAX_MARKDOWN:
        return as_markdown(as_text(source, f"{len(source) // 1000} kB of markdown is more than it renders"))
    from nbconvert.filters.markdown_mistune import IPythonRenderer, MarkdownWithMath

    images = {name: {mime: data for mime, data in bundle.items() if mime in IMAGES and isinstance(data, str)}
              for name, bundle in (attachments or {}).items() if isinstance(bundle, dict) and isinstance(name, str)}
    try:
        rendered = MarkdownWithMath(renderer=IPythonRenderer(
            escape=False, attachments=images, exclude_anchor_links=True)).render(source)
    except Exception:  # noqa: BLE001 - whatever mistune makes of it, the text is still shown
        return as_markdown(as_text(source, "markdown it could not render"))
    return as_markdown(inert_html(rendered))


# --- SVG ----------------------------------------------------------------------------------------
SVG = "http://www.w3.org/2000/svg"
XLINK = "http://www.w3.org/1999/xlink"
SVG_ELEMENTS = frozenset({
    "svg", "g", "defs", "title", "desc", "path", "rect", "circle", "ellipse", "line", "polyline", "polygon", "text",
    "tspan", "clipPath", "linearGradient", "radialGradient", "stop", "use", "symbol", "marker"})
SVG_ATTRIBUTES = frozenset({
    "id", "class", "width", "height", "viewBox", "preserveAspectRatio", "version", "x", "y", "x1", "y1", "x2", "y2",
    "cx", "cy", "r", "rx", "ry", "fx", "fy", "d", "points", "transform", "fill", "fill-opacity", "fill-rule",
    "stroke", "stroke-width", "stroke-opacity", "stroke-linecap", "stroke-linejoin", "stroke-dasharray",
    "stroke-dashoffset", "stroke-miterlimit", "opacity", "font-family", "font-size", "font-weight", "font-style",
    "text-anchor", "dominant-baseline", "letter-spacing", "dx", "dy", "rotate", "textLength", "clip-path",
    "clip-rule", "clipPathUnits", "offset", "stop-color", "stop-opacity", "gradientUnits", "gradientTransform",
    "spreadMethod", "markerWidth", "markerHeight", "markerUnits", "refX", "refY", "orient", "marker-start",
    "marker-mid", "marker-end", "style", "visibility", "display"})
_LOCAL_REF = re.compile(r"#[\w.:-]{1,200}", re.A)
_LOCAL_URL = re.compile(r"\s*url\(\s*#[\w.:-]{1,200}\s*\)\s*", re.A)
_SVG_VALUE = re.compile(r"[^<>&\\(){}:;\"'`]*")  # plain: numbers, names, colours, lists (no scheme, no url())
_TRANSFORM = re.compile(r"\s*(?:(?:matrix|translate|scale|rotate|skewX|skewY)\s*\([0-9eE\s.,+-]*\)[\s,]*)*", re.A)
_URL_ATTRIBUTES = {"fill", "stroke", "clip-path", "marker-start", "marker-mid", "marker-end"}


def _svg_value(name, value):
    """The value SVG attribute `name` may keep (None: drop it); values are decoded already."""
    if len(value) > 1_000_000:
        return None
    if name == "style":
        return CssSanitizer(SVG_CSS_PROPERTIES).sanitize_css(value) or None
    if name in _URL_ATTRIBUTES and _LOCAL_URL.fullmatch(value):
        return value
    if name in ("transform", "gradientTransform"):
        return value if len(value) < 10_000 and _TRANSFORM.fullmatch(value) else None
    return value if _SVG_VALUE.fullmatch(value) else None


def inert_svg(text):
    """The SVG rebuilt from the allowlist, or None when it cannot be read."""
    text = _text(text)
    if len(text) > 4 * MAX_TEXT:
        return None
    try:
        # Never an entity (no billion laughs), never anything external; a DOCTYPE alone is fine.
        root = SafeTree.fromstring(text, forbid_dtd=False, forbid_entities=True, forbid_external=True)
    except Exception:  # noqa: BLE001 - not XML, or refused: it goes
        return None
    if root.tag != f"{{{SVG}}}svg":
        return None
    from xml.etree import ElementTree

    out_root = ElementTree.Element("svg", {"xmlns": SVG, "xmlns:xlink": XLINK})
    count, stack = 0, [(root, out_root, 0)]
    while stack:
        element, copy, depth = stack.pop()
        for name, value in element.attrib.items():
            if name in (f"{{{XLINK}}}href", "href"):
                if element.tag == f"{{{SVG}}}use" and _LOCAL_REF.fullmatch(value):
                    copy.set("xlink:href", value)
                continue
            kept = _svg_value(name, value) if name in SVG_ATTRIBUTES else None
            if kept is not None:
                copy.set(name, kept)
        copy.text = element.text
        children = []
        for child in element:  # an element that goes takes its text with it
            svg = isinstance(child.tag, str) and child.tag.startswith(f"{{{SVG}}}")
            local = child.tag[len(SVG) + 2:] if svg else None
            count += 1
            if local in SVG_ELEMENTS and depth < MAX_DEPTH and count < MAX_SVG_ELEMENTS:
                new = ElementTree.SubElement(copy, local)
                new.tail = child.tail
                children.append((child, new, depth + 1))
        stack.extend(reversed(children))
    return ElementTree.tostring(out_root, encoding="unicode")


# --- LaTeX --------------------------------------------------------------------------------------
_LATEX_MARKUP = re.compile(r"<|\\(?:href|url|unicode|class|cssId|style|require|html\w*|data|attr|bbox|mmlToken|"
                           r"toggle|texttip|tooltip|mathtip|statusline|FontAwesome|input|include|def|let)(?![a-zA-Z])")


def latex_is_plain(text):
    return isinstance(text, str) and not _LATEX_MARKUP.search(text)


# --- one output ---------------------------------------------------------------------------------

def _text(value):
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return "".join(value)
    return value if isinstance(value, str) else str(value)


def _base64(value):
    if not isinstance(value, str):
        return False
    try:
        base64.b64decode(value.encode("ascii"), validate=False)
    except (ValueError, binascii.Error, UnicodeEncodeError):
        return False
    return bool(re.fullmatch(r"[A-Za-z0-9+/=\s]*", value))


def _mime_name(mime):
    return re.sub(r"[^\w.+/-]", "?", str(mime))[:80]


def _count(value):
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _image_metadata(metadata):
    """What an output's metadata may keep: the size of its images (what the templates read
    as numbers or flags), nothing else (no `filenames`, no `isolated` iframe)."""
    kept = {}
    if not isinstance(metadata, dict):
        return kept
    for mime in IMAGES:
        entry = metadata.get(mime)
        if isinstance(entry, dict):
            size = {k: v for k, v in entry.items() if k in ("width", "height") and _count(v) is not None}
            if entry.get("unconfined") is True:
                size["unconfined"] = True
            if size:
                kept[mime] = size
    return kept


def _rich_output(output, jobs, place):
    """Make one display_data or execute_result inert; the texts that need a parser go into
    `jobs` as (kind, text, where), applied later by _apply."""
    data = output.get("data")
    data = dict(data) if isinstance(data, dict) else {}
    notes, kept = [], {}
    for mime, value in data.items():
        if not isinstance(mime, str):
            continue
        if mime in KEPT:
            kept[mime] = _text(value) if mime == "text/plain" else value
        elif mime in IMAGES:
            if _base64(value):
                kept[mime] = value
            else:
                notes.append(IMAGE_NOTE)
        elif mime == "text/html":
            kept[mime] = _text(value)
            jobs.append(("html", kept[mime], (*place, mime)))
        elif mime == "text/markdown":
            kept[mime] = _text(value)
            if not markdown_is_plain(kept[mime]):
                jobs.append(("markdown", kept[mime], (*place, mime)))
        elif mime == "image/svg+xml":
            kept[mime] = _text(value)
            jobs.append(("svg", kept[mime], (*place, mime)))
        elif mime == "text/latex":
            if latex_is_plain(_text(value)):
                kept[mime] = _text(value)
            else:
                notes.append(f"{LATEX_NOTE}\n{_text(value)}")
        elif mime.lower() in JAVASCRIPT or "javascript" in mime.lower() or "ecmascript" in mime.lower():
            notes.append(JAVASCRIPT_NOTE)
        elif "jupyter.widget" in mime.lower():
            notes.append(WIDGET_NOTE)
        else:
            notes.append(f"[an output of type {_mime_name(mime)} removed by the grader]")
    output["data"] = kept
    output["metadata"] = _image_metadata(output.get("metadata"))
    if output.get("output_type") == "execute_result":
        output["execution_count"] = _count(output.get("execution_count"))
    return notes


def _note(output, notes):
    notes = list(dict.fromkeys(notes))  # each note once
    if notes:
        plain = output["data"].get("text/plain")
        output["data"]["text/plain"] = "\n".join(notes + ([plain] if plain else []))


def _plain_output(output):
    """Stream and error outputs are shown as escaped text: only their types are made right, so
    that no template fails on them."""
    kind = output.get("output_type")
    if kind == "stream":
        output["text"] = _text(output.get("text", ""))
        if output.get("name") not in ("stdout", "stderr"):
            output["name"] = "stdout"
    elif kind == "error":
        output["ename"], output["evalue"] = _text(output.get("ename", "")), _text(output.get("evalue", ""))
        traceback = output.get("traceback")
        output["traceback"] = [_text(line) for line in traceback] if isinstance(traceback, list) else []


# --- cells and the notebook -----------------------------------------------------------------------
CELL_METADATA = {"nbgrader", "deletable", "editable", "collapsed", "scrolled", "jupyter", "tags"}
_TAG = re.compile(r"[\w.:-]{1,60}", re.A)


def instructors(cell):
    """Whether the cell holds the source's own text: a locked cell with a grade id (after
    OverwriteCells, which drops unknown ids and restores locked cells from the gradebook)."""
    metadata = cell.get("metadata")
    meta = metadata.get("nbgrader") if isinstance(metadata, dict) else None
    return isinstance(meta, dict) and meta.get("locked") is True and isinstance(meta.get("grade_id"), str)


def _cell_metadata(cell):
    metadata = cell.get("metadata")
    metadata = metadata if isinstance(metadata, dict) else {}
    kept = {k: v for k, v in metadata.items() if k in CELL_METADATA}
    if "tags" in kept:
        tags = kept["tags"] if isinstance(kept["tags"], list) else []
        kept["tags"] = [t for t in tags if isinstance(t, str) and _TAG.fullmatch(t)]
    if "jupyter" in kept:
        jupyter = kept["jupyter"] if isinstance(kept["jupyter"], dict) else {}
        kept["jupyter"] = {k: v for k, v in jupyter.items() if k in ("source_hidden", "outputs_hidden")
                           and isinstance(v, bool)}
    for flag in ("deletable", "editable", "collapsed"):
        if flag in kept and not isinstance(kept[flag], bool):
            del kept[flag]
    if "scrolled" in kept and kept["scrolled"] not in (True, False, "auto"):
        del kept["scrolled"]
    cell["metadata"] = from_dict(kept)


_LANGUAGE_FIELDS = ("name", "version", "mimetype", "file_extension", "pygments_lexer", "nbconvert_exporter")


def _short_text(value):
    return isinstance(value, str) and len(value) <= 200


def _notebook_metadata(nb):
    """Only the kernel and its language stay (no widget state, no title, nothing else a
    template or an extension reads); the result still validates."""
    metadata = nb.get("metadata") if isinstance(nb.get("metadata"), dict) else {}
    kept = {}
    kernelspec = metadata.get("kernelspec")  # OverwriteKernelspec restored the source's
    if isinstance(kernelspec, dict) and _short_text(kernelspec.get("name")) \
            and _short_text(kernelspec.get("display_name")):
        kept["kernelspec"] = {k: v for k, v in kernelspec.items()
                              if k in ("name", "display_name", "language") and _short_text(v)}
    language = metadata.get("language_info")
    if isinstance(language, dict) and _short_text(language.get("name")):
        info = {k: v for k, v in language.items() if k in _LANGUAGE_FIELDS and _short_text(v)}
        mode = language.get("codemirror_mode")
        if _short_text(mode):
            info["codemirror_mode"] = mode
        elif isinstance(mode, dict):
            info["codemirror_mode"] = {k: v for k, v in mode.items() if k in ("name", "version")
                                       and (_short_text(v) or _count(v) is not None)}
        lexer = info.get("pygments_lexer")
        if lexer:
            try:
                from pygments.lexers import get_lexer_by_name

                get_lexer_by_name(lexer)
            except Exception:  # noqa: BLE001 - a lexer nbconvert could not find fails the page
                del info["pygments_lexer"]
        kept["language_info"] = info
    nb["metadata"] = from_dict(kept)


def plan(nb):
    """Make everything inert that needs no parser; return the jobs that need one:
    [(kind, text, where)], `where` being (cell index, "source") or (cell index, output index,
    mime type)."""
    _notebook_metadata(nb)
    jobs = []
    for index, cell in enumerate(nb.get("cells", [])):
        if not isinstance(cell, dict):
            continue
        kind = cell.get("cell_type")
        student = not instructors(cell)
        _cell_metadata(cell)
        if kind == "markdown" and student:
            source = _text(cell.get("source", ""))
            attachments = cell.pop("attachments", None)  # plain markdown refers to none
            cell["source"] = source
            if not markdown_is_plain(source):
                jobs.append(("markdown-cell", source, (index, "source"), attachments))
        elif kind == "raw" and student:
            cell["source"] = _text(cell.get("source", ""))
            jobs.append(("html", cell["source"], (index, "source")))
        elif kind == "code":
            cell["execution_count"] = _count(cell.get("execution_count"))
            outputs = cell.get("outputs")
            if not isinstance(outputs, list):
                cell["outputs"] = []
                continue
            for number, output in enumerate(outputs):
                if not isinstance(output, dict):
                    continue
                if output.get("output_type") in ("display_data", "execute_result", "update_display_data"):
                    _note(output, _rich_output(output, jobs, (index, number)))
                else:
                    _plain_output(output)
    return jobs


def run_job(job):
    """The inert text of one job (None: an SVG that goes)."""
    kind, text = job[0], job[1]
    if kind == "html":
        return inert_html(text)
    if kind == "markdown":
        return inert_markdown(text)
    if kind == "markdown-cell":
        return inert_markdown(text, job[3] if len(job) > 3 else None)
    if kind == "svg":
        return inert_svg(text)
    raise ValueError(kind)


def fallback(job, why):
    """What a job becomes without a parser: its text escaped (an SVG goes)."""
    kind, text = job[0], _text(job[1])
    if kind == "svg":
        return None
    shown = as_text(text, why)
    return as_markdown(shown) if kind.startswith("markdown") else shown


def apply(nb, jobs, results):
    for job, result in zip(jobs, results):
        where = job[2]
        cell = nb["cells"][where[0]]
        if where[1] == "source":
            cell["source"] = result
            continue
        output = cell["outputs"][where[1]]
        if result is None:  # an SVG that could not be made safe
            del output["data"][where[2]]
            _note(output, [SVG_NOTE])
        else:
            output["data"][where[2]] = result


def _work(send, jobs):
    for job in jobs:
        send(run_job(job))


class InertMarkup(NbGraderPreprocessor):
    """Makes every cell's outputs, the student's markdown and raw cells, and the metadata the
    templates read inert (see the module's docstring), before SaveAutoGrades."""

    isolated = Bool(True, help="Parse the student's markup in a child process under the limits below").tag(config=True)
    seconds = Integer(30, help="Seconds the child may take on one notebook's markup").tag(config=True)
    memory_mb = Integer(1024, help="Memory (MiB) the child may write beyond what it was forked with").tag(config=True)

    def preprocess(self, nb, resources):
        jobs = plan(nb)
        if not jobs:
            return nb, resources
        results = []
        if self.isolated and bounded.available():
            try:
                child = bounded.in_child(_work, jobs, memory=self.memory_mb << 20, seconds=self.seconds)
                results = child.messages[:len(jobs)]
                if not child.finished:
                    self.log.warning("making the markup inert %s: %d of %d texts shown as text",
                                     child.why, len(jobs) - len(results), len(jobs))
            except OSError as error:
                self.log.warning("no process for the markup (%s): texts shown as text", error)
            why = "the grader's limits for reading markup"
        else:  # no fork here: the caps alone bound the work
            why = "markup it could not read"
            for job in jobs:
                try:
                    results.append(run_job(job))
                except Exception:  # noqa: BLE001 - the text is still shown, escaped
                    results.append(fallback(job, why))
        results += [fallback(job, why) for job in jobs[len(results):]]
        apply(nb, jobs, results)
        return nb, resources


class InertComments(NbGraderPreprocessor):
    """For the feedback, after GetGrades: the comment on each graded cell, which the feedback
    template renders as markdown with its HTML (no clean_html), with its HTML shown as text and
    the rest made inert like a student's markdown. The judge's note in it quotes the student's
    code (`runs the magic %<img ...>`)."""

    def preprocess_cell(self, cell, resources, index):
        metadata = cell.get("metadata")
        meta = metadata.get("nbgrader") if isinstance(metadata, dict) else None
        comment = meta.get("comment") if isinstance(meta, dict) else None
        if comment is not None and not (isinstance(comment, str) and markdown_is_plain(comment)):
            # Its HTML is shown as text (a quote of code); its markdown still renders.
            meta["comment"] = inert_markdown(html.escape(_text(comment), quote=False))
        return cell, resources
