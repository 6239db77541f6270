"""The Annotate step's mask-file jobs, run in a child process (Qt-free: the child imports this): ``import_masks`` and
``export_masks`` of :mod:`dvos_core.io.masks`, their warnings sent back as text, and the command-line options the
core's messages name (``--class``, ``--overwrite``...) put in the words of the step's "Mask file options"."""

from __future__ import annotations

import re

OPTIONS = "Mask file options"  # the title of the step's section that holds these options
CLASS, LABELS, OVERWRITE = "class of the heads", "one head per colour or number", "replace saved masks"
FIRST, NUMBERING, MADE_BY = "first mask number", "numbers in file names", "made by"
EMPTY = "store images without heads as empty masks"
FILE_ITEM = "TIFF stack or COCO JSON file..."  # the Import masks... menu's item for one file
NUMBERING_CHOICES = {None: "ask when unclear", "stored": "project frames", "source": "frame files"}

# (pattern, replacement), in order: Python's spelling of an option first (dropped: the panel has its own), then
# the command line's
WORDS: list[tuple[str, str]] = [
    (r"\s*\(or, from Python, pass the frame indices: import_masks\(\.\.\., frames=\[\.\.\.\]\)[^()]*\)", ""),
    (r"; from Python, numbering='source' or 'stored'", ""),
    (r"\s*\((?:Python: )?(?:label_class|first_number|numbering|allow_labels|empty_images|provenance)\b[^()]*\)", ""),
    (r"a COCO file: import that file", "a COCO file: import that file (Import masks..., " + FILE_ITEM + ")"),
    (r"first_number \(--first-number\)", f"'{FIRST}'"),
    (r"pass overwrite=True \(--overwrite\)", f"tick '{OVERWRITE}' ({OPTIONS})"),
    # an export refused over files edited since (the step's export never replaces them: its box is for imports)
    (
        r", or pass --overwrite \(overwrite=True\) to replace them; nothing was written",
        ", or move those files out of the folder first (deleting them drops the edits); nothing was written",
    ),
    (r"pass allow_labels=True \(--labels on the command line\)", f"tick '{LABELS}' ({OPTIONS})"),
    (r"--class NAME", f"'{CLASS}' ({OPTIONS})"),
    (r"--class ([^\s,;:()]+)", rf"'{CLASS}' \1"),
    (r"--labels", f"'{LABELS}' ({OPTIONS})"),
    (r"give --empty-images to store them as frames without heads", f"tick '{EMPTY}' ({OPTIONS}) and import again"),
    (r"--empty-images", f"'{EMPTY}' ({OPTIONS})"),
    (r"--overwrite", f"'{OVERWRITE}' ({OPTIONS})"),
    (r"--first-number (\d+)", rf"'{FIRST}' \1 ({OPTIONS})"),
    (r"--first-number", f"'{FIRST}' ({OPTIONS})"),
    (r"--numbering source", f"'{NUMBERING}': {NUMBERING_CHOICES['source']} ({OPTIONS})"),
    (r"--numbering stored", f"'{NUMBERING}': {NUMBERING_CHOICES['stored']}"),
    (r"--numbering", f"'{NUMBERING}' ({OPTIONS})"),
    (r"--provenance (\w+), provenance='\w+'", rf"'{MADE_BY}': \1 ({OPTIONS})"),
    (r"--provenance (\w+)", rf"'{MADE_BY}': \1 ({OPTIONS})"),
    (r"\s*\(--start \d+ --step \d+\)", ""),
    (r"--start/--step", "a first frame and a step"),
    (r"\bexport-masks\b", "Export masks..."),
    # masks listed for several other videos: the panel takes one video's masks into another by a question (see
    # import_mask_files) only when they belong to one
    (
        r"; import them into those videos, or give --from-video ID \(from_video='ID'\) to take the masks of one of "
        r"them into '[^']*'",
        "; open each of those videos and import them into it, or export each video's masks into a folder of its own",
    ),
]


def panel_words(text: str) -> str:
    """A message of the core's mask import or export with the options it names in the step's words."""
    for pattern, repl in WORDS:
        text = re.sub(pattern, repl, text)
    return text


def _run(func, *args, **kwargs):
    """``func(*args, **kwargs)`` and the texts of the warnings it gave; its bad-input errors in the step's words."""
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = func(*args, **kwargs)
        except (ValueError, FileNotFoundError, PermissionError) as e:
            if type(e) not in (ValueError, FileNotFoundError, PermissionError):  # the store's own errors stay
                raise
            raise type(e)(panel_words(str(e))) from None
    said = [panel_words(str(w.message)) for w in caught if issubclass(w.category, UserWarning)]
    return result, list(dict.fromkeys(said))


def import_mask_files(
    project,
    video_id: str,
    source: str,
    label_class=None,
    allow_labels=False,
    overwrite=False,
    first_number=0,
    numbering=None,
    provenance=None,
    empty_images=False,
    from_video=None,
    progress=None,
    cancel=None,
) -> dict:
    """:func:`dvos_core.io.import_masks`: {"video", "written" (frames), "kinds" ({provenance: frames written}),
    "warnings"}. Masks that export-masks wrote for other videos are not imported (unless ``from_video`` names one):
    the result then holds their ids as "other_videos", for the step to ask whether to take them anyway (the same
    footage stored under another id; which video's, when the folder holds several), and "written" is empty."""
    from dvos_core.io import import_masks
    from dvos_core.io.masks import MasksOfOtherVideos, written_kinds

    try:
        written, said = _run(
            import_masks,
            project,
            video_id,
            source,
            provenance=provenance,
            allow_labels=allow_labels,
            overwrite=overwrite,
            progress=progress,
            cancel=cancel,
            numbering=numbering,
            label_class=label_class,
            first_number=first_number,
            empty_images=empty_images,
            from_video=from_video,
        )
    except MasksOfOtherVideos as e:
        if from_video is not None:
            raise
        return {"video": video_id, "written": [], "kinds": {}, "warnings": [], "other_videos": e.videos}
    kinds = written_kinds(project.video(video_id), written)
    return {"video": video_id, "written": list(written), "kinds": kinds, "warnings": said}


def export_mask_files(project, video_id: str, out_dir: str, fmt: str = "png", progress=None, cancel=None) -> dict:
    """:func:`dvos_core.io.export_masks` of the video's stored masks: {"video", "paths", "frames", "warnings"}."""
    import numpy as np

    from dvos_core.io import export_masks

    frames = int(np.count_nonzero(project.video(video_id).provenance[:]))
    paths, said = _run(export_masks, project, video_id, out_dir, fmt=fmt, progress=progress, cancel=cancel)
    return {"video": video_id, "paths": [str(p) for p in paths], "frames": frames, "warnings": said}
