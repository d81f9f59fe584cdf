// The Diehl & Cook network in exact online mode (one image at a time, batch 1) with the
// original trace STDP, fused over the time steps of a presentation or a rest period, CPU.
//
// The same arithmetic, step order and float32 rounding as hebbtorch/networks/diehl_cook.py
// (network_step, DiehlCookSTDP through SharedPlasticity, relax_state), with three differences
// that change results only at rounding level: the input drive sums the weights of the inputs
// that spiked in index order (the reference multiplies by the 0/1 input with a BLAS call), the
// STDP updates are applied per spike instead of as BLAS outer products, and exp() is libm's.
// Why: at batch 1 the reference spends its time in ~30 tiny tensor operations per 0.5 ms step;
// here a step is a few hundred flops, most of them skipped when nothing spikes.
// Layout: E then I in every [2n] array; weights [n_in, n] row-major.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

namespace {

struct Net {
  int64_t n_in, n;
  float *w, *theta, *thresh, *v, *ge, *gi, *ref;             // state, updated in place
  const float *v_rest, *v_reset, *E_inh, *neg_dt_tau, *n_ref;  // per neuron [2n]
  float decay_ge, decay_gi, mean_ge, mean_gi, E_exc, w_ei, w_ie, theta_plus;
  float *xpre, *post1, *post2;  // STDP traces [n_in], [n], [n]
  float d_pre, d_post1, d_post2, nu_pre, nu_post, w_min, w_max;
  std::vector<float> drive;
  std::vector<uint8_t> spiked;
  bool clamp_all;  // some weight is out of bounds: the first update clips all (as w.clamp_)
};

// torch.lerp's formula (two branches, for accuracy near either end)
inline float lerp(float start, float end, float weight) {
  const float d = end - start;
  return std::fabs(weight) < 0.5f ? start + weight * d : end - d * (1.0f - weight);
}

inline float clip(const Net& s, float w) { return std::min(std::max(w, s.w_min), s.w_max); }

// SharedPlasticity.step for DiehlCookSTDP at batch 1: decay the traces; LTP on post spikes
// (w += nu_post pre_trace post2(t-)), LTD on pre spikes (w -= nu_pre post1), both with the
// traces before this step's spikes; clip; then the nearest-spike traces jump to 1.
void stdp(Net& s, const float* x, bool post_fired) {
  const int64_t n = s.n;
  for (int64_t i = 0; i < s.n_in; ++i) s.xpre[i] *= s.d_pre;
  for (int64_t j = 0; j < n; ++j) {
    s.post1[j] *= s.d_post1;
    s.post2[j] *= s.d_post2;
  }
  bool pre_fired = false;
  if (x)
    for (int64_t i = 0; i < s.n_in && !pre_fired; ++i) pre_fired = x[i] != 0.0f;
  if (!pre_fired && !post_fired) return;
  if (s.clamp_all) {
    for (int64_t k = 0; k < s.n_in * n; ++k) s.w[k] = clip(s, s.w[k]);
    s.clamp_all = false;
  }
  if (post_fired) {
    for (int64_t j = 0; j < n; ++j) {
      if (!s.spiked[j]) continue;
      const float b = s.post2[j];  // post * post2 before
      for (int64_t i = 0; i < s.n_in; ++i) {
        float& w = s.w[i * n + j];
        w = w + (s.nu_post * s.xpre[i]) * b;
      }
    }
  }
  if (pre_fired) {
    for (int64_t i = 0; i < s.n_in; ++i) {
      if (x[i] == 0.0f) continue;
      float* wi = s.w + i * n;
      for (int64_t j = 0; j < n; ++j) wi[j] = wi[j] - s.nu_pre * s.post1[j];
    }
  }
  // clip what changed (everything else was in bounds already)
  if (post_fired)
    for (int64_t j = 0; j < n; ++j)
      if (s.spiked[j])
        for (int64_t i = 0; i < s.n_in; ++i) s.w[i * n + j] = clip(s, s.w[i * n + j]);
  if (pre_fired)
    for (int64_t i = 0; i < s.n_in; ++i)
      if (x[i] != 0.0f)
        for (int64_t j = 0; j < n; ++j) s.w[i * n + j] = clip(s, s.w[i * n + j]);
  if (pre_fired)
    for (int64_t i = 0; i < s.n_in; ++i)
      if (x[i] != 0.0f) s.xpre[i] = 1.0f;
  if (post_fired)
    for (int64_t j = 0; j < n; ++j)
      if (s.spiked[j]) s.post1[j] = s.post2[j] = 1.0f;
}

// One 0.5 ms step (network_step, theta, STDP); x: this step's input [n_in] or null (silent).
void step(Net& s, const float* x, float* counts, bool learn) {
  const int64_t n = s.n, n2 = 2 * n;
  std::fill(s.drive.begin(), s.drive.end(), 0.0f);
  if (x) {
    for (int64_t i = 0; i < s.n_in; ++i) {
      if (x[i] == 0.0f) continue;
      const float* wi = s.w + i * n;
      for (int64_t j = 0; j < n; ++j) s.drive[j] += wi[j];
    }
  }
  int64_t n_e = 0, n_i = 0;
  for (int64_t k = 0; k < n2; ++k) {  // conductance_membrane, refractory clamp, threshold
    const float g_e = s.ge[k] * s.mean_ge, g_i = s.gi[k] * s.mean_gi;
    const float g_tot = 1.0f + g_e + g_i;
    float num = s.E_exc != 0.0f ? s.v_rest[k] + g_e * s.E_exc : s.v_rest[k];
    num = num + g_i * s.E_inh[k];
    float v = lerp(num / g_tot, s.v[k], std::exp(g_tot * s.neg_dt_tau[k]));
    const bool free = s.ref[k] <= 0.0f;
    v = free ? v : s.v_reset[k];
    const bool sp = free && v > s.thresh[k];
    s.ref[k] = std::max(s.ref[k] - 1.0f, 0.0f);
    if (sp) {
      v = s.v_reset[k];
      s.ref[k] = s.n_ref[k];
      ++(k < n ? n_e : n_i);
    }
    s.v[k] = v;
    s.spiked[k] = sp;
  }
  const float sum_i = float(n_i);
  for (int64_t k = 0; k < n2; ++k) {  // this step's arrivals
    s.gi[k] = s.gi[k] * s.decay_gi;
    if (k < n) {
      s.ge[k] = s.drive[k] + s.decay_ge * s.ge[k];
      if (n_i) s.gi[k] = s.gi[k] + s.w_ie * (sum_i - (s.spiked[k + n] ? 1.0f : 0.0f));
    } else {
      s.ge[k] = s.w_ei * (s.spiked[k - n] ? 1.0f : 0.0f) + s.decay_ge * s.ge[k];
    }
  }
  for (int64_t j = 0; j < n && n_e; ++j) {
    if (!s.spiked[j]) continue;
    if (counts) counts[j] += 1.0f;
    if (learn) {
      s.theta[j] = s.theta[j] + s.theta_plus;
      s.thresh[j] = s.thresh[j] + s.theta_plus;
    }
  }
  if (learn) stdp(s, x, n_e > 0);
}

}  // namespace

// Run `steps` steps of the network (DiehlCookNetwork._run) with input x [steps, n_in] (0/1) or
// x = null for silence. With `rest` (and no input) it is DiehlCookNetwork._rest: every 10 steps,
// once both conductances are below 1e-6, the remaining steps are jumped over exactly
// (relax_state, and the traces decay by a^steps). decay_* and d_* are passed as doubles so the
// jump's powers are the reference's (Python floats); per-step factors are rounded to float.
extern "C" void ht_dc_run(
    const float* x, int64_t steps, int64_t n_in, int64_t n, float* w, float* theta,
    float* thresh, float* v, float* ge, float* gi, float* ref, const float* v_rest,
    const float* v_reset, const float* E_inh, const float* neg_dt_tau, const float* n_ref,
    double decay_ge, double decay_gi, float mean_ge, float mean_gi, float E_exc, float w_ei,
    float w_ie, float theta_plus, float* counts, int learn, int rest, float* xpre, float* post1,
    float* post2, double d_pre, double d_post1, double d_post2, float nu_pre, float nu_post,
    float w_min, float w_max) {
  Net s{n_in, n, w, theta, thresh, v, ge, gi, ref, v_rest, v_reset, E_inh, neg_dt_tau, n_ref,
        float(decay_ge), float(decay_gi), mean_ge, mean_gi, E_exc, w_ei, w_ie, theta_plus,
        xpre, post1, post2, float(d_pre), float(d_post1), float(d_post2), nu_pre, nu_post,
        w_min, w_max, std::vector<float>(n), std::vector<uint8_t>(2 * n), false};
  if (learn) s.clamp_all = [&] {
    for (int64_t k = 0; k < n_in * n; ++k)
      if (w[k] < w_min || w[k] > w_max) return true;
    return false;
  }();
  const bool jump = rest && !x;
  for (int64_t t = 0; t < steps; ++t) {
    step(s, x ? x + t * n_in : nullptr, counts, learn != 0);
    const int64_t left = steps - t - 1;
    if (!jump || left == 0 || (t + 1) % 10) continue;
    float top = 0.0f;
    for (int64_t k = 0; k < 2 * n; ++k) top = std::max(top, std::max(ge[k], gi[k]));
    if (double(top) >= 1e-6) continue;
    for (int64_t k = 0; k < 2 * n; ++k) {
      v[k] = lerp(v_rest[k], v[k], std::exp(neg_dt_tau[k] * float(left)));
      ge[k] *= float(std::pow(decay_ge, double(left)));
      gi[k] *= float(std::pow(decay_gi, double(left)));
      ref[k] = std::max(ref[k] - float(left), 0.0f);
    }
    if (learn) {
      const float a = float(std::pow(d_pre, double(left)));
      const float b = float(std::pow(d_post1, double(left)));
      const float c = float(std::pow(d_post2, double(left)));
      for (int64_t i = 0; i < n_in; ++i) xpre[i] *= a;
      for (int64_t j = 0; j < n; ++j) {
        post1[j] *= b;
        post2[j] *= c;
      }
    }
    return;
  }
}
