"""Compose one street scene: a pinhole camera above a ground plane, drawn far to near.

World coordinates are metres: X to the right, Y up, Z forward from the camera. The road's
centre line may curve (X = offset + curvature * Z^2). Objects are placed relative to the
road, projected with the camera, and painted in order of decreasing depth so that near
objects occlude far ones. Only arithmetic is used on floats (no sin/exp), which keeps the
output byte-identical across machines.
"""

from dataclasses import dataclass

from . import classes as C
from .canvas import LIT, Canvas

# CARLA's default RGB camera (sensor.camera.rgb) has a 90 degree horizontal field of view:
# the focal length is half the frame's width in pixels. Mounted level, so the horizon is
# near mid-height, as in the real frames.
FOV_FOCAL = 0.5
REFERENCE_WIDTH = 640
# The real frames' camera is low: empty asphalt fills their lower half, the road takes two thirds
# of the band just below the horizon, and the lane markings beside the car's lane are out of view
# in the bottom rows (bench/scene_statistics.py). From that height the nearest visible ground
# is under a metre ahead. The markings' width per row says the same: a marking w metres wide is
# w / height times as many pixels wide as its row is below the horizon, 0.27-0.34 in the real
# masks, for markings of a fifth of a metre.
CAMERA_HEIGHT = (0.5, 0.8)
NEAR, FAR = 0.6, 400.0
CURB = 0.15  # height of a sidewalk above the road, metres
LINE_WIDTH = (0.12, 0.22)  # lane markings, metres

# Ground-plane depths at which long strips (road, sidewalk, lines) are sampled.
DEPTHS = [NEAR * 1.25**k for k in range(30)]

GREYS = ((85, 85, 88), (105, 105, 105), (120, 118, 115), (140, 140, 138), (160, 158, 155))
ASPHALT = ((110, 110, 113), (123, 122, 123), (134, 131, 129), (146, 144, 142))  # sunlit, as in CARLA's towns
# Saturated: the real frames' grass is (99, 115, 73) on average, and the renderer's haze pales it.
GRASS = ((88, 112, 50), (98, 118, 56), (82, 100, 46), (106, 116, 60), (112, 110, 68))
LEAVES = ((56, 88, 38), (74, 104, 46), (48, 76, 42), (92, 112, 54), (112, 108, 62))
# CARLA labels bare hillsides, cliffs and dry verges Terrain too, not only grass: tan boulders and
# mounds, pale grey cuttings, both streaked with dark cracks (the real frames' terrain varies by 50
# grey levels across a rock, but little between neighbouring pixels).
SAND = ((180, 162, 130), (166, 150, 118), (192, 176, 146), (156, 138, 110))
CLIFF = ((162, 156, 144), (148, 143, 132), (176, 170, 156), (136, 130, 120), (92, 88, 80), (78, 74, 66))
HILLSIDE = ((110, 125, 95), (96, 110, 74), (120, 124, 90))
NEEDLES = ((34, 62, 38), (44, 76, 44), (30, 54, 34), (56, 88, 52), (40, 70, 50))
CAR_COLOURS = (
    (120, 120, 123), (18, 18, 21), (90, 90, 93), (72, 12, 15), (12, 24, 66),
    (141, 141, 138), (54, 57, 60), (36, 54, 36), (108, 90, 54), (120, 54, 12),
)
CLOTHES = ((30, 30, 40), (60, 60, 70), (150, 30, 30), (30, 60, 130), (200, 200, 190),
           (90, 70, 50), (40, 100, 60), (170, 150, 120), (220, 180, 40), (110, 110, 110))
BUILDING_COLOURS = ((119, 115, 106), (144, 94, 68), (102, 102, 106), (162, 153, 136),
                    (85, 76, 72), (128, 128, 128), (136, 119, 94), (68, 72, 81))
# The real towns' blocks of flats and offices: pale render and concrete, dark glass.
PALE_FACADES = ((214, 208, 194), (198, 190, 172), (222, 220, 214), (190, 184, 176), (204, 186, 160))
GLASS = ((44, 52, 62), (62, 74, 88), (34, 38, 46), (78, 92, 104))
RECESSES = ((52, 54, 58), (70, 66, 62), (40, 42, 48))
WINDOWS = ((60, 70, 85), (40, 45, 55), (120, 140, 160), (200, 190, 150), (28, 32, 40))
FACADES = ("punched", "punched", "glass", "slabs")


@dataclass
class Camera:
    width: int
    height: int
    horizon: float
    height_m: float

    @property
    def focal(self):
        return FOV_FOCAL * self.width

    def project(self, x, y, z):
        """Pixel (u, v) of the world point (x, y, z); z must be positive."""
        return (self.width / 2 + self.focal * x / z, self.horizon + self.focal * (self.height_m - y) / z)

    def scale(self, z):
        """Pixels per metre at depth z."""
        return self.focal / z


def _every(start, step, low, high):
    """The points start + k * step (k = 0, 1, ...) that lie in [low, high)."""
    k = max(0, -int(-(low - start) // step))  # ceil((low - start) / step), at least 0
    while start + k * step < high:  # computed, not accumulated: neighbouring pieces agree on a border
        yield start + k * step
        k += 1


class Scene:
    """Everything random about one frame, drawn onto a Canvas by :meth:`draw`."""

    def __init__(self, rng, width, height, shadow=0.45):
        self.rng = rng
        self.px = width / REFERENCE_WIDTH  # pixel sizes below are for a frame this wide
        self.cam = Camera(width, height, horizon=height / 2 + rng.uniform(-10, 10) * self.px,
                          height_m=rng.uniform(*CAMERA_HEIGHT))
        self.shadow = shadow  # how dark shadows are under this frame's light
        self.lanes = int(rng.choice([2, 2, 3, 4, 4, 5, 6]))
        self.lane_width = rng.uniform(3.0, 3.6)
        self.shoulder = rng.uniform(0.3, 2.0)  # tarmac outside the edge lines: parking, gutters
        self.road_width = self.lanes * self.lane_width + 2 * self.shoulder
        my_lane = int(rng.integers(0, self.lanes))
        self.offset = -self.lane_centre(my_lane) + rng.uniform(-0.7, 0.7)  # the camera rides in that lane
        self.curvature = rng.uniform(-1, 1) * rng.uniform(0, 1.2e-3)
        # The car is seldom aligned with its lane: a few degrees of heading move the road's
        # vanishing point off the frame's centre, and the markings cross the rows obliquely.
        self.heading = rng.uniform(-0.08, 0.08)
        self.sun_side = rng.choice([-1.0, 1.0]) * rng.uniform(0.2, 1.2)
        self.canvas = Canvas(width, height)
        self.objects = []  # (depth, draw function) for everything that stands up

    # -- geometry helpers -------------------------------------------------------------
    def lane_centre(self, lane):
        """Road-relative lateral position of a lane's centre."""
        return -self.road_width / 2 + self.shoulder + (lane + 0.5) * self.lane_width

    def centre(self, z):
        return self.offset + (self.heading + self.curvature * z) * z

    def at(self, x, y, z):
        """Project a point given relative to the road centre line."""
        return self.cam.project(self.centre(z) + x, y, z)

    def _depths(self, z0, z1):
        zs = [z for z in DEPTHS if z0 < z < z1]
        return [z0] + zs + [z1]

    def strip(self, x_in, x_out, z0=NEAR, z1=FAR, y=0.0):
        """Polygon of a horizontal strip at height y between road-relative lateral offsets,
        sampled along the road so that it follows its curve."""
        zs = self._depths(z0, z1)
        return [self.at(x_in, y, z) for z in zs] + [self.at(x_out, y, z) for z in reversed(zs)]

    def side_strip(self, x, y0, y1, z0, z1):
        """Polygon of a vertical strip along the road at lateral offset x (a curb, a rail, a wall)."""
        zs = self._depths(z0, z1)
        return [self.at(x, y0, z) for z in zs] + [self.at(x, y1, z) for z in reversed(zs)]

    def quad(self, x0, x1, y0, y1, z0, z1=None):
        """A vertical rectangle: facing the camera when z1 is None, else along the road at x0."""
        if z1 is None:
            return [self.at(x0, y0, z0), self.at(x1, y0, z0), self.at(x1, y1, z0), self.at(x0, y1, z0)]
        return [self.at(x0, y0, z0), self.at(x0, y0, z1), self.at(x0, y1, z1), self.at(x0, y1, z0)]

    def vary(self, colour, amount=18):
        """A colour nudged per instance, so no class has one fixed colour."""
        r = self.rng
        k = r.uniform(0.85, 1.15)
        return tuple(min(255.0, max(0.0, c * k + r.uniform(-amount, amount))) for c in colour)

    def pick(self, options):
        return options[int(self.rng.integers(0, len(options)))]

    def stand(self, z, painter):
        self.objects.append((z, painter))

    def stand_along(self, z0, z1, painter):
        """Something long beside the road (a rail, a wall), painted piece by piece, each piece at
        its own depth: painted whole at its near end, it would cover everything further away."""
        zs = self._depths(z0, z1)
        for near, far in zip(zs, zs[1:]):
            self.stand((near + far) / 2, lambda near=near, far=far: painter(near, far))

    def base(self, x):
        """Height of the ground at lateral offset x: the sidewalk is raised by the curb."""
        return CURB if self.sidewalks and self.road_width / 2 < abs(x) <= self.kerb else 0.0

    def cast_shadow(self, x0, x1, z0, z1, length, y=0.0):
        """Shadow on the ground (at height y) of an object occupying [x0, x1] x [z0, z1]."""
        if self.shadow < 0.15:
            return
        dx = self.sun_side * length
        pts = [self.at(x0, y, z0), self.at(x1, y, z0), self.at(x1 + dx, y, z1 + length * 0.3),
               self.at(x0 + dx, y, z1 + length * 0.3)]
        self.canvas.shadow(pts, self.shadow)

    # -- the scene, back to front ---------------------------------------------------
    def draw(self):
        self.sky()
        self.skyline()
        self.ground()
        self.roadside(-1)
        self.roadside(+1)
        self.traffic()
        if self.rng.random() < 0.19:
            self.bridge()
        for _, painter in sorted(self.objects, key=lambda item: -item[0]):
            painter()
        return self.canvas

    def sky(self):
        """One sky instance: its gradient and clouds are painted by the renderer, from the light."""
        c, w, h = self.canvas, self.cam.width, self.cam.height
        c.rectangle((0, 0, w, h), C.SKY, (200, 200, 200), texture=0.0)

    def skyline(self):
        """Distant things standing on the horizon: a city's blocks, a forest, hills, or a mix of
        hills and trees, often in front of a far ridge. A mix has no buildings: the real frames
        have a third fewer buildings and half again as much foliage and terrain just above the
        horizon as roadscenes 3 drew (bench/scene_statistics.py, band 3)."""
        c, r, w, hz, px = self.canvas, self.rng, self.cam.width, self.cam.horizon, self.px
        kind = self.pick(["city", "forest", "forest", "hills", "mixed", "mixed"])
        if r.random() < (0.3 if kind == "city" else 0.85):
            self.ridge()
        x = -10.0 * px
        while x < w + 10 * px:
            step = r.uniform(15, 70) * px
            if kind == "hills" or (kind == "mixed" and r.random() < 0.3):
                colour = self.vary(self.pick(HILLSIDE + SAND + CLIFF), 15)
                self.mound(x, x + step * 1.3, hz + 2 * px, r.uniform(3, 25) * px, colour, self.marks(3))
            elif kind == "city":
                self._distant_block(x, step)
            elif kind == "forest" or r.random() < 0.6:
                # Conifers, the real towns' commonest trees: a row of narrow spires.
                for _ in range(int(r.integers(2, 5))):
                    u = x + r.uniform(0, step)
                    half = r.uniform(3, 9) * px
                    top = hz - r.uniform(8, 45) * px
                    c.polygon([(u - half, hz + 4 * px), (u + half, hz + 4 * px), (u, top)], C.VEGETATION,
                              self.vary(self.pick(NEEDLES), 8), texture=0.15, grain=0.14)
            else:
                rr = step * r.uniform(0.4, 0.8)
                top = hz - r.uniform(6, 45) * px
                green = self.vary(self.pick(LEAVES), 12)
                for k in range(3):  # a ragged crown, not one blob
                    dx = r.uniform(-0.3, 0.3) * rr
                    c.ellipse((x + dx + k * rr * 0.3, top + k * r.uniform(0, 0.3) * (hz - top),
                               x + dx + 2 * rr * r.uniform(0.9, 1.2), hz + 8 * px), C.VEGETATION,
                              self.vary(green, 8), texture=0.15, grain=0.12)
            x += step * r.uniform(0.6, 1.2)

    def ridge(self):
        """A far ridge of bare or grassy hills along part of the horizon, as in the real frames'
        open country: a ragged line a few pixels to a tenth of the frame above the horizon, smooth
        up close (the real terrain's neighbouring pixels differ less than generated foliage's)."""
        c, r, w, hz, px = self.canvas, self.rng, self.cam.width, self.cam.horizon, self.px
        x = r.uniform(-0.3, 0.5) * w
        end = x + r.uniform(0.4, 1.2) * w
        peak = r.uniform(5, 35) * px
        points = [(x, hz + 2 * px)]
        while x < end:
            points.append((x, hz - peak * r.uniform(0.2, 1.0)))
            x += r.uniform(8, 30) * px
        points.append((x, hz + 2 * px))
        colour = self.pick(SAND + CLIFF + HILLSIDE)
        c.polygon(points, C.TERRAIN, self.vary(colour, 12), texture=0.2, gradient=0.25, grain=0.03)

    def _distant_block(self, x, step):
        """A far building on the horizon: its storeys a few pixels tall, lit or dark windows in rows."""
        c, r, hz, px = self.canvas, self.rng, self.cam.horizon, self.px
        top = hz - r.uniform(8, 45) * r.uniform(0.3, 1) * px
        colour = self.vary(self.pick(BUILDING_COLOURS + PALE_FACADES + GLASS), 12)
        c.rectangle((x, top, x + step, hz + 2 * px), C.BUILDING, colour, texture=0.06, grain=0.03)
        storey = r.uniform(2.5, 4.5) * px
        band = self.vary(self.pick(WINDOWS), 10)  # drawn at every size: the scene may not depend on it
        if r.random() < 0.7 and storey > 1.5:
            y = top + storey * 0.5
            while y + storey * 0.4 < hz:
                c.rectangle((x + px, y, x + step - px, y + storey * 0.45), C.BUILDING, band, texture=0.03)
                y += storey

    def ground(self):
        c, r, cam = self.canvas, self.rng, self.cam
        w, h, hz = cam.width, cam.height, cam.horizon
        c.rectangle((0, hz, w, h), C.TERRAIN, self.vary(self.pick(GRASS), 14), texture=0.16, gradient=0.3,
                    grain=0.07)
        half = self.road_width / 2
        # Grass of other tones in patches, so terrain is not one colour.
        for _ in range(int(r.integers(1, 5))):
            side = self.pick([-1, 1])
            x0 = side * (half + r.uniform(0, 12))
            z0 = r.uniform(4, 60)
            c.polygon(self.strip(x0, x0 + side * r.uniform(3, 20), z0, z0 + r.uniform(5, 60)), C.TERRAIN,
                      self.vary(self.pick(GRASS), 14), texture=0.2, grain=0.08)
        # Dirt, water and rails out in the fields, beyond the road.
        for side in (-1, 1):
            if r.random() < 0.22:
                x0 = side * (half + r.uniform(2, 10))
                z0 = r.uniform(8, 60)
                pts = self.strip(x0, x0 + side * r.uniform(4, 15), z0, z0 + r.uniform(10, 50))
                c.polygon(pts, C.GROUND, self.vary((120, 100, 75), 15), texture=0.15, grain=0.1)
        if r.random() < 0.04:
            side = self.pick([-1, 1])
            x0 = side * (half + r.uniform(15, 40))
            z0 = r.uniform(40, 120)
            u0, v0 = self.at(x0, 0, z0)
            u1, v1 = self.at(x0 + side * r.uniform(10, 30), 0, z0 + r.uniform(10, 40))
            c.ellipse((min(u0, u1), min(v0, v1), max(u0, u1), max(v0, v1) + 1), C.WATER,
                      self.vary((70, 90, 110), 12), texture=0.05, gradient=0.2)
        if r.random() < 0.31:
            self.rails()
        self.road_grey = self.vary(self.pick(ASPHALT), 8)
        self.sidewalks = r.random() < 0.65
        self.kerb = half + (r.uniform(1.2, 3.0) if self.sidewalks else 0.0)  # outer edge of the sidewalk
        if self.sidewalks:
            self.paving(half, self.kerb)
        self.road(half)
        self.lane_lines()
        if self.sidewalks:
            self.curbs(half)

    def paving(self, half, kerb):
        """Raised sidewalks beside the road, with the joints of their slabs."""
        c, r = self.canvas, self.rng
        pave = self.vary(self.pick(GREYS[2:] + ((176, 174, 168), (190, 186, 178))), 12)
        joint = tuple(v * 0.78 for v in pave)
        slab = r.uniform(1.2, 2.5)
        for side in (-1, 1):
            outer = side * kerb
            c.polygon(self.strip(side * half, outer, y=CURB), C.SIDEWALK, pave, texture=0.08, grain=0.05)
            z = NEAR + r.uniform(0, slab)
            while z < 45:
                c.polygon(self.strip(side * half, outer, z, z + 0.06, y=CURB), C.SIDEWALK, joint, texture=0.04)
                z += slab

    def curbs(self, half):
        """The curb's face between road and sidewalk: lighter concrete, in the sidewalk's class."""
        concrete = self.vary((176, 174, 168), 12)
        for side in (-1, 1):
            self.canvas.polygon(self.side_strip(side * half, 0, CURB, NEAR, FAR), C.SIDEWALK, concrete,
                                texture=0.05, grain=0.04, gradient=0.1)

    def road(self, half):
        """Asphalt with grain, darker wheel tracks, a gutter along each edge, patches and cracks."""
        c, r, grey = self.canvas, self.rng, self.road_grey
        c.polygon(self.strip(-half, half), C.ROAD, grey, texture=0.07, gradient=0.15, grain=0.07)
        if r.random() < 0.7:  # tyre marks: where wheels run, in every lane
            tracks = tuple(v * r.uniform(0.93, 0.98) for v in grey)
            for lane in range(self.lanes):
                for dx in (-0.8, 0.8):
                    x = self.lane_centre(lane) + dx
                    c.polygon(self.strip(x - 0.3, x + 0.3, NEAR, 80), C.ROAD, tracks, texture=0.12, grain=0.07)
        gutter = tuple(v * 0.85 for v in grey)
        for side in (-1, 1):
            c.polygon(self.strip(side * (half - 0.35), side * half), C.ROAD, gutter, texture=0.1, grain=0.08)
        for _ in range(int(r.integers(0, 5))):  # patches
            x0 = r.uniform(-half, half - 1)
            z0 = r.uniform(3, 40)
            c.polygon(self.strip(x0, min(half, x0 + r.uniform(0.5, 3)), z0, z0 + r.uniform(1, 8)),
                      C.ROAD, self.vary(grey, 10), texture=0.1, grain=0.08)
        crack = tuple(v * 0.7 for v in grey)
        for _ in range(int(r.integers(0, 6))):  # cracks: thin, dark, wandering
            x, z = r.uniform(-half, half), r.uniform(3, 25)
            for _ in range(int(r.integers(2, 5))):
                x1 = min(half - 0.35, max(-half + 0.35, x + r.uniform(-0.6, 0.6)))  # stays on the asphalt
                z1 = z + r.uniform(0.5, 2)
                c.polygon([self.at(x, 0, z), self.at(x + 0.04, 0, z), self.at(x1 + 0.04, 0, z1), self.at(x1, 0, z1)],
                          C.ROAD, crack, texture=0.05)
                x, z = x1, z1

    def rails(self):
        c, r = self.canvas, self.rng
        side = self.pick([-1, 1])
        x0 = side * (self.road_width / 2 + r.uniform(4, 15))
        gauge = 1.45
        z0, z1 = r.uniform(4, 20), FAR / 2
        c.polygon(self.strip(x0 - 0.6, x0 + gauge + 0.6, z0, z1), C.RAILTRACK, self.vary((110, 95, 85), 12),
                  texture=0.2, grain=0.12)
        steel = self.vary((150, 145, 140), 10)
        for dx in (0, gauge):
            c.polygon(self.strip(x0 + dx - 0.05, x0 + dx + 0.05, z0, z1), C.RAILTRACK, steel, texture=0.05)

    def lane_lines(self):
        """Markings of CARLA's kinds: solid white edge lines (on most roads), a double solid yellow
        centre line on two-way roads, dashed white lines between lanes of one direction; worn,
        thin and flat on the road, so perspective narrows them."""
        c, r = self.canvas, self.rng
        half = self.road_width / 2
        white = self.vary((225, 225, 215), 12)
        yellow = self.vary((232, 204, 96), 15)
        width = r.uniform(*LINE_WIDTH)
        worn = dict(texture=0.04, grain=0.04, under=self.road_grey, wear=r.uniform(0.0, 0.45))

        def line(x, colour, z0=NEAR, z1=FAR):
            c.polygon(self.strip(x - width / 2, x + width / 2, z0, z1), C.ROADLINE, colour, **worn)

        def dashed(x, colour, dash, gap):
            z = NEAR + r.uniform(0, dash + gap) - (dash + gap)
            while z < 160:
                if z + dash > NEAR:
                    line(x, colour, max(z, NEAR), z + dash)
                z += dash + gap

        if r.random() < 0.7:
            for side in (-1, 1):
                line(side * (half - self.shoulder), white)
        two_way = self.lanes % 2 == 0 and r.random() < 0.3  # the real markings are mostly white
        dash, gap = r.uniform(2.5, 4), r.uniform(4, 9)
        for k in range(1, self.lanes):
            x = -half + self.shoulder + k * self.lane_width
            if two_way and k == self.lanes // 2:
                if r.random() < 0.8:
                    spacing = r.uniform(0.1, 0.2) + width
                    line(x - spacing / 2, yellow)
                    line(x + spacing / 2, yellow)
                else:
                    dashed(x, yellow, dash, gap)
            else:
                dashed(x, white, dash, gap)
        if r.random() < 0.25:  # a zebra crossing ahead, with a stop line before it
            z0 = r.uniform(8, 35)
            x = -half + self.shoulder
            while x < half - self.shoulder:
                c.polygon(self.strip(x, x + 0.5, z0, z0 + 3), C.ROADLINE, white, **worn)
                x += 1.0
            if r.random() < 0.6:
                c.polygon(self.strip(-half + self.shoulder, half - self.shoulder, z0 - 1.6, z0 - 1.2), C.ROADLINE,
                          white, **worn)

    # -- things beside the road -------------------------------------------------------
    def roadside(self, side):
        r = self.rng
        edge = side * self.kerb
        # Half the roadsides are built up: the real frames have buildings in 78% of frames.
        style = self.pick(["urban", "suburban", "suburban", "rural", "rural", "highway"])
        if style == "urban":
            self.building_row(side, edge + side * r.uniform(3, 15), towers=0.3)
        elif style == "suburban":  # houses set back behind a line of trees, as the real towns' are
            setback = r.uniform(8, 35)
            self.building_row(side, edge + side * setback, fill=0.6)
            self.tree_row(side, edge + side * r.uniform(2, setback - 4), dense=True)
        else:
            self.tree_row(side, edge + side * r.uniform(3, 20), dense=r.random() < 0.6)
        if style == "highway" or r.random() < 0.3:
            self.guard_rail(side, side * (self.kerb + r.uniform(0.3, 1.0)))
        if style != "urban" and r.random() < 0.5:
            self.fence(side, edge + side * r.uniform(0.5, 4))
        if r.random() < 0.5:
            self.wall(side, edge + side * r.uniform(0.3, 3))
        if style != "urban" and r.random() < 0.4:
            self.embankment(side, edge + side * r.uniform(1, 6))
        if style != "highway":
            self.tree_row(side, edge + side * r.uniform(0.4, 1.5), dense=False, count=int(r.integers(0, 7)))
        self.poles(side, edge + side * r.uniform(0.2, 0.8))
        if self.kerb > self.road_width / 2 + 1:
            self.pedestrians(side)
        self.street_furniture(side)

    def building_row(self, side, x, fill=0.8, towers=0.0):
        """Blocks along the road, a share `fill` of the plots built on, `towers` of them high-rise."""
        r = self.rng
        z = r.uniform(4, 25)
        while z < 220:
            depth = r.uniform(8, 30)
            if r.random() < fill:
                height = r.uniform(30, 60) if r.random() < towers else r.uniform(6, 32) * r.uniform(0.4, 1.0)
                self.stand(z, self._building(side, x + side * r.uniform(0, 3), z, depth, height))
            z += depth + r.uniform(0, 12)

    def _building(self, side, x, z, depth, height):
        """A block with one of the facades of CARLA's towns, each a regular grid that a network can
        tell from foliage (issue 33: with facades of grain alone, real buildings read as trees):
        punched windows in brick or render, a curtain wall of dark glass on pale mullions, or
        pale floor slabs (balconies) over dark recesses."""
        r = self.rng
        style = self.pick(FACADES)
        if style == "glass":
            colour = self.vary(self.pick(GLASS), 8)
            trim = self.vary((176, 178, 176), 12)  # mullions and transoms
        elif style == "slabs":
            colour = self.vary(self.pick(RECESSES), 8)
            trim = self.vary(self.pick(PALE_FACADES), 10)
        else:
            colour = self.vary(self.pick(BUILDING_COLOURS + GREYS + PALE_FACADES), 15)
            trim = tuple(min(255.0, v * r.uniform(1.1, 1.3)) for v in colour)  # ledges and cornice
        window = self.vary(self.pick(WINDOWS), 12)
        storey = r.uniform(2.8, 3.6)
        floors = max(1, int(height / storey))
        cols = max(2, int(depth / r.uniform(1.6, 3.2)))
        shop = r.random() < 0.5  # a ground floor of shop windows
        grain = r.uniform(0.02, 0.06)  # brick, render or concrete

        def wall(x0, x1, z0, z1, shade):
            """One wall: along the road from z0 to z1, or facing the camera from x0 to x1 (z1 None)."""
            def panel(u0, u1, y0, y1, fill, **kw):
                # A rectangle on this wall, u0..u1 its fraction across the wall.
                if z1 is None:
                    quad = self.quad(x0 + (x1 - x0) * u0, x0 + (x1 - x0) * u1, y0, y1, z0)
                else:
                    quad = self.quad(x0, x0, y0, y1, z0 + (z1 - z0) * u0, z0 + (z1 - z0) * u1)
                self.canvas.polygon(quad, C.BUILDING, fill, shade=shade, **kw)

            panel(0, 1, 0, height, colour, texture=0.07, gradient=0.2, grain=grain)
            if style == "glass":  # a curtain wall: glass between thin pale bars
                for j in range(1, floors + 1):
                    panel(0, 1, j * storey - 0.15, j * storey, trim, texture=0.03)
                for i in range(cols + 1):
                    panel(i / cols - 0.02, i / cols + 0.02, 0, height, trim, texture=0.03)
                return
            panel(0, 1, height - 0.35, height, trim, texture=0.04)  # the cornice
            for j in range(floors):
                y = j * storey
                if style == "slabs":  # a floor slab, then a dark band of recessed windows
                    panel(0, 1, y, y + storey * 0.35, trim, texture=0.04, grain=grain)
                    for i in range(0, cols, 2):  # balcony partitions
                        panel(i / cols, i / cols + 0.04, y, y + storey, trim, texture=0.04)
                    continue
                if j:
                    panel(0, 1, y - 0.12, y + 0.05, trim, texture=0.04)
                for i in range(cols):
                    u0, u1 = (i + 0.2) / cols, (i + 0.8) / cols
                    if j == 0 and shop:
                        panel(u0, u1, 0.4, storey * 0.8, window, texture=0.05, gradient=0.4)
                    elif y + storey * 0.75 < height:
                        panel(u0, u1, y + storey * 0.3, y + storey * 0.75, window, texture=0.05, gradient=0.3)

        def paint():
            self.cast_shadow(x, x + side * 6, z, z + depth, height * 0.5)
            wall(x, x, z, z + depth, LIT)  # the facade along the road
            wall(x, x + side * 15, z, None, 200)  # the end facing the camera, in its own shade

        return paint

    def tree_row(self, side, x, dense, count=None):
        r = self.rng
        n = count if count is not None else int(r.integers(5, 22 if dense else 10))
        conifers = r.random() < 0.55  # the real towns are planted with conifers more than with round crowns
        for _ in range(n):
            z = r.uniform(4, 150)
            height = r.uniform(3, 13)
            u = x + side * r.uniform(0, 6)
            if conifers and r.random() < 0.85:
                self.stand(z, self._conifer(u, z, height * r.uniform(1.0, 1.6)))
            else:
                self.stand(z, self._tree(u, z, height, r.random() < 0.25))

    def _tree(self, x, z, height, bush):
        r = self.rng
        greens = [self.vary(self.pick(LEAVES), 14) for _ in range(3)]
        clumps = [(r.uniform(-0.45, 0.45), r.uniform(0.45, 0.98), r.uniform(0.18, 0.36), int(r.integers(0, 3)))
                  for _ in range(int(r.integers(8, 14)))]
        clumps.sort(key=lambda clump: clump[1])  # lower clumps first: the crown's top is lit
        trunk = self.vary((80, 65, 50), 12)

        def paint():
            c, s = self.canvas, self.cam.scale(z)
            if bush:
                for dx, dy, rad, k in clumps[:5]:
                    u, v = self.at(x + dx * height * 0.6, height * 0.25 * dy, z)
                    rr = rad * height * s
                    c.ellipse((u - rr, v - rr * 0.8, u + rr, v + rr * 0.8), C.VEGETATION, greens[k], texture=0.2,
                              grain=0.16)
                return
            self.cast_shadow(x - height * 0.3, x + height * 0.3, z, z + 1, height * 0.5)
            c.polygon(self.quad(x - 0.15, x + 0.15, 0, height * 0.55, z), C.VEGETATION, trunk, texture=0.1,
                      grain=0.08)
            for dx, dy, rad, k in clumps:
                u, v = self.at(x + dx * height * 0.5, height * dy, z)
                rr = rad * height * s
                shade = int(170 + 85 * dy)  # the underside of a crown is in its own shade
                c.ellipse((u - rr, v - rr, u + rr, v + rr), C.VEGETATION, greens[k], texture=0.22, grain=0.16,
                          shade=shade)

        return paint

    def _conifer(self, x, z, height):
        """A spruce or pine: a short trunk under tiers of needles, each a ragged triangle, narrower
        towards the top."""
        r = self.rng
        needles = [self.vary(self.pick(NEEDLES), 10) for _ in range(2)]
        width = height * r.uniform(0.18, 0.3)
        tiers = [(r.uniform(-0.04, 0.04), r.uniform(0.85, 1.15), int(r.integers(0, 2)))
                 for _ in range(int(r.integers(4, 8)))]
        trunk = self.vary((74, 58, 44), 10)

        def paint():
            c = self.canvas
            self.cast_shadow(x - width, x + width, z, z + 1, height * 0.5)
            c.polygon(self.quad(x - 0.12, x + 0.12, 0, height * 0.3, z), C.VEGETATION, trunk, texture=0.1,
                      grain=0.08)
            for k, (dx, spread, shade) in enumerate(tiers):
                low = height * (0.15 + 0.8 * k / len(tiers))
                half = width * spread * (1 - k / len(tiers) * 0.8)
                peak = low + height * 0.35
                c.polygon([self.at(x + dx * height - half, low, z), self.at(x + dx * height + half, low, z),
                           self.at(x + dx * height, min(peak, height), z)], C.VEGETATION, needles[shade],
                          texture=0.2, grain=0.18, shade=175 + 80 * k // len(tiers))

        return paint

    def guard_rail(self, side, x):
        """A metal W-beam on posts, or a concrete or painted barrier: CARLA labels both GuardRail."""
        if self.rng.random() < 0.5:
            self.barrier(side, x)
        else:
            self.w_beam(side, x)

    def barrier(self, side, x):
        """A solid barrier along the road: bare or painted concrete, darker at its foot."""
        r = self.rng
        z0, z1 = r.uniform(2, 15), r.uniform(60, 200)
        height = r.uniform(0.8, 1.1)
        colour = self.vary(self.pick([(182, 176, 168), (196, 190, 180), (160, 156, 150), (214, 150, 40)]), 10)
        foot = tuple(v * 0.8 for v in colour)

        def paint(near, far):
            c = self.canvas
            c.polygon(self.side_strip(x, 0, height, near, far), C.GUARDRAIL, colour, texture=0.08, gradient=0.15,
                      grain=0.06)
            c.polygon(self.side_strip(x, 0, 0.12, near, far), C.GUARDRAIL, foot, texture=0.06)

        self.stand_along(z0, z1, paint)

    def w_beam(self, side, x):
        """A metal W-beam on posts: a bright top edge, a dark groove, and a post every 2 m (to 80 m:
        further away they are under a pixel wide)."""
        r = self.rng
        z0, z1 = r.uniform(2, 15), r.uniform(60, 200)
        metal = self.vary((165, 165, 160), 15)
        groove = tuple(v * 0.68 for v in metal)
        bright = tuple(min(255.0, v * 1.2) for v in metal)
        post = tuple(v * 0.8 for v in metal)

        def paint(near, far):
            c = self.canvas
            for z in _every(z0, 2.0, near, min(far, 80)):
                c.polygon(self.quad(x - 0.06, x + 0.06, 0, 0.72, z), C.GUARDRAIL, post, texture=0.05)
            c.polygon(self.side_strip(x, 0.4, 0.8, near, far), C.GUARDRAIL, metal, texture=0.05, gradient=0.1,
                      grain=0.03)
            c.polygon(self.side_strip(x, 0.58, 0.66, near, far), C.GUARDRAIL, groove, texture=0.05)
            c.polygon(self.side_strip(x, 0.74, 0.8, near, far), C.GUARDRAIL, bright, texture=0.04)

        self.stand_along(z0, z1, paint)

    def fence(self, side, x):
        r = self.rng
        z0, z1 = r.uniform(3, 20), r.uniform(30, 120)
        height = r.uniform(1, 2.2)
        colour = self.vary(self.pick([(90, 70, 55), (120, 120, 115), (60, 60, 60), (140, 110, 80)]), 15)
        spacing = r.uniform(0.6, 2.5)

        def paint(near, far):
            c = self.canvas
            for y in (height * 0.3, height * 0.85):
                c.polygon(self.side_strip(x, y - 0.06, y + 0.06, near, far), C.FENCE, colour, texture=0.06)
            for z in _every(z0, spacing, near, min(far, 50)):
                c.polygon(self.quad(x - 0.05, x + 0.05, 0, height, z), C.FENCE, colour, texture=0.06)

        self.stand_along(z0, z1, paint)

    def wall(self, side, x):
        """Concrete or stone: panels with joints, a lighter cap along the top."""
        r = self.rng
        z0 = r.uniform(3, 40)
        z1 = z0 + r.uniform(8, 120)
        height = r.uniform(0.8, 3.5)
        colour = self.vary(self.pick(GREYS + ((150, 130, 110), (170, 160, 140), (140, 84, 64))), 15)
        cap = tuple(min(255.0, v * 1.15) for v in colour)
        joint = tuple(v * 0.75 for v in colour)
        panel = r.uniform(2, 4)

        def paint(near, far):
            c = self.canvas
            c.polygon(self.side_strip(x, 0, height, near, far), C.WALL, colour, texture=0.09, gradient=0.2,
                      grain=0.05)
            c.polygon(self.side_strip(x, height - 0.12, height, near, far), C.WALL, cap, texture=0.04)
            for z in _every(z0 + panel, panel, near, min(far, 60)):
                c.polygon(self.quad(x, x, 0, height - 0.12, z, z + 0.08), C.WALL, joint, texture=0.04)

        self.stand_along(z0, z1, paint)

    def embankment(self, side, x):
        """A grassy bank, a rock cutting or a heap of boulders beside the road: from the low camera it
        rises above the horizon, where the real frames have a tenth of their terrain. Banks and
        cuttings slope back from the road and have a ragged top."""
        r = self.rng
        z0 = r.uniform(3, 30)
        z1 = z0 + r.uniform(20, 150)
        kind = self.pick(["grass", "cutting", "cutting", "boulders"])
        if kind == "boulders":
            self.boulders(side, x, z0, z1)
            return
        rock = kind == "cutting"
        height = r.uniform(4, 18) if rock else r.uniform(0.8, 4)
        lean = r.uniform(0.1, 0.5) if rock else r.uniform(1.5, 3)  # metres back per metre up
        colour = self.vary(self.pick(CLIFF + SAND[:1] if rock else GRASS), 12)
        zs = self._depths(z0, z1)
        length = z1 - z0  # banks and cuttings die away at their ends, not cut off sheer
        tops = {z: height * r.uniform(0.6, 1.0) * max(0.05, min(1.0, 10 * (z - z0) / length, 3 * (z1 - z) / length))
                for z in zs}
        marks = {near: self.marks(min(14, int(r.integers(2, 5)) + int((far - near) / 2)) if rock else 0)
                 for near, far in zip(zs, zs[1:])}

        def paint(near, far):
            low, high = tops[near], tops[far]
            face = [self.at(x, 0, near), self.at(x, 0, far), self.at(x + side * lean * high, high, far),
                    self.at(x + side * lean * low, low, near)]
            self.canvas.polygon(face, C.TERRAIN, colour, texture=0.3 if rock else 0.2, gradient=0.25,
                                grain=0.05)
            self.strata(face, colour, marks[near])

        self.stand_along(z0, z1, paint)

    def boulders(self, side, x, z0, z1):
        """Tan boulders and rounded outcrops, each lit on the sun's side."""
        r = self.rng
        z = z0
        while z < z1:
            width = r.uniform(4, 16)
            height = width * r.uniform(0.25, 0.6)
            u = x + side * r.uniform(0, 6)
            self.stand(z, self._boulder(u, u + side * width, z, height, self.vary(self.pick(SAND + CLIFF), 10)))
            z += width * r.uniform(0.6, 1.6)

    def _boulder(self, x0, x1, z, height, colour):
        marks = self.marks(int(self.rng.integers(2, 6)))

        def paint():
            (u0, v0), (u1, _) = self.at(x0, 0, z), self.at(x1, 0, z)
            self.mound(min(u0, u1), max(u0, u1), v0, height * self.cam.scale(z), colour, marks)

        return paint

    def mound(self, x0, x1, base, height, colour, marks):
        """A rounded heap in pixel coordinates, its side away from the sun in shade, streaked."""
        steps = 10
        outline = []
        for k in range(steps + 1):
            t = 2 * k / steps - 1
            outline.append((x0 + (x1 - x0) * k / steps, base - height * (1 - t * t * t * t)))
        c = self.canvas
        c.polygon([(x0, base)] + outline + [(x1, base)], C.TERRAIN, colour, texture=0.2, gradient=0.2, grain=0.03)
        shaded = outline[steps // 2:] if self.sun_side < 0 else outline[:steps // 2 + 1]
        dark = tuple(v * 0.72 for v in colour)
        c.polygon([(shaded[0][0], base)] + shaded + [(shaded[-1][0], base)], C.TERRAIN, dark, texture=0.2,
                  grain=0.03)
        middle = (x0 + x1) / 2
        self.strata([(x0 + (middle - x0) * 0.4, base), (x1 - (x1 - middle) * 0.4, base),
                     (x1 - (x1 - middle) * 0.4, base - height * 0.8), (x0 + (middle - x0) * 0.4, base - height * 0.8)],
                    colour, marks)

    def marks(self, count):
        """Cracks and ledges for :meth:`strata`: (where along the face, width, slant, length, tone)."""
        r = self.rng
        return [(r.uniform(0, 1), r.uniform(0.04, 0.18), r.uniform(-0.3, 0.3), r.uniform(0.3, 1.0),
                 r.uniform(0.3, 0.6) if r.random() < 0.7 else r.uniform(1.2, 1.5)) for _ in range(count)]

    def strata(self, face, colour, marks):
        """Dark cracks and pale ledges running down a rock face given as four pixel corners (near
        foot, far foot, far top, near top): structure a few pixels wide, not fine grain."""
        def point(u, v):
            u = min(1.0, max(0.0, u))
            (x0, y0), (x1, y1), (x2, y2), (x3, y3) = face
            bx, by = x0 + (x1 - x0) * u, y0 + (y1 - y0) * u
            tx, ty = x3 + (x2 - x3) * u, y3 + (y2 - y3) * u
            return bx + (tx - bx) * v, by + (ty - by) * v

        for u, width, slant, length, tone in marks:
            shade = tuple(min(255.0, v * tone) for v in colour)
            self.canvas.polygon([point(u, 1), point(u + width, 1), point(u + width + slant, 1 - length),
                                 point(u + slant, 1 - length)], C.TERRAIN, shade, texture=0.1, grain=0.03)

    def poles(self, side, x):
        r = self.rng
        z = r.uniform(4, 20)
        spacing = r.uniform(18, 45)
        # Half the real frames show no traffic sign and no traffic light: a side of the road has
        # them or not, rather than on every few poles.
        kinds = ["lamp", "lamp", "plain"] + ["sign"] * (r.random() < 0.35) + ["light"] * (r.random() < 0.35)
        while z < 150:
            kind = self.pick(kinds)
            self.stand(z, self._pole(side, x + side * r.uniform(-0.2, 0.5), z, kind))
            z += spacing * r.uniform(0.7, 1.3)

    def _pole(self, side, x, z, kind):
        r = self.rng
        height = r.uniform(3, 4) if kind == "sign" else r.uniform(4.5, 8)
        grey = self.vary(self.pick(GREYS[1:]), 12)
        sign_colour = self.vary(self.pick([(200, 30, 30), (30, 70, 170), (230, 230, 230), (230, 200, 40)]), 12)
        sign_shape = self.pick(["disc", "square", "triangle"])
        lamp = self.pick([(230, 40, 30), (240, 180, 30), (60, 220, 90)])

        def paint():
            c = self.canvas
            self.cast_shadow(x - 0.1, x + 0.1, z, z + 0.2, height * 0.8)
            c.polygon(self.quad(x - 0.09, x + 0.09, 0, height, z), C.POLE, grey, texture=0.04, gradient=0.1)
            if kind == "lamp":
                c.polygon(self.quad(x, x - side * 1.8, height - 0.15, height, z), C.POLE, grey, texture=0.04)
            elif kind == "sign":
                u, v = self.at(x, height - 0.35, z)
                s = 0.4 * self.cam.scale(z)
                if sign_shape == "disc":
                    c.ellipse((u - s, v - s, u + s, v + s), C.TRAFFICSIGN, sign_colour, texture=0.03)
                elif sign_shape == "square":
                    c.rectangle((u - s, v - s, u + s, v + s), C.TRAFFICSIGN, sign_colour, texture=0.03)
                else:
                    c.polygon([(u - s, v - s), (u + s, v - s), (u, v + s)], C.TRAFFICSIGN, sign_colour,
                              texture=0.03)
            elif kind == "light":
                arm = -side * r_arm
                c.polygon(self.quad(x, x + arm, height - 0.2, height, z), C.POLE, grey, texture=0.04)
                u0, v0 = self.at(x + arm - 0.2, height, z)
                u1, v1 = self.at(x + arm + 0.2, height - 1.0, z)
                c.rectangle((u0, v0, u1, v1), C.TRAFFICLIGHT, self.vary((40, 40, 35), 10), texture=0.04)
                lu, lv = self.at(x + arm, height - 0.2 - 0.3 * lamp_slot, z)
                s = 0.12 * self.cam.scale(z)
                c.ellipse((lu - s, lv - s, lu + s, lv + s), C.TRAFFICLIGHT, lamp, texture=0.02)

        r_arm = r.uniform(1.5, 5)
        lamp_slot = int(r.integers(0, 3))
        return paint

    def pedestrians(self, side):
        r = self.rng
        half = self.road_width / 2
        for _ in range(int(r.integers(0, 3))):
            x = side * r.uniform(half + 0.4, self.kerb - 0.3)
            z = r.uniform(8, 60)
            self.stand(z, self._person(x, z, r.uniform(1.5, 1.95)))

    def _person(self, x, z, height):
        shirt, trousers = self.vary(self.pick(CLOTHES), 15), self.vary(self.pick(CLOTHES), 15)
        skin = self.vary(self.pick([(225, 190, 160), (180, 130, 100), (120, 80, 60)]), 10)
        stride = self.rng.uniform(-0.15, 0.15)
        y0 = self.base(x)  # standing on the sidewalk, not in it

        def paint():
            c, s = self.canvas, self.cam.scale(z)
            self.cast_shadow(x - 0.2, x + 0.2, z, z + 0.2, height * 0.6, y=y0)
            hip = y0 + height * 0.47
            for dx in (-0.1, 0.1):
                foot = x + dx + stride * dx * 5
                c.polygon([self.at(foot - 0.07, y0, z), self.at(foot + 0.07, y0, z),
                           self.at(x + dx + 0.07, hip, z), self.at(x + dx - 0.07, hip, z)],
                          C.PEDESTRIAN, trousers, texture=0.05, gradient=0.3)
            c.polygon(self.quad(x - 0.22, x + 0.22, y0 + height * 0.45, y0 + height * 0.82, z), C.PEDESTRIAN,
                      shirt, texture=0.06, gradient=0.4)
            u, v = self.at(x, y0 + height * 0.91, z)
            hr = 0.11 * s
            c.ellipse((u - hr, v - hr * 1.2, u + hr, v + hr * 1.2), C.PEDESTRIAN, skin, texture=0.03)

        return paint

    def street_furniture(self, side):
        """Static objects (benches, barriers), dynamic ones (bins) and 'other' clutter."""
        r = self.rng
        for cls, chance, size, colours in (
            (C.STATIC, 0.5, (2.0, 1.3), ((110, 100, 90), (150, 60, 40), (200, 200, 200), (60, 90, 120))),
            (C.DYNAMIC, 0.45, (0.6, 1.0), ((40, 80, 50), (90, 90, 95), (150, 110, 60), (30, 30, 30))),
            (C.OTHER, 0.25, (0.5, 1.4), ((120, 120, 120), (60, 50, 40), (170, 40, 40))),
        ):
            if r.random() > chance:
                continue
            for _ in range(int(r.integers(1, 3))):
                x = side * r.uniform(self.road_width / 2 + 0.3, self.kerb + 3)
                z = r.uniform(4, 50)
                w, h = size[0] * r.uniform(0.7, 1.6), size[1] * r.uniform(0.7, 1.4)
                colour = self.vary(self.pick(colours), 15)
                self.stand(z, self._box(x, z, w, h, cls, colour))

    def _box(self, x, z, w, h, cls, colour):
        y0 = self.base(x)
        top = self.vary(colour, 20)

        def paint():
            self.cast_shadow(x - w / 2, x + w / 2, z, z + 0.5, h * 0.7, y=y0)
            self.canvas.polygon(self.quad(x - w / 2, x + w / 2, y0, y0 + h, z), cls, colour, texture=0.07,
                                gradient=0.2)
            self.canvas.polygon(self.quad(x - w / 2, x + w / 2, y0 + h, y0 + h + 0.08, z), cls, top, texture=0.05)

        return paint

    # -- vehicles and structures ----------------------------------------------------------
    def traffic(self):
        r = self.rng
        half = self.road_width / 2
        for _ in range(int(r.integers(0, 3))):
            lane = int(r.integers(0, self.lanes))
            x = self.lane_centre(lane) + r.uniform(-0.3, 0.3)
            z = r.uniform(8, 100)
            self.stand(z, self._vehicle(x, z))
        for side in (-1, 1):  # parked cars along the kerb
            if r.random() < 0.3:
                for _ in range(int(r.integers(1, 4))):
                    z = r.uniform(5, 60)
                    self.stand(z, self._vehicle(side * (half - min(1.1, self.shoulder)), z))

    def _vehicle(self, x, z):
        r = self.rng
        kind = self.pick(["car", "car", "car", "van", "truck"])
        width = {"car": 1.8, "van": 2.0, "truck": 2.5}[kind] * r.uniform(0.95, 1.05)
        height = {"car": 1.45, "van": 2.2, "truck": 3.3}[kind] * r.uniform(0.9, 1.1)
        length = {"car": 4.4, "van": 5.0, "truck": 8.0}[kind]
        body = self.vary(self.pick(CAR_COLOURS), 12)
        glass = self.vary((35, 40, 50), 10)
        tyre = self.vary((25, 25, 25), 5)
        lights = self.vary((170, 30, 30), 15)

        def paint():
            c = self.canvas
            x0, x1 = x - width / 2, x + width / 2
            self.cast_shadow(x0, x1, z, z + length, height * 0.6)
            # The side the camera sees, then the rear.
            near_side = x0 if self.centre(z) + x > 0 else x1  # right of the camera: its left side shows
            c.polygon(self.quad(near_side, near_side, 0.3, height * 0.65, z, z + length), C.VEHICLES,
                      self.vary(body, 6), texture=0.04, shade=185, gradient=0.3)
            if kind == "car":  # the cabin's side with its windows
                c.polygon(self.quad(near_side, near_side, height * 0.65, height, z + 1.2, z + length - 1.0),
                          C.VEHICLES, body, texture=0.04, shade=185)
                c.polygon(self.quad(near_side, near_side, height * 0.69, height * 0.95, z + 1.3, z + length - 1.1),
                          C.VEHICLES, glass, texture=0.03, gradient=0.5)
            for wz in (z + 0.8, z + length - 0.9):  # wheels on the side the camera sees
                c.polygon(self.quad(near_side, near_side, 0, 0.62, wz - 0.32, wz + 0.32), C.VEHICLES, tyre,
                          texture=0.02)
            c.polygon(self.quad(x0, x1, 0.25, height * (0.65 if kind == "car" else 1.0), z), C.VEHICLES, body,
                      texture=0.04, gradient=0.3)
            if kind == "car":
                c.polygon([self.at(x0 + 0.1, height * 0.65, z + 0.4), self.at(x1 - 0.1, height * 0.65, z + 0.4),
                           self.at(x1 - 0.25, height, z + 1.2), self.at(x0 + 0.25, height, z + 1.2)],
                          C.VEHICLES, body, texture=0.04)
                c.polygon([self.at(x0 + 0.25, height * 0.68, z + 0.45), self.at(x1 - 0.25, height * 0.68, z + 0.45),
                           self.at(x1 - 0.35, height * 0.95, z + 1.1), self.at(x0 + 0.35, height * 0.95, z + 1.1)],
                          C.VEHICLES, glass, texture=0.03)
            for wx in (x0 + 0.1, x1 - 0.35):
                c.polygon(self.quad(wx, wx + 0.25, 0, 0.45, z + 0.05), C.VEHICLES, tyre, texture=0.02)
            c.polygon(self.quad(x0, x1, 0.25, 0.45, z - 0.02), C.VEHICLES, tuple(v * 0.55 for v in body),
                      texture=0.03)  # bumper
            for lx in (x0 + 0.1, x1 - 0.4):
                c.polygon(self.quad(lx, lx + 0.3, height * 0.45, height * 0.55, z - 0.01), C.VEHICLES, lights,
                          texture=0.02)

        return paint

    def bridge(self):
        r = self.rng
        z = r.uniform(35, 130)
        clearance = r.uniform(5, 8)
        thickness = r.uniform(1.2, 2.5)
        concrete = self.vary(self.pick(GREYS[2:] + ((150, 140, 125),)), 12)

        def paint():
            c = self.canvas
            c.polygon(self.quad(-400, 400, clearance, clearance + thickness, z), C.BRIDGE, concrete,
                      texture=0.06, gradient=0.2)
            for x in (-self.road_width / 2 - 2, self.road_width / 2 + 1):
                c.polygon(self.quad(x, x + 1, 0, clearance, z), C.BRIDGE, self.vary(concrete, 8), texture=0.06,
                          shade=190)

        self.stand(z, paint)
