"""Evaluation metrics, registered by name in :data:`METRICS`."""
from .toy import METRICS, default_min_count, toy_eval, toy_mode_metrics

__all__ = ["METRICS", "default_min_count", "toy_eval", "toy_mode_metrics"]
