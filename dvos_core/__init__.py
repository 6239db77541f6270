"""dvos_core: napari-free core of dvos (dense-pattern video object segmentation).

Importing this package is cheap: heavy dependencies (torch, zarr, cv2) are imported by the submodules that need them.

Where to start (each step is also a ``dvos`` command and a step of the napari panel):

- ``dvos_core.store.Project``: ``Project.create(path)`` / ``Project.open(path)``; ``project.video(id)`` is a
  ``Video`` (``read_frames``, ``mask``, ``set_mask``, ``provenance``, ``predictions[model]``), ``project.objects``
  the extracted heads and fakes (docs/store.md).
- ``dvos_core.io.import_video(project, path)`` adds a video file; ``dvos_core.io.import_masks`` painted masks;
  ``Project.add_video_array(id, frames)`` a (T,H,W,3) uint8 array (docs/io.md).
- ``dvos_core.extract.extract_heads(project)`` and ``dvos_core.extract.extract_backgrounds(project, source)``.
- ``dvos_core.synth.generate(project, name, n_clips, config)`` with a ``dvos_core.synth.SynthConfig`` (or a dict
  of its fields; docs/synthesis.md).
- ``dvos_core.train.train(project, dvos_core.train.TrainConfig(...), name)`` (docs/training.md,
  docs/video_model.md).
- ``dvos_core.infer.pseudo_label(project, video_ids, checkpoint)`` and
  ``dvos_core.infer.predict_video(project, video_id, checkpoint)``: ``checkpoint`` is a model's name in the project
  (``"image"``: its ``models/image/best.pt``, as on the command line) or a checkpoint path.
- ``dvos_core.evaluate.evaluate(project)`` and ``dvos_core.evaluate.compare_models(project)``
  (docs/evaluation.md).
- ``dvos_core.run_all.run_all`` runs every step; ``dvos_core.demo.pipeline.run_demo`` the demo on sample clips.

Long jobs take ``progress`` (called as ``progress(done, total, message)``) and ``cancel`` (a :class:`CancelToken`:
``token.cancel()`` from another thread makes the job raise :class:`Cancelled` at its next check, keeping what it
committed; see :mod:`dvos_core.progress`).
"""

__version__ = "0.2.0"

from dvos_core.progress import Cancelled, CancelToken

__all__ = ["CancelToken", "Cancelled", "__version__"]
