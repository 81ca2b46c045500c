"""Draw the explanatory U-Net diagrams of the course.

Writes three PNG files into ``source/unet_segmentation/images/``:

* ``unet_architecture.png``: the whole network of the assignment, in the classic U shape;
* ``encoder_block.png``: one ``conv_block`` (an encoder level);
* ``decoder_block.png``: one ``upsampling_block`` (a decoder level);
* ``fcn.png``: a classifier beside a fully convolutional network, the idea U-Net refines.

Run from the repository root with ``python -m course.unet_segmentation.diagrams``.

Every figure is laid out in inches (one data unit is one inch of the saved picture), so box
sizes, gaps and font sizes can be reasoned about together. Only matplotlib's Agg renderer and
its bundled DejaVu Sans font are used, and PNG metadata that would vary is left out, so a
rerun writes the same bytes.
"""

from math import log2
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch
from matplotlib.path import Path as PolyLine

DEFAULT_DIR = Path(__file__).resolve().parents[2] / "source" / "unet_segmentation" / "images"
DPI = 100

# Okabe-Ito colours: they stay distinguishable for the common colour-vision deficiencies.
COLORS = {
    "conv": "#0072B2",
    "pool": "#D55E00",
    "up": "#009E73",
    "skip": "#8C8C8C",
    "conv1x1": "#CC79A7",
    "dropout": "#E69F00",
}
LEGEND = [
    ("conv", "conv 3×3 + ReLU"),
    ("pool", "max pool 2×2"),
    ("up", "transposed conv 3×3, stride 2"),
    ("skip", "skip connection (concatenate)"),
    ("conv1x1", "conv 1×1"),
]
FMAP_FACE, FMAP_EDGE = "#DCE9F5", "#3B5B78"
COPY_FACE = "#E6E6E6"
TEXT, MUTED = "#1A1A1A", "#4D4D4D"


# ---------------------------------------------------------------------------------------
# Drawing helpers
# ---------------------------------------------------------------------------------------

def _canvas(width, height):
    """A white figure whose data coordinates are inches, origin at the bottom left."""
    fig = Figure(figsize=(width, height), dpi=DPI, facecolor="white")
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, width)
    ax.set_ylim(0, height)
    ax.set_axis_off()
    return fig, ax


def _mix(color, amount, towards=255):
    """``color`` moved ``amount`` of the way to white (or black, ``towards=0``)."""
    rgb = [int(color[i:i + 2], 16) for i in (1, 3, 5)]
    return "#" + "".join(f"{round(c + (towards - c) * amount):02X}" for c in rgb)


def _tint(color):
    """A light version of ``color`` for box faces, so black text stays readable on it."""
    return _mix(color, 0.82)


def _ink(color):
    """A darker version of ``color`` for text: the pure colours are too pale on white."""
    return _mix(color, 0.3, towards=0)


def _box(ax, x, y, w, h, text=None, face=FMAP_FACE, edge=FMAP_EDGE, dashed=False,
         rounded=False, fontsize=10, weight="normal"):
    """A box centred on (x, y); returns its (left, right, bottom, top) edges for arrows."""
    style = "round,pad=0,rounding_size=0.08" if rounded else "square,pad=0"
    ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle=style, facecolor=face,
                                edgecolor=edge, linewidth=1.3, linestyle="--" if dashed else "-"))
    if text:
        ax.text(x, y, text, ha="center", va="center", fontsize=fontsize, color=TEXT,
                weight=weight, linespacing=1.3)
    return x - w / 2, x + w / 2, y - h / 2, y + h / 2


def _arrow(ax, *points, color, width=1.8):
    """An arrow along a polyline: two points draw a straight arrow, more draw an elbow."""
    ax.add_patch(FancyArrowPatch(path=PolyLine(points), arrowstyle="-|>", mutation_scale=13,
                                 color=color, linewidth=width, joinstyle="miter",
                                 capstyle="butt"))


def _text(ax, x, y, text, size=9, color=MUTED, ha="center", va="center", **kwargs):
    ax.text(x, y, text, fontsize=size, color=color, ha=ha, va=va, linespacing=1.3, **kwargs)


def _fit_width(ax, right, margin=0.3):
    """Crop the figure to end ``margin`` right of ``right``, so flow charts sit centred."""
    width = right + margin
    ax.figure.set_size_inches(width, ax.figure.get_figheight())
    ax.set_xlim(0, width)
    return width


def _title(ax, width, top, title, subtitle=None):
    _text(ax, width / 2, top, title, size=15, color=TEXT, va="top", weight="bold")
    if subtitle:
        _text(ax, width / 2, top - 0.34, subtitle, size=10.5, va="top")


def _legend(ax, x_centre, y, entries):
    """One framed row of arrow samples; text widths are measured so entries never overlap."""
    renderer = ax.figure.canvas.get_renderer()
    arrow_len, after_arrow, between = 0.42, 0.08, 0.36
    texts, widths = [], []
    for _, label in entries:
        text = ax.text(0, y, label, fontsize=9.5, color=TEXT, va="center")
        texts.append(text)
        widths.append(text.get_window_extent(renderer).width / DPI)
    total = sum(arrow_len + after_arrow + w for w in widths) + between * (len(entries) - 1)
    x = x_centre - total / 2
    ax.add_patch(FancyBboxPatch((x - 0.2, y - 0.2), total + 0.4, 0.4,
                                boxstyle="round,pad=0,rounding_size=0.06", facecolor="white",
                                edgecolor="#BBBBBB", linewidth=1))
    for (kind, _), text, w in zip(entries, texts, widths):
        _arrow(ax, (x, y), (x + arrow_len, y), color=COLORS[kind])
        text.set_x(x + arrow_len + after_arrow)
        x += arrow_len + after_arrow + w + between


def _save(fig, path):
    path.parent.mkdir(parents=True, exist_ok=True)
    # No "Software" entry: it names the matplotlib version, which would make reruns differ.
    fig.savefig(path, dpi=DPI, facecolor="white", metadata={"Software": None})
    return path


# ---------------------------------------------------------------------------------------
# 1. The whole U-Net
# ---------------------------------------------------------------------------------------

SIZES = [(96, 128), (48, 64), (24, 32), (12, 16), (6, 8)]   # (height, width) of each level
FILTERS = [32, 64, 128, 256, 512]
DROPOUT = [0, 0, 0, 0.3, 0.3]
N_CLASSES = 23


# Box sizes grow with the logarithm of the real sizes: linear boxes would make the 6×8
# bottleneck invisible next to the 96×128 input.
def _fmap_w(channels):
    return 0.04 + 0.028 * log2(channels / 2)


def _fmap_h(rows):
    return 0.3 + 0.22 * log2(rows / 6)


def _shape(level, channels):
    rows, cols = SIZES[level]
    return f"{rows}×{cols}×{channels}"


def draw_architecture(path):
    width, height = 13.6, 8.0
    gap, elbow, row_gap = 0.24, 0.2, 0.45   # conv arrows; elbow arrows' run; between levels
    fig, ax = _canvas(width, height)
    _title(ax, width, height - 0.2,
           "U-Net of the assignment: a 96×128 RGB image in, 23 class scores per pixel out")

    ys, y = [], height - 1.05
    for level, (rows, _) in enumerate(SIZES):
        y -= _fmap_h(rows) / 2
        ys.append(y)
        y -= _fmap_h(rows) / 2 + row_gap

    def fmap(x, level, channels, face=FMAP_FACE):
        """A feature map box with its channel count on top; returns its edges."""
        w, h = _fmap_w(channels), _fmap_h(SIZES[level][0])
        edges = _box(ax, x, ys[level], w, h, face=face)
        _text(ax, x, edges[3] + 0.05, str(channels), va="bottom")
        return edges

    def conv(edges, level, channels, color=COLORS["conv"], face=FMAP_FACE):
        """A conv arrow from ``edges`` to a new feature map right of it."""
        x = edges[1] + gap + _fmap_w(channels) / 2
        _arrow(ax, (edges[1], ys[level]), (x - _fmap_w(channels) / 2, ys[level]), color=color)
        return fmap(x, level, channels, face)

    # Encoder: each level starts from the pooled map (the input image on level 0), below the
    # previous level's output; the pooling arrow turns right so it misses the channel labels.
    skips = []
    entry = fmap(1.05 + _fmap_w(3) / 2, 0, 3)   # 1.05 inches leave room for the input's label
    _text(ax, entry[0] - 0.1, ys[0], "input\n96×128×3", size=10, color=TEXT, ha="right")
    for level, filters in enumerate(FILTERS):
        if level:
            below = skips[-1]
            x = (below[0] + below[1]) / 2
            left = x + elbow
            _arrow(ax, (x, below[2]), (x, ys[level]), (left, ys[level]), color=COLORS["pool"])
            entry = fmap(left + _fmap_w(FILTERS[level - 1]) / 2, level, FILTERS[level - 1])
        block = conv(conv(entry, level, filters), level, filters)
        skips.append(block)
        note = _shape(level, filters) + (f"\ndropout {DROPOUT[level]}" if DROPOUT[level] else "")
        if level < 4:
            # Right-aligned so the text ends before the pooling arrow that leaves the block.
            _text(ax, (block[0] + block[1]) / 2 - 0.08, block[2] - 0.06, note, ha="right",
                  va="top")
        else:
            centre = (entry[0] + block[1]) / 2
            _text(ax, centre, block[2] - 0.06, f"{note}, no pooling", va="top")
            _text(ax, centre, block[2] - 0.48, "Bottleneck", size=12, color=TEXT, va="top",
                  weight="bold")

    # Decoder: the upsampled map (right half of each concatenation box) comes up from the
    # level below, the copied skip connection (grey left half) comes across the U.
    for level in (3, 2, 1, 0):
        filters = FILTERS[level]
        w = _fmap_w(filters)
        x_up = block[1] + elbow
        _arrow(ax, (block[1], ys[level + 1]), (x_up, ys[level + 1]),
               (x_up, ys[level] - _fmap_h(SIZES[level][0]) / 2), color=COLORS["up"])
        copy = _box(ax, x_up - w, ys[level], w, _fmap_h(SIZES[level][0]), face=COPY_FACE)
        up = _box(ax, x_up, ys[level], w, _fmap_h(SIZES[level][0]))
        _text(ax, x_up - w / 2, up[3] + 0.05, f"{filters}+{filters}", va="bottom")
        _arrow(ax, (skips[level][1], ys[level]), (copy[0], ys[level]), color=COLORS["skip"])
        block = conv(conv(up, level, filters), level, filters)
        _text(ax, x_up + 0.08, up[2] - 0.06, _shape(level, filters), ha="left", va="top")
    _text(ax, (skips[0][1] + copy[0]) / 2, ys[0] + 0.06, "skip connection / copy",
          va="bottom", color=_ink(COLORS["skip"]), style="italic")

    head = conv(block, 0, 32)
    out = conv(head, 0, N_CLASSES, COLORS["conv1x1"], face=_tint(COLORS["conv1x1"]))
    _text(ax, out[1] + 0.1, ys[0], "output\n96×128×23\nclass logits", size=10, color=TEXT,
          ha="left")

    # Each path's label sits in the empty triangle outside its arm of the U.
    _text(ax, 2.4, ys[3], "Encoder\n(contracting path)", size=12, color=TEXT, weight="bold")
    _text(ax, width - 2.4, ys[3], "Decoder\n(expanding path)", size=12, color=TEXT,
          weight="bold")
    _legend(ax, width / 2, 0.32, LEGEND)
    return _save(fig, path)


# ---------------------------------------------------------------------------------------
# 2. and 3. One encoder block and one decoder block, as flow charts
# ---------------------------------------------------------------------------------------

FLOW_ARROW = 0.42   # length of the arrows between the boxes of a flow chart
CONV_TEXT = "Conv2D 3×3\nn_filters, ReLU\nHe-normal, 'same'"


def _layer(ax, left, y, w, text, kind, shape=None, note=None, dashed=False, h=0.9):
    """A layer box coloured like its arrow in the U-Net figure, with its output shape and an
    optional condition written underneath; returns its edges."""
    edges = _box(ax, left + w / 2, y, w, h, text, face=_tint(COLORS[kind]), edge=COLORS[kind],
                 dashed=dashed, rounded=True)
    below = edges[2] - 0.08
    if shape:
        _text(ax, left + w / 2, below, "→ " + shape, va="top")
        below -= 0.25
    if note:
        _text(ax, left + w / 2, below, note, va="top", color=_ink(COLORS[kind]),
              style="italic")
    return edges


def _tensor(ax, left, y, w, text, h=0.75):
    """A tensor (an argument or a return value) as a plain rounded box; returns its edges."""
    return _box(ax, left + w / 2, y, w, h, text, face="white", edge=MUTED, rounded=True)


def _follow(ax, previous, y, color=MUTED):
    """Draw the arrow leaving the box ``previous`` to the right at height ``y``; returns the
    left edge of the box it points to."""
    _arrow(ax, (previous[1], y), (previous[1] + FLOW_ARROW, y), color=color)
    return previous[1] + FLOW_ARROW


def draw_encoder_block(path):
    height, y = 5.35, 2.9
    fig, ax = _canvas(13, height)
    inputs = _tensor(ax, 0.3, y, 1.2, "inputs\n96×128×3")
    conv1 = _layer(ax, _follow(ax, inputs, y), y, 1.55, CONV_TEXT, "conv", "96×128×32")
    conv2 = _layer(ax, _follow(ax, conv1, y), y, 1.55, CONV_TEXT, "conv", "96×128×32")
    drop = _layer(ax, _follow(ax, conv2, y), y, 1.55, "Dropout\n(dropout_prob)", "dropout",
                  "96×128×32", "only if dropout_prob > 0", dashed=True)

    # The fork: the same tensor leaves twice, once to the decoder, once to the next level.
    fork_x, branch = drop[1] + 0.45, 1.05
    ax.plot([drop[1], fork_x], [y, y], color=MUTED, linewidth=1.8, solid_capstyle="butt")
    ax.plot([fork_x], [y], "o", color=MUTED, markersize=6)
    skip = _tensor(ax, fork_x + 0.4, y + branch, 2.1, "skip_connection\n96×128×32", h=0.7)
    _arrow(ax, (fork_x, y), (fork_x, y + branch), (skip[0], y + branch), color=COLORS["skip"])
    _text(ax, skip[1] + 0.1, y + branch, "to the\ndecoder", ha="left")
    pool = _layer(ax, fork_x + 0.4, y - branch, 1.6, "MaxPooling2D\n2×2", "pool", "48×64×32",
                  "only if max_pooling", dashed=True, h=0.7)
    _arrow(ax, (fork_x, y), (fork_x, y - branch), (pool[0], y - branch), color=COLORS["pool"])
    after = _tensor(ax, _follow(ax, pool, y - branch), y - branch, 1.45,
                    "next_layer\n48×64×32", h=0.7)

    width = _fit_width(ax, after[1])
    _title(ax, width, height - 0.2,
           "conv_block(inputs, n_filters, dropout_prob, max_pooling): one encoder level",
           "shapes for the first block: 96×128×3 inputs, n_filters=32, dropout_prob=0, "
           "max_pooling=True")
    _text(ax, width / 2, 0.4,
          "conv_block returns (next_layer, skip_connection).\n"
          "With max_pooling=False (the bottleneck) there is no pooling: next_layer is the same "
          "tensor as skip_connection.", size=10, color=TEXT)
    return _save(fig, path)


def draw_decoder_block(path):
    height, y = 4.6, 1.75
    fig, ax = _canvas(13, height)
    expansive = _tensor(ax, 0.3, y, 1.6, "expansive_input\n6×8×512")
    up = _layer(ax, _follow(ax, expansive, y), y, 1.75,
                "Conv2DTranspose\n3×3, stride 2, 'same'\nn_filters", "up", "12×16×256",
                "no activation,\ndefault initializer")
    concat = _layer(ax, _follow(ax, up, y), y, 1.6, "Concatenate\naxis=3 (channels)", "skip",
                    "12×16×512")

    # The skip connection comes in from the side, like the grey arrows across the U.
    centre = (concat[0] + concat[1]) / 2
    contractive = _tensor(ax, centre - 1.25, y + 1.45, 2.5, "contractive_input\n12×16×256",
                          h=0.7)
    _arrow(ax, (centre, contractive[2]), (centre, concat[3]), color=COLORS["skip"])
    _text(ax, contractive[1] + 0.12, contractive[2] + 0.35,
          "the skip connection:\nconv_block's skip_connection\n"
          "from the encoder level of the same size", ha="left")

    conv1 = _layer(ax, _follow(ax, concat, y), y, 1.55, CONV_TEXT, "conv", "12×16×256")
    conv2 = _layer(ax, _follow(ax, conv1, y), y, 1.55, CONV_TEXT, "conv", "12×16×256")
    output = _tensor(ax, _follow(ax, conv2, y), y, 1.3, "output\n12×16×256")

    width = _fit_width(ax, output[1])
    _title(ax, width, height - 0.2,
           "upsampling_block(expansive_input, contractive_input, n_filters): one decoder level",
           "shapes for the first decoder block: n_filters=256")
    _text(ax, width / 2, 0.3,
          "The transposed convolution doubles height and width; concatenating the skip "
          "connection brings back the fine detail lost by pooling.", size=10, color=TEXT)
    return _save(fig, path)


# ---------------------------------------------------------------------------------------
# 4. Classifier and fully convolutional network
# ---------------------------------------------------------------------------------------

def _shrinking_maps(ax, left, y, color):
    """Five feature maps that shrink and deepen, as an encoder's pooled levels; returns the
    right edge."""
    x = left
    for level, (rows, _) in enumerate(SIZES):
        w, h = 0.16 + 0.07 * level, 1.5 * rows / 96 + 0.25
        _box(ax, x + w / 2, y, w, h, face=_tint(color), edge=color)
        x += w + 0.12
    _text(ax, (left + x) / 2, y - 1.05, "convolutions and pooling\n96×128 → 3×4", size=9)
    return x


def draw_fcn(path):
    height = 5.6
    fig, ax = _canvas(13, height)
    rows = [(3.75, "classifier"), (1.35, "fully convolutional network")]
    for y, name in rows:
        _text(ax, 0.3, y + 1.0, name, size=11, color=TEXT, ha="left", weight="bold")
    # The classifier: the maps are flattened into one vector, which forgets positions.
    y = rows[0][0]
    picture = _tensor(ax, 0.3, y, 1.3, "picture\n96×128×3")
    maps = _shrinking_maps(ax, _follow(ax, picture, y), y, COLORS["conv"])
    dense = _layer(ax, maps + 0.6, y, 1.6, "Flatten\n+ Dense", "conv1x1", h=0.8)
    _arrow(ax, (maps, y), (dense[0], y), color=MUTED)
    label = _tensor(ax, _follow(ax, dense, y), y, 1.6, "one label\n\"street\"")
    _text(ax, label[1] + 0.15, y, "flattening throws away\nwhere each feature was", ha="left")
    # The FCN: only convolutions, a coarse map of class scores, one big upsampling.
    y = rows[1][0]
    picture = _tensor(ax, 0.3, y, 1.3, "picture\n96×128×3")
    maps = _shrinking_maps(ax, _follow(ax, picture, y), y, COLORS["conv"])
    scores = _layer(ax, maps + 0.6, y, 1.6, "Conv2D 1×1\nclass scores", "conv1x1", "3×4×23", h=0.8)
    _arrow(ax, (maps, y), (scores[0], y), color=MUTED)
    up = _layer(ax, _follow(ax, scores, y), y, 1.7, "upsample ×32\nin one step", "up", "96×128×23", h=0.8)
    mask = _tensor(ax, _follow(ax, up, y), y, 1.6, "coarse mask")
    _text(ax, mask[1] + 0.15, y, "each cell of the 3×4 map\nstands for a 32×32 patch:\nright about what,\nrough about where",
          ha="left")
    width = _fit_width(ax, max(label[1], mask[1]) + 2.3)
    _title(ax, width, height - 0.15, "From classification to fully convolutional segmentation")
    return _save(fig, path)


def main(out_dir=DEFAULT_DIR):
    """Write the three diagrams into ``out_dir`` and return their paths."""
    out_dir = Path(out_dir)
    return [
        draw_architecture(out_dir / "unet_architecture.png"),
        draw_encoder_block(out_dir / "encoder_block.png"),
        draw_decoder_block(out_dir / "decoder_block.png"),
        draw_fcn(out_dir / "fcn.png"),
    ]


if __name__ == "__main__":
    for written in main():
        print(written)
