"""What a sweep found: trials ranked by the objective, the baseline, parameter importance.

`collect(study, ...)` turns optuna's trials into plain rows (written to
results.json and sent to the studio); `format_table(results)` prints them.
"""

from __future__ import annotations

import math
from typing import Any

STATE_ORDER = {"COMPLETE": 0, "PRUNED": 1, "FAIL": 2, "RUNNING": 3, "WAITING": 4}


def trial_row(trial) -> dict[str, Any]:
    attrs = trial.user_attrs
    value = trial.value if trial.value is not None and math.isfinite(trial.value) else None
    return {"trial": trial.number, "state": trial.state.name, "value": value, "params": dict(trial.params),
            "epochs": attrs.get("epochs", 0), "seconds": attrs.get("seconds"),
            "run_dir": attrs.get("run_dir", ""), "message": attrs.get("message", ""),
            "baseline": bool(attrs.get("baseline")), "interrupted": is_interrupted(trial)}


def is_interrupted(trial) -> bool:
    """Stopped with the sweep (or the sweep process died while it ran): a resumed sweep runs it again."""
    if trial.user_attrs.get("interrupted"):
        return True
    return trial.state.name == "FAIL" and "message" not in trial.user_attrs


def rank(rows: list[dict[str, Any]], maximize: bool) -> list[dict[str, Any]]:
    """Complete trials best first, then pruned ones by their last value, then the failed ones."""
    def key(row):
        value = row["value"]
        score = (-value if maximize else value) if value is not None else math.inf
        return (STATE_ORDER.get(row["state"], 9), score, row["trial"])

    return sorted(rows, key=key)


def importance(study) -> tuple[dict[str, float], str]:
    """(parameter -> share of the objective's variance it explains, note when it cannot be computed)."""
    import optuna

    complete = [t for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE"]
    if len(complete) < 2:
        return {}, "parameter importance needs at least 2 complete trials"
    try:
        values = optuna.importance.get_param_importances(study)
    except (RuntimeError, ValueError) as err:
        return {}, f"parameter importance could not be computed: {err}"
    return {name: float(share) for name, share in values.items()}, ""


def comparison(rows: list[dict[str, Any]], maximize: bool) -> dict[str, Any] | None:
    """How the best trial compares with the baseline trial (the project's own settings)."""
    ranked = rank(rows, maximize)
    best = next((r for r in ranked if r["state"] == "COMPLETE"), None)
    base = next((r for r in rows if r["baseline"] and r["state"] == "COMPLETE"), None)
    if best is None or base is None:
        return None
    return {"baseline_trial": base["trial"], "baseline_value": base["value"], "best_trial": best["trial"],
            "best_value": best["value"], "gain": best["value"] - base["value"]}


def _value_text(value: float | None, metric: str) -> str:
    if value is None:
        return "-"
    return f"{value:.4f}" if "accuracy" not in metric else f"{100 * value:.2f}%"


def format_params(params: dict[str, Any]) -> str:
    parts = []
    for name, value in params.items():
        short = name.removeprefix("training.").removeprefix("block:")
        parts.append(f"{short}={value:.3g}" if isinstance(value, float) else f"{short}={value}")
    return " ".join(parts)


def format_table(results: dict[str, Any]) -> str:
    """The ranked trials as a plain-text table, with the best and the baseline below it."""
    metric = results["metric"]
    rows = results["trials"]
    header = f"{'rank':>4}  {'trial':>5}  {'state':<8}  {metric:>10}  {'epochs':>6}  {'time':>7}  params"
    lines = [header, "-" * len(header)]
    for i, row in enumerate(rows, 1):
        seconds = f"{row['seconds']:.1f}s" if row["seconds"] is not None else "-"
        mark = " (baseline)" if row["baseline"] else ""
        value = _value_text(row["value"], metric)
        state = "STOPPED" if row["interrupted"] else row["state"]
        lines.append(f"{i:>4}  {row['trial']:>5}  {state:<8}  {value:>10}  "
                     f"{row['epochs']:>6}  {seconds:>7}  {format_params(row['params'])}{mark}")
        if row["state"] == "FAIL" and row["message"]:
            lines.append(f"{'':>6}{row['message'].splitlines()[0][:100]}")
    best = results.get("best")
    if best:
        lines.append(f"\nbest: trial {best['trial']}, {metric} {_value_text(best['value'], metric)}: "
                     f"{format_params(best['params'])}")
        lines.append(f"best project: {results.get('best_project', '')}")
    cmp = results.get("comparison")
    if cmp:
        gain = cmp["gain"]
        gain_text = f"{100 * gain:+.2f} points" if "accuracy" in metric else f"{gain:+.4f}"
        lines.append(f"baseline (the project's own settings, trial {cmp['baseline_trial']}): "
                     f"{_value_text(cmp['baseline_value'], metric)}; best {gain_text}")
    if results.get("importance"):
        shares = ", ".join(f"{format_params({k: ''}).rstrip('=')} {v:.2f}"
                           for k, v in results["importance"].items())
        lines.append(f"parameter importance: {shares}")
    elif results.get("importance_note"):
        lines.append(results["importance_note"])
    return "\n".join(lines)
