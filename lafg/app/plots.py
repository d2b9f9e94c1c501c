"""Plotly figures for the app: the vocabulary map, atom-weight bars, training curves, explanations.

The map is drawn at once from a PCA projection; a UMAP projection is computed in a background thread and cached
(pickle-free :class:`~lafg.store.cache.ArrayCache`), and the app swaps it in when it is ready. Above
``WEBGL_THRESHOLD`` points the map uses ``Scattergl``. Colours follow the atoms or the classes (``colour_by``);
only the largest ``MAX_LEGEND`` groups get their own legend entry (the rest share one grey "other" entry), so the
legend stays readable with hundreds of atoms or classes; hovering any point shows its sentence, class and atom.
"""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.colors import qualitative

from lafg.store.cache import ArrayCache

# Visitor or LLM text made inert for Plotly, which draws a subset of HTML in labels, hovers and titles (``<a href>``
# links among it): the app's HTML escaping, whose entities Plotly shows as the characters.
from .safe_text import plain as plot_text

WEBGL_THRESHOLD = 5000  # points above which the map switches to WebGL (Scattergl)
MAX_LEGEND = 20  # atoms with their own legend entry and colour
PALETTE = qualitative.Dark24 + qualitative.Light24
OTHER_COLOUR = "#b8b8b8"




def short(text: str, n: int = 60) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


_SUBJECT = re.compile(r"^(?:\d+[:.]\s*)?(?:an?|the|this|its)\s+[\w-]+\s+(?:with|that|which|whose|has|having|is)\s+", re.I)


def phrase(label: str, n: int = 60) -> str:
    """An atom label as a short attribute phrase: "A bird with a black cap on its head." → "a black cap on its
    head" (the leading subject that every description repeats is dropped; the full sentence stays in hovers)."""
    text = _SUBJECT.sub("", label.strip()).rstrip(".")
    return short(text or label, n)


def pca_2d(x: np.ndarray) -> np.ndarray:
    """First two principal components of the rows of ``x`` (deterministic sign)."""
    x = np.asarray(x, dtype=np.float64)
    xc = x - x.mean(axis=0)
    if xc.shape[0] < 2:
        return np.zeros((x.shape[0], 2), dtype=np.float32)
    _, _, vt = np.linalg.svd(xc, full_matrices=False)
    comps = vt[:2]
    comps *= np.sign(comps[:, :1] + 1e-12)  # stable orientation across runs
    out = xc @ comps.T
    if out.shape[1] < 2:
        out = np.pad(out, ((0, 0), (0, 2 - out.shape[1])))
    return out.astype(np.float32)


class BackgroundUmap:
    """UMAP projections computed in a daemon thread and cached on disk; ``get`` never blocks."""

    def __init__(self, cache: ArrayCache | None = None, seed: int = 0):
        self.cache = cache
        self.seed = seed
        self._lock = threading.Lock()
        self._running: dict[str, threading.Thread] = {}
        self._memory: dict[str, np.ndarray] = {}
        self._errors: dict[str, str] = {}

    def _parts(self, key: str, n: int) -> dict:
        return {"kind": "umap-2d", "key": key, "n": n, "seed": self.seed}

    def get(self, key: str, x: np.ndarray, start: bool = True) -> np.ndarray | None:
        """The UMAP of ``x`` if ready (memory or disk cache); else start computing it and return None.

        ``key`` must identify the content of ``x`` (for example a hash of the sentences and encoder name).
        """
        with self._lock:
            if key in self._memory:
                return self._memory[key]
        hit = self.cache.get(self._parts(key, len(x))) if self.cache is not None else None
        if hit is not None and hit.shape == (len(x), 2):
            with self._lock:
                self._memory[key] = hit
            return hit
        if start:
            self._start(key, np.array(x, dtype=np.float32, copy=True))
        return None

    def error(self, key: str) -> str | None:
        return self._errors.get(key)

    def wait(self, key: str, timeout: float = 120.0) -> np.ndarray | None:
        thread = self._running.get(key)
        if thread is not None:
            thread.join(timeout)
        return self._memory.get(key)

    def _start(self, key: str, x: np.ndarray) -> None:
        with self._lock:
            if key in self._running and self._running[key].is_alive():
                return
            thread = threading.Thread(target=self._compute, args=(key, x), name="lafg-umap", daemon=True)
            self._running[key] = thread
        thread.start()

    def _compute(self, key: str, x: np.ndarray) -> None:
        try:
            out = umap_2d(x, self.seed)
        except Exception as exc:  # UMAP is a nicety: the PCA map stays; record why
            self._errors[key] = f"{type(exc).__name__}: {exc}"
            return
        if self.cache is not None:
            self.cache.set(self._parts(key, len(x)), out)
        with self._lock:
            self._memory[key] = out


def umap_2d(x: np.ndarray, seed: int = 0) -> np.ndarray:
    """2-D UMAP (cosine metric) of the rows of ``x``; falls back to PCA below 5 points."""
    if len(x) < 5:
        return pca_2d(x)
    import umap

    n_neighbors = int(min(15, len(x) - 1))
    reducer = umap.UMAP(n_components=2, n_neighbors=n_neighbors, metric="cosine", random_state=seed, n_jobs=1, init="random")
    return reducer.fit_transform(np.asarray(x, dtype=np.float32)).astype(np.float32)


def atom_colours(sizes: Sequence[int], max_legend: int = MAX_LEGEND) -> tuple[list[str], set[int]]:
    """A colour per atom: the ``max_legend`` largest get palette colours, the rest grey; returns (colours, named)."""
    order = np.argsort(-np.asarray(sizes), kind="stable")[:max_legend]
    colours = [OTHER_COLOUR] * len(sizes)
    for rank, atom in enumerate(order):
        colours[int(atom)] = PALETTE[rank % len(PALETTE)]
    return colours, {int(a) for a in order}


def vocabulary_map(
    xy: np.ndarray,
    sentences: Sequence[str],
    sentence_class: np.ndarray,
    sentence_atom: np.ndarray,
    class_names: Sequence[str],
    atom_labels: Sequence[str],
    atom_xy: np.ndarray | None = None,
    highlight: Sequence[int] | None = None,
    title: str = "Description embeddings coloured by attribute atom",
    webgl_threshold: int = WEBGL_THRESHOLD,
    colour_by: str = "atom",
) -> go.Figure:
    """Scatter of every description (one point each) coloured by its atom or its class, atom centroids as stars.

    ``highlight``: atom indices to emphasise (others are faded). One trace per named group plus one "other"
    trace keeps the legend short; clicking a legend entry shows that group alone (double click: toggle).
    """
    by_class = colour_by == "class"
    n_atoms = len(atom_labels)
    sentence_atom = np.asarray(sentence_atom)
    sentence_class = np.asarray(sentence_class)
    sizes = np.bincount(sentence_atom, minlength=n_atoms)
    colours, named = atom_colours(sizes)
    key = sentence_class if by_class else sentence_atom
    n_groups = len(class_names) if by_class else n_atoms
    group_sizes = np.bincount(key, minlength=n_groups)
    # Classes get the whole palette (48 colours): a class map is read by colour; atoms keep a short legend.
    group_colours, group_named = atom_colours(group_sizes, len(PALETTE) if by_class else MAX_LEGEND)
    highlight_set = set(int(a) for a in highlight) if highlight else set()
    scatter = go.Scattergl if len(xy) > webgl_threshold else go.Scatter
    fig = go.Figure()
    hover = [
        f"<b>{plot_text(short(s, 90))}</b><br>class: {plot_text(class_names[int(c)])}<br>atom {int(a)}: {plot_text(short(atom_labels[int(a)], 50))}"
        for s, c, a in zip(sentences, sentence_class, sentence_atom, strict=True)
    ]
    groups = [[g] for g in sorted(group_named, key=lambda g: -group_sizes[g])] + [[g for g in range(n_groups) if g not in group_named]]
    for group in groups:
        rows = np.flatnonzero(np.isin(key, group))
        if rows.size == 0:
            continue
        is_other = len(group) != 1 or group[0] not in group_named
        if is_other:
            name = f"other {'classes' if by_class else 'atoms'} ({len(group)})"
        else:
            name = plot_text(short(class_names[group[0]], 38) if by_class else f"{group[0]}: {phrase(atom_labels[group[0]], 38)}")
        opacity = 0.85
        if highlight_set and not by_class:
            opacity = 0.95 if (not is_other and group[0] in highlight_set) else 0.15
        marker = dict(size=7, color=[group_colours[int(key[r])] for r in rows], opacity=opacity, line=dict(width=0))
        if highlight_set:  # highlighted atoms in strong colours (red when they have no palette colour), others faded
            lit = [int(sentence_atom[r]) in highlight_set for r in rows]
            marker["size"] = [12 if on else 6 for on in lit]
            marker["opacity"] = 0.95
            marker["color"] = [(group_colours[int(key[r])] if group_colours[int(key[r])] != OTHER_COLOUR else "#e53e3e") if on else "#e6e6e6" for r, on in zip(rows, lit, strict=True)]
        fig.add_trace(
            scatter(
                x=xy[rows, 0], y=xy[rows, 1], mode="markers", name=name, marker=marker,
                hovertext=[hover[r] for r in rows], hoverinfo="text", legendgroup=name,
            )
        )
    if atom_xy is not None and len(atom_xy):
        fig.add_trace(
            go.Scatter(
                x=atom_xy[:, 0], y=atom_xy[:, 1], mode="markers", name="atom centres (★)",
                marker=dict(symbol="star", size=[16 if a in highlight_set else 10 for a in range(n_atoms)], color="#222" if by_class else colours, line=dict(width=1, color="#222")),
                hovertext=[f"<b>atom {a}</b>: {plot_text(short(atom_labels[a], 80))}<br>{int(sizes[a])} sentences" for a in range(n_atoms)],
                hoverinfo="text",
            )
        )
    legend_title = "class (most sentences first)" if by_class else "atom (largest first)"
    fig.update_layout(
        # The title sits in the top margin, the legend (with its own title) to the right of the plot area:
        # they never share a line, whatever the width.
        title=dict(text=title, font=dict(size=14), x=0.01, xanchor="left", y=0.98, yanchor="top"),
        height=580, margin=dict(l=10, r=10, t=50, b=10), template="plotly_white",
        legend=dict(title=dict(text=legend_title, side="top"), itemsizing="constant", font=dict(size=10), itemclick="toggleothers", itemdoubleclick="toggle", x=1.02, xanchor="left", y=1.0, yanchor="top"),
        xaxis=dict(showticklabels=False, title=None), yaxis=dict(showticklabels=False, title=None),
    )
    return fig


def atom_weights_bar(labels: Sequence[str], weights: Sequence[float], own: Sequence[bool] | None = None, title: str = "") -> go.Figure:
    """Horizontal bars of a class's chosen atoms (heaviest on top); own vs borrowed in two colours."""
    own = list(own) if own is not None else [True] * len(labels)
    fig = go.Figure()
    for flag, name, colour in ((True, "own description", "#2b6cb0"), (False, "borrowed from other classes", "#dd8a2e")):
        idx = [i for i, o in enumerate(own) if bool(o) == flag]
        if idx:
            fig.add_trace(go.Bar(
                x=[float(weights[i]) for i in idx], y=[plot_text(phrase(labels[i], 70)) for i in idx], orientation="h", name=name,
                marker_color=colour, hovertext=[plot_text(labels[i]) for i in idx], hoverinfo="text+x",
            ))
    fig.update_layout(
        title=dict(text=plot_text(title), font=dict(size=14)), template="plotly_white", barmode="stack",
        height=max(300, 110 + 34 * len(labels)), margin=dict(l=10, r=10, t=40, b=60),
        yaxis=dict(autorange="reversed", categoryorder="array", categoryarray=[plot_text(phrase(x, 70)) for x in labels]),
        xaxis=dict(title=None), legend=dict(orientation="h", yanchor="top", y=-0.12, x=0),
    )
    return fig


def weight_spread(weights: np.ndarray, names: Sequence[str], tau: float, title: str = "") -> go.Figure:
    """How unequal each class's top-K atom weights are: per class, the largest minus the smallest weight
    (0 = uniform) as a histogram, with the uniform weight 1/K marked. ``weights``: (C, K) softmax weights."""
    weights = np.asarray(weights, dtype=np.float64)
    fig = go.Figure()
    if weights.size == 0:
        return empty_figure("no atom weights (this prototype variant uses none)")
    k = weights.shape[1]
    spread = weights.max(axis=1) - weights.min(axis=1)
    fig.add_trace(go.Histogram(
        x=spread, nbinsx=min(30, max(5, len(spread))), marker_color="#2b6cb0", name="classes",
        hovertemplate="spread %{x:.3f}: %{y} classes<extra></extra>",
    ))
    fig.add_vline(x=0.0, line=dict(color="#888", dash="dot"))  # 0 = uniform weights (see the axis title)
    fig.update_layout(
        title=dict(text=title or f"Top-{k} weight spread over {len(spread)} classes (τ_p = {tau:g}; uniform weight 1/K = {1 / k:.2f})", font=dict(size=13)),
        template="plotly_white", height=260, margin=dict(l=10, r=10, t=40, b=10), showlegend=False, bargap=0.05,
        xaxis=dict(title="largest − smallest atom weight of a class (0 = all K atoms weigh the same)", rangemode="tozero"),
        yaxis=dict(title="classes"),
    )
    return fig


def ladder_chart(rows: Sequence[dict], mode: str = "head", metric: str = "R@1") -> go.Figure:
    """The committed ladder as grouped bars: unseen-class ``metric`` per method (± seed std), one group per set.

    Controls (pretrained, onehot, aux, random, permuted) are drawn in greys, language methods blue, lafg orange.
    The caller picks the rows (one per set and method, e.g. :func:`lafg.retrieval.verdict.minilm_rows`); a second row of the
    same set and method is ignored."""
    rows = [r for r in rows if r.get("mode") == mode and metric in r]
    if not rows:
        return empty_figure(f"no {mode}-mode rows in the ladder")
    controls = {"pretrained": "#e2e8f0", "onehot": "#cbd5e0", "aux": "#a0aec0", "random": "#718096", "permuted": "#4a5568"}
    methods = list(dict.fromkeys(r["method"] for r in rows))
    sets = list(dict.fromkeys(r["set"] for r in rows))
    fig = go.Figure()
    for m in methods:
        ys = [next((r[metric] for r in rows if r["set"] == s and r["method"] == m), None) for s in sets]
        colour = controls[m] if m in controls else ("#c05621" if m == "lafg" else "#4299e1")
        fig.add_trace(go.Bar(
            x=sets, y=[y[0] if y else None for y in ys], name=m + (" (control)" if m in controls else ""),
            error_y=dict(type="data", array=[y[1] if y else 0 for y in ys], visible=True), marker_color=colour,
            hovertemplate=f"{m}<br>%{{x}}: %{{y:.2f}} ± %{{error_y.array:.2f}}<extra></extra>",
        ))
    lows = [r[metric][0] for r in rows]
    fig.update_layout(
        title=dict(text=f"Unseen-class {metric} (%), {mode} mode, mean ± std over seeds", font=dict(size=13)),
        template="plotly_white", barmode="group", height=340, margin=dict(l=10, r=10, t=40, b=10),
        yaxis=dict(title=f"{metric} (%)", range=[max(0.0, min(lows) - 5), min(100.0, max(lows) + 3)]),
        legend=dict(orientation="h", y=-0.15),
    )
    return fig


def compare_bar(labels: Sequence[str], a: Sequence[float], b: Sequence[float], name_a: str, name_b: str, title: str = "") -> go.Figure:
    """Grouped horizontal bars: how strongly each atom belongs to class A and to class B."""
    fig = go.Figure()
    ys, hovers = [plot_text(phrase(x, 70)) for x in labels], [plot_text(x) for x in labels]
    fig.add_trace(go.Bar(x=list(a), y=ys, orientation="h", name=plot_text(name_a), marker_color="#2b6cb0", hovertext=hovers))
    fig.add_trace(go.Bar(x=list(b), y=ys, orientation="h", name=plot_text(name_b), marker_color="#c53030", hovertext=hovers))
    fig.update_layout(
        title=dict(text=plot_text(title), font=dict(size=14)), template="plotly_white", barmode="group",
        height=max(240, 60 + 40 * len(labels)), margin=dict(l=10, r=10, t=40, b=10),
        yaxis=dict(autorange="reversed"), xaxis=dict(title="similarity of the class to the atom"), legend=dict(orientation="h", y=-0.2),
    )
    return fig


def training_curves(history: dict[str, list[list[float]]], title: str = "Training") -> go.Figure:
    """Loss on the left axis, every ``recall*`` series on the right axis (percent)."""
    fig = go.Figure()
    for name, points in sorted(history.items()):
        if not points:
            continue
        xs, ys = zip(*points, strict=True)
        is_recall = name.lower().startswith("recall")
        fig.add_trace(go.Scatter(
            x=list(xs), y=list(ys), mode="lines+markers", name=name, yaxis="y2" if is_recall else "y",
            line=dict(dash="solid" if not is_recall else "dot"),
        ))
    fig.update_layout(
        title=dict(text=plot_text(title), font=dict(size=14)), template="plotly_white", height=320, margin=dict(l=10, r=10, t=40, b=10),
        xaxis=dict(title="epoch"), yaxis=dict(title="loss"),
        yaxis2=dict(title="unseen Recall@1 (%)", overlaying="y", side="right", range=[0, 100]),
        legend=dict(orientation="h", y=-0.3),
    )
    if not fig.data:
        fig.add_annotation(text="no training yet", showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper")
    return fig


def explanation_bar(shared: Sequence, differing: Sequence, title: str = "Why this result") -> go.Figure:
    """Two panels of bars from :class:`lafg.retrieval.explain.AtomContribution` lists: shared (contribution to the
    similarity) and differing (query − result activation)."""
    return go.Figure(explanation_bar_spec(shared, differing, title))


def explanation_bar_spec(shared: Sequence, differing: Sequence, title: str = "Why this result",
                         calibrated: bool = False, titles: tuple[str, str] | None = None) -> dict:
    """:func:`explanation_bar` as plain Plotly JSON (``{"data", "layout"}``), built without Plotly's validating
    object tree: the app sends one per query, and building the validated figure cost more CPU than the search."""
    def axis_title(text: str, x: float) -> dict:
        return {"font": {"size": 16}, "showarrow": False, "text": text, "x": x, "xanchor": "center", "xref": "paper",
                "y": 1.0, "yanchor": "bottom", "yref": "paper"}

    text_query = titles is not None  # a text query: both panels hold the result's chances (0..1)
    if titles is None:
        titles = (("shared (chance both show it)", "differing (query − result)") if calibrated
                  else ("shared attributes (contribution)", "differing attributes (query − result)"))
    data = [
        {"type": "bar", "orientation": "h", "x": [float(c.contribution) for c in shared],
         "y": [plot_text(phrase(c.label, 45)) for c in shared], "marker": {"color": "#2f855a"},
         "hovertext": [plot_text(c.label) for c in shared], "name": "shared", "showlegend": False, "xaxis": "x", "yaxis": "y"},
        {"type": "bar", "orientation": "h", "x": [float(c.contribution) for c in differing],
         "y": [plot_text(phrase(c.label, 45)) for c in differing],
         "marker": {"color": ["#2b6cb0" if c.contribution >= 0 else "#c53030" for c in differing]},
         "hovertext": [f"{plot_text(c.label)}<br>query {c.query:.2f} · result {c.result:.2f}" for c in differing],
         "name": "differing", "showlegend": False, "xaxis": "x2", "yaxis": "y2"},
    ]
    layout = {
        "xaxis": {"anchor": "y", "domain": [0.0, 0.325], **({"range": [0, 1], "tickformat": ".0%"} if calibrated else {})},
        "yaxis": {"anchor": "x", "domain": [0.0, 1.0], "autorange": "reversed"},
        "xaxis2": {"anchor": "y2", "domain": [0.675, 1.0],
                   **({"range": [0, 1] if text_query else [-1, 1], "tickformat": ".0%"} if calibrated else {})},
        "yaxis2": {"anchor": "x2", "domain": [0.0, 1.0], "autorange": "reversed"},
        "annotations": [axis_title(titles[0], 0.1625), axis_title(titles[1], 0.8375)],
        "title": {"text": plot_text(title), "font": {"size": 14}}, "template": _template("plotly_white"), "height": 340,
        "margin": {"l": 10, "r": 10, "t": 60, "b": 10},
    }
    for items, axis, x in ((shared, "yaxis", 0.1625), (differing, "yaxis2", 0.8375)):
        if not items:  # an empty panel says so instead of showing bare axes
            layout[axis]["visible"] = False
            layout["annotations"].append({"text": "none", "showarrow": False, "x": x, "xref": "paper", "y": 0.5,
                                          "yref": "paper", "font": {"size": 14, "color": "#666"}})
    return {"data": data, "layout": layout}


@functools.lru_cache(maxsize=4)
def _template(name: str) -> dict:
    import plotly.io as pio

    return pio.templates[name].to_plotly_json()


def empty_figure(message: str, height: int = 300) -> go.Figure:
    fig = go.Figure()
    fig.add_annotation(text=message, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper", font=dict(size=14, color="#666"))
    fig.update_layout(template="plotly_white", height=height, xaxis=dict(visible=False), yaxis=dict(visible=False), margin=dict(l=10, r=10, t=10, b=10))
    return fig
