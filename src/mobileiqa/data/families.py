"""Every distortion family the default dataset can draw from, KADID-10k's 25 types
(:mod:`mobileiqa.data.distortions`) and the phone-camera families (:mod:`mobileiqa.data.phone`), with the group
each belongs to: the unit that the leave-one-group-out split and benchmark hold out.

A mixture (:mod:`mobileiqa.data.mixtures`) is named ``mix:a+b[+c]`` after its components in the order applied;
:func:`components` splits such a name, and :func:`group_of` gives every mixture the group ``"mixture"``, which is
not one of :data:`ALL_GROUPS` (a mixture is held out through its components, never as a group of its own)."""

from __future__ import annotations

from mobileiqa.data.distortions import DISTORTIONS, GROUPS
from mobileiqa.data.manifest import MIX_PREFIX
from mobileiqa.data.phone import FAMILIES, PHONE_GROUPS

#: KADID's groups first, then the phone families' groups
ALL_GROUPS: tuple[str, ...] = GROUPS + tuple(g for g in PHONE_GROUPS if g not in GROUPS)
#: the group :func:`group_of` gives a mixture (``dist_type`` ``mix:a+b``, :data:`~mobileiqa.data.manifest.MIX_PREFIX`)
MIXTURE_GROUP = "mixture"
_GROUP_OF = {**{d.name: d.group for d in DISTORTIONS.values()}, **{f.name: f.group for f in FAMILIES.values()}}


def _unknown(dist_type: str) -> ValueError:
    return ValueError(f"unknown distortion type {dist_type!r}; KADID types: {', '.join(DISTORTIONS)}; phone "
                      f"families: {', '.join(FAMILIES)}; mixtures: {MIX_PREFIX}a+b[+c] of those")


def is_mixture(dist_type: str) -> bool:
    return dist_type.startswith(MIX_PREFIX)


def components(dist_type: str) -> list[str]:
    """The KADID types / phone families in ``dist_type``: itself for a single distortion, a mixture's components
    in the order applied (``"mix:camera_shake+webp"`` → ``["camera_shake", "webp"]``); ``ValueError`` for an
    unknown name."""
    names = dist_type[len(MIX_PREFIX):].split("+") if is_mixture(dist_type) else [dist_type]
    if any(n not in _GROUP_OF for n in names) or (is_mixture(dist_type) and len(names) < 2):
        raise _unknown(dist_type)
    return names


def group_of(dist_type: str) -> str:
    """The group of a KADID type or phone family, ``"mixture"`` for a mixture (``ValueError`` naming the known
    ones otherwise)."""
    names = components(dist_type)
    return MIXTURE_GROUP if is_mixture(dist_type) else _GROUP_OF[names[0]]


def kind_of(dist_type: str) -> str:
    """``"kadid"``, ``"phone"`` or ``"mixture"``: the part of the default dataset ``dist_type`` belongs to (the
    evaluation reports them apart)."""
    names = components(dist_type)
    return "mixture" if is_mixture(dist_type) else "kadid" if names[0] in DISTORTIONS else "phone"


def type_label(dist_type: str) -> str:
    """The per-type report's label: the type itself, ``"mixture"`` for every mixture (each recipe is rare)."""
    return MIXTURE_GROUP if is_mixture(dist_type) else dist_type


#: held-out sets beside the single groups: every KADID group at once, and every phone group at once ("new families
#: only": a model that never saw a phone family); reports name KADID's first
GROUP_SETS: dict[str, tuple[str, ...]] = {"kadid": GROUPS, "phone": PHONE_GROUPS}


def groups_in(name: str) -> tuple[str, ...]:
    """The groups that ``name`` holds out: a group itself, or every group of a :data:`GROUP_SETS` entry."""
    if name in ALL_GROUPS:
        return (name,)
    if name in GROUP_SETS:
        return GROUP_SETS[name]
    raise ValueError(f"unknown group {name!r}; choose one of {list(ALL_GROUPS)} or {list(GROUP_SETS)}")


def touches(dist_type: str, group: str) -> bool:
    """Whether ``dist_type`` (a single distortion or a mixture) has a component in ``group`` (a group or a
    :data:`GROUP_SETS` name)."""
    held_out = groups_in(group)
    return any(_GROUP_OF[n] in held_out for n in components(dist_type))


def types_in(group: str) -> set[str]:
    """The KADID types and phone families of ``group`` (a group or a :data:`GROUP_SETS` name)."""
    held_out = groups_in(group)
    return {name for name, g in _GROUP_OF.items() if g in held_out}


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


#: the calibration's type id of every phone family and mixture: no KADID human cell, no per-type correction
PHONE_TYPE_ID = 0


def type_id_of(dist_type: str) -> int:
    """The calibration's type id of a manifest ``dist_type``, as the build assigns it: a KADID type's id (also when
    applied to a region), :data:`PHONE_TYPE_ID` for phone families and mixtures."""
    return DISTORTIONS[dist_type].id if dist_type in DISTORTIONS else PHONE_TYPE_ID
