"""Visualisation: image grids and 2-D scatter plots written as PNG files."""
from .grid import make_image_grid, save_image_grid
from .scatter import save_gif, save_scatter, toy_frame, toy_limit

__all__ = ["make_image_grid", "save_gif", "save_image_grid", "save_scatter", "toy_frame", "toy_limit"]
