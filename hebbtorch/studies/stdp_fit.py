"""Fit and compare STDP-like windows: exponential fits of each side, Pearson correlation with a
reference window, normalisation for plots.

Window convention: ``W(Δt)`` with ``Δt = t_post - t_pre`` in ms (1 step = 1 ms); the causal side
is ``Δt > 0`` (pre before post), the acausal side ``Δt < 0``. Each side is fitted with
``A exp(-|Δt| / tau)`` (``A`` signed); ``Δt = 0`` belongs to neither side.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from hebbtorch.errors import HebbtorchError

# Bi & Poo (1998) window time constants, as fitted by van Rossum, Bi & Turrigiano (2000).
TAU_PLUS_MS = 16.8
TAU_MINUS_MS = 33.7


def reference_window(dts, tau_plus: float = TAU_PLUS_MS, tau_minus: float = TAU_MINUS_MS,
                     a_plus: float = 1.0, a_minus: float = 1.0) -> np.ndarray:
    """Exponential STDP window: ``a_plus exp(-Δt/tau_plus)`` for Δt > 0, ``-a_minus
    exp(Δt/tau_minus)`` for Δt < 0, 0 at Δt = 0."""
    d = np.asarray(dts, dtype=float)
    return np.where(d > 0, a_plus * np.exp(-d / tau_plus),
                    np.where(d < 0, -a_minus * np.exp(d / tau_minus), 0.0))


def normalise(w) -> np.ndarray:
    """Divide by the largest |value| (peak magnitude 1, signs kept); all-zero stays zero."""
    w = np.asarray(w, dtype=float)
    m = np.nanmax(np.abs(w)) if w.size and np.isfinite(w).any() else 0.0
    return w / m if m > 0 else w.copy()


def pearson(a, b) -> float | None:
    """Pearson correlation over finite entries; None if either is constant."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    ok = np.isfinite(a) & np.isfinite(b)
    a, b = a[ok], b[ok]
    if a.size < 3 or a.std() == 0 or b.std() == 0:
        return None
    return float(np.corrcoef(a, b)[0, 1])


def _exp(x, a, tau):
    return a * np.exp(-x / tau)


def fit_side(lag_abs, w, *, rel_zero: float = 1e-9, scale: float | None = None) -> dict:
    """Fit ``A exp(-lag/tau)`` to one side (lag = |Δt| > 0). Returns amplitude, tau (ms, None if
    the side is flat zero or the fit fails), sign (+1/-1/0 from the side's sum), the normalised
    RMS error of the fit (RMSE / max|W| of the whole window), n points."""
    x = np.asarray(lag_abs, float)
    y = np.asarray(w, float)
    ok = np.isfinite(y)
    x, y = x[ok], y[ok]
    scale = float(np.max(np.abs(y))) if scale is None and y.size else (scale or 0.0)
    out = {"n": int(x.size), "amplitude": 0.0, "tau_ms": None, "sign": 0, "nrmse": None,
           "peak": float(y[np.argmax(np.abs(y))]) if y.size else 0.0, "sum": float(y.sum())}
    if x.size == 0 or scale == 0 or np.max(np.abs(y)) <= rel_zero * scale:
        out["nrmse"] = 0.0 if x.size else None
        return out
    s = float(np.sign(y.sum())) or float(np.sign(y[np.argmax(np.abs(y))]))
    out["sign"] = int(s)
    order = np.argsort(x)
    x, y = x[order], y[order] / scale  # fit in units of max|W|: tiny gradients fit as well
    a0 = y[0] if y[0] != 0 else y[np.argmax(np.abs(y))]
    best = None
    for tau0 in (2.0, 10.0, 40.0):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                p, _ = _curve_fit(x, y, a0, tau0)
        except (RuntimeError, ValueError):
            continue
        err = float(np.sqrt(np.mean((_exp(x, *p) - y) ** 2)))
        if best is None or err < best[1]:
            best = (p, err)
    if best is None:
        return out
    (a, tau), err = best
    out.update(amplitude=float(a) * scale, tau_ms=float(tau), nrmse=err)
    return out


def _curve_fit(x, y, a0, tau0):
    from scipy.optimize import curve_fit

    lim = 10.0 * max(abs(a0), float(np.max(np.abs(y))))
    return curve_fit(_exp, x, y, p0=(a0, tau0), bounds=((-lim, 0.05), (lim, 1e4)), maxfev=5000)


def fit_window(dts, w, *, tau_plus: float = TAU_PLUS_MS, tau_minus: float = TAU_MINUS_MS,
               max_lag: float | None = None) -> dict:
    """Fit both sides of a window ``w`` sampled at ``dts`` (ms) and compare it with the
    exponential reference window (unit amplitudes on both sides): ``pearson_reference`` over all
    Δt, and per side ``pearson_*`` with ``exp(-|Δt|/tau)``. Points with |Δt| > max_lag are left out.
    Also reports the branch tests of :func:`_branches` (LTD / LTP branch, timing dependent or
    a mere offset)."""
    d = np.asarray(dts, float)
    y = np.asarray(w, float)
    if d.shape != y.shape:
        raise HebbtorchError(f"dts {d.shape} and window {y.shape} differ in shape")
    if max_lag is not None:
        keep = np.abs(d) <= max_lag
        d, y = d[keep], y[keep]
    scale = float(np.nanmax(np.abs(y))) if y.size else 0.0
    pos, neg = d > 0, d < 0
    causal = fit_side(d[pos], y[pos], scale=scale)
    acausal = fit_side(-d[neg], y[neg], scale=scale)
    for side, lags in ((causal, d[pos]), (acausal, -d[neg])):
        # a tau longer than the swept range means "flat": no decay inside the window
        side["flat"] = bool(side["tau_ms"] is not None and lags.size
                            and side["tau_ms"] > float(lags.max()))
    causal["pearson_exp"] = pearson(y[pos], np.exp(-d[pos] / tau_plus))
    acausal["pearson_exp"] = pearson(y[neg], np.exp(d[neg] / tau_minus))
    zero = y[d == 0]
    return {
        "causal": causal, "acausal": acausal,
        "at_zero": float(zero[0]) if zero.size else None,
        "max_abs": scale,
        "pearson_reference": pearson(y, reference_window(d, tau_plus, tau_minus)),
        "reference": {"tau_plus_ms": tau_plus, "tau_minus_ms": tau_minus, "a_plus": 1.0,
                      "a_minus": 1.0, "dt_ms_per_step": 1.0},
        **_branches(d, y, scale),
    }


def _side_mean(d, y, lo: float, hi: float, scale: float) -> float | None:
    sel = (d >= lo) & (d <= hi) & np.isfinite(y)
    return float(y[sel].mean() / scale) if sel.any() and scale > 0 else None


def _branches(d, y, scale: float) -> dict:
    """Branch test on the window normalised by max|W|: mean over Δt in [-20, -1] ("near") and
    [-60, -41] ("far") ms on the acausal side, [1, 20] and [41, 60] on the causal side. An LTD
    branch = near acausal mean < -0.05; it is *timing dependent* if it also fades with |Δt|
    (near more negative than far by > 0.05), otherwise it is a Δt-independent offset."""
    na, fa = _side_mean(d, y, -20, -1, scale), _side_mean(d, y, -60, -41, scale)
    nc, fc = _side_mean(d, y, 1, 20, scale), _side_mean(d, y, 41, 60, scale)
    ltd = na is not None and na < -0.05
    ltp = nc is not None and nc > 0.05
    return {
        "near_acausal_mean": na, "far_acausal_mean": fa,
        "near_causal_mean": nc, "far_causal_mean": fc,
        "ltd_branch": bool(ltd),
        "ltd_timing_dependent": bool(ltd and (fa is None or na < fa - 0.05)),
        "ltp_branch": bool(ltp),
        "ltp_timing_dependent": bool(ltp and (fc is None or nc > fc + 0.05)),
    }


def finite_or_none(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)
