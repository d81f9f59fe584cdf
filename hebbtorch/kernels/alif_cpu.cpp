// Fused multi-step ALIF (Bellec et al. 2018, eqs. 1-3; hebbtorch/neurons/alif.py), forward and
// surrogate backward over the whole time axis, CPU: the operators hebbtorch::alif_forward /
// alif_backward (schemas and autograd in hebbtorch/kernels/alif.py). Conventions:
// neuron_kernels.h.
//
// a[t] = rho a[t-1] + (1 - rho) s[t-1]; A = thr + c a; h = beta v + I; s = Θ(h - A);
// v = h - s A (subtract) or h (1 - s) (zero). State (v, a, s). Outputs spikes, h and A [T, M];
// backward keeps h and A (both outputs) and recomputes s.
#include "neuron_kernels.h"

namespace hebbtorch {
namespace {

template <typename F, int RESET>
int64_t forward_block(const F* __restrict I, int64_t T, int64_t M, int64_t m0, int64_t n,
                      const F* __restrict beta, const F* __restrict rho,
                      const F* __restrict omr, const F* __restrict thr, F c, F* v, F* a, F* s,
                      F* __restrict spikes, F* __restrict h, F* __restrict A) {
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
// from a[t+1] ((1 - rho) Da[t+1]); they start as the grads of the final state (gV, gAs, gSs).
template <typename F, int RESET, int SURR>
void backward_block(const F* h, const F* A, const F* gS, int64_t sS, const F* gH, int64_t sH,
                    const F* gA, int64_t sA, const F* gV, const F* gAs, const F* gSs,
                    const F* beta, const F* rho, const F* omr, F c, int64_t T, int64_t M,
                    int64_t m0, int64_t n, F k, bool detach, F* dI, F* dv0, F* da0, F* ds0) {
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

template <typename Run>
void by_reset(int64_t reset, Run run) {
  if (reset == kSubtract) run(std::integral_constant<int, kSubtract>{});
  else run(std::integral_constant<int, kZero>{});
}

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor> alif_forward(
    const at::Tensor& currents, const at::Tensor& beta, const at::Tensor& rho,
    const at::Tensor& one_minus_rho, const at::Tensor& threshold, double adapt_scale,
    const at::Tensor& v0, const at::Tensor& a0, const at::Tensor& s0, int64_t reset,
    int64_t surrogate, double slope, bool detach_reset) {
  const int64_t T = currents.size(0), M = v0.numel();
  auto spikes = at::empty_like(currents), h = at::empty_like(currents);
  auto A = at::empty_like(currents);
  auto v = v0.clone(), a = a0.clone(), s = s0.clone();
  int64_t bad = 0;
  AT_DISPATCH_FLOATING_TYPES(currents.scalar_type(), "alif_forward", [&] {
    using F = scalar_t;
    by_reset(reset, [&](auto R) {
      bad = over_blocks(M, [&](int64_t m0, int64_t n) {
        return forward_block<F, decltype(R)::value>(
            ptr<F>(currents), T, M, m0, n, ptr<F>(beta), ptr<F>(rho), ptr<F>(one_minus_rho),
            ptr<F>(threshold), F(adapt_scale), ptr<F>(v), ptr<F>(a), ptr<F>(s), ptr<F>(spikes),
            ptr<F>(h), ptr<F>(A));
      });
    });
  });
  check_finite(bad);
  return {spikes, h, A, v, a, s};
}

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> alif_backward(
    const at::Tensor& h, const at::Tensor& A, const std::optional<at::Tensor>& grad_spikes,
    const std::optional<at::Tensor>& grad_h, const std::optional<at::Tensor>& grad_A,
    const std::optional<at::Tensor>& grad_v, const std::optional<at::Tensor>& grad_a,
    const std::optional<at::Tensor>& grad_s, const at::Tensor& beta, const at::Tensor& rho,
    const at::Tensor& one_minus_rho, double adapt_scale, int64_t reset, int64_t surrogate,
    double slope, bool detach_reset) {
  const int64_t T = h.size(0), M = beta.numel();
  auto d_cur = at::empty_like(h);
  auto d_v0 = at::empty_like(beta), d_a0 = at::empty_like(beta), d_s0 = at::empty_like(beta);
  auto [gs, s_gs] = over_time(grad_spikes, beta);
  auto [gh, s_gh] = over_time(grad_h, beta);
  auto [ga, s_ga] = over_time(grad_A, beta);
  auto gv = per_step(grad_v, beta), g_a = per_step(grad_a, beta), g_s = per_step(grad_s, beta);
  AT_DISPATCH_FLOATING_TYPES(h.scalar_type(), "alif_backward", [&] {
    using F = scalar_t;
    by_reset(reset, [&](auto R) {
      by_surrogate(surrogate, [&](auto S) {
        over_blocks(M, [&](int64_t m0, int64_t n) {
          backward_block<F, decltype(R)::value, decltype(S)::value>(
              ptr<F>(h), ptr<F>(A), ptr<F>(gs), s_gs, ptr<F>(gh), s_gh, ptr<F>(ga), s_ga,
              ptr<F>(gv), ptr<F>(g_a), ptr<F>(g_s), ptr<F>(beta), ptr<F>(rho),
              ptr<F>(one_minus_rho), F(adapt_scale), T, M, m0, n, F(slope), detach_reset,
              ptr<F>(d_cur), ptr<F>(d_v0), ptr<F>(d_a0), ptr<F>(d_s0));
          return int64_t(0);
        });
      });
    });
  });
  return {d_cur, d_v0, d_a0, d_s0};
}

}  // namespace
}  // namespace hebbtorch

TORCH_LIBRARY_IMPL(hebbtorch, CPU, m) {
  m.impl("alif_forward", &hebbtorch::alif_forward);
  m.impl("alif_backward", &hebbtorch::alif_backward);
}
