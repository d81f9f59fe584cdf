"""DVS (event camera) emulation and event-stream representations.

A pixel remembers the log intensity at its last event; when the log intensity, linearly
interpolated between frames, has risen by ``on_threshold`` (fallen by ``off_threshold``) since,
it emits an ON (OFF) event and moves its memory by one threshold — several events per frame
interval if the change is large. Event times are the interpolated crossing times, rounded to
whole microseconds; events closer than ``refractory_us`` to the pixel's previous event are
dropped (the memory still moves). Idea: Lichtsteiner et al. (2008) DVS pixel; frame-to-event
emulation as in ESIM (Rebecq et al. 2018) and v2e (Hu et al. 2021).

Events are NumPy structured arrays with fields ``x`` (column), ``y`` (row), ``t`` (µs) and ``p``
(1 = ON, 0 = OFF), all ``<i8`` — the layout Tonic uses, so its transforms accept them.
Frames made from events are ``[frames, 2, H, W]`` float counts, channel 0 = OFF, 1 = ON.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from hebbtorch.checks import check_range
from hebbtorch.errors import HebbtorchError

EVENT_DTYPE = np.dtype([("x", "<i8"), ("y", "<i8"), ("t", "<i8"), ("p", "<i8")])


def empty_events() -> np.ndarray:
    """A zero-length event array of :data:`EVENT_DTYPE`."""
    return np.zeros(0, dtype=EVENT_DTYPE)


def check_events(events: object, size: tuple[int, int] | None = None) -> np.ndarray:
    """Validate an event array: structured with fields x, y, t, p; non-empty; times sorted;
    polarities in {0, 1}; coordinates inside ``size = (height, width)`` when given."""
    if not isinstance(events, np.ndarray) or events.dtype.names is None:
        raise HebbtorchError(
            "events must be a NumPy structured array with fields x, y, t, p, got "
            f"{type(events).__name__}"
        )
    missing = [f for f in ("x", "y", "t", "p") if f not in events.dtype.names]
    if missing:
        raise HebbtorchError(f"events lack field(s) {missing}; expected x, y, t, p")
    if events.ndim != 1 or len(events) == 0:
        raise HebbtorchError(f"events must be a non-empty 1-D array, got shape {events.shape}")
    if np.any(np.diff(events["t"]) < 0):
        raise HebbtorchError("event timestamps t must be sorted (non-decreasing)")
    if not np.isin(events["p"], (0, 1)).all():
        raise HebbtorchError("event polarities p must be 0 (OFF) or 1 (ON)")
    if size is not None:
        h, w = _check_size(size)
        x, y = events["x"], events["y"]
        if x.min() < 0 or y.min() < 0 or x.max() >= w or y.max() >= h:
            raise HebbtorchError(
                f"event coordinates outside the sensor (height={h}, width={w}): x in "
                f"[{x.min()}, {x.max()}], y in [{y.min()}, {y.max()}]"
            )
    return events


def _check_size(size: tuple[int, int]) -> tuple[int, int]:
    try:
        h, w = (int(s) for s in size)
    except (TypeError, ValueError):
        raise HebbtorchError(f"size must be (height, width), got {size!r}") from None
    if h < 1 or w < 1:
        raise HebbtorchError(f"size must be positive (height, width), got {size!r}")
    return h, w


def _frames_numpy(frames: object) -> np.ndarray:
    if isinstance(frames, torch.Tensor):
        frames = frames.detach().cpu().numpy()
    f = np.asarray(frames, dtype=np.float64)
    if f.ndim not in (3, 4):
        raise HebbtorchError(
            f"frames must be [time, H, W] or [time, batch, H, W], got shape {f.shape}")
    if f.shape[0] < 1:
        raise HebbtorchError("frames must hold at least one frame")
    if not np.isfinite(f).all():
        raise HebbtorchError("frames contain NaN or infinite values")
    if f.min() < 0:
        raise HebbtorchError(f"frames must be non-negative intensities, found {f.min():g}")
    return f


def _timestamps(timestamps: object, n: int, frame_interval_us: int) -> np.ndarray:
    if timestamps is None:
        check_range("frame_interval_us", frame_interval_us, 0, low_open=True)
        return np.arange(n, dtype=np.int64) * int(frame_interval_us)
    if isinstance(timestamps, torch.Tensor):
        timestamps = timestamps.detach().cpu().numpy()
    ts = np.asarray(timestamps, dtype=np.float64)
    if ts.shape != (n,):
        raise HebbtorchError(f"timestamps must be [time] = ({n},) like the frames, got {ts.shape}")
    if not np.isfinite(ts).all() or np.any(np.diff(ts) <= 0):
        raise HebbtorchError("timestamps (µs) must be finite and strictly increasing")
    return ts.astype(np.int64)


def frames_to_events(
    frames: torch.Tensor | np.ndarray, timestamps: torch.Tensor | np.ndarray | None = None, *,
    on_threshold: float = 0.2, off_threshold: float = 0.2, refractory_us: int = 0,
    eps: float = 1e-3, frame_interval_us: int = 1000,
) -> np.ndarray | list[np.ndarray]:
    """Emulate a DVS watching a video.

    Args:
        frames: intensities >= 0 (e.g. in [0, 1]), ``[time, H, W]`` or ``[time, batch, H, W]``.
        timestamps: ``[time]`` frame times in µs, strictly increasing; default
            ``arange(time) * frame_interval_us``.
        on_threshold: ON contrast threshold on ``log(I + eps)`` (> 0).
        off_threshold: OFF contrast threshold on ``log(I + eps)`` (> 0).
        refractory_us: minimum gap (µs) between two events of one pixel.
        eps: offset keeping ``log`` finite on black pixels (> 0).

    Returns:
        a sorted event array (:data:`EVENT_DTYPE`) for ``[time, H, W]`` input, or a list of
        ``batch`` arrays for ``[time, batch, H, W]``. A static video gives no events.
    """
    f = _frames_numpy(frames)
    ts = _timestamps(timestamps, f.shape[0], frame_interval_us)
    c_on = check_range("on_threshold", on_threshold, 0.0, low_open=True)
    c_off = check_range("off_threshold", off_threshold, 0.0, low_open=True)
    check_range("refractory_us", refractory_us, 0.0)
    check_range("eps", eps, 0.0, low_open=True)
    if f.ndim == 4:
        return [_emulate(f[:, b], ts, c_on, c_off, int(refractory_us), eps)
                for b in range(f.shape[1])]
    return _emulate(f, ts, c_on, c_off, int(refractory_us), eps)


def _emulate(
    f: np.ndarray, ts: np.ndarray, c_on: float, c_off: float, refr: int, eps: float,
) -> np.ndarray:
    h, w = f.shape[1:]
    log_f = np.log(f.reshape(f.shape[0], -1) + eps)
    ref = log_f[0].copy()
    last = np.full(h * w, np.iinfo(np.int64).min // 2, dtype=np.int64)
    chunks: list[np.ndarray] = []
    for k in range(1, f.shape[0]):
        l0, l1 = log_f[k - 1], log_f[k]
        t0, span = ts[k - 1], ts[k] - ts[k - 1]
        slope = l1 - l0
        n_on = np.where(l1 > ref, np.floor((l1 - ref) / c_on + 1e-9), 0).astype(np.int64)
        n_off = np.where(l1 < ref, np.floor((ref - l1) / c_off + 1e-9), 0).astype(np.int64)
        pix_list, t_list, p_list = [], [], []
        for j in range(1, int(max(n_on.max(), n_off.max(), 0)) + 1):
            on_pix = np.flatnonzero(n_on >= j)
            off_pix = np.flatnonzero(n_off >= j)
            pix = np.concatenate([on_pix, off_pix])
            level = np.concatenate([ref[on_pix] + j * c_on, ref[off_pix] - j * c_off])
            frac = np.clip((level - l0[pix]) / slope[pix], 0.0, 1.0)
            t = np.rint(t0 + frac * span).astype(np.int64)
            keep = t - last[pix] >= refr
            last[pix[keep]] = t[keep]
            pix_list.append(pix[keep])
            t_list.append(t[keep])
            p_list.append(np.concatenate([np.ones(len(on_pix), np.int64),
                                          np.zeros(len(off_pix), np.int64)])[keep])
        ref = ref + n_on * c_on - n_off * c_off
        if not pix_list:
            continue
        pix, t, p = (np.concatenate(a) for a in (pix_list, t_list, p_list))
        ev = np.empty(len(pix), dtype=EVENT_DTYPE)
        ev["x"], ev["y"], ev["t"], ev["p"] = pix % w, pix // w, t, p
        chunks.append(ev[np.argsort(ev["t"], kind="stable")])
    return np.concatenate(chunks) if chunks else empty_events()


def events_to_frames(
    events: np.ndarray, size: tuple[int, int], *, n_time_bins: int | None = None,
    time_window_us: int | None = None, event_count: int | None = None,
    n_event_bins: int | None = None, start_us: int | None = None, end_us: int | None = None,
) -> torch.Tensor:
    """Accumulate events into count frames ``[frames, 2, H, W]`` (channel 0 OFF, 1 ON).

    Give exactly one of: ``n_time_bins`` (equal time slices over the stream),
    ``time_window_us`` (slices of that length from the first event), ``event_count`` (slices of
    that many events; the last may hold fewer), ``n_event_bins`` (equal event-count slices).
    ``size = (height, width)``. Add a batch dim with ``.unsqueeze(1)`` for ``[T, 1, 2, H, W]``.
    ``start_us`` / ``end_us`` (µs, both included; Tonic's ``start_time`` / ``end_time``) fix
    the stream's span instead of its first and last event, so that streams of one recording
    length share time bins; events outside are dropped (all of them dropped is an error).
    """
    h, w = _check_size(size)
    ev = check_events(events, (h, w))
    lo = int(ev["t"][0]) if start_us is None else int(start_us)
    hi = int(ev["t"][-1]) if end_us is None else int(end_us)
    if hi < lo:
        raise HebbtorchError(f"end_us must be >= start_us, got start_us={lo}, end_us={hi}")
    ev = ev[(ev["t"] >= lo) & (ev["t"] <= hi)]
    if len(ev) == 0:
        raise HebbtorchError(f"no events between start_us={lo} and end_us={hi}")
    given = {k: v for k, v in dict(n_time_bins=n_time_bins, time_window_us=time_window_us,
                                   event_count=event_count, n_event_bins=n_event_bins).items()
             if v is not None}
    if len(given) != 1:
        raise HebbtorchError(
            "give exactly one of n_time_bins, time_window_us, event_count, n_event_bins; got "
            f"{sorted(given) or 'none'}"
        )
    (key, value), = given.items()
    if int(value) != value or value < 1:
        raise HebbtorchError(f"{key} must be an integer >= 1, got {value!r}")
    value = int(value)
    t = ev["t"] - lo
    n = len(ev)
    if key == "n_time_bins":
        idx = (t * value) // (hi - lo + 1)
        n_frames = value
    elif key == "time_window_us":
        idx = t // value
        n_frames = (hi - lo) // value + 1
    elif key == "event_count":
        idx = np.arange(n) // value
        n_frames = int(idx[-1]) + 1
    else:
        idx = (np.arange(n) * value) // n
        n_frames = value
    flat = ((idx * 2 + ev["p"]) * h + ev["y"]) * w + ev["x"]
    out = np.bincount(flat, minlength=n_frames * 2 * h * w).astype(np.float32)
    return torch.from_numpy(out.reshape(n_frames, 2, h, w))


def events_to_voxel_grid(events: np.ndarray, size: tuple[int, int], n_bins: int) -> torch.Tensor:
    """Voxel grid ``[n_bins, H, W]``: each event adds its polarity (+1 ON, -1 OFF) to the two
    time bins nearest its normalised time, split linearly (Zhu et al. 2019, "Unsupervised
    event-based learning of optical flow")."""
    h, w = _check_size(size)
    ev = check_events(events, (h, w))
    if int(n_bins) != n_bins or n_bins < 1:
        raise HebbtorchError(f"n_bins must be an integer >= 1, got {n_bins!r}")
    n_bins = int(n_bins)
    t = (ev["t"] - ev["t"][0]).astype(np.float64)
    tn = t / t[-1] * (n_bins - 1) if t[-1] > 0 else np.zeros_like(t)
    lo = np.floor(tn).astype(np.int64)
    frac = tn - lo
    pol = np.where(ev["p"] == 1, 1.0, -1.0)
    grid = np.zeros((n_bins, h, w), dtype=np.float64)
    np.add.at(grid, (lo, ev["y"], ev["x"]), pol * (1.0 - frac))
    hi = np.minimum(lo + 1, n_bins - 1)
    np.add.at(grid, (hi, ev["y"], ev["x"]), pol * frac * (lo + 1 <= n_bins - 1))
    return torch.from_numpy(grid.astype(np.float32))


class DVSEmulator(nn.Module):
    """Module form of :func:`frames_to_events` (parameters only): ``emulator(frames,
    timestamps)`` → event array(s)."""

    def __init__(self, on_threshold: float = 0.2, off_threshold: float = 0.2,
                 refractory_us: int = 0, eps: float = 1e-3, frame_interval_us: int = 1000) -> None:
        super().__init__()
        self.on_threshold = check_range("on_threshold", on_threshold, 0.0, low_open=True)
        self.off_threshold = check_range("off_threshold", off_threshold, 0.0, low_open=True)
        self.refractory_us = int(check_range("refractory_us", refractory_us, 0.0))
        self.eps = check_range("eps", eps, 0.0, low_open=True)
        self.frame_interval_us = int(check_range("frame_interval_us", frame_interval_us, 0.0,
                                                 low_open=True))

    def forward(self, frames: torch.Tensor | np.ndarray,
                timestamps: torch.Tensor | np.ndarray | None = None
                ) -> np.ndarray | list[np.ndarray]:
        return frames_to_events(
            frames, timestamps, on_threshold=self.on_threshold, off_threshold=self.off_threshold,
            refractory_us=self.refractory_us, eps=self.eps,
            frame_interval_us=self.frame_interval_us,
        )

    def extra_repr(self) -> str:
        return (f"on_threshold={self.on_threshold:g}, off_threshold={self.off_threshold:g}, "
                f"refractory_us={self.refractory_us}")
