"""Open a dvos project in napari with the dvos docks (used by `dvos demo --napari`)."""

from __future__ import annotations

DOCKS = ("Project", "Annotate", "Review", "Train")


def show_project(viewer, path, docks=DOCKS):
    """Open the project in ``viewer``, add the main dvos docks and show a test video (else the first video)."""
    from dvos_napari._state import get_state

    state = get_state(viewer)
    project = state.open_project(path)
    for name in docks:
        viewer.window.add_plugin_dock_widget("dvos-napari", name)
    videos = project.videos(split="test") or project.videos()
    if videos:
        state.select_video(videos[0].name)
    return viewer


def open_project_in_napari(path, docks=DOCKS):
    """Create a napari window showing the project and run the event loop until it is closed."""
    import napari

    show_project(napari.Viewer(title=f"dvos: {path}"), path, docks)
    napari.run()


if __name__ == "__main__":  # python -m dvos_napari.launch PROJECT  (what `dvos demo --napari` runs)
    import sys

    if len(sys.argv) != 2:
        sys.exit("usage: python -m dvos_napari.launch PROJECT.dvos")
    open_project_in_napari(sys.argv[1])
