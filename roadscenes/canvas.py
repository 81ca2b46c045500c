"""A drawing surface that paints instance ids, so picture and mask come from one raster.

Every shape gets its own instance id in a 32-bit image; each instance carries a class id,
a base colour, a texture strength (large blotches), a grain (fine, asphalt- or leaf-like
noise), a vertical gradient and, for worn paint, the colour showing through and how much of it
shows. Turning the id raster into the mask and the picture afterwards makes the two
pixel-exact by construction.
"""

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

LIT = 255


class Canvas:
    """Instance-id raster plus a light map (255 = fully lit) for shadows."""

    def __init__(self, width, height):
        self.width, self.height = width, height
        self.ids = Image.new("I", (width, height), 0)
        self.light = Image.new("L", (width, height), LIT)
        self._draw_ids = ImageDraw.Draw(self.ids)
        self._draw_light = ImageDraw.Draw(self.light)
        self.classes, self.colours, self.textures, self.gradients = [], [], [], []
        self.grains, self.unders, self.wears = [], [], []

    def _instance(self, cls, colour, texture, gradient, grain=0.0, under=None, wear=0.0):
        self.classes.append(cls)
        self.colours.append(colour)
        self.textures.append(texture)
        self.gradients.append(gradient)
        self.grains.append(grain)
        self.unders.append(colour if under is None else under)
        self.wears.append(wear)
        return len(self.classes) - 1

    def polygon(self, points, cls, colour, texture=0.06, gradient=0.0, shade=LIT, grain=0.0, under=None,
                wear=0.0):
        """Fill a polygon given as [(x, y), ...] in pixel coordinates.

        `grain` is the strength of fine noise; `wear` (0..1) how much of the colour `under`
        shows through in worn blotches, as on old road paint.
        """
        if len(points) < 3:
            return
        iid = self._instance(cls, colour, texture, gradient, grain, under, wear)
        self._draw_ids.polygon(points, fill=iid)
        self._draw_light.polygon(points, fill=shade)

    def rectangle(self, box, cls, colour, texture=0.06, gradient=0.0, shade=LIT, grain=0.0):
        """Fill the axis-aligned box (x0, y0, x1, y1); tiny boxes still cover one pixel."""
        x0, y0, x1, y1 = box
        x0, x1 = sorted((x0, x1))
        y0, y1 = sorted((y0, y1))
        box = (x0, y0, max(x1, x0 + 1), max(y1, y0 + 1))
        iid = self._instance(cls, colour, texture, gradient, grain)
        self._draw_ids.rectangle(box, fill=iid)
        self._draw_light.rectangle(box, fill=shade)

    def ellipse(self, box, cls, colour, texture=0.06, gradient=0.0, shade=LIT, grain=0.0):
        x0, y0, x1, y1 = box
        box = (x0, y0, max(x1, x0 + 1), max(y1, y0 + 1))
        iid = self._instance(cls, colour, texture, gradient, grain)
        self._draw_ids.ellipse(box, fill=iid)
        self._draw_light.ellipse(box, fill=shade)

    def shadow(self, points, darkness):
        """Darken what is already drawn inside the polygon; labels are untouched."""
        if len(points) >= 3:
            self._draw_light.polygon(points, fill=int(LIT * (1 - darkness)))

    def tables(self):
        """Per-instance lookup tables, each indexed by instance id."""
        return Tables(
            classes=np.array(self.classes, dtype=np.uint8),
            colours=np.array(self.colours, dtype=np.float32).reshape(-1, 3),
            textures=np.array(self.textures, dtype=np.float32),
            gradients=np.array(self.gradients, dtype=np.float32),
            grains=np.array(self.grains, dtype=np.float32),
            unders=np.array(self.unders, dtype=np.float32).reshape(-1, 3),
            wears=np.array(self.wears, dtype=np.float32),
        )


@dataclass
class Tables:
    classes: np.ndarray
    colours: np.ndarray
    textures: np.ndarray
    gradients: np.ndarray
    grains: np.ndarray
    unders: np.ndarray
    wears: np.ndarray
