"""Table writers: Markdown (pipe tables), LaTeX (booktabs) and CSV, all byte-deterministic.

Hand-written because they are a few lines each: pandas' `to_markdown` needs `tabulate` and `Styler.to_latex` needs
`jinja2`, neither otherwise used here. Absent values are never blank: the builders put 'missing' (cell not run or
failed) or 'n/a' (metric not applicable, e.g. GPU time of a CPU run) in the display frame, and the CSV writer marks
any NaN left as 'missing'.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

MISSING = "missing"
NA = "n/a"


@dataclass
class Table:
    """`display`: formatted strings (Markdown/LaTeX); `data`: the numbers behind it (CSV); `notes`: lines printed
    under the table saying what the columns are; `runs`: the MLflow runs behind its numbers when they are not the
    RunSet's (a learning curve's every training size), so its "Trained at" line counts what it shows."""

    name: str
    title: str
    display: pd.DataFrame
    data: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    runs: pd.DataFrame | None = None


def fmt(x, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return MISSING
    return f"{x:.{digits}f}"


def fmt_si(x) -> str:
    """1.23e9 -> '1.23 G' (parameters, FLOPs, bytes)."""
    if x is None or not math.isfinite(float(x)):
        return MISSING
    x = float(x)
    for unit, scale in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(x) >= scale:
            return f"{x / scale:.3g} {unit}"
    return f"{x:.3g}"


def to_markdown(t: Table) -> str:
    cols = [str(c) for c in t.display.columns]
    lines = [f"### {t.title}", "", "| " + " | ".join(cols) + " |",
             "|" + "|".join("---" if i < 2 else "---:" for i in range(len(cols))) + "|"]
    for row in t.display.itertuples(index=False):
        lines.append("| " + " | ".join(str(v).replace("|", "\\|") for v in row) + " |")
    if t.notes:
        lines += [""] + [f"{n}  " for n in t.notes]
    return "\n".join(lines) + "\n"


_TEX = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{",
        "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}


def tex_escape(s: str) -> str:
    return "".join(_TEX.get(ch, ch) for ch in str(s)).replace("±", r"$\pm$").replace("×", r"$\times$")


def to_latex(t: Table) -> str:
    cols = list(t.display.columns)
    spec = "ll" + "r" * (len(cols) - 2)
    out = [f"% {t.title}", r"\begin{table}[t]", r"\centering", r"\small",
           rf"\caption{{{tex_escape(t.title)}}}", rf"\label{{tab:{t.name}}}",
           rf"\begin{{tabular}}{{{spec}}}", r"\toprule",
           " & ".join(tex_escape(c) for c in cols) + r" \\", r"\midrule"]
    prev_first = None
    for row in t.display.itertuples(index=False):
        vals = [tex_escape(v) for v in row]
        if prev_first is not None and vals[0] != prev_first:
            out.append(r"\addlinespace")
        prev_first = vals[0]
        out.append(" & ".join(vals) + r" \\")
    out += [r"\bottomrule", r"\end{tabular}"]
    if t.notes:
        out.append(r"\par\smallskip\footnotesize " + tex_escape(" ".join(t.notes)))
    out += [r"\end{table}", ""]
    return "\n".join(out)


def to_csv(t: Table) -> str:
    data = t.data.copy()
    for c in data.columns:
        if pd.api.types.is_float_dtype(data[c]):
            data[c] = data[c].map(lambda v: MISSING if not math.isfinite(v) else f"{v:.6g}")
    return data.fillna(MISSING).to_csv(index=False, lineterminator="\n")


def write_table(t: Table, out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for ext, text in (("md", to_markdown(t)), ("tex", to_latex(t)), ("csv", to_csv(t))):
        p = out_dir / f"{t.name}.{ext}"
        p.write_text(text, encoding="utf-8")
        paths.append(p)
    return paths


def seeds_text(row) -> str:
    n, e = int(row["n_seeds"]), int(row["n_expected"])
    return f"{n}/{e}" + ("" if n == e else " (missing)" if n == 0 else " (incomplete)")
