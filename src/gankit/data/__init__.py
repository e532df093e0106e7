"""Datasets and the on-device minibatch loader.

* 2-D toy mixtures ``ring8`` and ``grid25`` for mode-collapse studies (the protocol of PacGAN,
  Lin et al. 2018, arXiv 1712.04086, after VEEGAN, Srivastava et al. 2017, arXiv 1705.07761);
* ``mnist`` and ``fashion-mnist`` read from the original IDX files;
* ``imagefolder``: any directory of images, class sub-directories giving labels;
* translation sets ``<A>2<B>`` (``edges2mnist``, ``mnist2inverted``, ...) derived from those: two domains of
  images, paired or unpaired (see :mod:`.domains`);
* ``mnist-attributes``: MNIST digits with seeded colour, thickness and rotation attributes (:mod:`.attributes`);
* ``mnist-colours``: those digits grouped by colour, three unpaired domains (:mod:`.multidomain`).

``load_dataset`` returns the whole dataset as CPU tensors; ``DeviceLoader`` moves it to the
training device once and serves seeded, resumable minibatches; ``make_loader`` chooses it or, for
``data.labels=N`` (semi-supervised training), a ``FewLabelLoader`` whose batches mark the labels that are
not known with ``UNLABELLED`` (see :mod:`.fewlabels`).
"""
from .base import DATASETS, DataInfo, load_dataset
from .loader import DeviceLoader
from .fewlabels import UNLABELLED, FewLabelLoader, make_loader, select_labelled
from . import toy, mnist, imagefolder, domains, attributes, multidomain  # noqa: F401  (register the datasets)

__all__ = ["DATASETS", "DataInfo", "DeviceLoader", "FewLabelLoader", "UNLABELLED", "load_dataset", "make_loader",
           "select_labelled"]
