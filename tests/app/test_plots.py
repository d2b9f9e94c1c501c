import numpy as np
import plotly.graph_objects as go

from lafg.app.plots import (
    MAX_LEGEND,
    BackgroundUmap,
    atom_weights_bar,
    explanation_bar,
    pca_2d,
    training_curves,
    vocabulary_map,
)
from lafg.retrieval.explain import AtomContribution


def test_pca_is_2d_and_deterministic():
    x = np.random.default_rng(0).normal(size=(30, 8))
    assert pca_2d(x).shape == (30, 2)
    assert np.allclose(pca_2d(x), pca_2d(x.copy()))


def test_map_legend_stays_short_with_many_atoms_and_uses_webgl_when_large():
    rng = np.random.default_rng(0)
    n, atoms = 6000, 200  # above WEBGL_THRESHOLD (5000)
    xy = rng.normal(size=(n, 2))
    atom = rng.integers(0, atoms, n)
    fig = vocabulary_map(xy, [f"s{i}" for i in range(n)], rng.integers(0, 200, n), atom, [f"c{i}" for i in range(200)], [f"a{i}" for i in range(atoms)])
    point_traces = [t for t in fig.data if not t.name.startswith("atom centres")]
    assert len(point_traces) == MAX_LEGEND + 1  # named atoms + one "other atoms"
    assert all(isinstance(t, go.Scattergl) for t in point_traces)
    assert "class: c" in point_traces[0].hovertext[0] and "atom" in point_traces[0].hovertext[0]


def test_map_coloured_by_class_and_svg_below_5k():
    rng = np.random.default_rng(1)
    n = 4000
    fig = vocabulary_map(rng.normal(size=(n, 2)), ["s"] * n, np.arange(n) % 3, rng.integers(0, 5, n), ["red", "green", "blue"], [f"a{i}" for i in range(5)], colour_by="class")
    names = [t.name for t in fig.data]
    assert names == ["red", "green", "blue"] and all(isinstance(t, go.Scatter) for t in fig.data)
    assert fig.layout.legend.title.text.startswith("class") and fig.layout.title.y > fig.layout.legend.y - 0.05


def test_weight_spread_and_ladder_chart():
    from lafg.app.plots import ladder_chart, weight_spread

    fig = weight_spread(np.array([[0.5, 0.3, 0.2], [0.34, 0.33, 0.33]]), ["a", "b"], tau=0.1)
    assert np.allclose(sorted(fig.data[0].x), [0.01, 0.3]) and "τ_p = 0.1" in fig.layout.title.text
    assert "largest − smallest" in fig.layout.xaxis.title.text and fig.layout.yaxis.title.text == "classes"
    rows = [{"set": "cub", "mode": "head", "method": m, "reading": "relational", "descriptions": "gpt4", "R@1": [80 + i, 0.5]}
            for i, m in enumerate(("aux", "lafg", "permuted"))]
    fig = ladder_chart(rows)
    assert [t.name for t in fig.data] == ["aux (control)", "lafg", "permuted (control)"] and fig.data[1].y[0] == 81


def test_small_map_uses_svg_scatter_and_highlight():
    xy = np.zeros((4, 2))
    fig = vocabulary_map(xy, list("abcd"), np.array([0, 0, 1, 1]), np.array([0, 1, 1, 0]), ["x", "y"], ["red", "blue"], highlight=[1])
    assert all(isinstance(t, go.Scatter) for t in fig.data)


def test_other_figures_build():
    assert len(atom_weights_bar(["a", "b"], [0.6, 0.4], [True, False]).data) == 2
    assert len(training_curves({"loss": [[1, 0.5]], "recall@1": [[1, 0.3]]}).data) == 2
    c = AtomContribution(0, "red crown", 0.5, 0.4, 0.2)
    assert len(explanation_bar([c], [c]).data) == 2


def test_background_umap_returns_none_then_result(tmp_path):
    from lafg.store.cache import ArrayCache

    bg = BackgroundUmap(ArrayCache(tmp_path))
    x = np.random.default_rng(0).normal(size=(4, 3)).astype(np.float32)  # < 5 points: PCA path, fast
    first = bg.get("k", x)
    out = first if first is not None else bg.wait("k", 30)
    assert out.shape == (4, 2)
    assert BackgroundUmap(ArrayCache(tmp_path)).get("k", x, start=False).shape == (4, 2)  # from the disk cache


def test_phrase_drops_the_repeated_subject():
    from lafg.app.plots import phrase

    assert phrase("A bird with a black cap on its head.") == "a black cap on its head"
    assert phrase("12: A car with chrome wheels.") == "chrome wheels"
    assert phrase("red crown") == "red crown"


def test_explanation_spec_is_the_validated_subplot_figure():
    """The app's plain-JSON explanation is exactly what the validated make_subplots figure was."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    from lafg.app.plots import explanation_bar_spec, phrase
    from lafg.retrieval.explain import AtomContribution

    shared = [AtomContribution(0, "red crown on a small head", 0.8, 0.7, 0.31)]
    differing = [AtomContribution(1, "long yellow bill", 0.6, 0.4, 0.2), AtomContribution(2, "black wings", 0.1, 0.2, -0.1)]
    old = make_subplots(rows=1, cols=2, subplot_titles=("shared attributes (contribution)", "differing attributes (query − result)"), horizontal_spacing=0.35)
    old.add_trace(go.Bar(x=[c.contribution for c in shared], y=[phrase(c.label, 45) for c in shared], orientation="h",
                         marker_color="#2f855a", hovertext=[c.label for c in shared], name="shared", showlegend=False), row=1, col=1)
    old.add_trace(go.Bar(x=[c.contribution for c in differing], y=[phrase(c.label, 45) for c in differing], orientation="h",
                         marker_color=["#2b6cb0", "#c53030"],
                         hovertext=[f"{c.label}<br>query {c.query:.2f} · result {c.result:.2f}" for c in differing],
                         name="differing", showlegend=False), row=1, col=2)
    old.update_yaxes(autorange="reversed")
    old.update_layout(title=dict(text="t", font=dict(size=14)), template="plotly_white", height=340, margin=dict(l=10, r=10, t=60, b=10))
    new = go.Figure(explanation_bar_spec(shared, differing, "t"))  # validates: a wrong key would raise
    assert new.to_plotly_json() == old.to_plotly_json()


def test_an_empty_explanation_panel_says_none_instead_of_bare_axes():
    import plotly.graph_objects as go

    from lafg.app.plots import explanation_bar_spec
    from lafg.retrieval.explain import AtomContribution

    spec = explanation_bar_spec([], [AtomContribution(1, "long yellow bill", 0.6, 0.4, 0.2)], "t")
    go.Figure(spec)  # still a valid figure
    assert spec["layout"]["yaxis"]["visible"] is False and "visible" not in spec["layout"]["yaxis2"]
    assert [a["text"] for a in spec["layout"]["annotations"]][-1] == "none"
    full = explanation_bar_spec([AtomContribution(0, "red crown", 0.8, 0.7, 0.31)], [], "t")
    assert full["layout"]["yaxis2"]["visible"] is False and len(full["layout"]["annotations"]) == 3
