"""Photo sources for the default dataset: natural photos shipped in pinned Debian bookworm packages.

The default (synthetic) dataset distorts pristine reference photos, KADID-style. Those photos come from ten
Debian packages (:data:`PACKAGES`, pinned by version and SHA-256), fetched with ``apt-get download`` and
unpacked with ``dpkg-deb -x``; nothing needs the internet beyond Debian's package archive. GCompris keeps its
photos as WebP files inside Qt resource bundles (``*.rcc``), which :func:`extract_rcc_webp` carves out;
Enlightenment keeps its wallpapers as JPEG entries of Eet files (``*.edj``), which :func:`extract_eet_jpegs`
takes out.

Which photos are used is decided by the committed rule (:data:`SOURCES`, :data:`SELECTION`,
:data:`EXCLUDED_MEMBERS`), and the result is committed as ``photos.csv`` (one row per photo, with the MD5 of
the exact bytes written) and ``photos_excluded.csv`` (every candidate that was left out, with the reason).
:func:`fetch_photos` re-applies the rule and refuses to publish anything whose bytes differ from the list.
Photos are written exactly as shipped (WebP / JPEG, never re-encoded), so the MD5s match on every machine.

Users without Debian's archive bring their own photos instead (:func:`use_own_photos`, the CLI's
``--photos DIR``): they are validated by the same rule and copied under stable names.

Reserved for independent evaluation and never used here: ``lxqt-themes``, ``palapeli-data`` and the sample
images bundled in Python packages (scikit-image, scikit-learn, matplotlib).

Modules: :mod:`.sources` (the committed rule), :mod:`.records` (record types, errors, the photo list files),
:mod:`.rcc` (Qt resource bundles), :mod:`.eet` (Eet files), :mod:`.selection` (image checks, the selection),
:mod:`.debian` (``apt-get download``, ``dpkg-deb``, licences, candidates), :mod:`.fetch` (writing the output
folder: the pinned set, listed photos, the user's own photos).
"""

from mobileiqa.data.photos.debian import (
    collect_candidates,
    deb_filename,
    download_packages,
    licence_for,
    parse_copyright,
)
from mobileiqa.data.photos.eet import eet_entries, extract_eet_jpegs, largest_eet_jpeg
from mobileiqa.data.photos.fetch import build_photo_list, fetch_listed, fetch_photos, use_own_photos
from mobileiqa.data.photos.rcc import extract_rcc_webp, rcc_resource_names
from mobileiqa.data.photos.records import (
    EXCLUDED_LIST,
    ID_PREFIXES,
    PHOTO_LIST,
    Candidate,
    ExcludedPhoto,
    PhotoListError,
    PhotoRecord,
    PhotoSourceError,
    PhotoStats,
    read_excluded_list,
    read_photo_list,
    verify_photos,
    write_excluded_list,
    write_photo_list,
)
from mobileiqa.data.photos.selection import Selection, inspect_photo, rejection_reason, select_photos, slug
from mobileiqa.data.photos.sources import (
    DEB_SHA256,
    EXCLUDED_MEMBERS,
    PACKAGES,
    SELECTION,
    SOURCES,
    SelectionRule,
    Source,
)

__all__ = ["DEB_SHA256", "EXCLUDED_LIST", "EXCLUDED_MEMBERS", "ID_PREFIXES", "PACKAGES", "PHOTO_LIST", "SELECTION",
           "SOURCES", "Candidate", "ExcludedPhoto", "PhotoListError", "PhotoRecord", "PhotoSourceError", "PhotoStats",
           "Selection", "SelectionRule", "Source", "build_photo_list", "collect_candidates", "deb_filename",
           "download_packages", "eet_entries", "extract_eet_jpegs", "extract_rcc_webp", "fetch_listed", "fetch_photos",
           "inspect_photo", "largest_eet_jpeg", "licence_for", "parse_copyright", "rcc_resource_names",
           "read_excluded_list", "read_photo_list", "rejection_reason", "select_photos", "slug", "use_own_photos",
           "verify_photos", "write_excluded_list", "write_photo_list"]
