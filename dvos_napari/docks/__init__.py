"""One dock widget per workflow step; all share the viewer's :class:`~dvos_napari._state.DvosState`."""
