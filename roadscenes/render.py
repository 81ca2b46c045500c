"""Turn a composed scene into a (picture, mask) pair of uint8 arrays.

Appearance comes from layers that do not depend on the class alone: per-instance colour,
smooth texture noise, vertical gradients, shadows, time-of-day tint, haze towards the horizon
and sensor noise. Noise is generated at reduced resolution and enlarged, which keeps the
PNG files small while still breaking up flat colours.
"""

import numpy as np
from PIL import Image

from .scene import TIMES_OF_DAY, Scene

# Standard deviation of sensor noise in grey levels: cameras are noisier in the dark. Kept
# small because per-pixel noise is what makes PNG files large.
SENSOR_NOISE = {"noon": 0.2, "afternoon": 0.2, "sunset": 0.3, "overcast": 0.25, "dusk": 0.8}


def frame_rng(seed, index):
    """The random generator of one frame: depends on (seed, index) only, not on workers."""
    return np.random.default_rng(np.random.SeedSequence([int(seed), int(index)]))


def smooth_noise(rng, height, width, cell):
    """Zero-mean noise with features about `cell` pixels wide (bilinear-enlarged)."""
    small = rng.standard_normal((height // cell + 2, width // cell + 2)).astype(np.float32)
    big = Image.fromarray(small, mode="F").resize((width + 2 * cell, height + 2 * cell), Image.BILINEAR)
    return np.asarray(big)[cell:cell + height, cell:cell + width]


def render(seed, index, width=640, height=480):
    """Return (rgb, mask): uint8 arrays of shape (H, W, 3) and (H, W) with class ids."""
    rng = frame_rng(seed, index)
    scene = Scene(rng, width, height)
    canvas = scene.draw()
    classes, colours, textures, gradients = canvas.tables()
    ids = np.asarray(canvas.ids, dtype=np.int32)
    mask = classes[ids]

    brightness, tint, _, _, _, haze_colour = TIMES_OF_DAY[scene.time]
    texture = (0.6 * smooth_noise(rng, height, width, 24) + 0.4 * smooth_noise(rng, height, width, 16))
    rows = (np.arange(height, dtype=np.float32) - scene.cam.horizon) / height
    shading = 1 + textures[ids] * texture + gradients[ids] * rows[:, None]
    shading *= np.asarray(canvas.light, dtype=np.float32) / 255
    rgb = colours[ids] * shading[..., None]
    rgb *= np.float32(brightness) * np.array(tint, dtype=np.float32)

    # Haze: colours fade towards the haze colour near the horizon, where things are far away.
    distance_rows = np.abs(np.arange(height, dtype=np.float32) - scene.cam.horizon)
    haze = (0.35 * 40 / (40 + distance_rows))[:, None, None]
    rgb = rgb * (1 - haze) + np.array(haze_colour, dtype=np.float32) * brightness * haze

    sensor = rng.standard_normal((height // 2, width // 2)).astype(np.float32)
    rgb += np.repeat(np.repeat(sensor, 2, axis=0), 2, axis=1)[..., None] * SENSOR_NOISE[scene.time]
    rgb = np.clip(np.rint(rgb), 0, 255).astype(np.uint8)
    return rgb, mask
