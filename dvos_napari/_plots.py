"""A Matplotlib plot that follows napari's theme (background, text and line colours) at a readable size."""

from __future__ import annotations

from qtpy.QtWidgets import QSizePolicy, QVBoxLayout, QWidget


def theme_colors(viewer) -> dict:
    """{"background", "text", "grid", "series": [...]} from the viewer's current napari theme."""
    from matplotlib.colors import to_hex, to_rgb
    from napari.utils.theme import get_theme

    name = getattr(viewer, "theme", "dark") if viewer is not None else "dark"
    try:
        theme = get_theme(name)
    except (ValueError, KeyError):
        theme = get_theme("dark")

    def hexa(c) -> str:
        return c.as_hex() if hasattr(c, "as_hex") else to_hex(c)

    series = [hexa(theme.current), hexa(theme.warning), hexa(theme.error), hexa(theme.icon)]
    if getattr(theme, "type", "dark") == "light":  # light themes have pale accents: darken them for lines
        series = [to_hex(tuple(0.6 * v for v in to_rgb(c))) for c in series]
    return {
        "background": hexa(theme.background),
        "text": hexa(theme.text),
        "grid": hexa(theme.primary),
        "accent": hexa(theme.current),
        "series": series + ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b"],
    }


class PlotCanvas(QWidget):
    """A Matplotlib figure (QtAgg canvas) with ``axes``, ``style(ax)`` and ``draw()``; restyled when the viewer's
    theme changes. ``min_height`` is in pixels (the plot grows with the panel)."""

    def __init__(self, viewer=None, n_axes: int = 1, min_height: int = 220, parent=None):
        super().__init__(parent)
        from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
        from matplotlib.figure import Figure

        self.viewer = viewer
        self.figure = Figure(figsize=(3.6, min_height / 80), dpi=80, layout="tight")
        self.canvas = FigureCanvasQTAgg(self.figure)
        self.canvas.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Expanding)
        self.canvas.setMinimumHeight(min_height)
        self.axes = [self.figure.add_subplot(1, n_axes, i + 1) for i in range(n_axes)]
        self.colors = theme_colors(viewer)
        self.redraw = None  # the owner's function that draws the plot from its data (called when the theme changes)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.canvas)
        self.restyle()
        if viewer is not None:
            viewer.events.theme.connect(self._on_theme)

    def _on_theme(self, event=None) -> None:
        """The viewer's theme changed: the owner's ``redraw`` draws its lines and labels again in the new colours (a
        light theme's darkened lines are dim on a dark background); without one, the axes are restyled."""
        self.colors = theme_colors(self.viewer)
        self.restyle()
        if self.redraw is not None:
            self.redraw()
        else:
            self.draw()

    def restyle(self) -> None:
        self.figure.set_facecolor(self.colors["background"])
        for ax in self.figure.axes:
            self.style(ax)

    def style(self, ax) -> None:
        """Theme colours on one axes (call again after ``ax.clear()``)."""
        c = self.colors
        ax.set_facecolor(c["background"])
        ax.tick_params(colors=c["text"], labelsize=9)
        for spine in ax.spines.values():
            spine.set_color(c["grid"])
        ax.xaxis.label.set_color(c["text"])
        ax.yaxis.label.set_color(c["text"])
        ax.title.set_color(c["text"])
        ax.grid(True, color=c["grid"], linewidth=0.6, alpha=0.8)

    def series(self, i: int) -> str:
        return self.colors["series"][i % len(self.colors["series"])]

    def draw(self) -> None:
        self.canvas.draw_idle()
