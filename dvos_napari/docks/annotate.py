"""Annotate step: pick seed frames, paint wheat heads on the masks layer, save them (provenance 'manual').

Keys (in the viewer): N next seed frame, S save this frame, Shift-S save all painted frames. Painting itself uses
napari's Labels tools (P paint, E erase, F fill, [ ] brush size, Ctrl+Z undo).
"""

from __future__ import annotations

import numpy as np
from qtpy.QtWidgets import QHBoxLayout, QLabel, QListWidget, QListWidgetItem, QMessageBox, QSpinBox, QVBoxLayout

from dvos_napari._layers import check_frame, time_axis, video_layer
from dvos_napari._widgets import DvosDock, button, button_grid, on_enter, wrapped_label
from dvos_napari._writer import save_frames


def spread_frames(n_frames: int, k: int) -> list[int]:
    """k frames spread evenly over a video (first and last included when k > 1)."""
    if n_frames <= 0 or k <= 0:
        return []
    return sorted({int(round(x)) for x in np.linspace(0, n_frames - 1, min(k, n_frames))})


def clear_question(video, t: int) -> str | None:
    """What clearing frame ``t`` of ``video`` removes from the project, as a question; None when no mask is saved
    there (only the layer's paint goes)."""
    from dvos_core.store.schema import NONE, PROVENANCE_NAMES

    code = int(video.provenance[t])
    if code == NONE:
        return None
    kind = PROVENANCE_NAMES.get(code, "saved")
    test_note = " It is ground truth of a test video: its scores change." if video.split == "test" else ""
    return (
        f"Frame {t} of {video.name} holds a saved {kind} mask. Clear frame removes it from the project, and there "
        f"is no undo.{test_note}\n\nClear it?"
    )


class AnnotateDock(DvosDock):
    """Seed-frame painting: the masks you save here are the ground truth everything else is learned from."""

    def __init__(self, napari_viewer, parent=None):
        super().__init__(napari_viewer, parent)
        self.video_label = wrapped_label("no video selected")
        self.n_seeds = QSpinBox()
        self.n_seeds.setRange(1, 200)
        self.n_seeds.setValue(5)
        self.n_seeds.setToolTip(
            "how many frames to paint: spread evenly over the video (5-10 is a good start; Enter: Suggest)"
        )
        on_enter(self.n_seeds, lambda: self.guard(self.suggest_seeds))
        seed_row = QHBoxLayout()
        seed_row.addWidget(QLabel("seed frames:"))
        seed_row.addWidget(self.n_seeds)
        seed_row.addWidget(
            button("Suggest", lambda: self.guard(self.suggest_seeds), "spread this many frames evenly over the video")
        )
        self.seed_list = QListWidget()
        self.seed_list.itemClicked.connect(lambda item: self.goto(int(item.data(256))))
        self.seed_list.itemActivated.connect(lambda item: self.goto(int(item.data(256))))  # Enter on the keyboard
        self.seed_list.setToolTip(
            "click a frame (or pick it with the arrow keys and press Enter) to jump to it; a tick means it already has "
            "a saved mask"
        )
        self.seed_list.setMinimumHeight(110)
        self.seeds: list[int] = []

        buttons = button_grid(
            button(
                "Paint heads",
                lambda: self.guard(self.start_painting),
                "select the masks layer in paint mode (label 1 = head); P paint, E erase, F fill, [ ] brush size",
            ),
            button("Next seed (N)", lambda: self.guard(self.next_seed), "jump to the next seed frame"),
            button("Save frame (S)", lambda: self.guard(self.save_frame), "save this frame's mask into the project"),
            button(
                "Save all painted (Shift-S)",
                lambda: self.guard(self.save_all),
                "save every frame painted since the last save",
            ),
            button(
                "Clear frame",
                lambda: self.guard(self._clear_dialog),
                "erase this frame's mask in the layer and in the project (asks first when a mask is saved there)",
            ),
        )
        self.info = wrapped_label("")

        lay = QVBoxLayout(self.body)
        lay.addWidget(self.video_label)
        lay.addLayout(seed_row)
        lay.addWidget(self.seed_list, 1)
        lay.addLayout(buttons)
        lay.addWidget(self.info)
        lay.addWidget(self.job_bar)
        self.job_bar.bar.hide()
        self.job_bar.cancel_button.hide()
        self.bind_keys({"n": self.next_seed, "s": self.save_frame, "Shift-S": self.save_all})
        self.listen(self.state.video_changed, lambda *_: self._on_video())
        self.listen(self.state.store_changed, self._update_info)
        self.listen(self.state.dirty_changed, lambda *_: self._update_info())
        self._on_video()

    # ---- actions -----------------------------------------------------------------------------------------------
    def masks_layer(self):
        video = self.state.require_video()
        layer = video_layer(self.viewer, video.name, "masks")  # also when the user renamed it
        if layer is None:
            self.state.select_video(video.name)
            layer = video_layer(self.viewer, video.name, "masks")
        if self.state.loading:
            raise ValueError("the saved masks are still being read into the layer; try again in a moment")
        return video, layer

    def suggest_seeds(self, k: int | None = None) -> list[int]:
        video = self.state.require_video()
        self.seeds = spread_frames(video.n_frames, k or self.n_seeds.value())
        self._fill_list()
        return self.seeds

    def goto(self, t: int) -> None:
        self.viewer.dims.set_current_step(time_axis(self.viewer), int(t))

    def next_seed(self) -> int:
        """Jump to the first seed frame after the current one (wrapping around)."""
        if not self.seeds:
            self.suggest_seeds()
        t = self.state.current_frame()
        later = [s for s in self.seeds if s > t]
        nxt = later[0] if later else self.seeds[0]
        self.goto(nxt)
        return nxt

    def start_painting(self) -> None:
        _, layer = self.masks_layer()
        self.viewer.layers.selection.active = layer
        layer.selected_label = 1
        layer.mode = "paint"

    def save_frame(self, t: int | None = None) -> bool:
        """Save the masks layer's frame t (default: current) into the project."""
        video, layer = self.masks_layer()
        t = check_frame(video, self.state.current_frame() if t is None else t)
        saved = save_frames(video, layer.data, [t])
        self._after_save(video.name, saved)
        return bool(saved)

    def save_all(self) -> list[int]:
        """Save every frame painted since the last save."""
        video, layer = self.masks_layer()
        frames = sorted(self.state.dirty.get(video.name, set()))
        saved = save_frames(video, layer.data, frames)
        self._after_save(video.name, saved)
        return saved

    def _clear_dialog(self) -> None:
        """Clear frame's button: asks first when the project holds a mask for the frame (there is no undo)."""
        video, _layer = self.masks_layer()
        t = check_frame(video, self.state.current_frame())
        text = clear_question(video, t)
        if text is None or QMessageBox.question(self, "Clear a saved mask", text) == QMessageBox.StandardButton.Yes:
            self.clear_frame(t)

    def clear_frame(self, t: int | None = None) -> None:
        video, layer = self.masks_layer()
        t = check_frame(video, self.state.current_frame() if t is None else t)
        layer.data[t] = 0
        layer.refresh()
        video.clear_mask(t)
        self.state.mark_saved(video.name, [t])
        self.state.notify_store_changed()

    # ---- display -----------------------------------------------------------------------------------------------
    def _after_save(self, video_id: str, saved: list[int]) -> None:
        from napari.utils.notifications import show_info

        self.state.mark_saved(video_id, saved)
        if saved:
            show_info(
                f"saved mask{'s' if len(saved) > 1 else ''} of frame{'s' if len(saved) > 1 else ''} "
                f"{', '.join(map(str, saved))} of {video_id}"
            )
        self.state.notify_store_changed()

    def _on_video(self) -> None:
        self.seeds = []
        vid = self.state.video_id
        self.video_label.setText(f"video: {vid}" if vid else "no video selected (choose one in the Project step)")
        if vid and self.state.project is not None:
            self.guard(self.suggest_seeds)
        else:
            self.seed_list.clear()
        self._update_info()

    def _fill_list(self) -> None:
        self.seed_list.clear()
        try:
            prov = self.state.require_video().provenance
        except ValueError:
            return
        for t in self.seeds:
            done = prov[t] != 0
            item = QListWidgetItem(f"{'✓' if done else '  '} frame {t}")
            item.setData(256, t)
            self.seed_list.addItem(item)

    def unsaved(self) -> int:
        """Frames of the current video painted but not saved yet."""
        return len(self.state.dirty.get(self.state.video_id, ())) if self.state.video_id else 0

    def _update_info(self) -> None:
        try:
            video = self.state.require_video()
        except ValueError:
            self.info.setText("")
            return
        c = video.provenance_counts()
        self.info.setText(
            f"{c['manual']} manual, {c['corrected']} corrected masks saved; "
            f"{self.unsaved()} painted frame(s) not saved yet"
        )
        if self.seeds:
            self._fill_list()
