"""The words on a card and in its tooltip, as pure functions of the model (no Qt).

A card has room for about 28 characters of key parameters, so the usual
long names get short labels ("kernel_size 3" reads "kernel 3"). Everything
here is derived from the block declaration (`BlockSpec.summary`), so a new
block type needs no change.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from html import escape
from typing import Any

from graph.diagnostics import Diagnostic
from graph.model import Block
from graph.spec import BlockSpec

SHORT = {
    "channels": "ch", "kernel_size": "kernel", "hidden_size": "hidden", "num_layers": "layers",
    "feedforward": "ff", "scale_factor": "scale", "negative_slope": "slope", "vocab_size": "vocab",
    "features": "features", "pretrained_weights": "weights",
}
VALUE_ONLY = {"mode", "kind", "loss", "output"}  # the value says it all: "bilinear", "sinusoidal", "mse"


def format_value(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, tuple | list):
        return "×".join(map(str, value)) or "()"
    return str(value)


BOUND = "←"  # "ch 32 ← channels": the value comes from the definition's parameter `channels`


def summary_text(spec: BlockSpec | None, params: Mapping[str, Any],
                 bound: Mapping[str, str] | None = None) -> str:
    """The key parameters of a card: "ch 32 · kernel 3 · stride 1".

    `bound` (inside a definition's body) maps a setting to the exposed parameter that sets it per
    instance: it reads "ch 32 ← channels", its value being that parameter's default (what the
    definition's own analysis uses), and is shown even when the block type does not usually list it.
    """
    if spec is None:
        return ""
    bound = bound or {}
    parts = []
    for name in [*spec.summary, *(n for n in bound if n not in spec.summary)]:
        if name not in params:
            continue
        value = params[name]
        label = SHORT.get(name, name)
        if name in bound:
            parts.append(f"{label} {format_value(value)} {BOUND} {bound[name]}")
            continue
        if name == "pretrained_weights":  # a path: its file name says which weights; empty says nothing
            value = value.replace("\\", "/").rsplit("/", 1)[-1]
            if not value:
                continue
        if isinstance(value, bool):
            if value:
                parts.append(label)  # "causal"; a False flag is just not mentioned
        elif name in VALUE_ONLY:
            parts.append(format_value(value))
        else:
            parts.append(f"{label} {format_value(value)}")
    return " · ".join(parts)


def problem_lines(diagnostics: Iterable[Diagnostic]) -> list[str]:
    return [("⚠ " if not d.is_error else "✖ ") + d.message for d in diagnostics]


def block_tooltip(spec: BlockSpec | None, block: Block, shape_text: str,
                  diagnostics: Iterable[Diagnostic], owner_name: str | None = None,
                  bound: Mapping[str, tuple[str, Any]] | None = None) -> str:
    """Rich text: title, help, output shape, then every problem with its message."""
    title = spec.title if spec else block.type
    lines = [f"<b>{escape(block.name)}</b> — {escape(title)}"]
    if spec is not None and spec.help:
        lines.append(f"<span>{escape(spec.help)}</span>")
    if spec is None or spec.has_output:
        lines.append(f"output: {escape(shape_text)}")
    if not block.enabled:
        lines.append("<i>disabled: data passes through unchanged</i>")
    if owner_name is not None:
        lines.append(f"<b>🔗 Uses the module of {escape(owner_name)}</b> (shared weights)")
    for setting, (exposed, default) in (bound or {}).items():
        lines.append(f"{escape(setting)} {BOUND} <b>{escape(exposed)}</b>: set per instance "
                     f"(here at its default {escape(format_value(default))})")
    if block.frozen:
        lines.append("<b>🔒 Frozen: excluded from training</b> (its weights stay as they are loaded)")
    for d in diagnostics:
        color = "#e03131" if d.is_error else "#e67700"
        fix = f" <i>(quick fix: {escape(d.fix.title)})</i>" if d.fix else ""
        mark = "✖" if d.is_error else "⚠"
        lines.append(f"<span style='color:{color}'>{mark} {escape(d.message)}</span>{fix}")
    return "<p style='white-space:pre-wrap'>" + "<br>".join(lines) + "</p>"
