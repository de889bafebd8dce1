"""Debian packages: ``apt-get download`` of the pinned ``.deb`` files (checked by SHA-256), ``dpkg-deb -x``,
the licences of ``debian/copyright``, and the candidate photos each package holds."""

from __future__ import annotations

import fnmatch
import os
import re
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from urllib.parse import quote

from tqdm.auto import tqdm

from mobileiqa.atomic import file_digest
from mobileiqa.data.photos.eet import largest_eet_jpeg
from mobileiqa.data.photos.rcc import _carve_webp, rcc_resource_names
from mobileiqa.data.photos.records import Candidate, PhotoSourceError
from mobileiqa.data.photos.selection import slug
from mobileiqa.data.photos.sources import DEB_SHA256, EXCLUDED_MEMBERS, PACKAGES, SOURCES, Source


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


def _stated_licence(source: Source, copyright_text: str, package: str) -> str:
    """``source.licence`` once every ``source.licence_evidence`` phrase is found in ``debian/copyright``."""
    text = " ".join(copyright_text.split())
    if missing := [phrase for phrase in source.licence_evidence if " ".join(phrase.split()) not in text]:
        raise PhotoSourceError(f"{package}: debian/copyright no longer states {missing}; check the licence of "
                               "its photos and update SOURCES")
    return source.licence


def _package_candidates(root: Path, name: str, version: str, source: Source) -> list[Candidate]:
    copyright_file = root / "usr/share/doc" / name / "copyright"
    copyright_text = copyright_file.read_text(errors="replace") if copyright_file.is_file() else ""
    stated = _stated_licence(source, copyright_text, name) if source.licence else ""
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
                    licence = stated or (licence_for(_upstream_path(source, resource), copyright_text) if resource
                                         else (parse_copyright(copyright_text)[0] or "unknown"))
                    out.append(Candidate(name, version, f"{member}#{index}:{resource or ''}",
                                         f"{source.id_prefix}_{short}_{slug(stem)}", licence, data))
            else:
                label = PurePosixPath(member).stem if source.name_part == -1 else PurePosixPath(member).parts[
                    source.name_part]
                licence = stated or licence_for(_upstream_path(source, member), copyright_text)
                if source.kind == "eet":
                    try:
                        found = largest_eet_jpeg(path.read_bytes())
                    except ValueError as exc:
                        raise PhotoSourceError(f"{name}={version}: {member}: {exc}") from None
                    if found is not None:
                        entry, data = found
                        out.append(Candidate(name, version, f"{member}#{entry}", f"{source.id_prefix}_{slug(label)}",
                                             licence, data))
                else:
                    out.append(Candidate(name, version, member, f"{source.id_prefix}_{slug(label)}", licence,
                                         path.read_bytes()))
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

