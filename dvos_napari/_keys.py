"""The keys of the dvos steps (Annotate's N, S, Shift+S; Review's W, Shift+W, C), shared by every step of a viewer.

The same step may be open twice in one viewer - a page of the dvos panel and a dock of its own (Plugins > dvos) -
and napari holds one function per key. So dvos binds one router per key and viewer (:class:`KeyRouter`), and a press
goes to one of the open steps that bound the key:

1. those shown (the panel's current page, or a step in a dock of its own), and of these the ones on screen (a dock
   hidden behind another tab is not) when any is;
2. of these, the one used last: shown by the panel, opened, clicked (its buttons) or focused (its lists and fields),
   or whose key was pressed last.

A step closed (its dock, or the panel) leaves the key to the others still open; the key is unbound once none is
left (a key another tool rebound since is left to it). Keys are bound on the viewer and on every layer dvos shows
(the frames, masks and predicted layers): napari tries the selected layer's keys first, and C on an Image layer is
its auto-contrast. The keys of other layers stay napari's (S on Points or Shapes is their select mode).
"""

from __future__ import annotations

import itertools
import weakref

_ROUTERS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_CLOCK = itertools.count(1)
_FOCUS_HOOKED: set = set()  # ids of the QApplications whose focus changes mark steps used


def key_router(viewer) -> KeyRouter:
    """The one :class:`KeyRouter` of ``viewer`` (made on first use)."""
    router = _ROUTERS.get(viewer)
    if router is None:
        router = _ROUTERS[viewer] = KeyRouter(viewer)
    return router


def step_of(widget):
    """The dvos step ``widget`` is part of (itself, or the nearest step above it), else None."""
    while widget is not None:
        if hasattr(widget, "_key_actions"):
            return widget
        widget = widget.parentWidget()
    return None


def used(widget) -> None:
    """The user used the step holding ``widget`` (or ``widget`` itself): its keys win over a twin step's."""
    step = step_of(widget)
    if step is not None:
        step._used = next(_CLOCK)


def _focus_changed(_old, new) -> None:
    if new is not None:
        try:
            used(new)
        except RuntimeError:  # (a widget deleted meanwhile)
            pass


def _hook_focus() -> None:
    from qtpy.QtWidgets import QApplication

    app = QApplication.instance()
    if app is not None and id(app) not in _FOCUS_HOOKED:
        _FOCUS_HOOKED.add(id(app))
        app.focusChanged.connect(_focus_changed)


def _alive(step) -> bool:
    from dvos_napari._workers import alive

    return step is not None and alive(step) and getattr(step, "is_open", False)


class KeyRouter:
    """The dvos keys of one viewer: which steps bound each key, and the one function bound for it."""

    def __init__(self, viewer):
        self._viewer = weakref.ref(viewer)
        self.steps: dict[str, list] = {}  # key -> weak references to the steps that bound it, in binding order
        self.handlers: dict[str, object] = {}  # key -> the function bound on the viewer and the dvos layers
        self.layers: weakref.WeakSet = weakref.WeakSet()  # layers the keys were bound on
        viewer.layers.events.inserted.connect(self._on_inserted)
        viewer.layers.selection.events.active.connect(self._on_active)
        _hook_focus()

    def bind(self, step, keys) -> None:
        """``step`` answers ``keys`` (it holds their actions in ``step._key_actions``) from now on."""
        from napari.utils.key_bindings import coerce_keybinding

        viewer = self._viewer()
        if viewer is None:
            return
        for key in keys:
            self.steps[key] = [r for r in self.steps.get(key, []) if r() not in (None, step)] + [weakref.ref(step)]
            handler = self.handlers.get(key)
            if handler is None:
                handler = self.handlers[key] = self._handler(key)
            if viewer.keymap.get(coerce_keybinding(key)) is not handler:
                viewer.bind_key(key, handler, overwrite=True)
        for layer in list(viewer.layers):
            self._bind_layer(layer)
        used(step)

    def unbind(self, step, keys) -> None:
        """``step`` no longer answers ``keys``; a key no open step answers is unbound (unless rebound by another)."""
        from napari.utils.key_bindings import coerce_keybinding

        viewer = self._viewer()
        for key in keys:
            left = [r for r in self.steps.get(key, []) if r() is not step and _alive(r())]
            if left:
                self.steps[key] = left
                continue
            self.steps.pop(key, None)
            handler = self.handlers.pop(key, None)
            for target in [viewer, *list(self.layers)]:
                if target is not None and target.keymap.get(coerce_keybinding(key)) is handler:
                    target.bind_key(key, None)

    def choose(self, key: str):
        """The step a press of ``key`` goes to (see the module's doc), or None."""
        steps = [r() for r in self.steps.get(key, [])]
        steps = [s for s in steps if _alive(s)]
        if not steps:
            return None
        shown = [s for s in steps if s.page_shown()] or steps
        on_screen = [s for s in shown if s.isVisible()] or shown
        # the one used last; of steps never used, the one bound last
        return max(enumerate(on_screen), key=lambda item: (getattr(item[1], "_used", 0), item[0]))[1]

    def _handler(self, key: str):
        def pressed(_target=None):
            step = self.choose(key)
            if step is None:
                return None
            used(step)
            return step._key_pressed(key, step._key_actions[key])

        return pressed

    def _bind_layer(self, layer) -> None:
        """Bind the keys on ``layer`` too when dvos shows it (napari tries the selected layer's keys first); a key
        bound on that layer by someone else is left to them."""
        from napari.utils.key_bindings import coerce_keybinding

        if not (getattr(layer, "metadata", None) or {}).get("dvos_role"):
            return
        for key, handler in self.handlers.items():
            if layer.keymap.get(coerce_keybinding(key)) is None:
                layer.bind_key(key, handler)
        self.layers.add(layer)

    def _on_inserted(self, event) -> None:
        if self.handlers:
            self._bind_layer(event.value)

    def _on_active(self, event) -> None:
        if self.handlers and event.value is not None:
            self._bind_layer(event.value)
