"""Short text and HTML representations (``__repr__`` / ``_repr_html_``) of the package's objects.

A :class:`Card` is what a representation shows: a title, a few labelled fields and optionally
the head of a table.  :meth:`Card.text` renders it for a terminal (at most :data:`MAX_LINES`
lines of at most :data:`MAX_WIDTH` characters: it fits on a screen) and :meth:`Card.html` for a
notebook, from the same content.  The objects build their card (``Panel``, ``SpatialWeights``,
``Prepared``, ``FitResult``, ``MLResult``); nothing here imports them, so every layer may use it.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field

MAX_LINES = 24
MAX_WIDTH = 100
TABLE_ROWS = 8


def _short(v, width: int) -> str:
    s = str(v)
    return s if len(s) <= width else s[: width - 3] + "..."


def ellipsis_list(items, k: int = 6) -> str:
    """``a, b, c, ..., z`` (the first k - 1 and the last of a long list)."""
    items = [str(i) for i in items]
    if len(items) <= k:
        return ", ".join(items)
    return ", ".join(items[: k - 1]) + f", ..., {items[-1]}"


def number(v, digits: int = 4) -> str:
    """A number to ``digits`` significant digits (scientific when very large or small)."""
    try:
        x = float(v)
    except (TypeError, ValueError):
        return str(v)
    if x != x or x in (float("inf"), float("-inf")):
        return str(x)
    if x == int(x) and abs(x) < 1e6 and not isinstance(v, float):
        return f"{int(x):,}"
    a = abs(x)
    if a != 0 and (a < 1e-3 or a >= 1e5):
        return f"{x:.{digits - 1}e}"
    return f"{x:.{digits}g}"


@dataclass
class Card:
    """A representation's content (module docstring).

    Attributes
    ----------
    title : the first line (``bayes_sdm.FitResult: SDM, twoway FE``)
    fields : (label, value) pairs, one line each
    table : an optional DataFrame whose first :data:`TABLE_ROWS` rows are shown
    table_title : a line above the table
    notes : lines after the table (how to get the rest)
    """

    title: str
    fields: list[tuple[str, str]] = field(default_factory=list)
    table: object = None
    table_title: str = ""
    notes: list[str] = field(default_factory=list)

    def _head(self):
        t = self.table
        if t is None or len(t) == 0:
            return None, 0
        return t.head(TABLE_ROWS), len(t)

    def text(self) -> str:
        """The terminal representation (at most MAX_LINES lines of MAX_WIDTH characters)."""
        lines = [_short(self.title, MAX_WIDTH)]
        lw = max((len(k) for k, _ in self.fields), default=0)
        for k, v in self.fields:
            lines.append(_short(f"  {k.ljust(lw)}  {v}", MAX_WIDTH))
        head, n = self._head()
        if head is not None:
            if self.table_title:
                lines.append(_short(f"  {self.table_title}", MAX_WIDTH))
            body = head.to_string(index=False, float_format=lambda x: number(x))
            lines += [_short("    " + row, MAX_WIDTH) for row in body.splitlines()]
            if n > len(head):
                lines.append(f"    ... {n - len(head)} more rows")
        lines += [_short(f"  {n}", MAX_WIDTH) for n in self.notes]
        if len(lines) > MAX_LINES:
            lines = lines[: MAX_LINES - 1] + ["  ..."]
        return "\n".join(lines)

    def html(self) -> str:
        """The notebook representation: the same content as :meth:`text` as HTML tables."""
        e = html.escape
        out = ['<div class="bayes-sdm-repr" style="font-family:sans-serif;font-size:13px">',
               f"<b>{e(self.title)}</b>"]
        if self.fields:
            out.append('<table style="border-collapse:collapse;margin:4px 0">')
            for k, v in self.fields:
                out.append(f'<tr><th style="text-align:left;padding:1px 10px 1px 0;'
                           f'font-weight:600">{e(k)}</th>'
                           f'<td style="text-align:left;padding:1px 0">{e(str(v))}</td></tr>')
            out.append("</table>")
        head, n = self._head()
        if head is not None:
            if self.table_title:
                out.append(f"<div>{e(self.table_title)}</div>")
            out.append('<table style="border-collapse:collapse;margin:4px 0"><thead><tr>')
            out += [f'<th style="padding:1px 8px;border-bottom:1px solid #999">{e(str(c))}</th>'
                    for c in head.columns]
            out.append("</tr></thead><tbody>")
            for row in head.itertuples(index=False):
                cells = [number(v) if isinstance(v, float) else str(v) for v in row]
                out.append("<tr>" + "".join(f'<td style="padding:1px 8px;text-align:right">'
                                            f"{e(c)}</td>" for c in cells) + "</tr>")
            out.append("</tbody></table>")
            if n > len(head):
                out.append(f"<div>... {n - len(head)} more rows</div>")
        out += [f"<div>{e(n)}</div>" for n in self.notes]
        out.append("</div>")
        return "\n".join(out)


# ------------------------------------------------------------------------------ the cards
def panel_card(p) -> Card:
    """A :class:`~bayes_sdm.panel.Panel`: size, variables, units and periods."""
    import numpy as np

    y = np.asarray(p.y, dtype=float)
    fields = [("y", f"{p.y_name} (mean {number(np.nanmean(y))}, sd {number(np.nanstd(y))})"),
              ("x", ", ".join(p.x_names)),
              ("units", ellipsis_list(p.units)),
              ("periods", ellipsis_list(p.times))]
    if p.unit_info is not None and len(p.unit_info.columns):
        fields.append(("unit info", ", ".join(map(str, p.unit_info.columns))))
    return Card(f"bayes_sdm.Panel: {p.N:,} units x {p.T:,} periods = {p.N * p.T:,} "
                f"observations, K = {p.K}", fields)


def weights_card(w) -> Card:
    """A :class:`~bayes_sdm.weights.SpatialWeights`: source, size, links, standardisation."""
    import numpy as np
    import scipy.sparse as sp

    m = w.matrix
    nnz = np.diff(sp.csr_array(m).indptr) if sp.issparse(m) else (np.asarray(m) != 0).sum(1)
    n_self = int((m.diagonal() != 0).sum()) if sp.issparse(m) else int(
        (np.diag(np.asarray(m)) != 0).sum())
    fields = [("source", w.name),
              ("storage", f"{'sparse' if w.is_sparse else 'dense'}, "
                          f"{int(nnz.sum()):,} non-zero weights"),
              ("neighbours", f"mean {nnz.mean():.3g}, min {int(nnz.min())}, max "
                             f"{int(nnz.max())} per unit"
                             + (f"; {n_self} self-links" if n_self else "")),
              ("standardised", "rows sum to one" if w.row_standardized else "no (as given)"),
              ("symmetric form", "yes (symmetric eigen-solver)" if w.sym_scale is not None
               else "no (general eigen-solver)"),
              ("units", ellipsis_list(w.ids))]
    return Card(f"bayes_sdm.SpatialWeights: {w.n:,} x {w.n:,}", fields)


def logdet_text(ld) -> str:
    """The log-determinant's method and interval (``none`` for a family without one)."""
    if ld is None:
        return "none (no spatial lag in the likelihood)"
    lo, hi = ld.interval
    return f"{ld.method}, rho in ({lo:.4g}, {hi:.4g})"


def _fe_words(fe: str) -> str:
    """``twoway fixed effects``; ``no fixed effects, one intercept`` for the transform
    ``intercept`` (``fe="none"`` with an intercept)."""
    return "no fixed effects, one intercept" if fe == "intercept" else f"{fe} fixed effects"


def prepared_card(p) -> Card:
    """A :class:`~bayes_sdm.prepared.Prepared` model: family, FE, data, W, log-determinant."""
    fam = p.family
    fields = [("model", f"{fam.name.upper()} ({fam.label})"),
              ("fixed effects", f"{'none, one intercept' if p.intercept else p.fe} (correction "
                                f"{p.correction}, lag convention "
                                f"{p.lag_convention})"),
              ("data", f"N = {p.panel.N:,} units, T = {p.panel.T:,} periods, y = "
                       f"{p.panel.y_name}, x = {', '.join(p.panel.x_names)}"),
              ("W", p.w.name),
              ("log-determinant", logdet_text(p.logdet))]
    rd = p.regional
    if rd is not None:
        sizes = ", ".join(f"{r} {int(k)}" for r, k in zip(rd.regions.names, rd.regions.sizes))
        fields += [("regional", f"{rd.pooling} pooling, {rd.regional_w} W"),
                   ("regions", sizes)]
    return Card(f"bayes_sdm.Prepared: {fam.name.upper()} with {_fe_words(p.fe)}", fields,
                notes=["fit(prep) samples the posterior; fit_ml(prep) the ML estimate"])


def ml_card(r) -> Card:
    """A :class:`~bayes_sdm.ml.MLResult`: model, likelihood, the estimates' head."""
    fields = [("model", f"{r.model.upper()} with {_fe_words(r.fe)}, correction "
                        f"{r.correction}, lag convention {r.lag_convention}"),
              ("data", f"N = {r.N:,}, T = {r.T:,}, n* = {r.n_eff:,}"),
              ("log-likelihood", f"{number(r.loglik, 8)} (AIC {number(r.aic, 8)}, BIC "
                                 f"{number(r.bic, 8)}, R2 {number(r.r2)})"),
              ("standard errors", r.se_method)]
    if r.at_boundary:
        fields.append(("warning", f"{r.spatial} at the {r.at_boundary} bound"))
    tab = r.table()
    tab = tab[~tab["parameter"].isin(["loglik", "aic", "bic"])]
    return Card(f"bayes_sdm.MLResult: {r.model.upper()} maximum likelihood", fields, tab,
                "estimates (asymptotic normal z and p)",
                notes=["table(), effects(), summary()"])
