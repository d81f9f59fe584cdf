// Shared by the fused neuron kernels (lif_cpu.cpp, alif_cpu.cpp, refractory_cpu.cpp, ...): the
// surrogate derivatives, the block size, and the helpers of their PyTorch operator wrappers.
//
// Each neuron's .cpp repeats the reference's arithmetic in the same order (built with
// -ffp-contract=off: no fused multiply-add the reference does not do), so outputs are
// bit-identical. Layout: time-major [T, M] contiguous (M = batch * neurons), per-neuron
// parameters [M]. Threads split the neurons into blocks; each thread walks the whole time axis for
// its blocks, keeping the block's state in L1. The operators' schemas are defined in Python
// (hebbtorch/kernels/ops.py); TORCH_LIBRARY_IMPL registers the CPU implementations here, and the
// dispatcher rejects at load time a C++ signature that does not match its schema.
#pragma once

#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/empty_like.h>
#include <ATen/ops/zeros_like.h>
#include <c10/util/Exception.h>
#include <torch/library.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <optional>
#include <utility>

namespace hebbtorch {

constexpr int64_t kBlock = 512;  // neurons per work item: 2 KiB of fp32 state, stays in L1

enum Reset { kSubtract = 0, kZero = 1 };
// the order of hebbtorch.kernels.cpu.SURROGATE_IDS
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

// Calls run(std::integral_constant<int, S>) for the surrogate id s.
template <typename Run>
void by_surrogate(int64_t s, Run run) {
  switch (s) {
    case kFastSigmoid: return run(std::integral_constant<int, kFastSigmoid>{});
    case kArctan: return run(std::integral_constant<int, kArctan>{});
    case kTriangle: return run(std::integral_constant<int, kTriangle>{});
    default: return run(std::integral_constant<int, kStraightThrough>{});
  }
}

// Runs block(m0, n) over the M neurons in blocks of kBlock, split over torch's threads; returns
// the sum of what the blocks return (the count of non-finite inputs; 0 for backward passes).
template <typename Block>
int64_t over_blocks(int64_t M, Block block) {
  const int64_t nblocks = (M + kBlock - 1) / kBlock;
  int64_t total = 0;
#pragma omp parallel for schedule(static) num_threads(at::get_num_threads()) reduction(+ : total)
  for (int64_t bi = 0; bi < nblocks; ++bi) {
    const int64_t m0 = bi * kBlock;
    total += block(m0, std::min(kBlock, M - m0));
  }
  return total;
}

// A forward kernel counts NaN / infinite currents while it reads them (x - x != 0 only for
// those): no separate pass. ValueError in Python; the wrappers raise it as HebbtorchError.
inline void check_finite(int64_t bad) {
  TORCH_CHECK_VALUE(bad == 0, "currents contains ", bad, " NaN or infinite value(s)");
}

// A [T, *S] grad as (data, time stride): a grad broadcast over time (out.sum() gives one) keeps
// stride 0 instead of being materialised as T copies; a missing one is zeros with stride 0 (the
// kernels have no branches for absent grads).
inline std::pair<at::Tensor, int64_t> over_time(const std::optional<at::Tensor>& g,
                                                const at::Tensor& like) {
  if (!g.has_value() || !g->defined()) return {at::zeros_like(like), 0};
  if (g->stride(0) == 0) return {g->select(0, 0).contiguous(), 0};
  return {g->contiguous(), like.numel()};
}

// A grad of a [batch, ...] state, zeros if absent.
inline at::Tensor per_step(const std::optional<at::Tensor>& g, const at::Tensor& like) {
  return g.has_value() && g->defined() ? g->contiguous() : at::zeros_like(like);
}

// An empty [0] tensor like x when not needed (the kernels skip null outputs).
inline at::Tensor maybe(bool need, const at::Tensor& like) {
  return need ? at::empty_like(like) : at::empty({0}, like.options());
}

// The data of a kernel argument: typed (data_ptr checks the dtype), contiguous, null if empty.
template <typename F>
inline F* ptr(const at::Tensor& x) {
  TORCH_CHECK(x.is_contiguous(), "hebbtorch kernels take contiguous tensors");
  return x.numel() ? x.data_ptr<F>() : nullptr;
}

}  // namespace hebbtorch
