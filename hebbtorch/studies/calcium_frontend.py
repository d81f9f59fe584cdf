"""Front ends for the supervised calcium-bistable network, fixed while the calcium rule learns
[own choice, not in Girão, Risi & Chicca 2025's description; reported apart from the
paper-like pixel network].

Each maps an image to ``n`` binary features with a k-winners-take-all (:func:`kwta`): exactly
``round(coding x n)`` features are on for every image (a fixed input coding level), and the
plastic layer sees them as Poisson inputs. ``global`` and ``local`` never learn (weights drawn
once from the seed); ``conv-stdp`` is learned before, without labels, by STDP.

* ``global``: a random Gaussian projection of the whole image, each feature's mean removed
  (so a feature responds to the image's shape, not its total ink). Brader, Senn & Fusi 2007
  classified preprocessed characters on 2000 input neurons, the closest precedent.
* ``local``: random local receptive fields (after McDonnell et al. 2015, PLoS ONE 10:e0134254,
  "receptive-field" extreme learning machine): each feature sees one random square patch of
  ``patch x patch`` pixels at a uniformly random position, with Gaussian weights whose mean
  over the patch is removed; its response is divided by ``norm_eps + ||patch||`` (the
  patch's Euclidean norm; own choice), so features on blank patches stay off and a faint
  and a bold stroke of the same shape rank alike.
* ``conv-stdp``: the convolutional STDP network of Kheradpisheh et al. 2018 (Neural Networks
  99:56; :class:`~hebbtorch.networks.conv_stdp.ConvSTDPNet` with its defaults), trained
  unsupervised layer by layer on the training images (:func:`conv_stdp_network`, the
  protocol of :func:`~hebbtorch.learning.conv_stdp.run_experiment`); the features are the
  last layer's pooled potentials at the end of the window, max-pooled further to
  ``side x side`` positions per map (:func:`conv_stdp_potentials`), then k-WTA.
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import torch
import torch.nn.functional as F

from hebbtorch.errors import HebbtorchError
from hebbtorch.learning.conv_stdp import ConvSTDPConfig, run_experiment
from hebbtorch.networks.conv_stdp import ConvSTDPNet

FRONT_ENDS = ("global", "local", "conv-stdp")


def front_end_weights(n_in: int, n: int, seed: int, kind: str = "global", patch: int = 0
                      ) -> torch.Tensor:
    """Fixed weights ``[n_in, n]`` of the front end ``kind`` (module docstring); ``local``
    needs square images (``n_in = side²``) and ``1 <= patch <= side``."""
    if kind not in FRONT_ENDS[:2]:
        raise HebbtorchError(f"front end must be one of global, local (conv-stdp has no fixed "
                             f"weights), got {kind!r}")
    if int(n) != n or n < 1:
        raise HebbtorchError(f"front end size must be a positive integer, got {n}")
    g = torch.Generator().manual_seed(90_000 + seed)
    R = torch.randn(n_in, n, generator=g)
    if kind == "global":
        return R - R.mean(0, keepdim=True)
    side = math.isqrt(n_in)
    if side * side != n_in:
        raise HebbtorchError(f"local receptive fields need square images, got {n_in} pixels")
    if not 1 <= patch <= side:
        raise HebbtorchError(f"patch must be in 1..{side} (the image side), got {patch}")
    corner = torch.randint(0, side - patch + 1, (2, n), generator=g)
    ij = torch.arange(side)
    rows = (ij[:, None] >= corner[0]) & (ij[:, None] < corner[0] + patch)   # [side, n]
    cols = (ij[:, None] >= corner[1]) & (ij[:, None] < corner[1] + patch)
    inside = (rows[:, None, :] & cols[None, :, :]).reshape(n_in, n).float()
    R = R * inside
    return (R - R.sum(0, keepdim=True) / inside.sum(0, keepdim=True)) * inside


def binary_features(images: torch.Tensor, R: torch.Tensor, coding: float,
                    norm_eps: float | None = None) -> torch.Tensor:
    """Binary features ``[N, n]``: the ``coding`` fraction of features with the largest
    response is 1, the rest 0 (ties at the threshold all on). Response: ``images @ R``, or,
    with ``norm_eps``, divided by ``norm_eps + ||pixels under the feature's patch||``."""
    h = images @ R.to(images.device)
    if norm_eps is not None:
        inside = (R != 0).to(images.dtype).to(images.device)
        h = h / (norm_eps + (images.pow(2) @ inside).sqrt())
    return kwta(h, coding)


def kwta(h: torch.Tensor, coding: float, tie_seed: int | None = None) -> torch.Tensor:
    """Binary ``[N, n]``: the ``coding`` fraction of the largest responses of each row of ``h``
    is 1, the rest 0. Ties at the threshold: all on (``tie_seed`` None), or broken at random
    (a generator seeded with ``tie_seed``) so exactly ``round(coding x n)`` are on -- the
    conv-STDP potentials are sums of nearly binary kernel weights, so ties are common."""
    kk = max(1, round(coding * h.shape[1]))
    if tie_seed is None:
        return (h >= h.topk(kk, 1).values[:, -1:]).float()
    g = torch.Generator(device=h.device).manual_seed(tie_seed)
    shuffle = torch.rand(h.shape, generator=g, device=h.device).argsort(dim=1)
    order = h.gather(1, shuffle).argsort(dim=1, descending=True, stable=True)
    top = shuffle.gather(1, order[:, :kk])
    return torch.zeros_like(h).scatter_(1, top, 1.0)


def _square(images: torch.Tensor) -> torch.Tensor:
    """``[N, side²]`` intensities in [0, 1] as ``[N, side, side]``."""
    side = math.isqrt(images.shape[1]) if images.dim() == 2 else 0
    if side < 1 or side * side != images.shape[1]:
        raise HebbtorchError(f"the conv-STDP front end needs square images [N, side²], got "
                             f"{list(images.shape)}")
    return images.view(-1, side, side)


def conv_stdp_network(train_images: torch.Tensor, seed: int, layer_images: int = 2000,
                      device: torch.device | str = "cpu") -> ConvSTDPNet:
    """A :class:`ConvSTDPNet` (defaults; initial kernels from ``seed``) trained without labels
    by STDP on ``layer_images`` random images of ``train_images`` ``[N, side²]`` per layer
    (:func:`run_experiment` with :class:`ConvSTDPConfig`'s defaults, no readout), on
    ``device``."""
    if int(layer_images) != layer_images or layer_images < 1:
        raise HebbtorchError(f"layer_images must be a positive integer, got {layer_images}")
    imgs = _square(train_images)
    net = ConvSTDPNet(generator=torch.Generator().manual_seed(90_000 + seed), device=device)
    cfg = ConvSTDPConfig(seed=seed, layer_images=(layer_images,) * len(net.p.layers),
                         features=())
    run_experiment(net, cfg, SimpleNamespace(images=imgs), None)
    return net


def conv_stdp_potentials(net: ConvSTDPNet, images: torch.Tensor, side: int = 0
                         ) -> torch.Tensor:
    """``[N, maps x side²]``: the last layer's pooled potentials at the end of the window of
    ``images`` ``[N, H*W]``, max-pooled further to ``side x side`` positions per map
    (adaptive max pooling; ``side = 0``: as the network pools them)."""
    imgs = _square(images)
    with torch.no_grad():
        pot = net.run(net.encode(imgs[:1])[-1:], "potential")[0]  # the pooled grid's shape
        h, w = pot.shape[-2:]
        if not 0 <= side <= min(h, w):
            raise HebbtorchError(f"side must be in 0..{min(h, w)} (the pooled grid), got {side}")
        f = net.features(imgs, output="potential").view(len(imgs), -1, h, w)
        return (F.adaptive_max_pool2d(f, side) if side else f).flatten(1)


def conv_stdp_size(n_in: int, side: int = 0) -> int:
    """Number of features :func:`conv_stdp_potentials` gives for images of ``n_in`` pixels
    (checks the images are square and ``side`` fits, before any learning)."""
    return conv_stdp_potentials(ConvSTDPNet(), torch.zeros(1, n_in), side).shape[1]
