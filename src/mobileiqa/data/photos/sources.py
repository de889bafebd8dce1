"""The committed selection rule: which packages (pinned by version and SHA-256), where their candidate photos
sit (:data:`SOURCES`), the automatic checks (:data:`SELECTION`) and the photos excluded by eye
(:data:`EXCLUDED_MEMBERS`).

Changing anything in this module changes the dataset: rebuild the lists with
:func:`~mobileiqa.data.photos.fetch.build_photo_list`, review ``photos_excluded.csv``, and commit both CSV files
with the change.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Debian bookworm packages and the exact versions used (``apt-cache madison NAME`` on bookworm).
PACKAGES: list[tuple[str, str]] = [
    ("gcompris-qt-data", "3.1-2"),
    ("lomiri-wallpapers-16.04", "20.04.0-2"),
    ("lomiri-wallpapers-20.04", "20.04.0-2"),
    ("mate-backgrounds", "1.26.0-1"),
    ("plasma-workspace-wallpapers", "4:5.27.5-2"),
    ("digikam-data", "4:7.9.0-1"),
    ("enlightenment-data", "0.25.4-2"),
    ("scribus-template", "1.2.4.1-6"),
    ("sddm-theme-maldives", "0.19.0-5"),
    ("tuxpaint-data", "1:0.9.28-sdl2-1"),
]

#: SHA-256 of each pinned ``.deb`` (apt verifies downloads against the signed archive; this pins the cache).
DEB_SHA256: dict[str, str] = {
    "gcompris-qt-data": "e9cf06ab2105529068df73085784e835d2ff03f870d2a8091f09125d40abac9f",
    "lomiri-wallpapers-16.04": "a99ff6a3bfe451e4cc0682ecb3cc82e71740626d59e4845ae34a0a0e45421eab",
    "lomiri-wallpapers-20.04": "d44e89b8473aafe64a5b678f014862dc31335aaaf18665c544d985d854f1a709",
    "mate-backgrounds": "7bf4c2209f34b4f61ba6d24c8b58c28b361e82e4b943aae6d42c030169af9e04",
    "plasma-workspace-wallpapers": "32cd18b71c8c938a18b3b351f217c02ac590e323caa3cf322fbb875ce8892f8b",
    "digikam-data": "a941a504ba7bdf9d276a43ca3c2a0b2b5b74a55420d8c4b4f29d681e96cbf450",
    "enlightenment-data": "205df83b80b3a999757b07d7ad1908332c96c6edae559548346bc8af4f292bef",
    "scribus-template": "683bf35e43867cb17613d6807aa0238720d8526b1f524b9376404747a3e6128b",
    "sddm-theme-maldives": "d19c0004785df6bccdee3090a0b2cf606fe5dc074183a478bdeb04094ff728e6",
    "tuxpaint-data": "f5d0de8f9a70d2efc1241d19f26168cb8bf279f1b77abd3631e7a1a55c40e5e5",
}


@dataclass(frozen=True)
class Source:
    """Where the candidate photos sit inside one package and how they are named.

    ``members``: glob patterns (``fnmatch``, ``*`` crosses ``/``) of files inside the unpacked package; for
    ``kind="rcc"`` these are Qt resource bundles whose embedded WebP files are the candidates; for
    ``kind="eet"`` Eet files (``*.edj``) whose largest JPEG entry is the candidate (one per file; an Edje
    image set's other entries are smaller copies of it; a file without a JPEG entry gives none).
    ``id_prefix``: photo ids read ``<id_prefix>_<name>``; ``name_part`` picks the path component that names
    the photo (``-1`` = file stem; for rcc bundles the resource's stem, prefixed by ``rcc_names[bundle]``).
    ``licence_path``: (installed prefix, upstream prefix) to map a member onto the paths that
    ``debian/copyright`` uses (rcc resources: their resource path without the leading ``/gcompris/``).
    ``licence``: for a ``debian/copyright`` that is not machine-readable, the licence of every candidate,
    as that file states it in prose; ``licence_evidence`` then holds phrases (compared with runs of
    whitespace collapsed) that the file must contain, so a changed statement stops the fetch.
    """

    kind: str  # "files", "rcc" or "eet"
    members: tuple[str, ...]
    id_prefix: str
    name_part: int = -1
    licence_path: tuple[str, str] = ("", "")
    rcc_names: tuple[tuple[str, str], ...] = ()
    licence: str = ""
    licence_evidence: tuple[str, ...] = ()


_GCOMPRIS_RCC = "usr/share/gcompris-qt/rcc/"
SOURCES: dict[str, Source] = {
    "gcompris-qt-data": Source(
        kind="rcc",
        members=tuple(f"{_GCOMPRIS_RCC}{stem}.rcc" for stem in (
            "erase", "explore_monuments", "explore_world_animals", "explore_farm_animals", "explore_world_music",
            "clickgame")),
        id_prefix="gcompris",
        licence_path=("/gcompris/", ""),
        rcc_names=(("erase", "erase"), ("explore_monuments", "monuments"), ("explore_world_animals", "animals"),
                   ("explore_farm_animals", "farm"), ("explore_world_music", "music"), ("clickgame", "sea")),
    ),
    "lomiri-wallpapers-16.04": Source(
        kind="files", members=("usr/share/backgrounds/*.jpg",), id_prefix="lomiri",
        licence_path=("usr/share/backgrounds/", "16.04/")),
    "lomiri-wallpapers-20.04": Source(
        kind="files", members=("usr/share/backgrounds/*.jpg",), id_prefix="lomiri",
        licence_path=("usr/share/backgrounds/", "20.04/")),
    "mate-backgrounds": Source(
        kind="files", members=("usr/share/backgrounds/mate/nature/*",), id_prefix="mate",
        licence_path=("usr/share/backgrounds/mate/", "")),
    "plasma-workspace-wallpapers": Source(
        kind="files", members=("usr/share/wallpapers/*/contents/images/2560x1600.jpg",), id_prefix="plasma",
        name_part=3, licence_path=("usr/share/wallpapers/", "")),
    # digiKam's "about" page background; debian/copyright is prose: everything is GPL-2+ but the source files
    # it lists as exceptions (none of them data).
    "digikam-data": Source(
        kind="files", members=("usr/share/digikam/about/images/body-background.jpg",), id_prefix="digikam",
        licence="GPL-2+", licence_evidence=(
            "almost all software is GPL (exceptions listed below)",
            "either version 2 of the License, or (at your option) any later version")),
    # Enlightenment's wallpapers: Edje files holding one photo at 13-16 sizes (JPEG), or lossless illustrations.
    "enlightenment-data": Source(
        kind="eet", members=("usr/share/enlightenment/data/backgrounds/*.edj",), id_prefix="enlightenment",
        licence_path=("usr/share/enlightenment/", "")),
    # The photos of Riku Leino's templates br2 (brochure) and cal2 (calendar); debian/copyright is prose and
    # places those templates in the public domain.
    "scribus-template": Source(
        kind="files", members=("usr/share/scribus/templates/br2/*.jpg", "usr/share/scribus/templates/cal2/*.jpg"),
        id_prefix="scribus", licence="public-domain", licence_evidence=(
            "Copyright (c) 2004 Riku Leino", "Simple brochure with a nightly theme (br2)",
            "Simple A4 portrait calendar (cal2)",
            "Scribus templates by Riku Leino listed above and distributed in the scribus-template package have "
            "been placed into public domain by their author.")),
    "sddm-theme-maldives": Source(
        kind="files", members=("usr/share/sddm/themes/maldives/*.jpg",), id_prefix="sddm", name_part=4,
        licence_path=("usr/share/sddm/", "data/")),
    # Tux Paint's templates (photos to paint over).
    "tuxpaint-data": Source(
        kind="files", members=("usr/share/tuxpaint/templates/*.jpg",), id_prefix="tuxpaint",
        licence_path=("usr/share/tuxpaint/", "")),
}


@dataclass(frozen=True)
class SelectionRule:
    """The automatic part of the rule, applied to every candidate (and to a user's own photos)."""

    #: Keep only photos whose longer side has at least this many pixels.
    min_long_side: int = 1000
    #: ... and whose shorter side has at least this many (drops extreme panoramas / slivers; KADID is 512x384).
    min_short_side: int = 384
    #: Greyscale when the 99th percentile of per-pixel chroma (max(R,G,B) - min(R,G,B), 0..255) is below this.
    #: Measured on a copy whose longer side is ``probe_side``. True greyscale scores 0-1, the least colourful
    #: kept photo (swans on black water) 17.
    grey_chroma_p99: float = 8.0
    probe_side: int = 256
    #: Two photos are the same picture (e.g. one image at two resolutions) when their 16x16 difference hashes
    #: (256 bits) differ in at most this many bits; the larger copy is kept. Distinct kept photos differ by >= 52.
    duplicate_max_bits: int = 10


SELECTION = SelectionRule()

#: Stylised / illustrative images excluded by eye: (package, member) -> why. Everything else that passes
#: :data:`SELECTION` is a natural photo (checked by looking at every candidate).
EXCLUDED_MEMBERS: dict[tuple[str, str], str] = {
    ("lomiri-wallpapers-16.04", "usr/share/backgrounds/analogpattern_by_Peter_Nerlich.jpg"):
        "stylised: abstract paper texture under an artificial rainbow colour wash",
    ("lomiri-wallpapers-16.04", "usr/share/backgrounds/umang_by_Abhishek_Mudgal.jpg"):
        "illustration: computer-generated colour-gradient abstract",
    ("lomiri-wallpapers-20.04", "usr/share/backgrounds/Fossa_by_Jasper_Roks.jpg"):
        "illustration: vector-style abstract (Ubuntu 20.04 'Focal Fossa' artwork)",
    ("lomiri-wallpapers-20.04", "usr/share/backgrounds/Infinite-Sea_by_Aury88.jpg"):
        "illustration: digital painting of a sea under the Milky Way",
    ("lomiri-wallpapers-20.04", "usr/share/backgrounds/Painting-Colors_by__herobrine7gamer.jpg"):
        "illustration: flat-colour diagonal stripes",
    ("plasma-workspace-wallpapers", "usr/share/wallpapers/Autumn/contents/images/2560x1600.jpg"):
        "illustration: digital painting of a tree and a figure",
    ("enlightenment-data", "usr/share/enlightenment/data/backgrounds/Dunes.edj#edje/images/0"):
        "illustration: flat-colour vector dunes under a sun disc",
    ("enlightenment-data", "usr/share/enlightenment/data/backgrounds/Flat-Fan.edj#edje/images/0"):
        "illustration: flat-colour fan of overlapping shapes",
    ("enlightenment-data", "usr/share/enlightenment/data/backgrounds/Paper-Flower.edj#edje/images/0"):
        "texture: plain paper, the background layer of an illustrated wallpaper (the flower is a separate image)",
    ("enlightenment-data", "usr/share/enlightenment/data/backgrounds/Sunset-Hills.edj#edje/images/0"):
        "illustration: layered flat-colour hills under a gradient sunset",
    ("sddm-theme-maldives", "usr/share/sddm/themes/maldives/maldives.jpg"):
        "screenshot: the theme's login screen (dialog and clock) drawn over background.jpg",
}
