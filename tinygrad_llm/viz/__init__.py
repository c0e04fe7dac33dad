"""Plotting, in one place: training curves (``curves.py``) and computation graphs (``graph.py``).
matplotlib is drawn with the Agg backend, so nothing needs a display."""
from .curves import ema, plot_loss_curves
from .graph import draw_graph, to_dot

__all__ = ["ema", "plot_loss_curves", "draw_graph", "to_dot"]
