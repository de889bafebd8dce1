"""Photo sources for the default dataset: natural photos shipped in pinned Debian bookworm packages.

The default (synthetic) dataset distorts pristine reference photos, KADID-style. Those photos come from five
Debian packages (:data:`PACKAGES`, pinned by version and SHA-256), fetched with ``apt-get download`` and
unpacked with ``dpkg-deb -x``; nothing needs the internet beyond Debian's package archive. GCompris keeps its
photos as WebP files inside Qt resource bundles (``*.rcc``), which :func:`extract_rcc_webp` carves out.

Which photos are used is decided by the committed rule below (:data:`SOURCES`, :data:`SELECTION`,
:data:`EXCLUDED_MEMBERS`), and the result is committed as ``photos.csv`` (one row per photo, with the MD5 of
the exact bytes written) and ``photos_excluded.csv`` (every candidate that was left out, with the reason).
:func:`fetch_photos` re-applies the rule and refuses to publish anything whose bytes differ from the list.
Photos are written exactly as shipped (WebP / JPEG, never re-encoded), so the MD5s match on every machine.

Users without Debian's archive bring their own photos instead (:func:`use_own_photos`, the CLI's
``--photos DIR``): they are validated by the same rule and copied under stable names.

Reserved for independent evaluation and never used here: ``lxqt-themes``, ``palapeli-data`` and the sample
images bundled in Python packages (scikit-image, scikit-learn, matplotlib).
"""

from __future__ import annotations

import csv
import fnmatch
import hashlib
import io
import logging
import os
import re
import shutil
import struct
import subprocess
import tempfile
import warnings
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, fields
from importlib import resources
from pathlib import Path, PurePosixPath
from urllib.parse import quote

import numpy as np
from PIL import Image, UnidentifiedImageError
from tqdm.auto import tqdm

from mobileiqa.atomic import atomic_path, file_digest

log = logging.getLogger(__name__)

# ---------------------------------------------------------------------------------------------------------
# The committed selection rule. Changing anything in this block changes the dataset: rebuild the lists with
# build_photo_list(), review photos_excluded.csv, and commit both CSV files with the change.
# ---------------------------------------------------------------------------------------------------------

#: Debian bookworm packages and the exact versions used (``apt-cache madison NAME`` on bookworm).
PACKAGES: list[tuple[str, str]] = [
    ("gcompris-qt-data", "3.1-2"),
    ("lomiri-wallpapers-16.04", "20.04.0-2"),
    ("lomiri-wallpapers-20.04", "20.04.0-2"),
    ("mate-backgrounds", "1.26.0-1"),
    ("plasma-workspace-wallpapers", "4:5.27.5-2"),
]

#: SHA-256 of each pinned ``.deb`` (apt verifies downloads against the signed archive; this pins the cache).
DEB_SHA256: dict[str, str] = {
    "gcompris-qt-data": "e9cf06ab2105529068df73085784e835d2ff03f870d2a8091f09125d40abac9f",
    "lomiri-wallpapers-16.04": "a99ff6a3bfe451e4cc0682ecb3cc82e71740626d59e4845ae34a0a0e45421eab",
    "lomiri-wallpapers-20.04": "d44e89b8473aafe64a5b678f014862dc31335aaaf18665c544d985d854f1a709",
    "mate-backgrounds": "7bf4c2209f34b4f61ba6d24c8b58c28b361e82e4b943aae6d42c030169af9e04",
    "plasma-workspace-wallpapers": "32cd18b71c8c938a18b3b351f217c02ac590e323caa3cf322fbb875ce8892f8b",
}


@dataclass(frozen=True)
class Source:
    """Where the candidate photos sit inside one package and how they are named.

    ``members``: glob patterns (``fnmatch``, ``*`` crosses ``/``) of files inside the unpacked package; for
    ``kind="rcc"`` these are Qt resource bundles whose embedded WebP files are the candidates.
    ``id_prefix``: photo ids read ``<id_prefix>_<name>``; ``name_part`` picks the path component that names
    the photo (``-1`` = file stem; for rcc bundles the resource's stem, prefixed by ``rcc_names[bundle]``).
    ``licence_path``: (installed prefix, upstream prefix) to map a member onto the paths that
    ``debian/copyright`` uses (rcc resources: their resource path without the leading ``/gcompris/``).
    """

    kind: str  # "files" or "rcc"
    members: tuple[str, ...]
    id_prefix: str
    name_part: int = -1
    licence_path: tuple[str, str] = ("", "")
    rcc_names: tuple[tuple[str, str], ...] = ()


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
}

# ---------------------------------------------------------------------------------------------------------

#: Every photo id starts with one of these; files in the output folder named otherwise are not ours.
ID_PREFIXES = ("gcompris_", "lomiri_", "mate_", "plasma_", "own_")
PHOTO_LIST = "photos.csv"
EXCLUDED_LIST = "photos_excluded.csv"
_FORMAT_EXT = {"WEBP": ".webp", "JPEG": ".jpg", "PNG": ".png", "TIFF": ".tif", "BMP": ".bmp"}
_MD5 = re.compile(r"^[0-9a-f]{32}$")


class PhotoSourceError(RuntimeError):
    """Fetching or unpacking a package failed; the message names the package and what to do."""


class PhotoListError(ValueError):
    """Photos that do not match the committed list (or a malformed list); the message names the file."""


@dataclass(frozen=True)
class PhotoRecord:
    """One photo of the set, as listed in ``photos.csv``.

    ``member`` is the path inside the package; for a photo carved out of a Qt resource bundle it reads
    ``<bundle path>#<index>:<resource path>`` (index = order of the WebP inside the bundle). ``md5`` is the
    MD5 of the bytes written (the bytes as shipped). ``width``/``height`` are in display orientation.
    """

    photo_id: str
    filename: str
    package: str
    version: str
    member: str
    md5: str
    licence: str
    width: int
    height: int


@dataclass(frozen=True)
class ExcludedPhoto:
    """A candidate left out of the set and why (a row of ``photos_excluded.csv``)."""

    package: str
    member: str
    reason: str


@dataclass(frozen=True)
class Candidate:
    """A candidate photo: where it came from, and its encoded bytes (``data``) or the file holding them."""

    package: str
    version: str
    member: str
    photo_id: str
    licence: str
    data: bytes | None = None
    path: Path | None = None

    def read(self) -> bytes:
        return self.data if self.data is not None else Path(self.path).read_bytes()


@dataclass(frozen=True)
class PhotoStats:
    """What the selection rule looks at: size (display orientation), format, chroma and a perceptual hash."""

    width: int
    height: int
    format: str
    chroma_p99: float
    dhash: int  # 256-bit difference hash of a 17x16 grey copy


# --- Qt resource bundles ---------------------------------------------------------------------------------

_WEBP_HEADER = re.compile(rb"RIFF(.{4})WEBP", re.DOTALL)


def _carve_webp(blob: bytes) -> list[tuple[int, bytes]]:
    found, pos = [], 0
    while (m := _WEBP_HEADER.search(blob, pos)) is not None:
        size = struct.unpack("<I", m.group(1))[0] + 8
        end = m.start() + size
        if size < 20 or end > len(blob):  # truncated or bogus header: skip just past this match
            pos = m.start() + 4
            continue
        found.append((m.start(), blob[m.start():end]))
        pos = end
    return found


def extract_rcc_webp(blob: bytes) -> list[bytes]:
    """Carve every WebP file out of a Qt ``.rcc`` bundle (or any byte blob), in order of appearance.

    A WebP file is ``RIFF<uint32 little-endian size>WEBP...`` and is ``size + 8`` bytes long; bundles store
    WebP uncompressed, so the files sit in the blob verbatim.
    """
    return [data for _, data in _carve_webp(blob)]


def rcc_resource_names(blob: bytes) -> dict[int, str]:
    """Map the offset of each file's bytes inside a Qt ``.rcc`` bundle to its resource path (``/a/b.webp``).

    Reads the bundle's tree and name tables (format versions 1-3). Returns ``{}`` for anything that is not a
    readable bundle; callers then fall back to numbering the carved files.
    """
    try:
        if blob[:4] != b"qres":
            return {}
        version, tree, data, names = struct.unpack(">IIII", blob[4:20])
        node_size = 22 if version >= 2 else 14

        def name(offset: int) -> str:
            (length,) = struct.unpack(">H", blob[names + offset:names + offset + 2])
            return blob[names + offset + 6:names + offset + 6 + 2 * length].decode("utf-16-be")

        out: dict[int, str] = {}
        stack, seen = [(0, "")], set()
        while stack:
            index, prefix = stack.pop()
            if index in seen or len(seen) > 1_000_000:
                continue
            seen.add(index)
            p = tree + index * node_size
            name_offset, flags = struct.unpack(">IH", blob[p:p + 6])
            path = "" if index == 0 else f"{prefix}/{name(name_offset)}"
            if flags & 0x02:  # directory
                count, first = struct.unpack(">II", blob[p + 6:p + 14])
                stack.extend((child, path) for child in range(first, first + count))
            else:
                (data_offset,) = struct.unpack(">I", blob[p + 10:p + 14])
                out[data + data_offset + 4] = path  # 4-byte length precedes the file's bytes
        return out
    except (struct.error, UnicodeDecodeError, IndexError):
        return {}


# --- image checks ----------------------------------------------------------------------------------------

def slug(text: str) -> str:
    """``eiffelTower`` -> ``eiffel_tower``; ``Bridge_by_X`` -> ``bridge_by_x``; safe on any file system."""
    text = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", text)
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_") or "photo"


def inspect_photo(data: bytes, rule: SelectionRule = SELECTION) -> PhotoStats:
    """Decode ``data`` (a small copy only) and measure what the selection rule needs.

    Raises ``ValueError`` (message = reason) when the bytes are not a decodable image.
    """
    if not data:
        raise ValueError("empty file (0 bytes)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                fmt = img.format or "?"
                width, height = img.size
                try:
                    orientation = img.getexif().get(0x0112, 1)
                except Exception:  # a corrupt EXIF block must not hide the image itself
                    orientation = 1
                if orientation in (5, 6, 7, 8):
                    width, height = height, width
                mode = img.mode
                img.draft("RGB", (rule.probe_side, rule.probe_side))  # JPEG: decode at reduced scale
                probe = img.convert("RGBA" if "A" in mode or "transparency" in img.info else "RGB")
    except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ValueError(f"not a readable image ({exc.__class__.__name__})") from None
    except Exception as exc:  # PIL raises OSError, SyntaxError, ValueError... on corrupt data
        raise ValueError(f"cannot decode image ({exc.__class__.__name__}: {exc})") from None
    if probe.mode == "RGBA":
        background = Image.new("RGBA", probe.size, (255, 255, 255, 255))
        probe = Image.alpha_composite(background, probe).convert("RGB")
    probe.thumbnail((rule.probe_side, rule.probe_side), Image.Resampling.BOX)
    rgb = np.asarray(probe, dtype=np.int16)
    chroma = 0.0 if mode in ("1", "L", "LA", "I", "I;16", "F") else float(
        np.percentile(rgb.max(axis=2) - rgb.min(axis=2), 99))
    grey = np.asarray(probe.convert("L").resize((17, 16), Image.Resampling.BOX), dtype=np.int16)
    bits = np.packbits((grey[:, 1:] > grey[:, :-1]).ravel())
    return PhotoStats(width, height, fmt, chroma, int.from_bytes(bits.tobytes(), "big"))


def rejection_reason(stats: PhotoStats, rule: SelectionRule = SELECTION) -> str | None:
    """Why ``stats`` fails the automatic rule (size, then greyscale), or ``None`` when it passes."""
    long_side, short_side = max(stats.width, stats.height), min(stats.width, stats.height)
    if long_side < rule.min_long_side:
        return f"too small: {stats.width}x{stats.height} (longer side < {rule.min_long_side})"
    if short_side < rule.min_short_side:
        return f"too narrow: {stats.width}x{stats.height} (shorter side < {rule.min_short_side})"
    if stats.chroma_p99 < rule.grey_chroma_p99:
        return f"greyscale: chroma p99 {stats.chroma_p99:.1f} < {rule.grey_chroma_p99:g}"
    return None


def _natural_key(text: str) -> list:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text)]


@dataclass(frozen=True)
class Selection:
    """Result of :func:`select_photos`: kept candidates with their records, and the excluded ones."""

    selected: list[tuple[PhotoRecord, Candidate]]
    excluded: list[ExcludedPhoto]


def select_photos(candidates: Iterable[Candidate], rule: SelectionRule = SELECTION,
                  exclude: dict[tuple[str, str], str] | None = None, *, progress: bool = False) -> Selection:
    """Apply the rule: explicit exclusions, size, greyscale, then de-duplication (keep the largest copy).

    Selected records are sorted by photo id; excluded ones by (package, member).
    """
    exclude = EXCLUDED_MEMBERS if exclude is None else exclude
    excluded: list[ExcludedPhoto] = []
    passed: list[tuple[int, Candidate, PhotoStats, str]] = []
    for order, cand in enumerate(tqdm(list(candidates), desc="check photos", unit="photo", disable=not progress)):
        reason = exclude.get((cand.package, cand.member))
        if reason is None:
            try:
                data = cand.read()
                stats = inspect_photo(data, rule)
                reason = rejection_reason(stats, rule)
            except (OSError, ValueError) as exc:
                reason = f"unreadable: {exc}"
        if reason is not None:
            excluded.append(ExcludedPhoto(cand.package, cand.member, reason))
        else:
            passed.append((order, cand, stats, hashlib.md5(data).hexdigest()))

    kept: list[tuple[int, Candidate, PhotoStats, str]] = []  # largest first
    by_md5: dict[str, str] = {}
    for order, cand, stats, md5 in sorted(passed, key=lambda t: (-t[2].width * t[2].height, t[0])):
        if md5 in by_md5:
            excluded.append(ExcludedPhoto(cand.package, cand.member, f"duplicate: same bytes as {by_md5[md5]}"))
            continue
        twin = next((k for k in kept if (k[2].dhash ^ stats.dhash).bit_count() <= rule.duplicate_max_bits), None)
        if twin is not None:
            excluded.append(ExcludedPhoto(cand.package, cand.member,
                                          f"duplicate: same picture as {twin[1].photo_id} (kept the larger copy)"))
            continue
        by_md5[md5] = cand.photo_id
        kept.append((order, cand, stats, md5))

    counts = Counter(k[1].photo_id for k in kept)
    if clashes := sorted(i for i, n in counts.items() if n > 1):
        raise PhotoListError(f"two selected photos share the id(s) {clashes}; adjust the naming in SOURCES")
    selected = []
    for _, cand, stats, md5 in kept:
        ext = _FORMAT_EXT.get(stats.format, PurePosixPath(cand.member).suffix.lower() or ".img")
        record = PhotoRecord(cand.photo_id, cand.photo_id + ext, cand.package, cand.version, cand.member, md5,
                             cand.licence, stats.width, stats.height)
        selected.append((record, cand))
    selected.sort(key=lambda rd: rd[0].photo_id)
    excluded.sort(key=lambda e: (e.package, _natural_key(e.member)))
    return Selection(selected, excluded)


# --- Debian packages -------------------------------------------------------------------------------------

def deb_filename(name: str, version: str, arch: str = "all") -> str:
    """The file name ``apt-get download`` gives ``name=version`` (the epoch colon is written ``%3a``)."""
    return f"{name}_{quote(version, safe='+.~-').replace('%3A', '%3a')}_{arch}.deb"




def _run(cmd: Sequence[str], package: str, cwd: Path | None = None) -> None:
    hint = ("this needs a Debian-based machine with bookworm in its apt sources (run `apt-get update` first); "
            "without one, bring your own photos with --photos DIR")
    try:
        proc = subprocess.run(list(cmd), cwd=cwd, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise PhotoSourceError(f"{package}: `{cmd[0]}` not found; {hint}") from None
    if proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise PhotoSourceError(f"{package}: `{' '.join(cmd)}` failed ({' | '.join(detail)}); {hint}")


def download_packages(cache_dir: str | os.PathLike, *, progress: bool = True,
                      packages: Sequence[tuple[str, str]] = PACKAGES) -> list[Path]:
    """``apt-get download NAME=VERSION`` for each pinned package into ``cache_dir``; returns the ``.deb`` paths.

    A ``.deb`` already in the cache under the expected name is reused. Every file is checked against
    :data:`DEB_SHA256`; a mismatch raises :class:`PhotoSourceError` naming the file.
    """
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, version in tqdm(packages, desc="download .deb", unit="pkg", disable=not progress):
        target = cache_dir / deb_filename(name, version)
        if not target.is_file():
            with tempfile.TemporaryDirectory(prefix=".download-", dir=cache_dir) as tmp:
                _run(["apt-get", "download", f"{name}={version}"], f"{name}={version}", cwd=Path(tmp))
                got = sorted(Path(tmp).glob("*.deb"))
                if len(got) != 1:
                    raise PhotoSourceError(f"{name}={version}: apt-get download produced {[p.name for p in got]}, "
                                           f"expected {target.name}")
                os.replace(got[0], target)
        expected = DEB_SHA256.get(name)
        if expected is not None and (actual := file_digest(target, "sha256")) != expected:
            raise PhotoSourceError(f"{target}: SHA-256 {actual} differs from the pinned {expected} for "
                                   f"{name}={version}; delete the file and run again")
        paths.append(target)
    return paths


def parse_copyright(text: str) -> tuple[str, list[tuple[list[str], str]]]:
    """Parse a machine-readable ``debian/copyright``: (licence of ``Files: *``, [(patterns, licence), ...])."""
    stanzas: list[tuple[list[str], str]] = []
    for para in re.split(r"\n\s*\n", text):
        files: list[str] = []
        licence, field = None, None
        for line in para.splitlines():
            if line[:1] in (" ", "\t"):
                if field == "files":
                    files.extend(line.split())
                continue
            key, _, value = line.partition(":")
            field = key.strip().lower()
            if field == "files":
                files.extend(value.split())
            elif field == "license" and licence is None:
                licence = value.strip()
        if files and licence:
            stanzas.append((files, licence))
    default = next((lic for pats, lic in stanzas if "*" in pats), "")
    return default, stanzas


def licence_for(path: str, copyright_text: str) -> str:
    """The licence ``debian/copyright`` gives ``path`` (upstream-relative); the last matching stanza wins.

    Matching ignores the file extension where the pattern has one (GCompris ships WebP made from the JPEG /
    PNG files its copyright file lists). Falls back to the ``Files: *`` licence.
    """
    default, stanzas = parse_copyright(copyright_text)
    stem = str(PurePosixPath(path).with_suffix(""))
    found = default
    for patterns, licence in stanzas:
        for pat in patterns:
            suffix = PurePosixPath(pat).suffix
            if fnmatch.fnmatchcase(path, pat) or (suffix and "*" not in suffix
                                                  and fnmatch.fnmatchcase(stem + suffix, pat)):
                found = licence
    return found or "unknown"


def _upstream_path(source: Source, member_path: str) -> str:
    strip, add = source.licence_path
    return add + (member_path[len(strip):] if member_path.startswith(strip) else member_path.lstrip("/"))


def _package_candidates(root: Path, name: str, version: str, source: Source) -> list[Candidate]:
    copyright_file = root / "usr/share/doc" / name / "copyright"
    copyright_text = copyright_file.read_text(errors="replace") if copyright_file.is_file() else ""
    # Symlinks are skipped: in these packages they only alias another member (e.g. smaller wallpaper sizes).
    files = sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink())
    rel = {p: p.relative_to(root).as_posix() for p in files}
    out: list[Candidate] = []
    for pattern in source.members:
        matched = [p for p in files if fnmatch.fnmatchcase(rel[p], pattern)]
        if not matched:
            raise PhotoSourceError(f"{name}={version}: no file matches {pattern!r}; is the pinned version right?")
        for path in matched:
            member = rel[path]
            if source.kind == "rcc":
                blob = path.read_bytes()
                names = rcc_resource_names(blob)
                short = dict(source.rcc_names).get(path.stem, slug(path.stem))
                for index, (offset, data) in enumerate(_carve_webp(blob)):
                    resource = names.get(offset)
                    stem = PurePosixPath(resource).stem if resource else f"{index:03d}"
                    licence = licence_for(_upstream_path(source, resource), copyright_text) if resource else \
                        (parse_copyright(copyright_text)[0] or "unknown")
                    out.append(Candidate(name, version, f"{member}#{index}:{resource or ''}",
                                         f"{source.id_prefix}_{short}_{slug(stem)}", licence, data))
            else:
                label = PurePosixPath(member).stem if source.name_part == -1 else PurePosixPath(member).parts[
                    source.name_part]
                out.append(Candidate(name, version, member, f"{source.id_prefix}_{slug(label)}",
                                     licence_for(_upstream_path(source, member), copyright_text), path.read_bytes()))
    return out


def collect_candidates(debs: Sequence[str | os.PathLike], *, progress: bool = True,
                       packages: Sequence[tuple[str, str]] = PACKAGES) -> list[Candidate]:
    """Unpack each ``.deb`` (``dpkg-deb -x``, into a temporary folder) and gather its candidate photos."""
    candidates: list[Candidate] = []
    for deb, (name, version) in tqdm(list(zip(debs, packages, strict=True)), desc="unpack", unit="pkg",
                                     disable=not progress):
        with tempfile.TemporaryDirectory(prefix=f"mobileiqa-{name}-") as tmp:
            _run(["dpkg-deb", "-x", str(deb), tmp], f"{name}={version}")
            candidates.extend(_package_candidates(Path(tmp), name, version, SOURCES[name]))
    members = {(c.package, c.member) for c in candidates}
    if stale := sorted(set(EXCLUDED_MEMBERS) - members):
        raise PhotoSourceError(f"EXCLUDED_MEMBERS names files that the packages do not hold: {stale}")
    return candidates


# --- photo lists -----------------------------------------------------------------------------------------

def _package_file(name: str) -> Path:
    return Path(str(resources.files("mobileiqa.data").joinpath(name)))


def read_photo_list(path: str | os.PathLike | None = None) -> list[PhotoRecord]:
    """Parse a photo list (default: the committed ``photos.csv``), checking ids, file names, MD5s and sizes."""
    path = Path(path) if path is not None else _package_file(PHOTO_LIST)
    names = [f.name for f in fields(PhotoRecord)]
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PhotoListError(f"{path}: cannot read the photo list ({exc})") from None
    reader = csv.DictReader(io.StringIO(text))
    if reader.fieldnames != names:
        raise PhotoListError(f"{path}: columns {reader.fieldnames} differ from the expected {names}")
    records, seen = [], set()
    for row_number, row in enumerate(reader, start=2):
        where = f"{path}, row {row_number}"
        try:
            record = PhotoRecord(**{**row, "width": int(row["width"]), "height": int(row["height"])})
        except (TypeError, ValueError) as exc:
            raise PhotoListError(f"{where}: bad width/height ({exc})") from None
        if not _MD5.match(record.md5):
            raise PhotoListError(f"{where}: md5 {record.md5!r} is not 32 lowercase hex digits")
        if record.photo_id in seen:
            raise PhotoListError(f"{where}: duplicate photo_id {record.photo_id!r}")
        if not record.filename.startswith(record.photo_id + ".") or "/" in record.filename:
            raise PhotoListError(f"{where}: filename {record.filename!r} must be '<photo_id>.<ext>'")
        seen.add(record.photo_id)
        records.append(record)
    if not records:
        raise PhotoListError(f"{path}: the photo list is empty")
    return records


def write_photo_list(records: Sequence[PhotoRecord], path: str | os.PathLike) -> Path:
    """Write ``records`` as a photo list CSV (atomically)."""
    with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=[f.name for f in fields(PhotoRecord)], lineterminator="\n")
        writer.writeheader()
        writer.writerows(asdict(r) for r in records)
    return Path(path)


def write_excluded_list(excluded: Sequence[ExcludedPhoto], path: str | os.PathLike) -> Path:
    """Write the excluded candidates (package, member, reason) as CSV (atomically)."""
    with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=["package", "member", "reason"], lineterminator="\n")
        writer.writeheader()
        writer.writerows(asdict(e) for e in excluded)
    return Path(path)




def verify_photos(folder: str | os.PathLike, expected: Sequence[PhotoRecord]) -> None:
    """Check that ``folder`` holds every listed file with the listed MD5; raise :class:`PhotoListError`
    naming each missing or mismatching file."""
    folder = Path(folder)
    problems = []
    for record in expected:
        path = folder / record.filename
        if not path.is_file():
            problems.append(f"{path}: missing")
        elif (md5 := file_digest(path, "md5")) != record.md5:
            problems.append(f"{path}: md5 {md5} differs from the listed {record.md5} ({record.package} "
                            f"{record.version} {record.member})")
    if problems:
        raise PhotoListError(f"{len(problems)} photo(s) do not match the photo list:\n  " + "\n  ".join(problems))


def _compare_with_list(records: Sequence[PhotoRecord], expected: Sequence[PhotoRecord]) -> None:
    got, want = {r.photo_id: r for r in records}, {r.photo_id: r for r in expected}
    problems = [f"{i}: listed but not selected from the packages" for i in sorted(set(want) - set(got))]
    problems += [f"{i}: selected from the packages but not listed" for i in sorted(set(got) - set(want))]
    for i in sorted(set(got) & set(want)):
        if got[i] != want[i]:
            diffs = [f"{f.name} {getattr(got[i], f.name)!r} != listed {getattr(want[i], f.name)!r}"
                     for f in fields(PhotoRecord) if getattr(got[i], f.name) != getattr(want[i], f.name)]
            problems.append(f"{got[i].filename}: " + "; ".join(diffs))
    if problems:
        raise PhotoListError(f"the fetched photos differ from the committed {PHOTO_LIST} (nothing was written):\n  "
                             + "\n  ".join(problems))


# --- writing the output folder ---------------------------------------------------------------------------

def _foreign_files(out_dir: Path) -> list[str]:
    if not out_dir.is_dir():
        return []
    return sorted(p.name for p in out_dir.iterdir() if not p.name.startswith(ID_PREFIXES) or not p.is_file())


def _publish(staging: Path, out_dir: Path, names: set[str]) -> None:
    """Move the staged files into ``out_dir`` and drop our stale ones; a fresh folder is renamed in whole."""
    if not out_dir.exists():
        os.replace(staging, out_dir)
        return
    for name in sorted(names):
        os.replace(staging / name, out_dir / name)
    for stale in out_dir.iterdir():
        if stale.name not in names and stale.name.startswith(ID_PREFIXES) and stale.is_file():
            stale.unlink()
    shutil.rmtree(staging, ignore_errors=True)


def _write_set(out_dir: Path, items: Sequence[tuple[PhotoRecord, Candidate]],
               check: Callable[[Path], None] | None = None) -> None:
    """Write ``items`` into ``out_dir`` via a staging folder beside it (never inside it)."""
    if foreign := _foreign_files(out_dir):
        raise PhotoListError(f"{out_dir} holds files that are not photos of this set: {foreign[:10]}; "
                             "empty the folder or choose another one")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.staging-", dir=out_dir.parent))
    try:
        for record, cand in items:
            if cand.path is not None:
                shutil.copyfile(cand.path, staging / record.filename)
            else:
                (staging / record.filename).write_bytes(cand.data)
        if check is not None:
            check(staging)
        _publish(staging, out_dir, {r.filename for r, _ in items})
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _fetch_selection(cache_dir: str | os.PathLike, progress: bool) -> Selection:
    debs = download_packages(cache_dir, progress=progress)
    return select_photos(collect_candidates(debs, progress=progress), progress=progress)


def fetch_photos(out_dir: str | os.PathLike, cache_dir: str | os.PathLike, *, progress: bool = True,
                 photo_list: str | os.PathLike | None = None) -> list[PhotoRecord]:
    """Build the default photo set in ``out_dir`` from the pinned packages and verify it against the list.

    Downloads the ``.deb`` files into ``cache_dir`` (reused when present), unpacks them into a temporary
    folder, applies the committed rule, and writes the selected photos (bytes as shipped, named
    ``<photo_id>.<ext>``) into ``out_dir``. Every selection and MD5 is checked against ``photo_list``
    (default: the committed ``photos.csv``) before anything is published; a difference raises
    :class:`PhotoListError` naming the files. When ``out_dir`` already holds the verified set, nothing is
    downloaded. Nothing but the photos is ever written into ``out_dir``.
    """
    out_dir = Path(out_dir)
    expected = read_photo_list(photo_list)
    if out_dir.is_dir() and {p.name for p in out_dir.iterdir()} == {r.filename for r in expected}:
        try:
            verify_photos(out_dir, expected)
            return expected
        except PhotoListError:
            pass  # rebuild below
    if foreign := _foreign_files(out_dir):  # fail before the slow part
        raise PhotoListError(f"{out_dir} holds files that are not photos of this set: {foreign[:10]}; "
                             "empty the folder or choose another one")
    selection = _fetch_selection(cache_dir, progress)
    records = [r for r, _ in selection.selected]
    _compare_with_list(records, expected)
    _write_set(out_dir, selection.selected, check=lambda staged: verify_photos(staged, expected))
    return records


def fetch_listed(photo_ids: Sequence[str], out_dir: str | os.PathLike, cache_dir: str | os.PathLike, *,
                 progress: bool = False) -> list[Path]:
    """Write just the listed photos ``photo_ids`` into ``out_dir`` (bytes as shipped, MD5 checked against the
    committed list), downloading only the packages that hold them; returns their paths in the order given.
    For checks that need a few known photos (e.g. the ImageNet classes of the offline backbone weights)."""
    records = {r.photo_id: r for r in read_photo_list()}
    if unknown := [i for i in photo_ids if i not in records]:
        raise PhotoListError(f"photo ids {unknown} are not in the committed photo list")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    wanted = [records[i] for i in photo_ids]
    todo = [r for r in wanted if not ((out_dir / r.filename).is_file()
                                      and file_digest(out_dir / r.filename, "md5") == r.md5)]
    for name, version in sorted({(r.package, r.version) for r in todo}):
        (deb,) = download_packages(cache_dir, progress=progress, packages=[(name, version)])
        members = {r.member: r for r in todo if r.package == name}
        with tempfile.TemporaryDirectory(prefix=f"mobileiqa-{name}-") as tmp:
            _run(["dpkg-deb", "-x", str(deb), tmp], f"{name}={version}")
            found = {c.member: c for c in _package_candidates(Path(tmp), name, version, SOURCES[name])
                     if c.member in members}
        for member, record in members.items():
            if member not in found:
                raise PhotoSourceError(f"{name}={version}: {member} is not in the package")
            data = found[member].read()
            if hashlib.md5(data).hexdigest() != record.md5:
                raise PhotoListError(f"{record.photo_id}: md5 of {member} differs from the listed {record.md5}")
            with atomic_path(out_dir / record.filename) as tmp_path:
                tmp_path.write_bytes(data)
    return [out_dir / r.filename for r in wanted]


def build_photo_list(cache_dir: str | os.PathLike, photo_list: str | os.PathLike,
                     excluded_list: str | os.PathLike | None = None, *, progress: bool = True) -> Selection:
    """Maintainers only: apply the rule to the pinned packages and (re)write the photo list and the list of
    excluded candidates. Review ``photos_excluded.csv`` (and look at the photos) before committing."""
    selection = _fetch_selection(cache_dir, progress)
    write_photo_list([r for r, _ in selection.selected], photo_list)
    if excluded_list is not None:
        write_excluded_list(selection.excluded, excluded_list)
    return selection


def read_excluded_list(path: str | os.PathLike | None = None) -> list[ExcludedPhoto]:
    """Parse ``photos_excluded.csv`` (default: the committed one)."""
    path = Path(path) if path is not None else _package_file(EXCLUDED_LIST)
    with open(path, newline="", encoding="utf-8") as fh:
        return [ExcludedPhoto(**row) for row in csv.DictReader(fh)]


# --- the user's own photos -------------------------------------------------------------------------------

def use_own_photos(src_dir: str | os.PathLike, out_dir: str | os.PathLike, *, rule: SelectionRule = SELECTION,
                   on_skip: Callable[[Path, str], None] | None = None, progress: bool = True) -> list[PhotoRecord]:
    """Validate the photos in ``src_dir`` (recursively) and copy the good ones into ``out_dir``.

    A photo is kept when it decodes, passes the size and greyscale parts of :data:`SELECTION` and is not a
    copy of another one (same bytes, or the same picture at another size: the larger is kept). Kept files
    are copied byte for byte as ``own_<slug of the relative path>.<ext>``. Every skipped file is reported
    with its reason through ``on_skip(path, reason)`` (default: a logged warning). Hidden files are ignored.
    Raises :class:`PhotoListError` when no photo is usable.
    """
    src_dir, out_dir = Path(src_dir), Path(out_dir)
    if not src_dir.is_dir():
        raise PhotoListError(f"{src_dir}: not a folder of photos")
    if out_dir.resolve() == src_dir.resolve():
        raise PhotoListError(f"{out_dir}: the output folder must differ from the folder of photos")
    report = on_skip or (lambda path, reason: log.warning("skipped %s: %s", path, reason))
    files = sorted(p for p in src_dir.rglob("*")
                   if p.is_file() and not any(part.startswith(".") for part in p.relative_to(src_dir).parts)
                   and not p.resolve().is_relative_to(out_dir.resolve()))  # out_dir may sit inside src_dir
    candidates, paths, ids = [], {}, set()
    for path in files:
        rel = path.relative_to(src_dir).as_posix()
        base = "own_" + slug(str(PurePosixPath(rel).with_suffix("")))
        photo_id, n = base, 1
        while photo_id in ids:  # a.jpg and a.png: the extension (then a number) makes the id unique
            n += 1
            photo_id = f"{base}_{slug(path.suffix)}" if n == 2 else f"{base}_{n}"
        ids.add(photo_id)
        paths[rel] = path
        candidates.append(Candidate("user", "", rel, photo_id, "unknown (user-supplied)", path=path))
    selection = select_photos(candidates, rule, exclude={}, progress=progress)
    for item in selection.excluded:
        report(paths[item.member], item.reason)
    if not selection.selected:
        raise PhotoListError(f"{src_dir}: none of the {len(files)} file(s) is a usable photo (each was reported "
                             f"with its reason; a photo needs >= {rule.min_long_side} px on its longer side and "
                             "colour)")
    _write_set(out_dir, selection.selected, check=lambda staged: verify_photos(
        staged, [r for r, _ in selection.selected]))
    return [r for r, _ in selection.selected]
