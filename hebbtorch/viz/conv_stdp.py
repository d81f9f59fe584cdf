"""Pictures of the kernels a conv-STDP network learned, one panel grid per layer.

Layer 1 is drawn in pixel space as on-channel minus off-channel weights (with DoG input) or
the one channel (raw input). Deeper layers are projected onto pixels the usual way for these
networks: each kernel entry ``w[o, c, u, v]`` adds the pixel picture of lower map ``c`` at the
offset ``(u, v)`` times the pooling stride below, weighted by ``w``.
"""

from __future__ import annotations

import torch

from hebbtorch.networks.conv_stdp import ConvSTDPNet
from hebbtorch.viz.style import figure


def kernel_pictures(net: ConvSTDPNet) -> list[torch.Tensor]:
    """Per layer, ``[C_out, h, w]`` pixel-space pictures of its maps (see module docstring)."""
    w1 = net.weights[0].detach().cpu()
    pics = w1[:, 0] - w1[:, 1] if w1.shape[1] == 2 else w1[:, 0]
    out = [pics]
    for i in range(1, len(net.p.layers)):
        w = net.weights[i].detach().cpu()  # [O, C, k, k]
        stride = net.p.layers[i - 1].pool[1]
        pics = _project(w, pics, stride)
        out.append(pics)
    return out


def _project(w: torch.Tensor, lower: torch.Tensor, stride: int) -> torch.Tensor:
    o, c, kh, kw = w.shape
    h, wd = lower.shape[-2:]
    canvas = torch.zeros(o, h + stride * (kh - 1), wd + stride * (kw - 1))
    for u in range(kh):
        for v in range(kw):
            part = torch.einsum("oc,chw->ohw", w[:, :, u, v], lower)
            canvas[:, u * stride:u * stride + h, v * stride:v * stride + wd] += part
    return canvas


def plot_kernels(net: ConvSTDPNet, max_maps: int = 64):
    """One row of panels per layer (up to ``max_maps`` maps each); returns the figure."""
    pics = kernel_pictures(net)
    cols = min(16, max(p.shape[0] for p in pics), max_maps)
    rows_per = [-(-min(p.shape[0], max_maps) // cols) for p in pics]
    fig, axes = figure(sum(rows_per), cols, width=0.7, height=0.7)
    for ax in axes.flat:
        ax.axis("off")
    r0 = 0
    for li, (p, nr) in enumerate(zip(pics, rows_per, strict=True)):
        for j in range(min(p.shape[0], max_maps)):
            ax = axes[r0 + j // cols, j % cols]
            lim = float(p[j].abs().max()) or 1.0
            ax.imshow(p[j].numpy(), cmap="RdBu_r", vmin=-lim, vmax=lim)
            if j == 0:
                ax.set_title(f"layer {li + 1}", fontsize=7, loc="left")
        r0 += nr
    return fig
