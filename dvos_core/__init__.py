"""dvos_core: napari-free core of dvos (dense-pattern video object segmentation).

Importing this package is cheap: heavy dependencies (torch, zarr, cv2) are imported by the submodules that need them.
"""

__version__ = "0.1.0"

from dvos_core.progress import CancelToken, Cancelled  # noqa: E402  (tiny, no heavy deps)

__all__ = ["__version__", "CancelToken", "Cancelled"]
