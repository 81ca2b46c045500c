"""roadscenes: synthetic driving scenes in the on-disk format of the CARLA segmentation data.

    python -m roadscenes generate --count 1060 --seed 0 --out data
    python -m roadscenes check data
"""

__version__ = "3.2.0"

from .classes import CLASS_NAMES, CLASS_TABLE, N_CLASSES, PALETTE, colorize  # noqa: E402

__all__ = ["CLASS_NAMES", "CLASS_TABLE", "N_CLASSES", "PALETTE", "colorize", "__version__"]
