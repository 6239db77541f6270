"""The one form builder of the steps that edit a config dataclass (Train: ``TrainConfig``, Synthesize:
``SynthConfig``).

The core declares what a setting means (its default and the one-line help in the field's ``metadata["doc"]``); the
step declares how it is shown (a :class:`FieldView`: plain-language label, unit, range, group). Fields without a
group are the basic settings, always visible; the others are grouped under a collapsed "Advanced settings" section.
A field the step has no view for still appears (under "Other settings", labelled from its name), so a setting added
to the core shows up in the GUI. Choices of a text field come from the view, else from the core (``PHASES`` beside
``phase``, ``dvos_core.model.list_presets()`` for ``preset``, ``list_<name>s()`` for any other). Every row has a
tooltip (the help, the unit and the default); "Reset to defaults" restores them.
"""

from __future__ import annotations

import dataclasses
import importlib
import math
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from qtpy.QtCore import Signal
from qtpy.QtWidgets import (
    QAbstractSpinBox,
    QCheckBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from dvos_core.config_io import field_default
from dvos_napari._widgets import Collapsible, button, compact_combo, section, wrapped_label

OTHER_GROUP = "Other settings"


@dataclass(frozen=True)
class FieldView:
    """How one config field is shown. ``group`` "" = basic (always visible); ``none_text`` names the value None of an
    optional number (shown at the bottom of its range); ``choices`` are values or (value, text) pairs, or a callable
    returning them; ``help`` replaces the core's one-line help in the tooltip."""

    label: str = ""
    unit: str = ""
    group: str = ""
    minimum: float | None = None
    maximum: float | None = None
    step: float | None = None
    none_text: str = ""
    choices: Any = None
    hidden: bool = False
    help: str = ""  # the tooltip's text in the panel's words, instead of the core's (written for the command line)


class NumberBox(QDoubleSpinBox):
    """A float spin box that shows 1e-4 as ``0.0001`` and accepts any float spelling (``1e-4``)."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setDecimals(12)
        self.setStepType(QAbstractSpinBox.StepType.AdaptiveDecimalStepType)

    def textFromValue(self, value: float) -> str:
        return f"{value:.6g}"

    def valueFromText(self, text: str) -> float:
        try:
            return float(text)
        except ValueError:
            return self.value()

    def validate(self, text, pos):
        from qtpy.QtGui import QValidator

        if self.specialValueText() and text == self.specialValueText():
            return QValidator.State.Acceptable, text, pos
        try:
            float(text)
            return QValidator.State.Acceptable, text, pos
        except ValueError:
            return QValidator.State.Intermediate, text, pos


def _optional(f) -> bool:
    return "None" in str(f.type) or field_default(f) is None


def _base_type(f) -> str:
    """'bool', 'int', 'float', 'str', 'range' (a (low, high) pair) or '' (not editable in a form)."""
    d = field_default(f)
    text = str(f.type)
    if isinstance(d, bool) or text.startswith("bool"):
        return "bool"
    if isinstance(d, tuple) and len(d) == 2 and all(isinstance(x, (int, float)) for x in d):
        return "range"
    for name in ("int", "float", "str"):
        if isinstance(d, {"int": int, "float": float, "str": str}[name]) or re.match(rf"^{name}\b", text):
            return name
    return ""


def data_choices(cls, name: str) -> tuple:
    """Text-field choices from the core: ``NAMES`` beside the config class, else ``dvos_core.model.list_names()``."""
    mod = sys.modules.get(cls.__module__)
    plural = f"{name.upper()}S"
    if mod is not None and isinstance(getattr(mod, plural, None), (tuple, list)):
        return tuple(getattr(mod, plural))
    try:
        model = importlib.import_module("dvos_core.model")
    except ImportError:
        return ()
    fn = getattr(model, f"list_{name}s", None)
    return tuple(fn()) if callable(fn) else ()


def _pairs(choices) -> list[tuple[Any, str]]:
    if callable(choices):
        choices = choices()
    return [c if isinstance(c, tuple) else (c, str(c)) for c in choices or ()]


class ConfigForm(QWidget):
    """A form for a config dataclass (see the module docstring); ``value()`` builds the config from it."""

    changed = Signal()

    def __init__(
        self,
        config_cls,
        views: dict[str, FieldView] | None = None,
        defaults: dict | None = None,
        groups: tuple[str, ...] = (),
        advanced_title: str = "Advanced settings",
        parent=None,
    ):
        super().__init__(parent)
        self.cls = config_cls
        self.views = dict(views or {})
        self.fields = {f.name: f for f in dataclasses.fields(config_cls)}
        self.defaults = {name: field_default(f) for name, f in self.fields.items()}
        self.defaults.update(defaults or {})
        self.widgets: dict[str, QWidget] = {}
        self.extra: dict = {}  # values of fields without a widget (lists, dicts), e.g. from a recipe
        self.labels: dict[str, str] = {}
        self._get: dict[str, Callable[[], Any]] = {}
        self._set: dict[str, Callable[[Any], None]] = {}

        self.basic = QFormLayout()
        self.basic.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
        adv_body = QWidget()
        adv_lay = QVBoxLayout(adv_body)
        adv_lay.setContentsMargins(8, 0, 0, 0)
        self.group_forms: dict[str, QFormLayout] = {}
        order = list(groups)
        for name, f in self.fields.items():
            view = self.views.get(name, FieldView(group=OTHER_GROUP))
            if view.hidden or not _base_type(f):
                continue
            widget = self._make(name, f, view)
            if widget is None:
                continue
            label = view.label or name.replace("_", " ")
            self.labels[name] = label
            text = f"{label} ({view.unit})" if view.unit else label
            tip = self._tooltip(name, f, view)
            widget.setToolTip(tip)
            for part in (getattr(widget, "low", None), getattr(widget, "high", None)):
                if part is not None:
                    part.setToolTip(tip)
            row_label = QLabel(text)
            row_label.setToolTip(tip)
            row_label.setWordWrap(True)
            if not view.group:
                self.basic.addRow(row_label, widget)
                continue
            if view.group not in order:
                order.append(view.group)
            if view.group not in self.group_forms:
                self.group_forms[view.group] = QFormLayout()
                self.group_forms[view.group].setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
            self.group_forms[view.group].addRow(row_label, widget)
        for g in order:
            if g in self.group_forms:
                adv_lay.addWidget(section(g))
                adv_lay.addLayout(self.group_forms[g])
        self.reset_button = button("Reset to defaults", self.reset, "put every setting of the form back to its default")
        adv_lay.addWidget(self.reset_button)
        self.advanced = Collapsible(advanced_title, adv_body)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(self.basic)
        lay.addWidget(self.advanced)
        self.reset()

    # ---- widgets per type ------------------------------------------------------------------------------------
    def _spin(self, f, view: FieldView, is_int: bool, optional: bool):
        w = QSpinBox() if is_int else NumberBox()
        lo = view.minimum if view.minimum is not None else 0
        hi = view.maximum if view.maximum is not None else (10**9 if is_int else 1e9)
        step = view.step or 1
        if optional and view.none_text:
            lo = lo - step
            w.setSpecialValueText(view.none_text)
        w.setRange(int(lo) if is_int else float(lo), int(hi) if is_int else float(hi))
        if view.step:
            if not is_int:
                w.setStepType(QAbstractSpinBox.StepType.DefaultStepType)
            w.setSingleStep(int(view.step) if is_int else float(view.step))
        w.setKeyboardTracking(False)
        w.valueChanged.connect(lambda *_: self.changed.emit())
        none_value = lo if optional and view.none_text else None

        def get():
            v = w.value()
            if none_value is not None and v == none_value:
                return None
            return int(v) if is_int else float(v)

        def set_(v):
            w.setValue(none_value if v is None and none_value is not None else (v if v is not None else lo))

        return w, get, set_

    def _make(self, name: str, f, view: FieldView):
        kind = _base_type(f)
        optional = _optional(f)
        if kind == "bool":
            w = QCheckBox()
            w.toggled.connect(lambda *_: self.changed.emit())
            get, set_ = w.isChecked, (lambda v, w=w: w.setChecked(bool(v)))
        elif kind in ("int", "float"):
            w, get, set_ = self._spin(f, view, kind == "int", optional)
        elif kind == "range":
            is_int = all(isinstance(x, int) for x in field_default(f))
            lo_w, lo_get, lo_set = self._spin(f, view, is_int, False)
            hi_w, hi_get, hi_set = self._spin(f, view, is_int, False)
            w = QWidget()
            row = QHBoxLayout(w)
            row.setContentsMargins(0, 0, 0, 0)
            row.addWidget(lo_w, 1)
            row.addWidget(QLabel("to"))
            row.addWidget(hi_w, 1)
            w.low, w.high = lo_w, hi_w

            def get(a=lo_get, b=hi_get):
                return (a(), b())

            def set_(v, a=lo_set, b=hi_set):
                a(v[0])
                b(v[1])

        elif kind == "str":
            pairs = _pairs(view.choices) or [(c, str(c)) for c in data_choices(self.cls, name)]
            if pairs:
                w = compact_combo()
                for value, text in pairs:
                    w.addItem(text, value)
                w.currentIndexChanged.connect(lambda *_: self.changed.emit())

                def get(w=w):
                    return w.currentData()

                def set_(v, w=w):
                    i = w.findData(v)
                    if i < 0 and v is not None:
                        w.addItem(str(v), v)
                        i = w.count() - 1
                    w.setCurrentIndex(max(i, 0))

            else:
                w = QLineEdit()
                w.textChanged.connect(lambda *_: self.changed.emit())

                def get(w=w, optional=optional):
                    t = w.text().strip()
                    return None if optional and not t else t

                def set_(v, w=w):
                    w.setText("" if v is None else str(v))

        else:
            return None
        self.widgets[name] = w
        self._get[name], self._set[name] = get, set_
        return w

    def _tooltip(self, name: str, f, view: FieldView) -> str:
        doc = view.help or self.plain(f.metadata.get("doc", "") if f.metadata else "", view)
        default = self.defaults.get(name)
        shown = view.none_text if default is None and view.none_text else default
        parts = [doc[:1].upper() + doc[1:] if doc else (view.label or name.replace("_", " ")).capitalize()]
        if view.unit:
            parts.append(f"Unit: {view.unit}.")
        if _base_type(f) in ("int", "float", "range"):  # what the box accepts
            lo = view.minimum if view.minimum is not None else 0
            parts.append(f"From {lo:g} to {view.maximum:g}." if view.maximum is not None else f"At least {lo:g}.")
        parts.append(f"Default: {shown}.")
        return "\n".join(parts)

    def plain(self, doc: str, view: FieldView) -> str:
        """The core's help of a field in the form's words: "null" (the config file's empty value) is the box's own
        word for it, and a config name (``camera_speed_min``) is the label of its row."""
        doc = re.sub(r"\bnull\b", f"'{view.none_text}'" if view.none_text else "empty", doc)
        named = {n: v.label for n, v in self.views.items() if "_" in n and v.label and n in self.fields}
        for n in sorted(named, key=len, reverse=True):
            doc = re.sub(rf"\b{n}\b", f"'{named[n]}'", doc)
        return doc

    # ---- values ----------------------------------------------------------------------------------------------
    def values(self) -> dict:
        """{field: value} of every field shown in the form."""
        return {name: get() for name, get in self._get.items()}

    def set_values(self, values: dict) -> None:
        """Set fields; a field without a widget (a list or dict, or a hidden one) keeps the value for ``value()``."""
        for name, v in values.items():
            if name in self._set:
                self._set[name](v)
            elif name in self.fields:
                self.extra[name] = v

    def reset(self) -> None:
        """Every field back to its default (the step's defaults where it gives them)."""
        self.extra = {}
        self.set_values({name: self.defaults.get(name) for name in self._set})

    def value(self, **overrides):
        """The config from the form plus ``overrides``; a config error names the form's label for the field."""
        unknown = sorted(set(overrides) - set(self.fields))
        if unknown:
            raise ValueError(f"unknown setting(s) {unknown}; {self.cls.__name__} has {sorted(self.fields)}")
        values = dict(self.extra)
        values.update(self.values())
        values.update(overrides)
        try:
            return self.cls(**values)
        except (ValueError, TypeError) as e:
            raise ValueError(self.in_labels(str(e))) from e

    def in_labels(self, text: str) -> str:
        """``text`` with the config's field names replaced by the form's labels ('camera_speed' -> 'camera speed')."""
        for name in sorted(self.labels, key=len, reverse=True):
            text = re.sub(rf"(?:\b{self.cls.__name__}\.)?\b{name}\b", f"'{self.labels[name]}'", text)
        return text


def float_step(value: float) -> float:
    """A step of about a tenth of ``value`` rounded to a power of ten (0.0 -> 0.1)."""
    return 10 ** math.floor(math.log10(abs(value))) / 10 if value else 0.1


__all__ = ["OTHER_GROUP", "ConfigForm", "FieldView", "NumberBox", "data_choices", "float_step", "wrapped_label"]
