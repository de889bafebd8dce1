"""Qt resource bundles (``*.rcc``): GCompris keeps its photos as WebP files inside them; carve them out and
name them from the bundle's tree."""

from __future__ import annotations

import re
import struct

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

