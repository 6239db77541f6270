"""The object bank (schema 2): append-only records, crash safety, clear, and the schema 1 -> 2 migration."""

import json

import numpy as np
import pytest
import zarr
import zarr.core.attributes
from old_stores import as_older_schema

from dvos_core.cli import main
from dvos_core.store import SCHEMA_VERSION, Project, SchemaVersionError


def _obj(i, kind="head", size=(2, 3)):
    rgba = np.full(size + (4,), i % 251, np.uint8)
    return rgba, {"kind": kind, "video": "v", "frame": np.int64(i), "area": np.float32(i + 0.5), "note": "é\nx"}


def _fill(bank, n_adds=6, per_add=7):
    for a in range(n_adds):
        bank.add(_obj(a * per_add + j, "fake" if j % 3 == 0 else "head") for j in range(per_add))


def test_many_adds_round_trip(tmp_project):
    bank = tmp_project.objects
    _fill(bank)
    bank = Project.open(tmp_project.path).objects  # a fresh handle reads the committed state
    n = 6 * 7
    assert len(bank) == n and bank.count() == n
    assert bank.count("fake") == 18 and bank.count("head") == 24
    table = bank.table()
    assert table["id"].tolist() == list(range(n)) and table["frame"].tolist() == list(range(n))
    assert table["note"].tolist() == ["é\nx"] * n  # newlines/UTF-8 inside values survive the JSON lines
    assert set(table.columns) >= {"id", "kind", "offset", "h", "w", "area", "video", "frame"}
    rows = bank.append([_obj(n, "fake")])  # append returns the records as committed
    assert rows == bank.table().iloc[-1:].to_dict("records") and rows[0]["id"] == n
    assert bank.append([]) == [] and len(bank) == n + 1
    heads = bank.load("head")
    assert len(heads) == 24 and all(r["kind"] == "head" for _, r in heads)
    for rgba, rec in bank.load():
        assert rgba.shape == (2, 3, 4) and (rgba == rec["frame"] % 251).all()
        assert np.array_equal(bank.get(rec["id"]), rgba)
    with pytest.raises(KeyError, match="no object with id 999"):
        bank.get(999)
    assert bank.add([]) == 0 and len(bank) == n + 1


def test_add_writes_only_new_bytes(tmp_project):
    bank = tmp_project.objects
    g_json = tmp_project.path / "objects" / "zarr.json"
    rec_dir = tmp_project.path / "objects" / "records"
    bank.add(_obj(i) for i in range(500))

    def chunk_files():
        return {p: p.stat().st_mtime_ns for p in rec_dir.rglob("*") if p.is_file() and p.name.isdigit()}

    while int(bank.group.attrs["records_bytes"]) < (1 << 20) + 1000:  # fill more than one 1 MiB records chunk
        bank.add(_obj(i) for i in range(2000))
    before = chunk_files()
    assert len(before) >= 2
    first_chunk = min(before, key=lambda p: int(p.name))
    bank.add(_obj(i) for i in range(10))
    assert chunk_files()[first_chunk] == before[first_chunk]  # the full chunk was not rewritten
    assert len(bank) > 2000
    assert g_json.stat().st_size < 2048  # the commit stays a few attrs, whatever the size


def test_uncommitted_records_are_ignored(tmp_project):
    bank = tmp_project.objects
    bank.add([_obj(1), _obj(2, "fake")])
    committed = bank.table()
    a = dict(bank.group.attrs)
    junk = b'{"id":7,"kind":"head","offset":0,"h":1,"w":1}\n{"broken'  # a killed add: data, no commit
    rec, pix = bank.group["records"], bank.group["pixels"]
    end = a["records_bytes"]
    rec.resize((end + len(junk),))
    rec[end:] = np.frombuffer(junk, np.uint8)
    pix.resize((a["n_bytes"] + 50,))
    pix[a["n_bytes"] :] = 99
    bank = Project.open(tmp_project.path).objects
    assert len(bank) == 2 and bank.table().equals(committed)
    assert bank.count("head") == 1 and bank.count("fake") == 1
    bank.add([_obj(3)])  # the next add overwrites the leftovers
    assert bank.table()["id"].tolist() == [0, 1, 2] and np.array_equal(bank.get(2), _obj(3)[0])


def test_clear_kind_keeps_the_other_and_is_crash_safe(tmp_project, monkeypatch):
    bank = tmp_project.objects
    _fill(bank, 3, 5)
    heads = bank.table().query("kind == 'head'").reset_index(drop=True)
    old = dict(bank.group.attrs)

    class Boom(Exception):
        pass

    def dying_update(self, *a, **k):  # a kill after the kept records are written but before the commit
        raise Boom

    with monkeypatch.context() as m:
        m.setattr(zarr.Group, "update_attributes", dying_update)
        with pytest.raises(Boom):
            bank.clear("fake")
    again = Project.open(tmp_project.path).objects
    assert dict(again.group.attrs) == old and len(again.table()) == 15  # the old bank is intact

    again.clear("fake")
    assert again.count("fake") == 0 and again.count("head") == len(heads) == len(again)
    assert again.table().reset_index(drop=True).equals(heads)
    assert all(np.array_equal(again.get(int(i)), bank.get(int(i))) for i in heads["id"])
    again.add([_obj(50, "fake")])
    assert again.table()["id"].tolist() == heads["id"].tolist() + [heads["id"].max() + 1]
    again.clear("fake")  # kept records now fit before: written at 0
    assert again.group.attrs["records_start"] == 0 and again.table().reset_index(drop=True).equals(heads)
    again.clear()
    assert len(again) == 0 and again.table().empty and again.load() == [] and again.count("head") == 0
    again.add([_obj(1)])
    assert again.table()["id"].tolist() == [0]


def test_every_bank_change_commits_in_one_write(tmp_project, monkeypatch):
    """zarr's ``attrs.update`` writes zarr.json once per key: the bank's commit was about seven writes, and a kill
    between two left counts that disagree with the table (or two objects of one id). Each change of the bank now
    writes its zarr.json once, after its data."""
    import zarr.storage._local as local

    bank = tmp_project.objects
    _fill(bank, 2, 4)
    writes, real = [], local._put

    def counted(path, value, exclusive=False):
        if str(path).endswith("objects/zarr.json"):
            writes.append(path)
        return real(path, value, exclusive)

    monkeypatch.setattr(local, "_put", counted)
    changes = {
        "add": lambda: bank.add([_obj(90)]),
        "clear a kind": lambda: bank.clear("fake"),
        "remove": lambda: bank.remove(lambda r: int(r["frame"]) == 1),
    }
    for what, change in changes.items():
        writes.clear()
        change()
        assert len(writes) == 1, (what, len(writes))
    writes.clear()
    with bank.rebuild() as new:
        new.append([_obj(91), _obj(92)])
        new.commit()
    assert len(writes) == 1
    again = Project.open(tmp_project.path).objects
    assert len(again.table()) == len(again) == 2


def test_store_attributes_are_never_updated_key_by_key():
    """``attrs.update`` writes zarr.json once per key (zarr 3.1): no commit of the store may use it."""
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent / "dvos_core"
    offenders = [str(f) for f in root.rglob("*.py") if ".attrs.update(" in f.read_text()]
    assert not offenders, offenders


def _make_v1(path):
    """A project in the schema 1 layout: the whole table in the `table` attr of the objects group."""
    p = Project.create(path)
    p.add_video_array("v", np.zeros((2, 8, 8, 3), np.uint8))
    p.objects.add([_obj(1), _obj(2, "fake", (3, 2)), _obj(3)])
    table, loaded = p.objects.table(), p.objects.load()
    g = zarr.open_group(str(path / "objects"), mode="r+")
    raw = g["records"][: int(g.attrs["records_bytes"])]  # the committed records (the array may hold spare capacity)
    rows = [json.loads(line) for line in raw.tobytes().decode().splitlines()]
    del g["records"]
    g.attrs.put({"table": rows, "n_bytes": int(g.attrs["n_bytes"])})
    as_older_schema(path, 1)
    return table, loaded


def test_migrate_v1_store(tmp_path, capsys):
    path = tmp_path / "old.dvos"
    table, loaded = _make_v1(path)
    with pytest.raises(SchemaVersionError, match="schema 1.*dvos migrate"):
        Project.open(path)
    assert main(["info", str(path)]) == 2 and "dvos migrate" in capsys.readouterr().err
    assert main(["migrate", str(path)]) == 0
    assert "1 -> 2" in capsys.readouterr().out
    p = Project.open(path)
    assert p.attrs["schema_version"] == SCHEMA_VERSION == 4
    assert "table" not in p.objects.group.attrs
    assert p.objects.table().equals(table) and p.objects.count("fake") == 1 and len(p.objects) == 3
    for (a, ra), (b, rb) in zip(loaded, p.objects.load()):
        assert np.array_equal(a, b) and ra == rb
    assert p.video("v").n_frames == 2
    p.objects.add([_obj(4)])
    assert p.objects.table()["id"].tolist() == [0, 1, 2, 3]

    meta = (path / "zarr.json").read_text()
    assert main(["migrate", str(path)]) == 0  # already current: says so, changes nothing
    assert "already uses store schema 4" in capsys.readouterr().out
    assert (path / "zarr.json").read_text() == meta


def test_migrate_is_safe_to_rerun_after_a_kill(tmp_path):
    from dvos_core.store.migrate import migrate_1_to_2

    path = tmp_path / "half.dvos"
    table, _ = _make_v1(path)
    migrate_1_to_2(path)
    root = zarr.open_group(str(path), mode="r+")
    root.attrs["schema_version"] = 1  # as if killed before the version write
    assert Project.migrate(path) == [1, 2, 3, 4]
    assert Project.open(path).objects.table().equals(table)


def test_migrate_refuses_unknown_or_newer_schema(tmp_path, capsys):
    p = Project.create(tmp_path / "new.dvos")
    root = zarr.open_group(str(p.path), mode="r+")
    root.attrs["schema_version"] = 99
    meta = (p.path / "zarr.json").read_text()
    with pytest.raises(SchemaVersionError, match=f"schema 99, written by a newer dvos.*reads schema {SCHEMA_VERSION}"):
        Project.migrate(p.path)
    with pytest.raises(SchemaVersionError, match="Upgrade dvos"):
        Project.open(p.path)
    root.attrs["schema_version"] = "x"  # no dvos ever wrote this: damaged
    with pytest.raises(SchemaVersionError, match="root zarr.json may be damaged"):
        Project.open(p.path)
    root.attrs["schema_version"] = 99
    meta = (p.path / "zarr.json").read_text()
    assert main(["migrate", str(p.path)]) == 2
    assert "schema 99" in capsys.readouterr().err
    assert (p.path / "zarr.json").read_text() == meta
    assert main(["migrate", str(tmp_path / "none.dvos")]) == 2
    assert "no dvos project" in capsys.readouterr().err


def test_migrate_help_says_back_up(capsys):
    with pytest.raises(SystemExit):
        main(["migrate", "--help"])
    assert "Back the folder up first" in capsys.readouterr().out


def _decodes(monkeypatch) -> list:
    """Count decodes of the JSON table (what the id index avoids)."""
    import dvos_core.store.objects as objects

    calls = []
    decode = objects.decode_records

    def counting(raw):
        rows = decode(raw)
        calls.append(len(rows))
        return rows

    monkeypatch.setattr(objects, "decode_records", counting)
    return calls


def _by_id(bank) -> dict:
    return {int(r["id"]): r for r in bank.table().to_dict("records")}


def test_index_lookups_equal_table_lookups_without_decoding_the_table(tmp_project, monkeypatch):
    bank = tmp_project.objects
    _fill(bank)
    bank.add([_obj(100, "head") for _ in range(2)] + [(_obj(101)[0], {"kind": "fake"})])  # no video/frame
    bank.clear("fake")  # ids are no longer an unbroken run
    bank.add(_obj(200 + j, "head") for j in range(3))
    bank = Project.open(tmp_project.path).objects
    table = _by_id(bank)
    pixels = {int(rec["id"]): rgba for rgba, rec in bank.load()}
    decoded = _decodes(monkeypatch)
    for i, row in table.items():
        assert np.array_equal(bank.get(i), pixels[i])
        rec = bank.record(i)
        assert rec["id"] == i and rec["frame"] == row["frame"] and rec["note"] == "é\nx"
    heads = {(r["video"], int(r["frame"])) for r in table.values() if r["kind"] == "head"}
    assert bank.frames_with("head") == heads and ("v", 100) in heads
    assert bank.frames_with("fake") == set()
    for missing in (3, 999, -1):  # 3 was a fake: cleared
        with pytest.raises(KeyError, match=f"no object with id {missing}"):
            bank.get(missing)
    assert all(n == 1 for n in decoded), decoded  # single records only (before: the whole table per get)


def _same(a, b) -> bool:
    return len(a) == len(b) and all(np.array_equal(x, y) and r == q for (x, r), (y, q) in zip(a, b))


def test_load_with_a_limit_reads_only_the_first_objects(tmp_project, monkeypatch):
    """The Extract step's gallery showed 60 objects by loading the whole bank (3 s and 190 MB at 104k objects)."""
    import dvos_core.store.object_index as oix

    bank = tmp_project.objects
    bank.add(_obj(j, "fake") for j in range(4 * oix.CHUNK_ROWS + 5))  # the first heads lie past 4 chunks of index
    _fill(bank)
    bank = Project.open(tmp_project.path).objects
    for kind in (None, "head", "fake"):
        for n in (0, 1, 5, 10_000):
            assert _same(bank.load(kind, limit=n), bank.load(kind)[:n]), (kind, n)
    spans = []
    span = bank._span
    monkeypatch.setattr(
        bank, "_span", lambda name, lo, hi, arr=None: spans.append((name, hi - lo)) or span(name, lo, hi, arr)
    )
    decoded = _decodes(monkeypatch)
    heads = bank.load("head", limit=3)
    assert [r["kind"] for _, r in heads] == ["head"] * 3
    size = 2 * 3 * 4  # bytes of one object's pixels
    read = {name: sum(n for k, n in spans if k == name) for name, _ in spans}
    assert read["pixels"] <= 6 * size  # the first 3 heads and the 2 fakes among them, not the bank's pixels
    assert read["records"] < 2000 and decoded == [1, 1, 1]  # their 3 records alone
    # without a usable index the table is decoded, but still only those pixels are read
    attrs = dict(bank.group.attrs)
    del attrs["index"]
    bank.group.attrs.put(attrs)
    bank = Project.open(tmp_project.path).objects
    assert bank._index() is None and _same(bank.load("head", limit=3), heads)
    with pytest.raises(ValueError, match="limit must be a whole number >= 0"):
        bank.load("head", limit=-1)


def test_a_store_without_index_still_reads_and_rebuilds_it_on_the_next_add(tmp_project, monkeypatch):
    bank = tmp_project.objects
    _fill(bank, n_adds=2)
    attrs = dict(bank.group.attrs)
    del attrs["index"]  # as an older dvos (or the 1 -> 2 migration) leaves it
    bank.group.attrs.put(attrs)
    bank = Project.open(tmp_project.path).objects
    truth = _by_id(bank)
    assert bank._index() is None
    assert np.array_equal(bank.get(5), bank.load()[5][0]) and bank.record(5)["id"] == 5  # by decoding the table
    assert bank.frames_with() == {("v", int(r["frame"])) for r in truth.values() if r["kind"] == "head"}
    bank.add([_obj(50)])
    assert bank._index() is not None
    decoded = _decodes(monkeypatch)
    assert bank.record(3) == truth[3] and bank.record(14)["frame"] == 50
    assert decoded == [1, 1]
    # an older dvos adding objects without touching the index makes it stale: it is not used, then rebuilt
    bank.group.attrs.update({"next_id": 99})
    assert bank._index() is None


def test_killed_index_write_leaves_the_committed_bank(tmp_project, monkeypatch):
    bank = tmp_project.objects
    _fill(bank, n_adds=2)
    before = _by_id(bank)
    update = zarr.Group.update_attributes

    def dying_update(self, *a, **k):  # a kill after pixels, records and index rows are written, before the commit
        raise SystemExit("killed")

    monkeypatch.setattr(zarr.Group, "update_attributes", dying_update)
    with pytest.raises(SystemExit):
        bank.add([_obj(77)] * 3)
    monkeypatch.setattr(zarr.Group, "update_attributes", update)
    bank = Project.open(tmp_project.path).objects
    assert bank._index() is not None and _by_id(bank) == before
    with pytest.raises(KeyError):
        bank.get(14)
    bank.add([_obj(78)])
    assert bank.record(14)["frame"] == 78 and len(bank) == 15


def test_a_schema_3_store_moves_to_4_with_no_pixel_rewritten(tmp_path, capsys):
    """Schema 4 keeps a dvos of schema 3 out: that dvos deleted the chunk file of each all-zero mask it wrote, which
    this dvos reads as a damaged store in arrays whose every chunk is written. The migration changes the version
    and leaves the schema-3 arrays reading missing chunks as zeros, as they did (no longer marked)."""
    from dvos_core import __version__
    from dvos_core.store.arrays import EVERY_CHUNK

    path = tmp_path / "three.dvos"
    p = Project.create(path)
    v = p.add_video_array("v", np.full((3, 16, 16, 3), 7, np.uint8))
    v.set_mask(1, np.eye(16, dtype=np.uint8), "manual")
    as_older_schema(path, 3)  # as a dvos of schema 3 leaves it
    chunks = sorted(str(f.relative_to(path)) for f in path.rglob("c/*") if f.is_file())
    with pytest.raises(SchemaVersionError, match="uses store schema 3; this dvos uses 4. Run `dvos migrate"):
        Project.open(path)
    assert main(["migrate", str(path)]) == 0 and "3 -> 4" in capsys.readouterr().out
    p = Project.open(path)
    assert p.attrs["schema_version"] == 4 and p.attrs["dvos_version"] == __version__
    assert sorted(str(f.relative_to(path)) for f in path.rglob("c/*") if f.is_file()) == chunks  # no pixel rewritten
    v = p.video("v")
    assert np.array_equal(v.read_masks()[1], np.eye(16, dtype=np.uint8)) and v.read_frames().max() == 7
    assert EVERY_CHUNK not in zarr.open_array(str(path / "videos" / "v" / "masks")).attrs
    # a store of a newer schema written by a dvos of the same version number does not name the number twice
    zarr.open_group(str(path), mode="r+").attrs["schema_version"] = 5
    with pytest.raises(SchemaVersionError) as e:
        Project.open(path)
    assert "written by a newer dvos; this is dvos" in str(e.value)


@pytest.mark.parametrize("said", [3, 1])
def test_a_current_store_whose_version_was_lowered_is_not_migrated(tmp_path, capsys, said):
    """A schema-4 store whose root ``schema_version`` was lowered (by hand, or by a tool that mislabels stores) was
    migrated as the old store it said it was: the 3 -> 4 step stripped the 'every chunk written' mark from every
    array, so deleted chunk files read as empty masks from then on. Opening or migrating it now refuses, naming the
    store and the fix, and changes no byte; with the version set back it opens and checks clean."""
    from dvos_core.store.arrays import EVERY_CHUNK
    from dvos_core.store.check import check_project

    path = tmp_path / "four.dvos"
    p = Project.create(path)
    v = p.add_video_array("v", np.full((3, 16, 16, 3), 7, np.uint8))
    v.set_mask(1, np.eye(16, dtype=np.uint8), "manual")
    zarr.open_group(str(path), mode="r+").attrs["schema_version"] = said
    before = {str(f.relative_to(path)): f.read_bytes() for f in sorted(path.rglob("*")) if f.is_file()}
    for attempt in (lambda: Project.open(path), lambda: Project.migrate(path)):
        with pytest.raises(SchemaVersionError) as e:
            attempt()
        msg = str(e.value)
        assert f"{path} says store schema {said}" in msg and "videos/v/zarr.json (uid)" in msg
        assert f'set "schema_version" back to 4 in {path / "zarr.json"}' in msg and f"`dvos check {path}`" in msg
    assert Project.outdated(path) is None  # the napari panel offers no upgrade
    assert main(["migrate", str(path)]) == 2 and "Nothing was changed" in capsys.readouterr().err
    assert {str(f.relative_to(path)): f.read_bytes() for f in sorted(path.rglob("*")) if f.is_file()} == before
    zarr.open_group(str(path), mode="r+").attrs["schema_version"] = 4
    assert check_project(Project.open(path)) == []
    assert zarr.open_array(str(path / "videos" / "v" / "masks")).attrs.get(EVERY_CHUNK) is True


def test_a_migration_finished_by_another_process_while_this_one_waited_is_not_run_again(tmp_path, monkeypatch):
    """The version was read before the writer lock: two upgrades (two napari windows, or --wait) ran the steps twice."""
    import contextlib

    from dvos_core.store import project as project_module

    path = Project.create(tmp_path / "p.dvos").path
    as_older_schema(path, 3)
    real = project_module.writer_lock

    class OtherFinishesFirst:
        def __init__(self, where):
            self.lock = real(where)

        @contextlib.contextmanager
        def hold(self, *a, **kw):
            zarr.open_group(str(path), mode="r+").attrs["schema_version"] = SCHEMA_VERSION  # the other one's work
            with self.lock.hold(*a, **kw):
                yield

    ran = []
    monkeypatch.setattr(project_module, "writer_lock", OtherFinishesFirst)
    monkeypatch.setitem(project_module.MIGRATIONS, 3, lambda *a: ran.append(a))
    assert Project.migrate(path) == [] and ran == []


def test_a_commit_that_disagrees_with_the_table_is_damage_that_check_names(tmp_project, capsys):
    """A count edited (or left by a killed write of an older dvos) stopped `dvos info` and `dvos check` whole with a
    plain error; an empty table under counts, and two objects of one id, went unnoticed."""
    from dvos_core.store.check import check_project
    from dvos_core.store.schema import DamagedStoreError

    bank = tmp_project.objects
    _fill(bank, 1, 4)
    bank.group.update_attributes({"n_objects": 3})
    with pytest.raises(DamagedStoreError, match=r"holds 4 records but its commit .* says 3"):
        Project.open(tmp_project.path).objects.table()
    assert any(f.kind == "damaged" and "says 3" in f.message for f in check_project(tmp_project, models=False))
    assert main(["info", str(tmp_project.path)]) == 0
    bank.group.update_attributes({"n_objects": 4, "records_bytes": 0, "records_start": 0})
    with pytest.raises(DamagedStoreError, match=r"holds 0 records but its commit .* says 4"):
        Project.open(tmp_project.path).objects.table()


def test_a_table_holding_an_id_twice_is_damage(tmp_project, monkeypatch):
    """Two objects of one id (a commit of an older dvos killed half-way, then an add) went unnoticed."""
    from dvos_core.store.schema import DamagedStoreError

    bank = tmp_project.objects
    _fill(bank, 1, 2)
    first = bank._rows()[0]
    monkeypatch.setattr(type(bank), "_decode", lambda self, raw: [dict(first), dict(first)])
    with pytest.raises(DamagedStoreError, match=r"objects of one id more than once \(ids \[0\]\)"):
        bank.table()
