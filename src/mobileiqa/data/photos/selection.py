"""Image checks and the selection: decode and measure a photo (:func:`inspect_photo`), judge it against the
rule (:func:`rejection_reason`), and select the photos of a set from the candidates (:func:`select_photos`)."""

from __future__ import annotations

import hashlib
import io
import re
import warnings
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import PurePosixPath

import numpy as np
from PIL import Image, UnidentifiedImageError
from tqdm.auto import tqdm

from mobileiqa.data.photos.records import Candidate, ExcludedPhoto, PhotoListError, PhotoRecord, PhotoStats
from mobileiqa.data.photos.sources import EXCLUDED_MEMBERS, SELECTION, SelectionRule

_FORMAT_EXT = {"WEBP": ".webp", "JPEG": ".jpg", "PNG": ".png", "TIFF": ".tif", "BMP": ".bmp"}


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

