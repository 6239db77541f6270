"""dvos-napari: napari docks for the dvos wheat-head video segmentation loop.

All logic lives in ``dvos_core``; this package only wires it to napari layers, Qt widgets and background workers.
Docks are contributed through ``napari.yaml`` (Plugins > dvos-napari). The GUI needs the ``napari`` extra:
``pip install "dvos-napari[napari]"``; without it only ``dvos_core`` and the ``dvos`` command work.
"""

from dvos_core import __version__  # one distribution, one version (tests/test_packaging.py checks the wheel's)

__all__ = ["__version__"]
