"""Open a dvos project in napari with the dvos panel (used by `dvos demo --napari`)."""

from __future__ import annotations

PANEL = "dvos workflow"


def show_project(viewer, path, step: str | None = None, wait: bool = False):
    """Add the dvos panel to ``viewer`` and open the project in it: its videos are read in a worker thread (the
    window does not freeze; ``wait=True``: at once, on this thread), then a test video (else the first) is shown.

    ``step`` picks the panel's page (default: the first step not done yet). Returns the panel.
    """
    from dvos_napari._state import get_state

    state = get_state(viewer)
    _, panel = viewer.window.add_plugin_dock_widget("dvos-napari", PANEL)

    def shown(_project) -> None:
        rows = [v for v in state.summary()["videos"] if v.get("complete") and not v.get("unreadable")]  # read already
        first = next((v for v in rows if v["split"] == "test"), rows[0] if rows else None)
        if first is not None:
            state.select_video(first["id"])
        panel.go(step or panel.suggested_step())

    if wait:
        shown(state.open_project(path))
    else:
        state.open_project_later(path, then=shown)
    return panel


def open_project_in_napari(path, step: str | None = None):
    """Create a napari window showing the project and run the event loop until it is closed. Without a display
    (:func:`~dvos_core.cli.demo_cmd.missing_display`) it exits with status 2 and one line saying where the project
    is and how to open it, before Qt starts (which would abort the program)."""
    import sys

    from dvos_core.cli.demo_cmd import missing_display

    if (why := missing_display(path)) is not None:
        print(why, file=sys.stderr)
        sys.exit(2)
    import napari

    show_project(napari.Viewer(title=f"dvos: {path}"), path, step)
    napari.run()


def missing_gui() -> str | None:
    """What to install when napari or a Qt binding is missing (the ``napari`` extra), else None."""
    from dvos_core.cli._common import missing_gui_packages

    missing = missing_gui_packages()
    if not missing:
        return None
    return (
        f"{' and '.join(missing)} not installed: the dvos panel needs the napari extra; install it with "
        f'pip install "dvos-napari[napari]" (in a clone of dvos: pip install -e ".[napari]")'
    )


if __name__ == "__main__":  # python -m dvos_napari.launch PROJECT  (what `dvos demo --napari` runs)
    import sys

    if len(sys.argv) != 2:
        sys.exit("usage: python -m dvos_napari.launch PROJECT.dvos")
    if (why := missing_gui()) is not None:
        sys.exit(f"dvos: {why}")
    open_project_in_napari(sys.argv[1])
