"""How a frame looks apart from what is in it: the light, the camera's settings, the textures.

Each frame draws a `Look` from a family of settings. The "standard" family is what the
course's data uses. The "heldout" family lights its scenes with presets the standard family
never uses (their own skies, tints and hazes), and draws each camera setting (exposure, white
balance, saturation, contrast, blur, noise, vignetting) and the texture strength from values
outside the standard family's ranges. A network trained on standard frames and scored on
held-out ones shows whether it learned shapes or the standard family's colours
(`bench/appearance_transfer.py`).
The scene itself (what stands where) does not depend on the family.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Light:
    brightness: float
    tint: tuple  # multipliers (r, g, b)
    zenith: tuple  # sky colour at the top of the frame
    horizon: tuple  # sky colour at the horizon
    shadow: float  # how much a shadow darkens the ground (0: no shadows)
    haze: tuple  # colour far things fade to
    clouds: tuple  # range of cloud cover, 0..1


LIGHTS = {
    # The standard family's lights, as in the real frames: bright daylight under a pale blue sky
    # with hard shadows, now and then a cloudy day or a low sun. The real data has no dusk or
    # night: every real frame has a mean brightness of at least 0.47 (bench/scene_statistics.py).
    "noon": Light(1.05, (1.0, 1.0, 1.0), (140, 174, 212), (206, 218, 230), 0.45, (206, 214, 224), (0.0, 0.6)),
    "afternoon": Light(1.0, (1.04, 1.0, 0.95), (146, 176, 208), (210, 216, 224), 0.5, (212, 212, 212),
                       (0.1, 0.7)),
    "sunset": Light(0.9, (1.12, 0.95, 0.84), (110, 130, 176), (236, 190, 150), 0.55, (222, 184, 150), (0.1, 0.6)),
    "overcast": Light(0.95, (0.97, 0.99, 1.02), (162, 168, 176), (202, 204, 208), 0.12, (196, 199, 202),
                      (0.6, 1.0)),
    # Held out: a low morning sun, a hazy noon and a soft winter light.
    "morning": Light(0.9, (1.08, 1.0, 0.88), (120, 160, 210), (232, 214, 186), 0.6, (226, 214, 196), (0.0, 0.4)),
    "hazy": Light(0.92, (1.0, 1.0, 0.97), (160, 178, 196), (214, 214, 208), 0.25, (214, 214, 208), (0.2, 0.7)),
    "winter": Light(0.88, (0.93, 0.98, 1.08), (132, 160, 196), (210, 218, 228), 0.3, (200, 208, 220), (0.3, 0.9)),
}


@dataclass(frozen=True)
class Family:
    """Where each setting is drawn from: `lights` names the light presets (repeat a name to draw
    it more often); every other field is a tuple of (low, high) intervals, one picked at random."""
    lights: tuple
    exposure: tuple  # overall gain
    white_balance: tuple  # largest deviation of a channel's gain from 1
    saturation: tuple  # 1: as rendered, 0: grey
    contrast: tuple  # around mid-grey
    blur: tuple  # Gaussian radius in pixels of a 640-wide frame: lens softness, anti-aliasing
    noise: tuple  # sensor noise, grey levels
    texture: tuple  # gain on every surface's texture and grain
    vignette: tuple  # darkening of the corners


FAMILIES = {
    "standard": Family(
        lights=("noon",) * 4 + ("afternoon",) * 3 + ("sunset", "overcast"),
        exposure=((0.9, 1.12),), white_balance=((0.0, 0.04),), saturation=((0.8, 1.2),),
        contrast=((0.85, 1.15),), blur=((0.3, 1.0),), noise=((0.5, 2.5),), texture=((0.7, 1.3),),
        vignette=((0.0, 0.25),)),
    "heldout": Family(
        lights=("morning", "hazy", "winter"),
        exposure=((0.72, 0.9), (1.12, 1.28)), white_balance=((0.04, 0.08),), saturation=((0.55, 0.8), (1.2, 1.4)),
        contrast=((0.7, 0.85), (1.15, 1.3)), blur=((1.0, 1.6),), noise=((2.5, 4.0),), texture=((0.4, 0.7), (1.3, 1.7)),
        vignette=((0.25, 0.4),)),
}


@dataclass(frozen=True)
class Look:
    light: str
    exposure: float
    white_balance: tuple  # gains (r, g, b)
    saturation: float
    contrast: float
    blur: float
    noise: float
    texture: float
    vignette: float
    clouds: float


def check_family(family):
    """`family` itself, when it names a family; otherwise a ValueError that lists them."""
    if family not in FAMILIES:
        raise ValueError(f"unknown appearance family {family!r}; choose from {', '.join(FAMILIES)}")
    return family


def _draw(rng, intervals):
    low, high = intervals[int(rng.integers(0, len(intervals)))]
    return float(rng.uniform(low, high))


def draw_look(rng, family="standard"):
    """The look of one frame, drawn from a family's ranges."""
    f = FAMILIES[check_family(family)]
    light = f.lights[int(rng.integers(0, len(f.lights)))]
    deviation = _draw(rng, f.white_balance)
    direction = rng.uniform(-1, 1, 3)
    direction = direction / max(float(abs(direction).max()), 1e-6)  # its largest channel moves by `deviation`
    balance = tuple(1 + deviation * float(d) for d in direction)
    return Look(light=light, exposure=_draw(rng, f.exposure), white_balance=balance,
                saturation=_draw(rng, f.saturation), contrast=_draw(rng, f.contrast), blur=_draw(rng, f.blur),
                noise=_draw(rng, f.noise), texture=_draw(rng, f.texture), vignette=_draw(rng, f.vignette),
                clouds=float(rng.uniform(*LIGHTS[light].clouds)))
