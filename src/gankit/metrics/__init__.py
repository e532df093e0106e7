"""Evaluation metrics, registered by name in :data:`METRICS`.

* 2-D mixtures: :func:`toy_mode_metrics` (PacGAN / VEEGAN mode protocol).
* Images: :func:`score_images` runs one feature pass (reference classifier or FID Inception-v3)
  and every requested metric on it -- FID, KID, IS, precision/recall, density/coverage, class
  accuracy, stacked-MNIST modes, PSNR/SSIM -- and records the protocol with the scores.
  :func:`real_ceilings` gives the real-data values under the same protocol.
"""
from .toy import METRICS, default_min_count, toy_eval, toy_mode_metrics
from .features import Extractor, get_extractor
from .suite import DEFAULT_METRICS, ImageMetric, cache_dir, real_ceilings, reference_features, score_images

__all__ = ["METRICS", "DEFAULT_METRICS", "Extractor", "ImageMetric", "cache_dir", "default_min_count",
           "get_extractor", "real_ceilings", "reference_features", "score_images", "toy_eval",
           "toy_mode_metrics"]
