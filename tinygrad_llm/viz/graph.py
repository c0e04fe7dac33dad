"""Look at a computation graph: as Graphviz DOT text, or drawn with matplotlib (no Graphviz needed).

Nodes are tensors (leaves in green, ``requires_grad`` leaves are the parameters) and the ops that made
them; edges point from inputs to outputs, the direction of the forward pass. Backward walks them in
reverse topological order (``autograd.topological_order``).
"""
from __future__ import annotations

from ..autograd import topological_order


def _label(t, names):
    name = names.get(id(t), "")
    return f"{name} {tuple(t.shape)}".strip()


def to_dot(root, names: dict | None = None) -> str:
    """DOT text for the graph that produced ``root``; ``names`` maps id(tensor) -> label."""
    names = names or {}
    lines = ["digraph G {", "  rankdir=LR;", "  node [fontname=Helvetica];"]
    for t in topological_order(root):
        tid = f"t{id(t)}"
        color = "palegreen" if t._node is None else "lightblue"
        lines.append(f'  {tid} [label="{_label(t, names)}", shape=box, style=filled, fillcolor={color}];')
        if t._node is not None:
            op = f"op{id(t)}"
            lines.append(f'  {op} [label="{t._node.fn.__name__}", shape=ellipse];')
            for p in t._node.parents:
                lines.append(f"  t{id(p)} -> {op};")
            lines.append(f"  {op} -> {tid};")
    lines.append("}")
    return "\n".join(lines)


def draw_graph(root, path, names: dict | None = None, close: bool = True):
    """Draw the graph with matplotlib, one column per depth from the leaves; save a PNG at ``path``.

    An op that uses the same tensor twice (``h * h``) gets two arrows from it, bent apart, since the backward
    pass adds one contribution per use. ``close=False`` leaves the figure open (a notebook then shows it)."""
    import matplotlib.pyplot as plt

    names = names or {}
    order = topological_order(root)
    depth = {}
    for t in order:  # parents come first, so their depth is known
        parents = t._node.parents if t._node is not None else ()
        depth[id(t)] = 1 + max((depth[id(p)] for p in parents), default=-1)
    columns = {}
    for t in order:
        columns.setdefault(depth[id(t)], []).append(t)
    pos = {id(t): (d, -i) for d, col in columns.items() for i, t in enumerate(col)}
    fig, ax = plt.subplots(figsize=(2.2 * (len(columns) + 1), 1.4 * max(len(c) for c in columns.values()) + 1))
    for t in order:
        x, y = pos[id(t)]
        if t._node is not None:
            uses = [id(p) for p in t._node.parents]
            seen: dict[int, int] = {}
            for p in t._node.parents:
                px, py = pos[id(p)]
                k, n = seen.get(id(p), 0), uses.count(id(p))
                seen[id(p)] = k + 1
                bend = 0.0 if n == 1 else 0.5 * (k - (n - 1) / 2)          # one arrow per use
                ax.annotate("", xy=(x - 0.3, y), xytext=(px + 0.3, py),
                            arrowprops=dict(arrowstyle="->", color="gray", connectionstyle=f"arc3,rad={bend}"))
            ax.text((x + pos[id(t._node.parents[0])][0]) / 2, y + 0.25, t._node.fn.__name__,
                    ha="center", fontsize=8, color="navy")
        color = "#c8f0c8" if t._node is None else "#cfe3f7"
        ax.text(x, y, _label(t, names), ha="center", va="center", fontsize=9,
                bbox=dict(boxstyle="round", fc=color, ec="gray"))
    ax.set_xlim(-0.7, len(columns) - 0.3)
    ax.set_ylim(-max(len(c) for c in columns.values()), 1)
    ax.axis("off")
    ax.set_title("computation graph (forward: left to right; backward: right to left)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    if close:
        plt.close(fig)
    return path
