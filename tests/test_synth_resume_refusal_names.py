"""Generate again under an existing set's name with other settings: the refusal names what the set was started with
whatever the direction (fewer clips named neither count), and how to delete it, as a command the panel keeps as
written (it has no button to delete a synthetic set)."""

import shlex

import pytest

from dvos_core.store import StoreError
from dvos_core.synth import SynthConfig, generate
from dvos_core.synth.toy import toy_project

CFG = SynthConfig(n_frames=4, height=64, width=64, n_heads=(2, 4), n_fakes=(1, 2))


@pytest.fixture(scope="module")
def proj(tmp_path_factory):
    p = toy_project(tmp_path_factory.mktemp("my synth") / "p.dvos", n_heads=4, n_fakes=2, bg_frames=5, bg_size=(80, 80))
    generate(p, "big", 2, CFG, seed=5, backend="serial")
    return p


def test_fewer_clips_or_another_seed_name_what_the_set_was_started_with(proj):
    from dvos_napari._errors import plain_words

    delete = f"`dvos delete {shlex.quote(str(proj.path))} synthetic big --yes`"
    with pytest.raises(StoreError) as e:
        generate(proj, "big", 1, CFG, seed=5, backend="serial")
    text = str(e.value)
    assert "different n_clips (it was started with 2 clips, not 1)" in text and delete in text, text
    assert delete in plain_words(text), plain_words(text)  # no panel button: a command to type in a terminal
    with pytest.raises(StoreError, match=r"different seed \(it was started with seed 5, not 6\)") as e:
        generate(proj, "big", 2, CFG, seed=6, backend="serial")
    assert delete in str(e.value)
    with pytest.raises(StoreError, match="2 clips: a set does not grow"):  # more clips: said as before
        generate(proj, "big", 3, CFG, seed=5, backend="serial")
