// Fused multi-step LIF (hebbtorch/neurons/lif.py), forward and surrogate-gradient backward over
// the whole time axis, CPU: the operators hebbtorch::lif_forward / lif_backward (schemas and
// autograd in hebbtorch/kernels/lif.py). Conventions: neuron_kernels.h.
#include "neuron_kernels.h"

namespace hebbtorch {
namespace {

// refrac: steps left (float, as the reference state); refr_mask[t] = 1 where step t was refractory
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
// the grad is broadcast over time or absent); gV: of the final membrane [M]. h is all the forward
// kept; spikes are recomputed from it. No branches in the inner loop, so it vectorises.
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

// Calls run(std::integral_constant<int, RESET>, std::bool_constant<REFR>).
template <typename Run>
void by_reset(int64_t reset, bool refr, Run run) {
  using S = std::integral_constant<int, kSubtract>;
  using Z = std::integral_constant<int, kZero>;
  if (reset == kSubtract) refr ? run(S{}, std::true_type{}) : run(S{}, std::false_type{});
  else refr ? run(Z{}, std::true_type{}) : run(Z{}, std::false_type{});
}

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor> lif_forward(
    const at::Tensor& currents, const at::Tensor& beta, const at::Tensor& threshold,
    const at::Tensor& v0, const at::Tensor& refrac0, int64_t reset, int64_t refractory_steps,
    int64_t surrogate, double slope, bool detach_reset) {
  const int64_t T = currents.size(0), M = v0.numel();
  auto spikes = at::empty_like(currents), h = at::empty_like(currents);
  auto v = v0.clone(), refrac = refrac0.clone();
  auto mask = at::empty(refractory_steps ? currents.sizes() : at::IntArrayRef{0},
                        currents.options().dtype(at::kByte));
  int64_t bad = 0;
  AT_DISPATCH_FLOATING_TYPES(currents.scalar_type(), "lif_forward", [&] {
    using F = scalar_t;
    by_reset(reset, refractory_steps > 0, [&](auto R, auto REFR) {
      bad = over_blocks(M, [&](int64_t m0, int64_t n) {
        return forward_block<F, decltype(R)::value, decltype(REFR)::value>(
            ptr<F>(currents), T, M, m0, n, ptr<F>(beta), ptr<F>(threshold),
            ptr<F>(v), ptr<F>(refrac), F(refractory_steps), ptr<F>(spikes),
            ptr<F>(h), ptr<uint8_t>(mask));
      });
    });
  });
  check_finite(bad);
  return {spikes, h, v, refrac, mask};
}

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> lif_backward(
    const at::Tensor& h, const at::Tensor& mask, const std::optional<at::Tensor>& grad_spikes,
    const std::optional<at::Tensor>& grad_h, const std::optional<at::Tensor>& grad_v,
    const at::Tensor& v0, const at::Tensor& beta, const at::Tensor& threshold, int64_t reset,
    int64_t surrogate, double slope, bool detach_reset, bool need_beta, bool need_threshold,
    at::ScalarType currents_dtype) {
  const int64_t T = h.size(0), M = v0.numel();
  auto d_cur = at::empty_like(h), d_v0 = at::empty_like(v0);  // CPU: currents have h's dtype
  auto d_beta = maybe(need_beta, v0), d_thr = maybe(need_threshold, v0);
  auto [gs, s_gs] = over_time(grad_spikes, v0);
  auto [gh, s_gh] = over_time(grad_h, v0);
  auto gv = per_step(grad_v, v0);
  AT_DISPATCH_FLOATING_TYPES(h.scalar_type(), "lif_backward", [&] {
    using F = scalar_t;
    by_reset(reset, mask.numel() > 0, [&](auto R, auto REFR) {
      by_surrogate(surrogate, [&](auto S) {
        over_blocks(M, [&](int64_t m0, int64_t n) {
          backward_block<F, decltype(R)::value, decltype(S)::value, decltype(REFR)::value>(
              ptr<F>(h), ptr<uint8_t>(mask), ptr<F>(gs), s_gs, ptr<F>(gh),
              s_gh, ptr<F>(gv), ptr<F>(v0), ptr<F>(beta),
              ptr<F>(threshold), T, M, m0, n, F(slope), detach_reset,
              ptr<F>(d_cur), ptr<F>(d_v0), ptr<F>(d_beta), ptr<F>(d_thr));
          return int64_t(0);
        });
      });
    });
  });
  return {d_cur, d_v0, d_beta, d_thr};
}

}  // namespace
}  // namespace hebbtorch

TORCH_LIBRARY_IMPL(hebbtorch, CPU, m) {
  m.impl("lif_forward", &hebbtorch::lif_forward);
  m.impl("lif_backward", &hebbtorch::lif_backward);
}
