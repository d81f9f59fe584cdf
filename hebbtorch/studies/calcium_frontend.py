"""Fixed (non-plastic) front ends for the supervised calcium-bistable network [own choice, not
in Girão, Risi & Chicca 2025's description; reported apart from the paper-like pixel network].

Both map an image to ``n`` binary features with a k-winners-take-all: exactly
``round(coding x n)`` features are on for every image (a fixed input coding level), and the
plastic layer sees them as Poisson inputs. Nothing here learns; the weights are drawn once
from the seed.

* ``global``: a random Gaussian projection of the whole image, each feature's mean removed
  (so a feature responds to the image's shape, not its total ink). Brader, Senn & Fusi 2007
  classified preprocessed characters on 2000 input neurons, the closest precedent.
* ``local``: random local receptive fields (after McDonnell et al. 2015, PLoS ONE 10:e0134254,
  "receptive-field" extreme learning machine): each feature sees one random square patch of
  ``patch x patch`` pixels at a uniformly random position, with Gaussian weights whose mean
  over the patch is removed; its response is divided by ``norm_eps + ||patch||`` (the
  patch's Euclidean norm; own choice), so features on blank patches stay off and a faint
  and a bold stroke of the same shape rank alike.
"""

from __future__ import annotations

import math

import torch

from hebbtorch.errors import HebbtorchError

FRONT_ENDS = ("global", "local")


def front_end_weights(n_in: int, n: int, seed: int, kind: str = "global", patch: int = 0
                      ) -> torch.Tensor:
    """Fixed weights ``[n_in, n]`` of the front end ``kind`` (module docstring); ``local``
    needs square images (``n_in = side²``) and ``1 <= patch <= side``."""
    if kind not in FRONT_ENDS:
        raise HebbtorchError(f"front end must be one of {', '.join(FRONT_ENDS)}, got {kind!r}")
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
    kk = max(1, round(coding * R.shape[1]))
    return (h >= h.topk(kk, 1).values[:, -1:]).float()
