"""Phone-camera distortion families beyond KADID-10k's 25 (issue: a training distribution that looks like real
phone photos): what a camera pipeline does to a photo — sensor noise after the ISP, denoising smear, optics,
shake, tone mapping, white balance, sharpening halos, phone and messenger codecs — each with 5 seeded levels,
written here with numpy, OpenCV and Pillow.

:data:`FAMILIES` lists them by name (:class:`~mobileiqa.data.phone.base.Family`: group, level parameters, whether
the levels are monotone, what it models); :func:`apply_family` applies one ``(family, level)`` to an
``(H, W, 3) uint8`` RGB array with the same reproducibility contract as
:func:`mobileiqa.data.distortions.apply_distortion` (a hashlib seed per photo, family and level; OpenCV single
threaded; byte-identical reruns). :func:`contact_sheet` draws a family's five levels on one photo for the dataset
card. The default dataset build adds the families listed in ``data.build.phone_families``
(:mod:`mobileiqa.data.build`).
"""

from __future__ import annotations

from mobileiqa.data.phone.base import Family, apply_family_from, contact_sheet_from
from mobileiqa.data.phone.camera import FAMILIES as _CAMERA
from mobileiqa.data.phone.processing import FAMILIES as _PROCESSING

__all__ = ["FAMILIES", "PHONE_GROUPS", "Family", "apply_family", "contact_sheet"]

#: every phone family by name (camera: sensor and optics; processing: ISP, edits, codecs)
FAMILIES: dict[str, Family] = {f.name: f for f in (*_CAMERA, *_PROCESSING)}
PHONE_GROUPS: tuple[str, ...] = tuple(dict.fromkeys(f.group for f in FAMILIES.values()))


def apply_family(image, name: str, level: int, photo_key: str):
    """Distort ``image`` with phone family ``name`` at ``level`` 1..5 (see the module docstring)."""
    return apply_family_from(FAMILIES, image, name, level, photo_key)


def contact_sheet(image, name: str, photo_key: str = "contact-sheet", width: int = 1200):
    """A PNG-ready ``(H, W, 3) uint8`` sheet: the reference and the family's five levels side by side, labelled."""
    return contact_sheet_from(FAMILIES, image, name, photo_key, width)
