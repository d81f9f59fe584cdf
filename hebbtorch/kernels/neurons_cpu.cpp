// Fused multi-step LIF, ALIF and the seed's refractory neuron (forward and surrogate-gradient
// backward) over the whole time axis, CPU.
//
// Same arithmetic, in the same order, as hebbtorch/neurons/{lif,alif,refractory}.py, so
// spikes are
// bit-identical: built with -ffp-contract=off (no fused multiply-add the reference does not do).
// Layout: time-major [T, M] contiguous (M = batch * neurons), per-neuron parameters [M].
// Threads split the neurons into blocks; each thread walks the whole time axis for its blocks,
// keeping the block's state in L1 (one read of the input, one write of each output per step).
// Plain C ABI (loaded with ctypes) so the build needs no torch headers: it compiles in ~1 s.

#include <algorithm>
#include <cmath>
#include <cstdint>

namespace {

constexpr int64_t kBlock = 512;  // neurons per work item: 2 KiB of fp32 state, stays in L1

enum Reset { kSubtract = 0, kZero = 1 };
enum Surrogate { kFastSigmoid = 0, kArctan = 1, kTriangle = 2, kStraightThrough = 3 };

// d/dx of the surrogate primitive, as hebbtorch/neurons/surrogate.py
template <typename F, int S>
inline F surrogate_grad(F x, F k) {
  if constexpr (S == kFastSigmoid) {
    F d = F(1) + k * std::fabs(x);
    return F(1) / (d * d);
  } else if constexpr (S == kArctan) {
    F y = F(M_PI / 2.0) * k * x;
    return (k / F(2)) / (F(1) + y * y);
  } else if constexpr (S == kTriangle) {
    return k * std::max(F(1) - k * std::fabs(x), F(0));
  } else {
    (void)x;
    return k;
  }
}

// refrac: steps left (float, as the reference state); refr_mask[t] = 1 where step t was refractory
// Returns how many inputs were NaN or infinite (x - x != 0 only for those): checked here
// rather than in a separate pass over the input.
template <typename F, int RESET, bool REFR>
int64_t forward_block(const F* I, int64_t T, int64_t M, int64_t m0, int64_t n, const F* beta,
                      const F* thr, F* v, F* refrac, F R, F* spikes, F* h, uint8_t* refr_mask) {
  F vb[kBlock], rb[kBlock];
  int64_t nonfinite = 0;
  const F* b = beta + m0;
  const F* th = thr + m0;
  for (int64_t j = 0; j < n; ++j) vb[j] = v[m0 + j];
  if constexpr (REFR) for (int64_t j = 0; j < n; ++j) rb[j] = refrac[m0 + j];
  for (int64_t t = 0; t < T; ++t) {
    const int64_t o = t * M + m0;
    for (int64_t j = 0; j < n; ++j) {
      nonfinite += I[o + j] - I[o + j] != F(0);
      F u = b[j] * vb[j] + I[o + j];
      F s;
      if constexpr (REFR) {
        const bool r = rb[j] > F(0);
        u = r ? F(0) : u;
        s = (u - th[j] > F(0) && !r) ? F(1) : F(0);
        rb[j] = s > F(0) ? R : std::max(rb[j] - F(1), F(0));
        refr_mask[o + j] = r;
      } else {
        s = u - th[j] > F(0) ? F(1) : F(0);
      }
      h[o + j] = u;
      spikes[o + j] = s;
      vb[j] = RESET == kSubtract ? u - s * th[j] : u * (F(1) - s);
    }
  }
  for (int64_t j = 0; j < n; ++j) v[m0 + j] = vb[j];
  if constexpr (REFR) for (int64_t j = 0; j < n; ++j) refrac[m0 + j] = rb[j];
  return nonfinite;
}

// Reverse-time recursion for one block; dv carries dL/dv[t] (membrane after reset).
// gS, gH: upstream grads of spikes and of v-before-reset ([T, M] with time stride sS / sH: 0 when
// the grad is broadcast over time, as out.sum() gives, or absent and pointing at zeros); gV: of
// the final membrane [M]. h is all the forward kept; spikes are recomputed from it. No branches
// in the inner loop, so it vectorises.
template <typename F, int RESET, int SURR, bool REFR>
void backward_block(const F* h, const uint8_t* refr_mask, const F* gS, int64_t sS, const F* gH,
                    int64_t sH, const F* gV, const F* v0, const F* beta, const F* thr, int64_t T,
                    int64_t M, int64_t m0, int64_t n, F k, bool detach, F* dI, F* dv0, F* dbeta,
                    F* dthr) {
  F dv[kBlock];
  double db[kBlock], dt[kBlock];  // sums over T in double: as exact as the reference's
  const F* b = beta + m0;
  const F* th = thr + m0;
  const F keep = detach ? F(0) : F(1);  // the reset's path through the spike
  for (int64_t j = 0; j < n; ++j) {
    dv[j] = gV[m0 + j];
    db[j] = 0.0;
    dt[j] = 0.0;
  }
  for (int64_t t = T - 1; t >= 0; --t) {
    const int64_t o = t * M + m0;
    const F* gs_t = gS + t * sS + m0;
    const F* gh_t = gH + t * sH + m0;
    // the membrane after the previous step's reset, for d beta: v0 at t = 0, else from h[t-1]
    const bool first = t == 0;
    const F* hp = first ? v0 + m0 : h + o - M;
    const uint8_t* rp = REFR ? refr_mask + (first ? o : o - M) : nullptr;
    for (int64_t j = 0; j < n; ++j) {
      const F u = h[o + j];
      const F x = u - th[j];
      F live = F(1);  // 0 where the neuron was refractory: no spike, no gradient
      if constexpr (REFR) live = refr_mask[o + j] ? F(0) : F(1);
      const F s = x > F(0) ? live : F(0);
      const F reset_ds = RESET == kSubtract ? -th[j] : -u;  // d v[t] / d s[t]
      const F gs = gs_t[j] + keep * dv[j] * reset_ds;
      const F dx = gs * surrogate_grad<F, SURR>(x, k) * live;
      const F reset_dh = RESET == kSubtract ? F(1) : F(1) - s;  // d v[t] / d h[t], s fixed
      const F dh = gh_t[j] + dv[j] * reset_dh + dx;
      const F du = dh * live;
      dt[j] -= double(dx) + (RESET == kSubtract ? double(dv[j] * s) : 0.0);
      const F up = hp[j];
      F sp = up - th[j] > F(0) ? F(1) : F(0);
      if constexpr (REFR) sp = rp[j] ? F(0) : sp;
      const F vprev = first ? up : (RESET == kSubtract ? up - sp * th[j] : up * (F(1) - sp));
      db[j] += double(du * vprev);
      dI[o + j] = du;
      dv[j] = du * b[j];
    }
  }
  for (int64_t j = 0; j < n; ++j) dv0[m0 + j] = dv[j];
  if (dbeta) for (int64_t j = 0; j < n; ++j) dbeta[m0 + j] = F(db[j]);
  if (dthr) for (int64_t j = 0; j < n; ++j) dthr[m0 + j] = F(dt[j]);
}

template <typename F>
int64_t forward(const F* I, int64_t T, int64_t M, const F* beta, const F* thr, F* v, F* refrac,
                int reset, int64_t R, F* spikes, F* h, uint8_t* refr_mask, int nthreads) {
  const int64_t nblocks = (M + kBlock - 1) / kBlock;
  int64_t nonfinite = 0;
#pragma omp parallel for schedule(static) num_threads(nthreads) reduction(+ : nonfinite)
  for (int64_t bi = 0; bi < nblocks; ++bi) {
    const int64_t m0 = bi * kBlock, n = std::min(kBlock, M - m0);
    auto run = [&](auto fn) {
      return fn(I, T, M, m0, n, beta, thr, v, refrac, F(R), spikes, h, refr_mask);
    };
    if (reset == kSubtract) {
      nonfinite += R > 0 ? run(forward_block<F, kSubtract, true>)
                         : run(forward_block<F, kSubtract, false>);
    } else {
      nonfinite += R > 0 ? run(forward_block<F, kZero, true>) : run(forward_block<F, kZero, false>);
    }
  }
  return nonfinite;
}

template <typename F, int RESET, bool REFR, typename Run>
void by_surrogate(int surrogate, Run run) {
  switch (surrogate) {
    case kFastSigmoid: return run(backward_block<F, RESET, kFastSigmoid, REFR>);
    case kArctan: return run(backward_block<F, RESET, kArctan, REFR>);
    case kTriangle: return run(backward_block<F, RESET, kTriangle, REFR>);
    default: return run(backward_block<F, RESET, kStraightThrough, REFR>);
  }
}

template <typename F>
void backward(const F* h, const uint8_t* rm, const F* gS, int64_t sS, const F* gH, int64_t sH,
              const F* gV, const F* v0, const F* beta, const F* thr, int64_t T, int64_t M,
              int reset, int surrogate, F k, int detach, F* dI, F* dv0, F* dbeta, F* dthr,
              int nthreads) {
  const int64_t nblocks = (M + kBlock - 1) / kBlock;
#pragma omp parallel for schedule(static) num_threads(nthreads)
  for (int64_t bi = 0; bi < nblocks; ++bi) {
    const int64_t m0 = bi * kBlock, n = std::min(kBlock, M - m0);
    auto run = [&](auto fn) {
      fn(h, rm, gS, sS, gH, sH, gV, v0, beta, thr, T, M, m0, n, k, detach != 0, dI, dv0, dbeta,
         dthr);
    };
    if (reset == kSubtract) {
      if (rm) by_surrogate<F, kSubtract, true>(surrogate, run);
      else by_surrogate<F, kSubtract, false>(surrogate, run);
    } else {
      if (rm) by_surrogate<F, kZero, true>(surrogate, run);
      else by_surrogate<F, kZero, false>(surrogate, run);
    }
  }
}

// ALIF (Bellec et al. 2018, eqs. 1-3): a[t] = rho a[t-1] + (1 - rho) s[t-1]; A = thr + c a;
// h = beta v + I; s = Θ(h - A); v = h - s A (subtract) or h (1 - s) (zero). State (v, a, s).
// Outputs spikes, h and A [T, M]; backward keeps h and A (both outputs) and recomputes s.
template <typename F, int RESET>
int64_t alif_forward_block(const F* __restrict I, int64_t T, int64_t M, int64_t m0, int64_t n,
                           const F* __restrict beta, const F* __restrict rho,
                           const F* __restrict omr, const F* __restrict thr, F c, F* v, F* a,
                           F* s, F* __restrict spikes, F* __restrict h, F* __restrict A) {
  F vb[kBlock], ab[kBlock], sb[kBlock];
  int64_t nonfinite = 0;
  for (int64_t j = 0; j < n; ++j) {
    vb[j] = v[m0 + j];
    ab[j] = a[m0 + j];
    sb[j] = s[m0 + j];
  }
  for (int64_t t = 0; t < T; ++t) {
    const int64_t o = t * M + m0;
    for (int64_t j = 0; j < n; ++j) {
      nonfinite += I[o + j] - I[o + j] != F(0);
      ab[j] = rho[m0 + j] * ab[j] + omr[m0 + j] * sb[j];
      const F At = thr[m0 + j] + c * ab[j];
      const F u = beta[m0 + j] * vb[j] + I[o + j];
      const F sp = u - At > F(0) ? F(1) : F(0);
      h[o + j] = u;
      A[o + j] = At;
      spikes[o + j] = sp;
      sb[j] = sp;
      vb[j] = RESET == kSubtract ? u - sp * At : u * (F(1) - sp);
    }
  }
  for (int64_t j = 0; j < n; ++j) {
    v[m0 + j] = vb[j];
    a[m0 + j] = ab[j];
    s[m0 + j] = sb[j];
  }
  return nonfinite;
}

// Carries: dv = dL/dv[t], daf = the part of dL/da[t] from a[t+1] (rho Da[t+1]), dsf = dL/ds[t]
// from a[t+1] ((1 - rho) Da[t+1]); they start as the grads of the final state (gV, gA_, gS_).
template <typename F, int RESET, int SURR>
void alif_backward_block(const F* h, const F* A, const F* gS, int64_t sS, const F* gH, int64_t sH,
                         const F* gA, int64_t sA, const F* gV, const F* gAs, const F* gSs,
                         const F* beta, const F* rho, const F* omr, F c, int64_t T, int64_t M,
                         int64_t m0, int64_t n, F k, bool detach, F* dI, F* dv0, F* da0,
                         F* ds0) {
  F dv[kBlock], daf[kBlock], dsf[kBlock];
  const F keep = detach ? F(0) : F(1);
  for (int64_t j = 0; j < n; ++j) {
    dv[j] = gV[m0 + j];
    daf[j] = gAs[m0 + j];
    dsf[j] = gSs[m0 + j];
  }
  for (int64_t t = T - 1; t >= 0; --t) {
    const int64_t o = t * M + m0;
    const F* gs_t = gS + t * sS + m0;
    const F* gh_t = gH + t * sH + m0;
    const F* ga_t = gA + t * sA + m0;
    for (int64_t j = 0; j < n; ++j) {
      const F u = h[o + j], At = A[o + j];
      const F x = u - At;
      const F s = x > F(0) ? F(1) : F(0);
      const F reset_ds = RESET == kSubtract ? -At : -u;
      const F dx = (gs_t[j] + dsf[j] + keep * dv[j] * reset_ds) * surrogate_grad<F, SURR>(x, k);
      const F reset_dh = RESET == kSubtract ? F(1) : F(1) - s;
      const F dh = gh_t[j] + dv[j] * reset_dh + dx;
      const F dA = ga_t[j] - dx - (RESET == kSubtract ? dv[j] * s : F(0));
      const F Da = c * dA + daf[j];
      dI[o + j] = dh;
      dv[j] = dh * beta[m0 + j];
      daf[j] = rho[m0 + j] * Da;
      dsf[j] = omr[m0 + j] * Da;
    }
  }
  for (int64_t j = 0; j < n; ++j) {
    dv0[m0 + j] = dv[j];
    da0[m0 + j] = daf[j];
    ds0[m0 + j] = dsf[j];
  }
}

template <typename F>
int64_t alif_forward(const F* I, int64_t T, int64_t M, const F* beta, const F* rho, const F* omr,
                     const F* thr, F c, F* v, F* a, F* s, int reset, F* spikes, F* h, F* A,
                     int nthreads) {
  const int64_t nblocks = (M + kBlock - 1) / kBlock;
  int64_t nonfinite = 0;
#pragma omp parallel for schedule(static) num_threads(nthreads) reduction(+ : nonfinite)
  for (int64_t bi = 0; bi < nblocks; ++bi) {
    const int64_t m0 = bi * kBlock, n = std::min(kBlock, M - m0);
    auto run = [&](auto fn) {
      return fn(I, T, M, m0, n, beta, rho, omr, thr, c, v, a, s, spikes, h, A);
    };
    nonfinite += reset == kSubtract ? run(alif_forward_block<F, kSubtract>)
                                    : run(alif_forward_block<F, kZero>);
  }
  return nonfinite;
}

template <typename F, int RESET, typename Run>
void alif_by_surrogate(int surrogate, Run run) {
  switch (surrogate) {
    case kFastSigmoid: return run(alif_backward_block<F, RESET, kFastSigmoid>);
    case kArctan: return run(alif_backward_block<F, RESET, kArctan>);
    case kTriangle: return run(alif_backward_block<F, RESET, kTriangle>);
    default: return run(alif_backward_block<F, RESET, kStraightThrough>);
  }
}

template <typename F>
void alif_backward(const F* h, const F* A, const F* gS, int64_t sS, const F* gH, int64_t sH,
                   const F* gA, int64_t sA, const F* gV, const F* gAs, const F* gSs,
                   const F* beta, const F* rho, const F* omr, F c, int64_t T, int64_t M,
                   int reset, int surrogate, F k, int detach, F* dI, F* dv0, F* da0, F* ds0,
                   int nthreads) {
  const int64_t nblocks = (M + kBlock - 1) / kBlock;
#pragma omp parallel for schedule(static) num_threads(nthreads)
  for (int64_t bi = 0; bi < nblocks; ++bi) {
    const int64_t m0 = bi * kBlock, n = std::min(kBlock, M - m0);
    auto run = [&](auto fn) {
      fn(h, A, gS, sS, gH, sH, gA, sA, gV, gAs, gSs, beta, rho, omr, c, T, M, m0, n, k,
         detach != 0, dI, dv0, da0, ds0);
    };
    if (reset == kSubtract) alif_by_surrogate<F, kSubtract>(surrogate, run);
    else alif_by_surrogate<F, kZero>(surrogate, run);
  }
}

// Chevalier's refractory neuron (hebbtorch/neurons/refractory.py): u = I + decay inner;
// out = relu(u - thr) (graded) or Θ(u - thr) (binary); inner = u - (k u) gate, k = penalty/thr,
// gate = out > 0 (no gradient through it). Outputs are one step late: inner_seq[t], out_seq[t] =
// the state before step t. Backward keeps u (the inner state before the reset) [T, M].
template <typename F, bool BINARY>
int64_t refr_forward_block(const F* __restrict I, int64_t T, int64_t M, int64_t m0, int64_t n,
                           F decay, F thr, F k, F* inner, F* out, F* __restrict inner_seq,
                           F* __restrict out_seq, F* __restrict u_seq) {
  F ib[kBlock], ob[kBlock];
  int64_t nonfinite = 0;
  for (int64_t j = 0; j < n; ++j) {
    ib[j] = inner[m0 + j];
    ob[j] = out[m0 + j];
  }
  for (int64_t t = 0; t < T; ++t) {
    const int64_t o = t * M + m0;
    for (int64_t j = 0; j < n; ++j) {
      nonfinite += I[o + j] - I[o + j] != F(0);
      inner_seq[o + j] = ib[j];
      out_seq[o + j] = ob[j];
      const F u = I[o + j] + decay * ib[j];
      const F x = u - thr;
      const F y = BINARY ? (x > F(0) ? F(1) : F(0)) : std::max(x, F(0));
      const F gate = y > F(0) ? F(1) : F(0);
      u_seq[o + j] = u;
      ib[j] = u - (k * u) * gate;
      ob[j] = y;
    }
  }
  for (int64_t j = 0; j < n; ++j) {
    inner[m0 + j] = ib[j];
    out[m0 + j] = ob[j];
  }
  return nonfinite;
}

// gI, gO: grads of inner_seq / out_seq ([T, M], time strides sI / sO); gSi, gSo: of the final
// state. Step t's results appear at output t + 1, or in the final state for t = T - 1.
template <typename F, bool BINARY, int SURR>
void refr_backward_block(const F* u_seq, const F* gI, int64_t sI, const F* gO, int64_t sO,
                         const F* gSi, const F* gSo, int64_t T, int64_t M, int64_t m0, int64_t n,
                         F decay, F thr, F k, F slope, F* dI, F* d_inner0, F* d_out0) {
  F carry[kBlock];  // dL/d inner (after reset) through the next step's decay
  for (int64_t j = 0; j < n; ++j) carry[j] = F(0);
  for (int64_t t = T - 1; t >= 0; --t) {
    const int64_t o = t * M + m0;
    const bool last = t == T - 1;
    const F* gi = last ? gSi + m0 : gI + (t + 1) * sI + m0;
    const F* go = last ? gSo + m0 : gO + (t + 1) * sO + m0;
    for (int64_t j = 0; j < n; ++j) {
      const F u = u_seq[o + j];
      const F x = u - thr;
      const F gate = x > F(0) ? F(1) : F(0);
      const F dy_dx = BINARY ? surrogate_grad<F, SURR>(x, slope) : gate;
      const F du = (gi[j] + carry[j]) * (F(1) - k * gate) + go[j] * dy_dx;
      dI[o + j] = du;
      carry[j] = decay * du;
    }
  }
  for (int64_t j = 0; j < n; ++j) {
    d_inner0[m0 + j] = gI[m0 + j] + carry[j];
    d_out0[m0 + j] = gO[m0 + j];
  }
}

template <typename F>
int64_t refr_forward(const F* I, int64_t T, int64_t M, F decay, F thr, F k, int binary, F* inner,
                     F* out, F* inner_seq, F* out_seq, F* u_seq, int nthreads) {
  const int64_t nblocks = (M + kBlock - 1) / kBlock;
  int64_t nonfinite = 0;
#pragma omp parallel for schedule(static) num_threads(nthreads) reduction(+ : nonfinite)
  for (int64_t bi = 0; bi < nblocks; ++bi) {
    const int64_t m0 = bi * kBlock, n = std::min(kBlock, M - m0);
    auto run = [&](auto fn) {
      return fn(I, T, M, m0, n, decay, thr, k, inner, out, inner_seq, out_seq, u_seq);
    };
    nonfinite += binary ? run(refr_forward_block<F, true>) : run(refr_forward_block<F, false>);
  }
  return nonfinite;
}

template <typename F>
void refr_backward(const F* u_seq, const F* gI, int64_t sI, const F* gO, int64_t sO,
                   const F* gSi, const F* gSo, int64_t T, int64_t M, F decay, F thr, F k,
                   int binary, int surrogate, F slope, F* dI, F* d_inner0, F* d_out0,
                   int nthreads) {
  const int64_t nblocks = (M + kBlock - 1) / kBlock;
#pragma omp parallel for schedule(static) num_threads(nthreads)
  for (int64_t bi = 0; bi < nblocks; ++bi) {
    const int64_t m0 = bi * kBlock, n = std::min(kBlock, M - m0);
    auto run = [&](auto fn) {
      fn(u_seq, gI, sI, gO, sO, gSi, gSo, T, M, m0, n, decay, thr, k, slope, dI, d_inner0,
         d_out0);
    };
    if (!binary) {
      run(refr_backward_block<F, false, kFastSigmoid>);  // graded: relu', no surrogate
    } else {
      switch (surrogate) {
        case kFastSigmoid: run(refr_backward_block<F, true, kFastSigmoid>); break;
        case kArctan: run(refr_backward_block<F, true, kArctan>); break;
        case kTriangle: run(refr_backward_block<F, true, kTriangle>); break;
        default: run(refr_backward_block<F, true, kStraightThrough>);
      }
    }
  }
}

}  // namespace

extern "C" {

#define HT_FORWARD(NAME, F)                                                               \
  int64_t NAME(const F* I, int64_t T, int64_t M, const F* beta, const F* thr, F* v,      \
               F* refrac, int reset, int64_t R, F* spikes, F* h, uint8_t* refr_mask,      \
               int nthreads) {                                                            \
    return forward<F>(I, T, M, beta, thr, v, refrac, reset, R, spikes, h, refr_mask,      \
                      nthreads);                                                          \
  }
#define HT_BACKWARD(NAME, F)                                                              \
  void NAME(const F* h, const uint8_t* rm, const F* gS, int64_t sS, const F* gH,          \
            int64_t sH, const F* gV, const F* v0, const F* beta, const F* thr, int64_t T,  \
            int64_t M, int reset, int surrogate, F k, int detach, F* dI, F* dv0,          \
            F* dbeta, F* dthr, int nthreads) {                                            \
    backward<F>(h, rm, gS, sS, gH, sH, gV, v0, beta, thr, T, M, reset, surrogate, k,      \
                detach, dI, dv0, dbeta, dthr, nthreads);                                  \
  }

#define HT_ALIF_FORWARD(NAME, F)                                                          \
  int64_t NAME(const F* I, int64_t T, int64_t M, const F* beta, const F* rho, const F* omr,  \
               const F* thr, F c, F* v, F* a, F* s, int reset, F* spikes, F* h, F* A,     \
               int nthreads) {                                                            \
    return alif_forward<F>(I, T, M, beta, rho, omr, thr, c, v, a, s, reset, spikes, h, A, \
                           nthreads);                                                     \
  }
#define HT_ALIF_BACKWARD(NAME, F)                                                         \
  void NAME(const F* h, const F* A, const F* gS, int64_t sS, const F* gH, int64_t sH,     \
            const F* gA, int64_t sA, const F* gV, const F* gAs, const F* gSs,             \
            const F* beta, const F* rho, const F* omr, F c, int64_t T, int64_t M,          \
            int reset, int surrogate, F k, int detach, F* dI, F* dv0, F* da0, F* ds0,      \
            int nthreads) {                                                               \
    alif_backward<F>(h, A, gS, sS, gH, sH, gA, sA, gV, gAs, gSs, beta, rho, omr, c, T, M,  \
                     reset, surrogate, k, detach, dI, dv0, da0, ds0, nthreads);           \
  }

#define HT_REFR_FORWARD(NAME, F)                                                          \
  int64_t NAME(const F* I, int64_t T, int64_t M, F decay, F thr, F k, int binary, F* inner, \
               F* out, F* inner_seq, F* out_seq, F* u_seq, int nthreads) {                \
    return refr_forward<F>(I, T, M, decay, thr, k, binary, inner, out, inner_seq, out_seq, \
                           u_seq, nthreads);                                              \
  }
#define HT_REFR_BACKWARD(NAME, F)                                                         \
  void NAME(const F* u_seq, const F* gI, int64_t sI, const F* gO, int64_t sO, const F* gSi, \
            const F* gSo, int64_t T, int64_t M, F decay, F thr, F k, int binary,           \
            int surrogate, F slope, F* dI, F* d_inner0, F* d_out0, int nthreads) {        \
    refr_backward<F>(u_seq, gI, sI, gO, sO, gSi, gSo, T, M, decay, thr, k, binary,         \
                     surrogate, slope, dI, d_inner0, d_out0, nthreads);                   \
  }

HT_FORWARD(ht_lif_forward_f32, float)
HT_FORWARD(ht_lif_forward_f64, double)
HT_BACKWARD(ht_lif_backward_f32, float)
HT_BACKWARD(ht_lif_backward_f64, double)
HT_ALIF_FORWARD(ht_alif_forward_f32, float)
HT_ALIF_FORWARD(ht_alif_forward_f64, double)
HT_ALIF_BACKWARD(ht_alif_backward_f32, float)
HT_ALIF_BACKWARD(ht_alif_backward_f64, double)
HT_REFR_FORWARD(ht_refractory_forward_f32, float)
HT_REFR_FORWARD(ht_refractory_forward_f64, double)
HT_REFR_BACKWARD(ht_refractory_backward_f32, float)
HT_REFR_BACKWARD(ht_refractory_backward_f64, double)

}  // extern "C"
