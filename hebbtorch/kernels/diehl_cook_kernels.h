// Shared by the Diehl & Cook kernels (diehl_cook_cpu.cpp: exact online training, batch 1;
// diehl_cook_eval_cpu.cpp: frozen evaluation of a batch): the neuron step, the rest's jump, the
// Poisson input drawn as torch.rand draws it, and the helpers of their operator wrappers.
//
// The neuron step repeats hebbtorch/networks/diehl_cook.py (network_step, relax_state) with its
// float32 rounding (built with -ffp-contract=off), split into loops that the compiler vectorises;
// exp() is libm's, called only where the conductances do not vanish (1 + g == 1 gives the
// exp(-dt/tau) computed once, the same bits). Layout: E then I in every [2n] array.
#pragma once

#include <ATen/core/Tensor.h>
#include <ATen/ops/zeros.h>
#include <c10/util/ArrayRef.h>
#include <c10/util/Exception.h>
#include <torch/library.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

namespace hebbtorch {
namespace dc {

// torch.lerp's formula (two branches, for accuracy near either end)
inline float lerp(float start, float end, float weight) {
  const float d = end - start;
  return std::fabs(weight) < 0.5f ? start + weight * d : end - d * (1.0f - weight);
}

// flush_subnormal (hebbtorch/plasticity/core.py): decaying state below FLT_MIN is 0
inline float flushed(float x) { return std::fabs(x) < FLT_MIN ? 0.0f : x; }

inline float* fptr(const at::Tensor& t) { return t.numel() ? t.data_ptr<float>() : nullptr; }

inline float* fptr(const std::optional<at::Tensor>& t) {
  return t.has_value() ? fptr(*t) : nullptr;
}

// The population's constants: per neuron [2n] (PopulationConstants) and the per-step factors,
// `consts` = (decay_ge, decay_gi, mean_ge, mean_gi, E_exc, w_ei, w_ie) as the Python side
// (hebbtorch/kernels/diehl_cook_ops.py, population_args) passes them.
struct Population {
  int64_t n;
  const float *v_rest, *v_reset, *E_inh, *neg_dt_tau, *n_ref;
  float decay_ge, decay_gi, mean_ge, mean_gi, E_exc, w_ei, w_ie;
  double decay_ge_d, decay_gi_d;  // for the rest jump's power, as the reference's
  std::vector<float> exp0;        // exp(neg_dt_tau): the membrane factor at g = 0

  Population(int64_t n_, const at::Tensor& v_rest_, const at::Tensor& v_reset_,
             const at::Tensor& E_inh_, const at::Tensor& neg_dt_tau_, const at::Tensor& n_ref_,
             c10::ArrayRef<double> c)
      : n(n_), v_rest(fptr(v_rest_)), v_reset(fptr(v_reset_)), E_inh(fptr(E_inh_)),
        neg_dt_tau(fptr(neg_dt_tau_)), n_ref(fptr(n_ref_)), decay_ge(float(c.at(0))),
        decay_gi(float(c.at(1))), mean_ge(float(c.at(2))), mean_gi(float(c.at(3))),
        E_exc(float(c.at(4))), w_ei(float(c.at(5))), w_ie(float(c.at(6))), decay_ge_d(c[0]),
        decay_gi_d(c[1]), exp0(2 * n_) {
    for (const at::Tensor* t : {&v_rest_, &v_reset_, &E_inh_, &neg_dt_tau_, &n_ref_})
      TORCH_CHECK(t->numel() == 2 * n && t->is_contiguous() &&
                  t->scalar_type() == at::kFloat, "population constants must be [2n] float32");
    for (int64_t k = 0; k < 2 * n; ++k) exp0[k] = std::exp(neg_dt_tau[k]);
  }
};

// One network copy's activity [2n] each, updated in place, and its scratch.
struct Activity {
  float *v, *ge, *gi, *ref;
  std::vector<float> drive, g_tot, factor, spiked;  // [n], [2n], [2n], [2n] (0/1)
  explicit Activity(int64_t n) : drive(n), g_tot(2 * n), factor(2 * n), spiked(2 * n) {}
};

// The loops of neuron_step, each a function whose pointer arguments are restrict (GCC honours
// restrict on parameters, not on local pointers): without it a store through a float* could
// change the inputs and the compiler would not vectorise.
inline void membrane(int64_t n2, const Population& p, const float* __restrict ge,
                     const float* __restrict gi, const float* __restrict v_rest,
                     const float* __restrict E_inh, float* __restrict g_tot,
                     float* __restrict v_inf) {
  const float mean_ge = p.mean_ge, mean_gi = p.mean_gi, E_exc = p.E_exc;
  const bool excite = E_exc != 0.0f;
  for (int64_t k = 0; k < n2; ++k) {  // conductance_membrane: 1 + g and v_inf
    const float g_e = ge[k] * mean_ge, g_i = gi[k] * mean_gi;
    const float gt = 1.0f + g_e + g_i;
    float num = excite ? v_rest[k] + g_e * E_exc : v_rest[k];
    num = num + g_i * E_inh[k];
    g_tot[k] = gt;
    v_inf[k] = num / gt;
  }
}

// 1 + g -> exp((1 + g) (-dt / tau)): libm's exp where the conductances count
inline void membrane_factor(int64_t n2, float* __restrict g_tot,
                            const float* __restrict neg_dt_tau, const float* __restrict exp0) {
  for (int64_t k = 0; k < n2; ++k) {
    const float gt = g_tot[k];
    g_tot[k] = gt != 1.0f ? std::exp(gt * neg_dt_tau[k]) : exp0[k];
  }
}

// the membranes relax, refractory clamp, threshold, reset; spiked 0/1
inline void threshold(int64_t n2, const float* __restrict v_inf, const float* __restrict factor,
                      const float* __restrict thresh, const float* __restrict v_reset,
                      const float* __restrict n_ref, float* __restrict v, float* __restrict ref,
                      float* __restrict spiked) {
  for (int64_t k = 0; k < n2; ++k) {
    const float vk = lerp(v_inf[k], v[k], factor[k]);
    const float rk = ref[k], reset = v_reset[k], th = thresh[k], nr = n_ref[k];
    const bool free = rk <= 0.0f;
    const bool s = free && vk > th;
    const float kept = free ? vk : reset;
    const float r = std::max(rk - 1.0f, 0.0f);
    v[k] = s ? reset : kept;
    ref[k] = s ? nr : r;
    spiked[k] = s ? 1.0f : 0.0f;
  }
}

// this step's arrivals: the input drive on E, w_ei per E spike on its I partner, w_ie per I
// spike on every *other* E; n_i: I spikes in this step
inline void arrivals(int64_t n, const Population& p, const float* __restrict drive,
                     const float* __restrict spiked, float n_i, float* __restrict ge,
                     float* __restrict gi) {
  const float w_ie = p.w_ie, w_ei = p.w_ei, decay_ge = p.decay_ge, decay_gi = p.decay_gi;
  for (int64_t k = 0; k < n; ++k) {
    float g = gi[k] * decay_gi;
    g = n_i != 0.0f ? g + w_ie * (n_i - spiked[k + n]) : g;
    ge[k] = flushed(drive[k] + decay_ge * ge[k]);
    gi[k] = flushed(g);
  }
  for (int64_t k = n; k < 2 * n; ++k) {
    ge[k] = flushed(w_ei * spiked[k - n] + decay_ge * ge[k]);
    gi[k] = flushed(gi[k] * decay_gi);
  }
}

// how many of spiked [n] are 1 (an integer sum: it vectorises, a float one would not)
inline int32_t spikes(int64_t n, const float* __restrict spiked) {
  int32_t count = 0;
  for (int64_t k = 0; k < n; ++k) count += spiked[k] != 0.0f ? 1 : 0;
  return count;
}

// One 0.5 ms step of the neurons (network_step) after the caller has summed this step's input
// drive into a.drive: membranes with the conductances at the start of the step, refractory
// clamp, threshold, reset, then this step's arrivals. on_e(j) is called for every E neuron j
// that spiked, in index order.
template <class OnE>
void neuron_step(const Population& p, const float* thresh, Activity& a, OnE&& on_e) {
  const int64_t n = p.n, n2 = 2 * n;
  float *g_tot = a.g_tot.data(), *v_inf = a.factor.data(), *sp = a.spiked.data();
  membrane(n2, p, a.ge, a.gi, p.v_rest, p.E_inh, g_tot, v_inf);
  membrane_factor(n2, g_tot, p.neg_dt_tau, p.exp0.data());
  threshold(n2, v_inf, g_tot, thresh, p.v_reset, p.n_ref, a.v, a.ref, sp);
  const int32_t n_e = spikes(n, sp), n_i = spikes(n, sp + n);
  if (n_e)  // E spikes are rare: most steps skip the scan
    for (int64_t j = 0; j < n; ++j)
      if (sp[j] != 0.0f) on_e(j);
  arrivals(n, p, a.drive.data(), sp, float(n_i), a.ge, a.gi);
}

// relax_state: `left` silent steps at once
inline void relax(const Population& p, Activity& a, int64_t left) {
  const float a_e = float(std::pow(p.decay_ge_d, double(left)));
  const float a_i = float(std::pow(p.decay_gi_d, double(left)));
  for (int64_t k = 0; k < 2 * p.n; ++k) {
    a.v[k] = lerp(p.v_rest[k], a.v[k], std::exp(p.neg_dt_tau[k] * float(left)));
    a.ge[k] = flushed(a.ge[k] * a_e);
    a.gi[k] = flushed(a.gi[k] * a_i);
    a.ref[k] = std::max(a.ref[k] - float(left), 0.0f);
  }
}

// The rest's check (every 10 steps): conductances below 1e-6 -- no spike is possible after that
inline bool quiet(const Population& p, const Activity& a) {
  float top = 0.0f;
  for (int64_t k = 0; k < 2 * p.n; ++k) top = std::max(top, std::max(a.ge[k], a.gi[k]));
  return double(top) < 1e-6;
}

constexpr int64_t kRestChunk = 10;  // steps between the rest's quiet checks

// MT19937 (Matsumoto & Nishimura 1998) as torch's CPU generator runs it (seeded by
// init_genrand), one block of 624 outputs at a time; the block's twist is three plain loops that
// the compiler vectorises. Outputs are tempered only where they are used.
struct MT19937 {
  static constexpr int N = 624, M = 397;
  uint32_t mt[N];
  explicit MT19937(uint32_t seed) {
    mt[0] = seed;
    for (int i = 1; i < N; ++i) mt[i] = 1812433253u * (mt[i - 1] ^ (mt[i - 1] >> 30)) + i;
  }
  static uint32_t twisted(uint32_t a, uint32_t b, uint32_t c) {
    const uint32_t y = (a & 0x80000000u) | (b & 0x7fffffffu);
    return c ^ (y >> 1) ^ ((y & 1u) ? 0x9908b0dfu : 0u);
  }
  void next_block() {
    for (int i = 0; i < N - M; ++i) mt[i] = twisted(mt[i], mt[i + 1], mt[i + M]);
    for (int i = N - M; i < N - 1; ++i) mt[i] = twisted(mt[i], mt[i + 1], mt[i + M - N]);
    mt[N - 1] = twisted(mt[N - 1], mt[0], mt[M - 1]);
  }
  static uint32_t tempered(uint32_t y) {
    y ^= y >> 11;
    y ^= (y << 7) & 0x9d2c5680u;
    y ^= (y << 15) & 0xefc60000u;
    return y ^ (y >> 18);
  }
};

// hit[j] = 1 where draw j spikes: the draw's 24 bits (tempered, masked) below the threshold
inline void bernoulli(int64_t k, const uint32_t* __restrict draws,
                      const uint32_t* __restrict threshold, uint8_t* __restrict hit) {
  for (int64_t j = 0; j < k; ++j)
    hit[j] = (MT19937::tempered(draws[j]) & 0xFFFFFFu) < threshold[j] ? 1 : 0;
}

// The Bernoulli input as the reference draws it (hebbtorch.encoding.rate_encode with a CPU
// generator seeded with `seed`): torch.rand gives one float32 uniform per (step, lane, input) in
// that memory order, u = (32-bit draw & 0xFFFFFF) / 2^24, and the input spikes where u < p.
// u < p is tested as an integer comparison: the draw's 24 bits < ceil(p 2^24) (exact: scaling by
// 2^24 is exact in float32, and for an integer m, m < x <=> m < ceil(x)); p <= 0 never spikes.
class PoissonInput {
 public:
  PoissonInput(const float* p, int64_t lanes, int64_t n_in, uint32_t seed)
      : n_in_(n_in), gen_(seed), threshold_(lanes * n_in), lo_(lanes), hi_(lanes),
        hit_(n_in + 8, 0) {
    for (int64_t b = 0; b < lanes; ++b) {
      int64_t first = n_in, last = -1;
      for (int64_t i = 0; i < n_in; ++i) {
        const float pk = p[b * n_in + i];
        const float q = std::ceil(std::min(pk, 1.0f) * 16777216.0f);
        threshold_[b * n_in + i] = pk > 0.0f ? uint32_t(q) : 0u;
        if (pk > 0.0f) {
          first = std::min(first, i);
          last = i;
        }
      }
      // the inputs that can fire lie in [lo, hi): whole 8-flag words, or up to n_in
      lo_[b] = last < 0 ? 0 : first / 8 * 8;
      hi_[b] = last < 0 ? 0 : std::min((last + 8) / 8 * 8, n_in);
    }
  }

  // Appends to `out` the inputs of `lane` that spike in the next row of draws (rows in the
  // reference's memory order: every lane of a step, then the next step), in index order. Draws
  // outside the lane's [lo, hi) only advance the stream (a silent lane: the whole row).
  void row(int64_t lane, std::vector<uint16_t>* out) {
    const uint32_t* th = threshold_.data() + lane * n_in_;
    const int64_t lo = lo_[lane], hi = hi_[lane];
    advance(lo);
    for (int64_t i = lo; i < hi;) {  // the row's draws that can fire, block by block
      if (pos_ == MT19937::N) {
        gen_.next_block();
        pos_ = 0;
      }
      const int64_t k = std::min<int64_t>(hi - i, MT19937::N - pos_);
      bernoulli(k, gen_.mt + pos_, th + i, hit_.data() + i);
      i += k;
      pos_ += int(k);
    }
    advance(n_in_ - hi);
    for (int64_t i = lo; i < hi; i += 8) {  // the hits, 8 flags at a time (mostly none)
      uint64_t word;
      std::memcpy(&word, hit_.data() + i, 8);  // (hit_ is padded by 8 zeros)
      for (; word; word &= word - 1) out->push_back(uint16_t(i + __builtin_ctzll(word) / 8));
    }
  }

 private:
  void advance(int64_t count) {  // skip `count` draws
    while (count > 0) {
      if (pos_ == MT19937::N) {
        gen_.next_block();
        pos_ = 0;
      }
      const int64_t k = std::min<int64_t>(count, MT19937::N - pos_);
      pos_ += int(k);
      count -= k;
    }
  }

  int64_t n_in_;
  MT19937 gen_;
  int pos_ = MT19937::N;  // next unused output of the current block
  std::vector<uint32_t> threshold_;  // [lanes, n_in]: ceil(p 2^24), 0 where p <= 0
  std::vector<int64_t> lo_, hi_;     // [lanes]: where the lane's inputs that can fire lie
  std::vector<uint8_t> hit_;         // [n_in] flags of the current row in [lo, hi)
};

inline void check_float(const at::Tensor& t, const char* name) {
  TORCH_CHECK(t.device().is_cpu() && t.scalar_type() == at::kFloat && t.is_contiguous(), name,
              " must be a contiguous float32 CPU tensor");
}

}  // namespace dc
}  // namespace hebbtorch
