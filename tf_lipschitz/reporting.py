"""Reporting: the outputs a run directory ends with, kept out of the library's import path.

Markdown tables (`markdown_table`), CSV rows written (`write_rows`) and read back (`read_csv_log`), the summary
in Markdown, CSV and JSON (`write_summary`), line plots (`line_plot`, needs Matplotlib: the `[plots]` extra,
imported inside the function) and a small JSON result per run (`save_result` / `load_result`). Used by the
examples; it sits on the training runtime (whose `read_log` it uses) and nothing in the library imports it.
"""

from __future__ import annotations

import csv
import io
import json
import os
from typing import Any, Mapping, Sequence

import numpy as np

from tf_lipschitz.foundations.files import write_atomically
from tf_lipschitz.foundations.optional import require
from tf_lipschitz.training.run import read_log

__all__ = [
    "RESULT_FILE",
    "read_csv_log",
    "write_rows",
    "markdown_table",
    "write_summary",
    "line_plot",
    "save_result",
    "load_result",
]

RESULT_FILE = "result.json"


def read_csv_log(path: str) -> dict[str, np.ndarray]:
    """The columns of a numeric `log.csv` (`train_run`'s, Keras' `CSVLogger`'s), as float arrays.

    The rows are read by `tf_lipschitz.training.read_log` (a missing value, empty or "NA", is NaN); a missing
    file gives an empty dict.

    Example:
        >>> read_csv_log("runs/toy/log.csv")["w1_exact"]  # doctest: +SKIP
    """
    rows = read_log(path, index=None)
    return {key: np.asarray([row[key] for row in rows]) for key in (rows[0] if rows else {})}


def write_rows(path: str, fields: Sequence[str], rows: Sequence[Mapping[str, Any]], mode: str = "w") -> None:
    """Writes dict rows as CSV columns `fields` (other keys are dropped); "a" appends, with a header if new.

    Example:
        >>> write_rows("runs/toy/log.csv", ["step", "loss"], [{"step": 1, "loss": 0.5}], mode="a")  # doctest: +SKIP
    """
    new = mode == "w" or not os.path.exists(path)
    with open(path, mode, newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(fields), extrasaction="ignore")
        if new:
            writer.writeheader()
        writer.writerows(rows)


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], *, precision: int = 4,
                   formats: Sequence[str | None] | None = None) -> str:
    """A GitHub Markdown table; floats are printed with `precision` significant digits, None as "–".

    `formats` gives a format spec per column (e.g. ".3f"; None: the default) for its numbers; strings are
    printed as they are.

    Example:
        >>> print(markdown_table(["a", "b"], [[1, 0.123456]]))
        | a | b |
        |---|---|
        | 1 | 0.1235 |
        >>> print(markdown_table(["a", "b"], [[1, 0.123456]], formats=[None, ".2f"]).splitlines()[2])
        | 1 | 0.12 |
    """
    def cell(value, spec: str | None) -> str:
        if value is None:
            return "–"
        if spec is not None and not isinstance(value, str):
            return format(value, spec)
        if isinstance(value, (float, np.floating)):
            return f"{float(value):.{precision}g}"
        return str(value)

    specs = list(formats or [None] * len(headers))
    lines = ["| " + " | ".join(map(str, headers)) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(v, spec) for v, spec in zip(row, specs)) + " |" for row in rows]
    return "\n".join(lines)


def write_summary(run_dir: str, title: str, table: str, rows: Sequence[Mapping[str, Any]],
                  fields: Sequence[str]) -> None:
    """Ends a run: writes `summary.md` (title and table), `summary.csv` (`fields` of `rows`) and `summary.json`
    (`rows`) into `run_dir`, then prints the title, the table and the run directory.

    Example:
        >>> write_summary("runs/toy", "Toy", markdown_table(["w1"], [[0.05]]), [{"w1": 0.05}], ["w1"])  # doctest: +SKIP
    """
    write_atomically(os.path.join(run_dir, "summary.md"), f"# {title}\n\n{table}\n")
    csv_text = io.StringIO()
    writer = csv.DictWriter(csv_text, fieldnames=list(fields), extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    write_atomically(os.path.join(run_dir, "summary.csv"), csv_text.getvalue())
    write_atomically(os.path.join(run_dir, "summary.json"), json.dumps(list(rows), indent=2))
    print(f"\n{title}\n\n{table}\n\nRun directory: {run_dir}")


def line_plot(path: str, series: Mapping[str, tuple[Sequence[float], Sequence[float]]], *, xlabel: str,
              ylabel: str, title: str = "", logx: bool = False, logy: bool = False,
              hlines: Mapping[str, float] | None = None) -> str:
    """Writes a PNG with one line per series (non-finite points are skipped).

    Args:
        path: PNG path (folders are created).
        series: label ↦ (x values, y values).
        xlabel, ylabel, title: Labels.
        logx, logy: Log-scaled axes.
        hlines: label ↦ y of dashed horizontal reference lines (e.g. a noise floor).

    Returns:
        `path`.

    Raises:
        ImportError: when Matplotlib is not installed (`pip install "tf-lipschitz[plots]"`).

    Example:
        >>> line_plot("w1.png", {"ALP": ([100, 200], [0.3, 0.1])}, xlabel="step", ylabel="W1")  # doctest: +SKIP
    """
    require("matplotlib", extra="plots").use("Agg")
    plt = require("matplotlib.pyplot", extra="plots")

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for label, (x, y) in series.items():
        x, y = np.asarray(x, float), np.asarray(y, float)
        keep = np.isfinite(x) & np.isfinite(y)
        ax.plot(x[keep], y[keep], marker="o", markersize=3, label=label)
    for label, y in (hlines or {}).items():
        ax.axhline(y, linestyle="--", color="gray", linewidth=1, label=label)
    ax.set_xscale("log" if logx else "linear")
    ax.set_yscale("log" if logy else "linear")
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    ax.grid(alpha=0.3)
    if series or hlines:
        ax.legend(fontsize=8)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def save_result(run_dir: str, result: Mapping[str, Any]) -> str:
    """Writes a run's summary numbers to `<run_dir>/result.json`; returns the path.

    Example:
        >>> save_result("runs/toy", {"w1": 0.05})  # doctest: +SKIP
    """
    os.makedirs(run_dir, exist_ok=True)
    path = os.path.join(run_dir, RESULT_FILE)
    with open(path, "w") as handle:
        json.dump(dict(result), handle, indent=2, default=float)
    return path


def load_result(run_dir: str) -> dict | None:
    """The summary `save_result` wrote, or None when the run has not finished.

    Example:
        >>> load_result("runs/toy")  # doctest: +SKIP
    """
    path = os.path.join(run_dir, RESULT_FILE)
    if not os.path.exists(path):
        return None
    with open(path) as handle:
        return json.load(handle)
