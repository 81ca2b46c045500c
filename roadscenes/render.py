"""Turn a composed scene into a (picture, mask) pair of uint8 arrays.

The mask is the class of each instance of the id raster. The picture is built in layers that
do not depend on the class alone: each instance's colour, worn paint, large texture blotches
and fine grain, vertical gradients, the sky's gradient and wispy clouds, soft shadows, the
light's tint, haze towards the horizon, and then the camera: exposure, white balance,
saturation, contrast, vignetting, lens blur (which also smooths the raster's jagged edges, as
anti-aliasing does in CARLA's pictures) and sensor noise. Noise fields are drawn at reduced
resolution and enlarged, which keeps PNG files small while still breaking up flat colours.
"""

import numpy as np
from PIL import Image, ImageFilter

from . import classes as C
from .appearance import LIGHTS, draw_look
from .scene import REFERENCE_WIDTH, Scene


# Gains on the fine grain of the classes that are busier in the real frames than the scene's
# flat shapes make them: leaves, facades, grass and asphalt had 1.4-3 times roadscenes 2's
# texture there (luma steps between neighbouring pixels, bench/scene_statistics.py). Walls and
# fences, which that bench does not measure, are treated like facades.
GRAIN_GAIN = {C.VEGETATION: 3.0, C.BUILDING: 3.0, C.TERRAIN: 2.5, C.ROAD: 1.5, C.WALL: 2.0, C.FENCE: 2.0}


def _grain_gains(classes):
    """The grain gain of each instance, from its class."""
    gains = np.ones(len(classes), np.float32)
    for cls, gain in GRAIN_GAIN.items():
        gains[classes == cls] = gain
    return gains


def frame_rng(seed, index, stream=0):
    """A random generator of one frame: depends on (seed, index) only, not on workers.

    Stream 0 draws the scene, 1 its look and 2 its noise fields: an appearance family changes
    how a scene looks, never what is in it.
    """
    return np.random.default_rng(np.random.SeedSequence([int(seed), int(index), int(stream)]))


def smooth_noise(rng, height, width, cell, cell_x=None):
    """Zero-mean noise with features about `cell` pixels tall and `cell_x` wide (bilinear-enlarged)."""
    cell_y, cell_x = max(1, int(cell)), max(1, int(cell_x or cell))
    small = rng.standard_normal((height // cell_y + 2, width // cell_x + 2)).astype(np.float32)
    big = Image.fromarray(small, mode="F").resize((width + 2 * cell_x, height + 2 * cell_y), Image.BILINEAR)
    return np.asarray(big)[cell_y:cell_y + height, cell_x:cell_x + width]


def block_noise(rng, height, width, block):
    """Noise constant over `block` x `block` pixels: grain that compresses better than per-pixel noise."""
    small = rng.standard_normal((-(-height // block), -(-width // block))).astype(np.float32)
    return np.repeat(np.repeat(small, block, axis=0), block, axis=1)[:height, :width]


def sky_colours(light, horizon, height):
    """(height, 3) colour of the sky per row: the zenith's colour at the top, paler at the horizon."""
    rows = np.arange(height, dtype=np.float32)
    t = np.clip(rows / max(horizon, 1.0), 0, 1) ** 2
    zenith, low = np.array(light.zenith, np.float32), np.array(light.horizon, np.float32)
    return zenith * (1 - t[:, None]) + low * t[:, None]


def render(seed, index, width=640, height=480, appearance="standard"):
    """Return (rgb, mask): uint8 arrays of shape (H, W, 3) and (H, W) with class ids."""
    look = draw_look(frame_rng(seed, index, 1), appearance)
    light = LIGHTS[look.light]
    scene = Scene(frame_rng(seed, index), width, height, shadow=light.shadow)
    canvas = scene.draw()
    tables = canvas.tables()
    ids = np.asarray(canvas.ids, dtype=np.int32)
    mask = tables.classes[ids]
    noise = Noise(frame_rng(seed, index, 2), height, width)
    texture = noise.smooth(24) * 0.6 + noise.smooth(7) * 0.4

    rgb = _surfaces(tables, ids, canvas.light, texture, noise, look, scene.cam.horizon)
    rgb = _sky(rgb, mask == C.SKY, texture, noise, light, look.clouds, scene.cam.horizon)
    rgb = _light(rgb, light, scene.cam.horizon, noise.scale)
    return _camera(rgb, look, noise), mask


class Noise:
    """The noise fields of one frame, sized in pixels of a frame REFERENCE_WIDTH wide."""

    def __init__(self, rng, height, width):
        self.rng, self.height, self.width = rng, height, width
        self.scale = width / REFERENCE_WIDTH
        self.block = 2 if width >= REFERENCE_WIDTH / 2 else 1  # fine grain: 2x2 pixels, 1 in small frames

    def smooth(self, cell, cell_x=None):
        return smooth_noise(self.rng, self.height, self.width, round(cell * self.scale),
                            round((cell_x or cell) * self.scale))

    def grain(self):
        return block_noise(self.rng, self.height, self.width, self.block)


def _surfaces(t, ids, light_map, texture, noise, look, horizon):
    """Each instance's colour (worn paint showing what is under it), blotches, grain, vertical
    gradient, and the shadows of the light map, blurred by a few pixels so that they are soft."""
    height = ids.shape[0]
    wear = t.wears[ids] * np.clip(0.3 + 1.5 * noise.smooth(3), 0, 1)
    base = t.colours[ids] * (1 - wear[..., None]) + t.unders[ids] * wear[..., None]
    rows = (np.arange(height, dtype=np.float32) - horizon) / height
    grains = t.grains * _grain_gains(t.classes)
    relief = t.textures[ids] * texture + 0.6 * grains[ids] * noise.grain()
    shading = 1 + look.texture * relief + t.gradients[ids] * rows[:, None]
    lit = light_map.filter(ImageFilter.BoxBlur(max(1, round(2 * noise.scale))))
    shading *= np.asarray(lit, dtype=np.float32) / 255
    return base * shading[..., None]


def _sky(rgb, sky, texture, noise, light, clouds, horizon):
    """The sky's pixels: a gradient towards a paler horizon, with wisps of cloud stretched along it."""
    if not sky.any():
        return rgb
    wisps = noise.smooth(26, 110) + 0.5 * noise.smooth(8, 40)
    cover = np.clip((wisps - (1.2 - 2.0 * clouds)) * 0.9, 0, 0.9)[..., None]
    cloud = np.float32(235) - 40 * np.float32(clouds)
    sky_rgb = sky_colours(light, horizon, rgb.shape[0])[:, None, :] * (1 - cover) + cloud * cover
    sky_rgb = sky_rgb * (1 + 0.03 * texture[..., None])
    return np.where(sky[..., None], sky_rgb, rgb)


def _light(rgb, light, horizon, scale):
    """The light's brightness and tint, and haze: colours fade towards the haze colour near the
    horizon, where things are far away."""
    rgb = rgb * (np.float32(light.brightness) * np.array(light.tint, dtype=np.float32))
    distance_rows = np.abs(np.arange(rgb.shape[0], dtype=np.float32) - horizon) / scale
    haze = (0.35 * 40 / (40 + distance_rows))[:, None, None]
    return rgb * (1 - haze) + np.array(light.haze, dtype=np.float32) * light.brightness * haze


def _camera(rgb, look, noise):
    """Exposure, white balance, saturation, contrast, vignetting, lens blur and sensor noise."""
    height, width = rgb.shape[:2]
    rgb = rgb * (np.float32(look.exposure) * np.array(look.white_balance, dtype=np.float32))
    grey = rgb.mean(axis=-1, keepdims=True)
    rgb = grey + (rgb - grey) * np.float32(look.saturation)
    rgb = 128 + (rgb - 128) * np.float32(look.contrast)
    # Vignetting: darker with the squared distance from the centre, by `vignette` in the corners.
    u = (np.arange(width, dtype=np.float32) - width / 2) / (width / 2)
    v = (np.arange(height, dtype=np.float32) - height / 2) / (width / 2)
    corner = 1 + (height / width) ** 2
    rgb *= (1 - look.vignette * (u[None, :] ** 2 + v[:, None] ** 2) / corner)[..., None]
    picture = Image.fromarray(np.clip(np.rint(rgb), 0, 255).astype(np.uint8))
    picture = np.asarray(picture.filter(ImageFilter.GaussianBlur(look.blur * noise.scale)), dtype=np.float32)
    picture = picture + (noise.grain() * look.noise)[..., None]
    return np.clip(np.rint(picture), 0, 255).astype(np.uint8)
