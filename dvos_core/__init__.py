"""dvos_core: napari-free core of dvos (dense-pattern video object segmentation).

Importing this package is cheap: heavy dependencies (torch, zarr, cv2) are imported by the submodules that need them.
"""

__version__ = "0.1.0"

from dvos_core.progress import Cancelled, CancelToken

__all__ = ["CancelToken", "Cancelled", "__version__"]
