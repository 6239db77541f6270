"""The io/extract subcommands end to end through `dvos_core.cli.main`."""

import numpy as np
import pytest

from dvos_core.cli import main
from dvos_core.store import Project


@pytest.fixture
def project_path(tmp_path):
    assert main(["new", str(tmp_path / "f.dvos")]) == 0
    return str(tmp_path / "f.dvos")


def test_add_video_extract_and_export(project_path, video_avi, video_mp4, tmp_path, capsys):
    assert (
        main(
            [
                "add-video",
                project_path,
                str(video_avi),
                "--id",
                "plot1",
                "--split",
                "train",
                "--tag",
                "variety=Arina",
                "--step",
                "2",
                "--crop",
                "64",
                "64",
            ]
        )
        == 0
    )
    v = Project.open(project_path).video("plot1")
    assert v.shape == (20, 64, 64, 3) and v.tags == {"variety": "Arina"} and v.split == "train"
    m = np.zeros((64, 64), np.uint8)
    m[10:20, 10:30] = 1
    m[40:50, 40:44] = 1
    v.set_mask(3, m, "manual")
    assert main(["extract-objects", project_path, "--min-area", "45", "--fakes-per-head", "2"]) == 0
    out = capsys.readouterr().out
    assert "1 heads" in out and "1 blobs under 45 px" in out
    assert main(["extract-backgrounds", project_path, str(video_mp4), "--clip-length", "50", "--clips", "2"]) == 0
    assert Project.open(project_path).background_ids() == ["field_plot_bg_000", "field_plot_bg_001"]
    assert main(["export-masks", project_path, "plot1", str(tmp_path / "m")]) == 0
    assert (tmp_path / "m" / "plot1_000003.png").exists()
    assert main(["export-csv", project_path, str(tmp_path / "csv"), "--clip-length", "0"]) == 0
    assert main(["import-csv", project_path, str(tmp_path / "csv" / "dataset.csv"), "--prefix", "ref_"]) == 0
    assert "ref_plot1-000003" in Project.open(project_path).video_ids()


def test_add_several_files_and_paper_preprocess_error(project_path, video_avi, video_mp4, capsys):
    assert main(["add-video", project_path, str(video_avi), str(video_mp4), "--stop", "3"]) == 2
    # same stem twice: refused before importing anything
    assert "both give the video id 'field_plot'" in capsys.readouterr().err
    assert Project.open(project_path).video_ids() == []
    assert main(["add-video", project_path, str(video_avi), "--stop", "3"]) == 0
    assert main(["add-video", project_path, str(video_mp4), "--id", "mp4", "--stop", "3"]) == 0
    assert Project.open(project_path).video_ids() == ["field_plot", "mp4"]
    capsys.readouterr()
    assert main(["add-video", project_path, str(video_mp4), "--id", "big", "--crop", "200", "200"]) == 2
    err = capsys.readouterr().err
    assert "cannot centre-crop 200x200 from a 96x160 frame" in err
    assert "big" not in Project.open(project_path).video_ids()


def test_import_masks_cli_errors_name_the_file(project_path, video_avi, tmp_path, capsys):
    import cv2

    main(["add-video", project_path, str(video_avi), "--id", "v", "--stop", "5"])
    d = tmp_path / "masks"
    d.mkdir()
    cv2.imwrite(str(d / "v_000002.png"), np.zeros((10, 10), np.uint8))
    assert main(["import-masks", project_path, "v", str(d)]) == 2
    assert "v_000002.png" in capsys.readouterr().err
    mask = np.zeros((96, 160), np.uint8)
    mask[:5] = 255
    cv2.imwrite(str(d / "v_000002.png"), mask)
    assert main(["import-masks", project_path, "v", str(d)]) == 0
    assert Project.open(project_path).video("v").mask(2).sum() == 5 * 160


def test_missing_video_file(project_path, tmp_path, capsys):
    assert main(["add-video", project_path, str(tmp_path / "gone.mp4")]) == 2
    assert "gone.mp4" in capsys.readouterr().err


def test_help_texts_render(capsys):
    for cmd in (
        "add-video",
        "import-masks",
        "export-masks",
        "export-csv",
        "import-csv",
        "extract-objects",
        "extract-backgrounds",
    ):
        with pytest.raises(SystemExit) as e:
            main([cmd, "--help"])
        assert e.value.code == 0
    assert "wheat head" in capsys.readouterr().out


def test_resize_options_shared_by_import_and_backgrounds(project_path, video_mp4, capsys):
    """add-video and extract-backgrounds read --height / --crop / --paper-preprocess the same way."""
    assert (
        main(
            [
                "extract-backgrounds",
                project_path,
                str(video_mp4),
                "--clip-length",
                "4",
                "--clips",
                "1",
                "--crop",
                "48",
                "40",
                "--prefix",
                "bare",
            ]
        )
        == 0
    )
    assert Project.open(project_path).background("bare_000").shape[1:3] == (48, 40)
    for cmd in (
        ["add-video", project_path, str(video_mp4), "--id", "pp"],
        ["extract-backgrounds", project_path, str(video_mp4), "--prefix", "pp"],
    ):
        capsys.readouterr()
        assert main([*cmd, "--paper-preprocess", "--crop", "64", "64"]) == 2
        assert "--paper-preprocess already crops to 1024x1024; drop --crop" in capsys.readouterr().err
    assert "pp" not in Project.open(project_path).video_ids()
    assert not [b for b in Project.open(project_path).background_ids() if b.startswith("pp")]


def test_add_video_of_several_files_goes_on_past_a_broken_one(project_path, video_avi, tmp_path, capsys):
    """Twenty field videos and one broken: the others are added, the broken one is named with its error and in a
    summary, and the exit code says something failed."""
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00" * 100)
    assert (
        main(["add-video", project_path, str(broken), str(video_avi), str(tmp_path / "gone.avi"), "--stop", "3"]) == 2
    )
    err = capsys.readouterr().err
    assert "broken.mp4: cannot open this video" in err and "gone.avi" in err
    assert "added 1 of 3 videos; not added (errors above): " in err
    assert Project.open(project_path).video_ids() == ["field_plot"]
    assert main(["add-video", project_path, str(broken)]) == 2  # one file: its error, as before
    assert "added" not in capsys.readouterr().err
    # an error whose message did not name its file (a crop larger than the frame) is named by the loop
    import shutil

    other = shutil.copy(video_avi, tmp_path / "other.avi")
    assert main(["add-video", project_path, str(other), str(broken), "--crop", "4000", "4000"]) == 2
    err = capsys.readouterr().err
    assert f"error: {other}: cannot centre-crop" in err, err


def test_import_masks_counts_what_it_wrote_by_provenance(project_path, video_avi, tmp_path, capsys):
    """The summary line counts the written masks by what made them (masks.csv of an export keeps pseudo-labels)."""
    main(["add-video", project_path, str(video_avi), "--id", "v", "--stop", "5"])
    v = Project.open(project_path).video("v")
    m = np.zeros((96, 160), np.uint8)
    m[:5] = 1
    v.set_mask(1, m, "manual")
    v.set_mask(2, m, "pseudo")
    v.set_mask(3, m[::-1].copy(), "pseudo")
    assert main(["export-masks", project_path, "v", str(tmp_path / "out")]) == 0
    assert main(["clear-masks", project_path, "v", "--provenance", "manual", "pseudo", "--yes"]) == 0
    capsys.readouterr()
    assert main(["import-masks", project_path, "v", str(tmp_path / "out")]) == 0
    assert "v: wrote 3 masks (1 manual, 2 pseudo)" in capsys.readouterr().out


def test_an_id_made_up_for_a_name_without_letters_is_said(project_path, video_avi, tmp_path, capsys):
    """A file named only in another script (``日本 麦.avi``) was added as video 'video' without a word."""
    import shutil

    named = tmp_path / "日本 麦.avi"
    shutil.copy(video_avi, named)
    assert main(["add-video", str(project_path), str(named)]) == 0
    out = capsys.readouterr().out
    assert "added video:" in out and "id made up: '日本 麦' has no letter or digit" in out and "--id" in out
    assert main(["add-video", str(project_path), str(video_avi), "--id", "plot7"]) == 0
    assert "made up" not in capsys.readouterr().out
    from dvos_core.store.schema import id_made_up

    assert id_made_up("日本 麦") and not id_made_up("vídeo") and not id_made_up("_video_")  # 'video' kept, not made up


def test_paper_preprocess_on_a_portrait_video_names_the_options_that_work(project_path, tmp_path, capsys):
    """The paper's setting (1024 px high, central 1024x1024 square) on frames higher than wide: the error says
    that the setting expects landscape frames and gives the --height/--crop that cut the same square (the user chose
    neither crop nor height, so "choose a smaller crop" would not help); those options then import it."""
    from conftest import write_video

    from dvos_core.io import Preprocess

    tall = write_video(tmp_path / "tall.avi", 2, "MJPG", hw=(96, 54))
    assert main(["add-video", project_path, str(tall), "--paper-preprocess"]) == 2
    err = capsys.readouterr().err
    assert "expects frames wider than high" in err and "--height 1821 --crop 1024 1024" in err, err
    assert "choose a smaller crop" not in err
    assert Preprocess(height=1821, crop=(1024, 1024)).output_size(96, 54) == (1024, 1024)
    assert main(["add-video", project_path, str(tall), "--height", "1821", "--crop", "1024", "1024"]) == 0
    assert Project.open(project_path).video("tall").shape[1:3] == (1024, 1024)
