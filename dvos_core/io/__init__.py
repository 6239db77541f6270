"""Video / image I/O: lazy frame-exact readers, preprocessing, video import, mask and reference-CSV import/export.

Heavy libraries (cv2, tifffile, pandas) are imported inside the functions that use them.
"""

from dvos_core.io.convert import to_rgb8
from dvos_core.io.csv_layout import export_reference_csv, import_reference_csv
from dvos_core.io.import_video import import_video
from dvos_core.io.masks import export_masks, import_masks, read_mask_file
from dvos_core.io.overlay_video import write_overlay_video
from dvos_core.io.preprocess import Preprocess
from dvos_core.io.readers import CV2VideoReader, FolderReader, TiffReader, VideoReader, open_video, read_image

__all__ = [
    "CV2VideoReader",
    "FolderReader",
    "Preprocess",
    "TiffReader",
    "VideoReader",
    "export_masks",
    "export_reference_csv",
    "import_masks",
    "import_reference_csv",
    "import_video",
    "open_video",
    "read_image",
    "read_mask_file",
    "to_rgb8",
    "write_overlay_video",
]
