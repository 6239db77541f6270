"""One list of video suffixes: the core readers, the napari reader, both napari manifests and the CLI help agree."""

from pathlib import Path

import yaml

from dvos_core.io.readers import VIDEO_SUFFIXES, open_video

ROOT = Path(__file__).resolve().parents[1]
MANIFESTS = [ROOT / "napari.yaml", ROOT / "dvos_napari" / "napari.yaml"]


def _patterns(manifest: Path) -> set:
    doc = yaml.safe_load(manifest.read_text())
    (reader,) = doc["contributions"]["readers"]
    return set(reader["filename_patterns"])


def test_manifests_list_exactly_the_core_suffixes():
    want = {f"*{s}" for s in VIDEO_SUFFIXES} | {"*.dvos"}
    for manifest in MANIFESTS:
        assert _patterns(manifest) == want, manifest


def test_napari_reader_offers_what_the_core_reads_and_nothing_else(tmp_path):
    import pytest

    from dvos_napari._reader import get_reader, read_video

    for suffix in (*VIDEO_SUFFIXES, ".MP4"):
        f = tmp_path / f"clip{suffix}"
        f.write_bytes(b"")
        assert get_reader(str(f)) is read_video, suffix
    for suffix in (".mpg", ".mpeg", ".wmv", ".webm", ".txt"):
        f = tmp_path / f"clip{suffix}"
        f.write_bytes(b"")
        assert get_reader(str(f)) is None, suffix
        with pytest.raises(ValueError, match="unsupported file type"):
            open_video(f)
    still = tmp_path / "still.png"  # said "unsupported file type '.png'", while a one-page TIFF is read
    still.write_bytes(b"")
    with pytest.raises(ValueError, match="a single image, not a video.*into a folder of its own"):
        open_video(still)


def test_cli_help_names_the_same_suffixes(capsys):
    from dvos_core.cli import build_parser

    help_text = build_parser()._subparsers._group_actions[0].choices["add-video"].format_help()
    assert all(s in help_text for s in VIDEO_SUFFIXES)
