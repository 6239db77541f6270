"""One-time background start-up of the plugin, so that nothing slow happens on the GUI thread later.

- In this process (a thread): modules napari imports for a first video (pandas, scipy, its vispy layer code) and
  torch with the training settings, which the Train step needs.
- A spare child process (:func:`dvos_core.jobs.keep_warm`) that has already imported torch and the core, so the
  next background job starts at once.
"""

from __future__ import annotations

import importlib
import threading

# what a spare job process imports while it waits
JOB_PRELOAD = ("torch", "dvos_core.store", "dvos_core.infer", "dvos_core.train.loop", "dvos_core.extract")
_started = threading.Event()
warmed = threading.Event()  # set once the in-process warm-up has finished


# modules napari imports on its first layers, and torch with the training settings (imports only: napari objects
# are not built here, their set-up is not thread-safe)
WARM_IMPORTS = (
    "pandas",
    "scipy.ndimage",
    "napari.components.histogram",
    "napari._vispy.layers.image",
    "napari._vispy.layers.labels",
    "dvos_core.train.config",
    "dvos_core.infer",
)


def _work() -> None:
    for module in WARM_IMPORTS:
        try:
            importlib.import_module(module)
        except Exception:  # only a warm-up: the real import reports any problem
            pass
    warmed.set()


def warm_up() -> None:
    """Start the warm-up once per process (the panel and every step call it; later calls do nothing)."""
    if _started.is_set():
        return
    _started.set()
    from dvos_core.jobs import keep_warm

    keep_warm(JOB_PRELOAD)
    threading.Thread(target=_work, name="dvos-warm-up", daemon=True).start()
