// Fused multi-step refractory neuron of Chevalier (2018) (hebbtorch/neurons/refractory.py),
// forward and backward over the whole time axis, CPU: the operators
// hebbtorch::refractory_forward / refractory_backward (schemas and autograd in
// hebbtorch/kernels/refractory.py). Conventions: neuron_kernels.h.
//
// u = I + decay inner; out = relu(u - thr) (graded) or Θ(u - thr) (binary); inner = u - (k u) gate,
// k = penalty/thr, gate = out > 0 (no gradient through it). Outputs are one step late:
// inner_seq[t], out_seq[t] = the state before step t. Backward keeps u (the inner state before the
// reset) [T, M].
#include "neuron_kernels.h"

namespace hebbtorch {
namespace {

template <typename F, bool BINARY>
int64_t forward_block(const F* __restrict I, int64_t T, int64_t M, int64_t m0, int64_t n,
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
void backward_block(const F* u_seq, const F* gI, int64_t sI, const F* gO, int64_t sO,
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

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor> refractory_forward(
    const at::Tensor& currents, const at::Tensor& inner0, const at::Tensor& out0, double decay,
    double threshold, double penalty_threshold, bool binary, int64_t surrogate, double slope) {
  const int64_t T = currents.size(0), M = inner0.numel();
  auto inner_seq = at::empty_like(currents), out_seq = at::empty_like(currents);
  auto u_seq = at::empty_like(currents);
  auto inner = inner0.clone(), out = out0.clone();
  const double k = penalty_threshold / threshold;
  int64_t bad = 0;
  AT_DISPATCH_FLOATING_TYPES(currents.scalar_type(), "refractory_forward", [&] {
    using F = scalar_t;
    auto run = [&](auto B) {
      bad = over_blocks(M, [&](int64_t m0, int64_t n) {
        return forward_block<F, decltype(B)::value>(
            ptr<F>(currents), T, M, m0, n, F(decay), F(threshold), F(k), ptr<F>(inner),
            ptr<F>(out), ptr<F>(inner_seq), ptr<F>(out_seq), ptr<F>(u_seq));
      });
    };
    binary ? run(std::true_type{}) : run(std::false_type{});
  });
  check_finite(bad);
  return {inner_seq, out_seq, inner, out, u_seq};
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> refractory_backward(
    const at::Tensor& u_seq, const std::optional<at::Tensor>& grad_inner_seq,
    const std::optional<at::Tensor>& grad_out_seq, const std::optional<at::Tensor>& grad_inner,
    const std::optional<at::Tensor>& grad_out, double decay, double threshold,
    double penalty_threshold, bool binary, int64_t surrogate, double slope) {
  const int64_t T = u_seq.size(0);
  const at::Tensor like = u_seq.select(0, 0);
  const int64_t M = like.numel();
  auto d_cur = at::empty_like(u_seq), d_inner0 = at::empty_like(like);
  auto d_out0 = at::empty_like(like);
  auto [gi, s_gi] = over_time(grad_inner_seq, like);
  auto [go, s_go] = over_time(grad_out_seq, like);
  auto g_si = per_step(grad_inner, like), g_so = per_step(grad_out, like);
  const double k = penalty_threshold / threshold;
  AT_DISPATCH_FLOATING_TYPES(u_seq.scalar_type(), "refractory_backward", [&] {
    using F = scalar_t;
    auto run = [&](auto B, auto S) {
      over_blocks(M, [&](int64_t m0, int64_t n) {
        backward_block<F, decltype(B)::value, decltype(S)::value>(
            ptr<F>(u_seq), ptr<F>(gi), s_gi, ptr<F>(go), s_go, ptr<F>(g_si), ptr<F>(g_so), T,
            M, m0, n, F(decay), F(threshold), F(k), F(slope), ptr<F>(d_cur), ptr<F>(d_inner0),
            ptr<F>(d_out0));
        return int64_t(0);
      });
    };
    if (!binary) run(std::false_type{}, std::integral_constant<int, kFastSigmoid>{});  // relu'
    else by_surrogate(surrogate, [&](auto S) { run(std::true_type{}, S); });
  });
  return {d_cur, d_inner0, d_out0};
}

}  // namespace
}  // namespace hebbtorch

TORCH_LIBRARY_IMPL(hebbtorch, CPU, m) {
  m.impl("refractory_forward", &hebbtorch::refractory_forward);
  m.impl("refractory_backward", &hebbtorch::refractory_backward);
}
