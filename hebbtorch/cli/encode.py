"""``hebbtorch encode``: one image through every spike encoder — a raster per encoder in one
picture (``encoding.png``) and the spike counts as JSON (``encoding.json``)."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from hebbtorch.cli.common import add_data, add_run, ensure_out, positive_float, positive_int
from hebbtorch.errors import HebbtorchError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("encode", help="compare spike encodings of one image (rasters + counts)")
    p.add_argument("image", nargs="?", type=Path, default=None,
                   help="a grayscale image: .png (or other format matplotlib reads) or .npy [H, W]")
    add_data(p, default=None)  # the image from a data set instead of a file
    p.add_argument("--index", type=int, default=0, help="example index in --dataset (default 0)")
    p.add_argument("--split", default="test", help="split of --dataset (default test)")
    p.add_argument("--steps", type=positive_int, default=50, help="time steps (default 50)")
    p.add_argument("--max-rate", type=positive_float, default=200.0,
                   help="rate of a white pixel in Hz, dt = 1 ms (default 200)")
    p.add_argument("--gif", action="store_true", help="also write encoding_events.gif (DVS)")
    add_run(p, "encode", resume=False, device=False, quiet=False)
    p.set_defaults(func=run)


def load_image(path: Path) -> np.ndarray:
    """A 2-D float image in [0, 1] from a .npy or an image file (colour → mean of RGB)."""
    if not path.is_file():
        raise HebbtorchError(f"image file {str(path)!r} not found")
    if path.suffix.lower() == ".npy":
        try:
            img = np.load(path, allow_pickle=False)
        except ValueError as e:
            raise HebbtorchError(f"cannot read {str(path)!r} as a .npy array: {e}") from e
    else:
        import matplotlib.image as mpimg

        try:
            img = mpimg.imread(path)
        except (OSError, ValueError, SyntaxError) as e:
            raise HebbtorchError(f"cannot read image {str(path)!r}: {e}") from e
        if img.ndim == 3:
            img = img[..., :3].mean(-1)
    img = np.asarray(img)
    if img.ndim != 2 or img.size == 0:
        raise HebbtorchError(f"image must be 2-D [H, W] (grayscale), got shape {img.shape}")
    img = img.astype(np.float64)
    if not np.isfinite(img).all() or img.min() < 0:
        raise HebbtorchError("image must hold finite, non-negative intensities")
    if img.max() > 1.0:
        img = img / 255.0 if img.max() <= 255.0 else img / img.max()
    return img


def _dataset_image(name: str, split: str, index: int,
                   root: str | None = None) -> tuple[np.ndarray, str]:
    from hebbtorch.data import load_dataset

    ds = load_dataset(name, split, root=root)
    images = np.asarray(ds.images)
    if not 0 <= index < len(images):
        raise HebbtorchError(f"--index must be in [0, {len(images) - 1}] for {name} {split}, "
                             f"got {index}")
    label = int(np.asarray(ds.labels)[index])
    return images[index].astype(np.float64) / 255.0, f"{name} {split}[{index}] (label {label})"


def encode_all(img: np.ndarray, steps: int, max_rate: float, seed: int) -> dict[str, object]:
    """Every encoder on ``img`` ``[H, W]``: name → spikes ``[steps, neurons]`` (numpy), plus
    the DVS events under ``"_events"``."""
    import torch

    from hebbtorch import encoding as enc
    from hebbtorch.encoding.registry import make_encoder

    g = torch.Generator().manual_seed(seed)
    x = torch.as_tensor(img, dtype=torch.float32).unsqueeze(0)  # [1, H, W]
    dvs = make_encoder("dvs", steps)  # the change codes exactly as --encoder feeds a network
    out: dict[str, torch.Tensor] = {
        "rate (Bernoulli)": enc.rate_encode(x, steps, max_rate=max_rate, dt=1.0, generator=g),
        "Poisson counts": enc.poisson_encode(x, steps, max_rate=max_rate, dt=1.0, generator=g),
        "latency (linear)": enc.latency_encode(x, steps, method="linear", threshold=0.05),
        "latency (log, RC)": enc.latency_encode(x, steps, method="log", threshold=0.05,
                                                tau=steps / 2),
        "rank order": enc.rank_order_encode(x, steps, per_step=None, threshold=0.05),
        "population (4 RFs/pixel)": enc.population_encode(
            x, steps, 4, max_rate=max_rate, dt=1.0, generator=g),
        "delta (fade in/out)": make_encoder("delta", steps)(x),
        "DVS (saccade video)": dvs(x),
    }
    result: dict[str, object] = {k: v.cpu().numpy().reshape(steps, -1) for k, v in out.items()}
    result["_events"] = dvs.events(x)
    return result


def run(args: argparse.Namespace) -> int:
    from hebbtorch.io import save_figure, write_json
    from hebbtorch.viz.encoding import encoding_overview

    if (args.image is None) == (args.dataset is None):
        raise HebbtorchError("give either an image file or --dataset NAME (not both)")
    if args.image is not None:
        img, source = load_image(args.image), str(args.image)
    else:
        img, source = _dataset_image(args.dataset, args.split, args.index, args.data_root)
    out = ensure_out(args.out)
    codes = encode_all(img, args.steps, args.max_rate, args.seed)
    events = codes.pop("_events")

    counts: dict[str, dict[str, object]] = {
        name: {"neurons": int(s.shape[1]), "total_spikes": int(s.sum()),
               "active_neurons": int((s.sum(0) > 0).sum()),
               "spikes_per_step": [int(v) for v in s.sum(1)]}
        for name, s in codes.items()}
    fig = encoding_overview(img, codes, source, args.steps)
    png = save_figure(fig, out / "encoding.png")
    write_json(out / "encoding.json", {
        "source": source, "steps": args.steps, "max_rate_hz": args.max_rate, "dt_ms": 1.0,
        "seed": args.seed, "image_shape": list(img.shape), "encoders": counts,
    })
    print(f"wrote {png} and {out / 'encoding.json'}")
    if args.gif:
        if len(events) == 0:
            raise HebbtorchError("the DVS emulation produced no events (blank image?)")
        from hebbtorch.viz.animation import animate_events

        gif = animate_events(events, img.shape, out / "encoding_events.gif",
                             n_frames=min(args.steps, 25))
        print(f"wrote {gif}")
    return 0
