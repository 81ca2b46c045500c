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
from .scene import Scene

REFERENCE_WIDTH = 640  # pixel sizes below are for a frame this wide, scaled for others


def frame_rng(seed, index, stream=0):
    """A random generator of one frame: depends on (seed, index) only, not on workers.

    Stream 0 draws the scene, 1 its look and 2 its noise fields: an appearance family changes
    how a scene looks, never what is in it.
    """
    entropy = [int(seed), int(index)] + ([int(stream)] if stream else [])
    return np.random.default_rng(np.random.SeedSequence(entropy))


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
    rng = frame_rng(seed, index)
    scene = Scene(rng, width, height, shadow=light.shadow)
    canvas = scene.draw()
    t = canvas.tables()
    ids = np.asarray(canvas.ids, dtype=np.int32)
    mask = t.classes[ids]
    scale = width / REFERENCE_WIDTH
    noise_rng = frame_rng(seed, index, 2)

    # Surfaces: colour (with worn paint showing what is under it), blotches, grain, gradients.
    texture = 0.6 * smooth_noise(noise_rng, height, width, 24 * scale) + 0.4 * smooth_noise(
        noise_rng, height, width, 7 * scale)
    grain = block_noise(noise_rng, height, width, 2 if width >= 320 else 1)
    wear = t.wears[ids] * np.clip(0.3 + 1.5 * smooth_noise(noise_rng, height, width, 3 * scale), 0, 1)
    base = t.colours[ids] * (1 - wear[..., None]) + t.unders[ids] * wear[..., None]
    rows = (np.arange(height, dtype=np.float32) - scene.cam.horizon) / height
    shading = 1 + look.texture * (t.textures[ids] * texture + 0.6 * t.grains[ids] * grain) + t.gradients[ids] * rows[:, None]

    # Soft shadows: the light map blurred by a few pixels.
    lit = canvas.light.filter(ImageFilter.BoxBlur(max(1, round(2 * scale))))
    shading *= np.asarray(lit, dtype=np.float32) / 255
    rgb = base * shading[..., None]

    # The sky: a gradient with wispy clouds stretched along the horizon.
    sky = mask == C.SKY
    if sky.any():
        wisps = (smooth_noise(noise_rng, height, width, 26 * scale, 110 * scale)
                 + 0.5 * smooth_noise(noise_rng, height, width, 8 * scale, 40 * scale))
        cover = np.clip((wisps - (1.2 - 2.0 * look.clouds)) * 0.9, 0, 0.9)[..., None]
        cloud = np.float32(235) - 40 * np.float32(look.clouds)
        sky_rgb = sky_colours(light, scene.cam.horizon, height)[:, None, :] * (1 - cover) + cloud * cover
        sky_rgb = sky_rgb * (1 + 0.03 * texture[..., None])
        rgb = np.where(sky[..., None], sky_rgb, rgb)

    rgb *= np.float32(light.brightness) * np.array(light.tint, dtype=np.float32)
    # Haze: colours fade towards the haze colour near the horizon, where things are far away.
    distance_rows = np.abs(np.arange(height, dtype=np.float32) - scene.cam.horizon) / scale
    haze = (0.35 * 40 / (40 + distance_rows))[:, None, None]
    rgb = rgb * (1 - haze) + np.array(light.haze, dtype=np.float32) * light.brightness * haze

    # The camera.
    rgb *= np.float32(look.exposure) * np.array(look.white_balance, dtype=np.float32)
    grey = rgb.mean(axis=-1, keepdims=True)
    rgb = grey + (rgb - grey) * np.float32(look.saturation)
    rgb = 128 + (rgb - 128) * np.float32(look.contrast)
    u = (np.arange(width, dtype=np.float32) - width / 2) / (width / 2)
    v = (np.arange(height, dtype=np.float32) - height / 2) / (width / 2)
    rgb *= (1 - look.vignette * (u[None, :] ** 2 + v[:, None] ** 2) / 1.56)[..., None]
    picture = Image.fromarray(np.clip(np.rint(rgb), 0, 255).astype(np.uint8))
    picture = np.asarray(picture.filter(ImageFilter.GaussianBlur(look.blur * scale)), dtype=np.float32)
    picture = picture + (block_noise(noise_rng, height, width, 2 if width >= 320 else 1) * look.noise)[..., None]
    return np.clip(np.rint(picture), 0, 255).astype(np.uint8), mask
