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
    # The standard family's lights: clear, cloudy, sunset and dusk, as in CARLA's weathers.
    "noon": Light(1.0, (1.0, 1.0, 1.0), (96, 146, 206), (188, 208, 228), 0.45, (196, 208, 222), (0.0, 0.5)),
    "afternoon": Light(0.95, (1.04, 1.0, 0.93), (104, 150, 200), (196, 206, 218), 0.5, (204, 204, 204),
                       (0.1, 0.6)),
    "sunset": Light(0.8, (1.15, 0.93, 0.8), (88, 104, 160), (236, 170, 120), 0.55, (222, 168, 130), (0.1, 0.6)),
    "overcast": Light(0.85, (0.97, 0.99, 1.02), (150, 156, 164), (192, 194, 198), 0.12, (186, 189, 192),
                      (0.6, 1.0)),
    "dusk": Light(0.55, (0.9, 0.95, 1.15), (30, 40, 86), (112, 96, 126), 0.2, (84, 84, 104), (0.0, 0.4)),
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
        lights=("noon",) * 3 + ("afternoon",) * 2 + ("sunset", "overcast", "overcast", "dusk"),
        exposure=((0.85, 1.15),), white_balance=((0.0, 0.04),), saturation=((0.8, 1.2),),
        contrast=((0.85, 1.15),), blur=((0.3, 1.0),), noise=((0.5, 2.5),), texture=((0.7, 1.3),),
        vignette=((0.0, 0.25),)),
    "heldout": Family(
        lights=("morning", "hazy", "winter"),
        exposure=((0.72, 0.85), (1.15, 1.28)), white_balance=((0.04, 0.08),), saturation=((0.55, 0.8), (1.2, 1.4)),
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
