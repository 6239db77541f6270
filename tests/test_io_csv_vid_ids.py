"""import-csv: VIDs that clean up to one video id ('plot é 1' and 'plot e 1') were refused with "already exist or
repeat; import under other ids with a prefix", and --prefix gave the same error. The error now names the CSV's VIDs
that collide and a fix that works; a VID imported under another (valid) id is said."""

import numpy as np
import pytest

from dvos_core.cli import main
from dvos_core.io import import_reference_csv


def _csv(tmp_path, vids):
    import cv2

    (tmp_path / "f").mkdir()
    rows = []
    for k, vid in enumerate(vids):
        cv2.imwrite(str(tmp_path / "f" / f"{k}.png"), np.full((24, 32, 3), 20 * k, np.uint8))
        rows.append(f"{vid},0,f/{k}.png")
    path = tmp_path / "d.csv"
    path.write_text("VID,FID,Image\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


def test_vids_that_become_one_id_are_named_with_a_fix_that_works(tmp_project, tmp_path, capsys):
    path = _csv(tmp_path, ["plot é 1", "plot e 1", "b"])
    match = r"VIDs 'plot é 1', 'plot e 1' all become video id 'plot_e_1' .*rename all but one of them in the CSV"
    with pytest.raises(ValueError, match=match):
        import_reference_csv(tmp_project, path)
    assert main(["import-csv", str(tmp_project.path), str(path), "--prefix", "x_"]) == 2
    assert "VIDs 'plot é 1', 'plot e 1' all become video id 'x_plot_e_1'" in capsys.readouterr().err
    assert tmp_project.video_ids() == []
    # one of them renamed in the CSV: imported, the VID changed into a valid id said
    path.write_text(path.read_text(encoding="utf-8").replace("plot e 1", "plot2"), encoding="utf-8")
    with pytest.warns(UserWarning, match=r"1 VID\(s\) are not valid video ids .*'plot é 1' -> 'plot_e_1'"):
        import_reference_csv(tmp_project, path)
    assert sorted(tmp_project.video_ids()) == ["b", "plot2", "plot_e_1"]
    # ids that exist already (the same rows in another CSV): the prefix is the fix, and works
    other = tmp_path / "d2.csv"
    other.write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    with pytest.raises(ValueError, match=r"video id\(s\) \['b', 'plot2', 'plot_e_1'\] already exist in .*--prefix"):
        import_reference_csv(tmp_project, other)
    assert main(["import-csv", str(tmp_project.path), str(other), "--prefix", "x_"]) == 0
    assert "x_plot_e_1" in tmp_project.video_ids()
