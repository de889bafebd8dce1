"""Every distortion family the default dataset can draw from, KADID-10k's 25 types
(:mod:`mobileiqa.data.distortions`) and the phone-camera families (:mod:`mobileiqa.data.phone`), with the group
each belongs to: the unit that the leave-one-group-out split and benchmark hold out."""

from __future__ import annotations

from mobileiqa.data.distortions import DISTORTIONS, GROUPS
from mobileiqa.data.phone import FAMILIES, PHONE_GROUPS

#: KADID's groups first, then the phone families' groups
ALL_GROUPS: tuple[str, ...] = GROUPS + tuple(g for g in PHONE_GROUPS if g not in GROUPS)
_GROUP_OF = {**{d.name: d.group for d in DISTORTIONS.values()}, **{f.name: f.group for f in FAMILIES.values()}}


def group_of(dist_type: str) -> str:
    """The group of a KADID type or phone family (``ValueError`` naming the known ones otherwise)."""
    if dist_type not in _GROUP_OF:
        raise ValueError(f"unknown distortion type {dist_type!r}; KADID types: {', '.join(DISTORTIONS)}; phone "
                         f"families: {', '.join(FAMILIES)}")
    return _GROUP_OF[dist_type]


def types_in(group: str) -> set[str]:
    """The KADID types and phone families of ``group``."""
    if group not in ALL_GROUPS:
        raise ValueError(f"unknown group {group!r}; choose one of {list(ALL_GROUPS)}")
    return {name for name, g in _GROUP_OF.items() if g == group}


def phone_families(names: tuple[str, ...]) -> list[str]:
    """``data.build.phone_families`` resolved: ``("all",)`` = every family in registry order, else the names as
    given (each checked)."""
    if tuple(names) == ("all",):
        return list(FAMILIES)
    unknown = [n for n in names if n not in FAMILIES]
    if unknown:
        raise ValueError(f"data.build.phone_families: unknown family {unknown[0]!r}; choose from "
                         f"{', '.join(FAMILIES)} or [all]")
    if len(set(names)) != len(names):
        raise ValueError(f"data.build.phone_families lists a family twice: {list(names)}")
    return list(names)
