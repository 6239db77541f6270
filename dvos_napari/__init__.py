"""dvos-napari: napari docks for the dvos wheat-head video segmentation loop.

All logic lives in ``dvos_core``; this package only wires it to napari layers, Qt widgets and background workers.
Docks are contributed through ``napari.yaml`` (Plugins > dvos-napari).
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
