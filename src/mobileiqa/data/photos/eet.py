"""Eet files (``*.edj``, Enlightenment's compiled Edje themes): Enlightenment keeps its wallpaper photos as JPEG
streams inside them; read the file's directory and take the JPEG entries out as stored.

The Eet file format (version 2, EFL's ``eet_lib.c``), all integers 32-bit big-endian::

    magic 0x1ee70f42, number of directory entries, number of dictionary entries
    per directory entry: data offset, stored size, uncompressed size, name offset, name size, flags
    per dictionary entry: 5 integers (not needed here), then the names (NUL-terminated) and the data

``flags`` bit 0 = compressed, bit 1 = ciphered, bit 2 = alias. Edje stores a lossy image without alpha as the
plain JPEG file it encoded (``edje/images/<n>``), uncompressed, so those bytes are a JPEG file verbatim. An Edje
image set (one wallpaper at several sizes) holds one entry per size.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

EET_MAGIC = 0x1EE70F42
_FLAG_STORED_AS_IS = 0x7  # compressed | ciphered | alias: any of them means the bytes are not the entry itself
_JPEG_SOI = b"\xff\xd8\xff"


@dataclass(frozen=True)
class EetEntry:
    """One entry of an Eet file's directory."""

    name: str
    offset: int
    size: int
    data_size: int
    flags: int


def eet_entries(blob: bytes) -> list[EetEntry]:
    """The directory of an Eet file, in stored order. Raises ``ValueError`` naming what is wrong when ``blob``
    is not a well-formed Eet (version 2) file."""
    if len(blob) < 12:
        raise ValueError("not an Eet file: shorter than its 12-byte header")
    magic, count, dict_count = struct.unpack_from(">III", blob, 0)
    if magic != EET_MAGIC:
        raise ValueError(f"not an Eet file: magic 0x{magic:08x} (expected 0x{EET_MAGIC:08x})")
    header_end = 12 + 24 * count + 20 * dict_count
    if header_end > len(blob):
        raise ValueError(f"Eet directory of {count} entries runs past the end of the file ({len(blob)} bytes)")
    entries = []
    for i in range(count):
        offset, size, data_size, name_offset, name_size, flags = struct.unpack_from(">6i", blob, 12 + 24 * i)
        if not (size > 0 and header_end <= offset and offset + size <= len(blob)):
            raise ValueError(f"Eet entry {i}: data at {offset}+{size} lies outside the file")
        if not (name_size > 0 and header_end <= name_offset and name_offset + name_size <= len(blob)) or \
                blob[name_offset + name_size - 1] != 0:
            raise ValueError(f"Eet entry {i}: bad name at {name_offset}+{name_size}")
        name = blob[name_offset:name_offset + name_size - 1].decode("utf-8", errors="replace")
        entries.append(EetEntry(name, offset, size, data_size, flags))
    return entries


def extract_eet_jpegs(blob: bytes) -> list[tuple[str, bytes]]:
    """Every entry of an Eet file that is stored as is (not compressed, ciphered or an alias) and is a JPEG
    file: ``[(entry name, JPEG bytes), ...]`` in directory order. Other entries (Edje's compiled theme,
    lossless images, fonts) are skipped."""
    out = []
    for entry in eet_entries(blob):
        data = blob[entry.offset:entry.offset + entry.size]
        if entry.flags & _FLAG_STORED_AS_IS == 0 and entry.size == entry.data_size and data[:3] == _JPEG_SOI:
            out.append((entry.name, data))
    return out


def _pixels(data: bytes) -> int:
    try:
        with Image.open(io.BytesIO(data)) as img:  # reads the header only
            return img.size[0] * img.size[1]
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        return 0


def largest_eet_jpeg(blob: bytes) -> tuple[str, bytes] | None:
    """The JPEG entry with the most pixels (the full-size picture of an Edje image set, whose other entries
    are smaller copies of it); the first in directory order on a tie; ``None`` when there is no JPEG entry."""
    best, best_pixels = None, 0
    for name, data in extract_eet_jpegs(blob):
        if (pixels := _pixels(data)) > best_pixels:
            best, best_pixels = (name, data), pixels
    return best
