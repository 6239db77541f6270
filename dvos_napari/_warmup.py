"""One-time background start-up of the plugin, so that nothing slow happens on the GUI thread later.

- In this process (a thread): napari's lazy parts for a first video (layer models, units, pandas, vispy layer code)
  and torch with the training settings, which the Train step needs.
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


def _work() -> None:
    try:
        import numpy as np
        from napari.layers import Image, Labels

        # layer models (no Qt) pull in what napari loads lazily for a first video: units, pandas, scipy, ...
        Image(np.zeros((2, 8, 8, 3), np.uint8), rgb=True)
        Labels(np.zeros((2, 8, 8), np.uint8))
        importlib.import_module("napari._vispy.layers.image")
        importlib.import_module("napari._vispy.layers.labels")
        importlib.import_module("dvos_core.train.config")  # torch, for the Train step
        importlib.import_module("dvos_core.infer")
    except Exception:  # only a warm-up: the real import reports any problem
        pass
    finally:
        warmed.set()


def warm_up() -> None:
    """Start the warm-up once per process (the panel and every step call it; later calls do nothing)."""
    if _started.is_set():
        return
    _started.set()
    from dvos_core.jobs import keep_warm

    keep_warm(JOB_PRELOAD)
    threading.Thread(target=_work, name="dvos-warm-up", daemon=True).start()
