"""CARLA's 23 semantic tags (CARLA 0.9.10-0.9.13): ids, names and display colours.

The ids are what a mask stores in its red channel; the colours are CARLA's CityScapes
palette, used only to display masks (they never appear in the masks themselves).
"""

import numpy as np

#: (id, name, display colour) for every class, in id order.
CLASS_TABLE = (
    (0, "Unlabeled", (0, 0, 0)),
    (1, "Building", (70, 70, 70)),
    (2, "Fence", (100, 40, 40)),
    (3, "Other", (55, 90, 80)),
    (4, "Pedestrian", (220, 20, 60)),
    (5, "Pole", (153, 153, 153)),
    (6, "RoadLine", (157, 234, 50)),
    (7, "Road", (128, 64, 128)),
    (8, "Sidewalk", (244, 35, 232)),
    (9, "Vegetation", (107, 142, 35)),
    (10, "Vehicles", (0, 0, 142)),
    (11, "Wall", (102, 102, 156)),
    (12, "TrafficSign", (220, 220, 0)),
    (13, "Sky", (70, 130, 180)),
    (14, "Ground", (81, 0, 81)),
    (15, "Bridge", (150, 100, 100)),
    (16, "RailTrack", (230, 150, 140)),
    (17, "GuardRail", (180, 165, 180)),
    (18, "TrafficLight", (250, 170, 30)),
    (19, "Static", (110, 190, 160)),
    (20, "Dynamic", (170, 120, 50)),
    (21, "Water", (45, 60, 150)),
    (22, "Terrain", (145, 170, 100)),
)

N_CLASSES = len(CLASS_TABLE)
CLASS_NAMES = tuple(name for _, name, _ in CLASS_TABLE)
#: uint8 array of shape (23, 3): ``PALETTE[mask]`` colours a mask of class ids.
PALETTE = np.array([colour for _, _, colour in CLASS_TABLE], dtype=np.uint8)

# Names as attributes (``classes.ROAD``) keep the scene code readable.
UNLABELED, BUILDING, FENCE, OTHER, PEDESTRIAN, POLE, ROADLINE, ROAD, SIDEWALK = range(9)
VEGETATION, VEHICLES, WALL, TRAFFICSIGN, SKY, GROUND, BRIDGE, RAILTRACK = range(9, 17)
GUARDRAIL, TRAFFICLIGHT, STATIC, DYNAMIC, WATER, TERRAIN = range(17, 23)


def colorize(mask):
    """Return the display colours (H, W, 3 uint8) of a mask of class ids (H, W)."""
    mask = np.asarray(mask)
    if mask.min(initial=0) < 0 or mask.max(initial=0) >= N_CLASSES:
        raise ValueError(f"mask holds values outside 0..{N_CLASSES - 1}")
    return PALETTE[mask]
