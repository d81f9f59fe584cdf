// The Diehl & Cook network in exact online mode (one image at a time, batch 1), fused over the
// time steps of a presentation or a rest period, CPU; learning with any engine rule whose update
// is described by a Rule below (the original trace STDP, triplet STDP, the calcium-trace rule).
//
// The same arithmetic, step order and float32 rounding as hebbtorch/networks/diehl_cook.py
// (network_step, the rule through SharedPlasticity, relax_state), with three differences that
// change results only at rounding level: the input drive sums the weights of the inputs that
// spiked in index order (the reference multiplies by the 0/1 input with a BLAS call), the
// weight updates are applied per spiking row / column instead of as BLAS outer products, and
// exp() is libm's.
// Why: at batch 1 the reference spends its time in ~30 tiny tensor operations per 0.5 ms step;
// here a step is a few hundred flops, most of them skipped when nothing spikes.
// Layout: E then I in every [2n] array; weights [n_in, n] row-major.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

namespace {

enum Mode : int32_t { ALL_TO_ALL = 0, NEAREST = 1, SATURATING = 2 };  // engine TRACE_MODES

// One exponential spike trace (engine TraceSpec): values [n_in] (pre) or [n] (post), updated
// in place. decay = exp(-dt / tau) as a double, so the rest jump's power is the reference's.
struct Trace {
  float* x;
  double decay;
  float jump;
  int32_t mode;
};

// k0 + k1 * trace, the trace (of this side) taken before this step's spikes -- or, for a
// postsynaptic factor with `after`, including them.
struct Factor {
  float k0, k1;
  int32_t trace, after;
};

// A spike-triggered rule (hebbtorch/kernels/diehl_cook.py, RuleSpec): on a post spike of j,
// LTP_ij = ltp_pre_i * ltp_post_j; on a pre spike of i, LTD_ij = ltd_pre_i * ltd_post_j;
// both post factors are zero while post trace `gate` (before) is outside [gate_lo, gate_hi].
// Weight dependence: additive (w + LTP - LTD) or soft (w + LTP (w_max - w) - LTD (w - w_min)),
// then the hard clip to [w_min, w_max].
struct Rule {
  Trace pre[2], post[2];
  int32_t n_pre, n_post;
  Factor ltp_pre, ltp_post, ltd_pre, ltd_post;
  int32_t gate;
  float gate_lo, gate_hi, w_min, w_max;
  int32_t soft;
};

struct Net {
  int64_t n_in, n;
  float *w, *theta, *thresh, *v, *ge, *gi, *ref;             // state, updated in place
  const float *v_rest, *v_reset, *E_inh, *neg_dt_tau, *n_ref;  // per neuron [2n]
  float decay_ge, decay_gi, mean_ge, mean_gi, E_exc, w_ei, w_ie, theta_plus;
  const Rule* rule;
  std::vector<float> drive, ltp_a, ltp_b, ltd_a, ltd_b;
  std::vector<uint8_t> spiked, pre_spiked;
  std::vector<int64_t> pre_idx, post_idx;  // this step's spiking inputs / E neurons
  bool clamp_all;  // some weight is out of bounds: the next update clips all (as w.clamp_)
};

// torch.lerp's formula (two branches, for accuracy near either end)
inline float lerp(float start, float end, float weight) {
  const float d = end - start;
  return std::fabs(weight) < 0.5f ? start + weight * d : end - d * (1.0f - weight);
}

inline float clip(const Rule& r, float w) { return std::min(std::max(w, r.w_min), r.w_max); }

// engine.trace_jump for one spike on a decayed trace value
inline float jumped(const Trace& t, float x) {
  switch (t.mode) {
    case ALL_TO_ALL: return x + t.jump;
    case NEAREST: return t.jump;
    default: return x + t.jump * (1.0f - x);  // saturating
  }
}

inline float factor(const Factor& f, const Trace* traces, int64_t k) {
  const Trace& t = traces[f.trace];
  return f.k0 + f.k1 * (f.after ? jumped(t, t.x[k]) : t.x[k]);
}

// One weight under the rule's dependence; ltp / ltd are the outer-product entries (0 if none).
inline float updated(const Rule& r, float w, float ltp, float ltd) {
  if (r.soft) return w + (ltp * (r.w_max - w) - ltd * (w - r.w_min));
  return (w + ltp) - ltd;  // the reference adds LTP and subtracts LTD in two passes
}

// SharedPlasticity.step at batch 1: decay the traces; LTP on post spikes, LTD on pre spikes,
// from the traces before this step's spikes; weight dependence; clip; then the traces jump.
void plasticity(Net& s) {
  const Rule& r = *s.rule;
  const int64_t n = s.n, n_in = s.n_in;
  for (int k = 0; k < r.n_pre; ++k) {
    const float a = float(r.pre[k].decay);
    for (int64_t i = 0; i < n_in; ++i) r.pre[k].x[i] *= a;
  }
  for (int k = 0; k < r.n_post; ++k) {
    const float a = float(r.post[k].decay);
    for (int64_t j = 0; j < n; ++j) r.post[k].x[j] *= a;
  }
  const bool pre_fired = !s.pre_idx.empty(), post_fired = !s.post_idx.empty();
  if (!pre_fired && !post_fired) return;
  auto open = [&](int64_t j) {
    const float c = r.post[r.gate].x[j];
    return c >= r.gate_lo && c <= r.gate_hi;
  };
  if (post_fired) {
    for (int64_t i = 0; i < n_in; ++i) s.ltp_a[i] = factor(r.ltp_pre, r.pre, i);
    for (int64_t j : s.post_idx) s.ltp_b[j] = open(j) ? factor(r.ltp_post, r.post, j) : 0.0f;
  }
  if (pre_fired) {
    for (int64_t i : s.pre_idx) s.ltd_a[i] = factor(r.ltd_pre, r.pre, i);
    for (int64_t j = 0; j < n; ++j) s.ltd_b[j] = open(j) ? factor(r.ltd_post, r.post, j) : 0.0f;
  }
  // spiking columns (LTP, plus LTD where the row spiked too: soft bounds take both at the old
  // w), then the other entries of the spiking rows (LTD only)
  for (int64_t j : s.post_idx) {
    for (int64_t i = 0; i < n_in; ++i) {
      float& w = s.w[i * n + j];
      const float ltd = s.pre_spiked[i] ? s.ltd_a[i] * s.ltd_b[j] : 0.0f;
      w = clip(r, updated(r, w, s.ltp_a[i] * s.ltp_b[j], ltd));
    }
  }
  for (int64_t i : s.pre_idx) {
    float* wi = s.w + i * n;
    const float a = s.ltd_a[i];
    for (int64_t j = 0; j < n; ++j)
      if (!s.spiked[j]) wi[j] = clip(r, updated(r, wi[j], 0.0f, a * s.ltd_b[j]));
  }
  if (s.clamp_all) {
    for (int64_t k = 0; k < n_in * n; ++k) s.w[k] = clip(r, s.w[k]);
    s.clamp_all = false;
  }
  for (int k = 0; k < r.n_pre; ++k)
    for (int64_t i : s.pre_idx) r.pre[k].x[i] = jumped(r.pre[k], r.pre[k].x[i]);
  for (int k = 0; k < r.n_post; ++k)
    for (int64_t j : s.post_idx) r.post[k].x[j] = jumped(r.post[k], r.post[k].x[j]);
}

// One 0.5 ms step (network_step, theta, plasticity); x: this step's input [n_in] or null.
void step(Net& s, const float* x, float* counts, bool learn) {
  const int64_t n = s.n, n2 = 2 * n;
  for (int64_t i : s.pre_idx) s.pre_spiked[i] = 0;
  s.pre_idx.clear();
  if (x)
    for (int64_t i = 0; i < s.n_in; ++i)
      if (x[i] != 0.0f) {
        s.pre_idx.push_back(i);
        s.pre_spiked[i] = 1;
      }
  std::fill(s.drive.begin(), s.drive.end(), 0.0f);
  for (int64_t i : s.pre_idx) {
    const float* wi = s.w + i * n;
    for (int64_t j = 0; j < n; ++j) s.drive[j] += wi[j];
  }
  int64_t n_i = 0;
  s.post_idx.clear();
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
      if (k < n) s.post_idx.push_back(k);
      else ++n_i;
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
  for (int64_t j : s.post_idx) {
    if (counts) counts[j] += 1.0f;
    if (learn) {
      s.theta[j] = s.theta[j] + s.theta_plus;
      s.thresh[j] = s.thresh[j] + s.theta_plus;
    }
  }
  if (learn) plasticity(s);
}

}  // namespace

// Run `steps` steps of the network (DiehlCookNetwork._run) with input x [steps, n_in] (0/1) or
// x = null for silence; `rule` is read only with `learn`. With `rest` (and no input) it is
// DiehlCookNetwork._rest: every 10 steps, once both conductances are below 1e-6, the remaining
// steps are jumped over exactly (relax_state, and the traces decay by decay^steps).
// decay_ge/gi are doubles for the same reason as Trace::decay; per-step factors are floats.
extern "C" void ht_dc_run(
    const float* x, int64_t steps, int64_t n_in, int64_t n, float* w, float* theta,
    float* thresh, float* v, float* ge, float* gi, float* ref, const float* v_rest,
    const float* v_reset, const float* E_inh, const float* neg_dt_tau, const float* n_ref,
    double decay_ge, double decay_gi, float mean_ge, float mean_gi, float E_exc, float w_ei,
    float w_ie, float theta_plus, float* counts, int learn, int rest, const Rule* rule) {
  Net s{n_in, n, w, theta, thresh, v, ge, gi, ref, v_rest, v_reset, E_inh, neg_dt_tau, n_ref,
        float(decay_ge), float(decay_gi), mean_ge, mean_gi, E_exc, w_ei, w_ie, theta_plus,
        rule, std::vector<float>(n), std::vector<float>(n_in), std::vector<float>(n),
        std::vector<float>(n_in), std::vector<float>(n), std::vector<uint8_t>(2 * n),
        std::vector<uint8_t>(n_in), {}, {}, false};
  s.pre_idx.reserve(n_in);
  s.post_idx.reserve(n);
  if (learn) s.clamp_all = [&] {
    for (int64_t k = 0; k < n_in * n; ++k)
      if (!(w[k] >= rule->w_min && w[k] <= rule->w_max)) return true;
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
      auto decay = [&](const Trace& tr, int64_t size) {
        const float a = float(std::pow(tr.decay, double(left)));
        for (int64_t k = 0; k < size; ++k) tr.x[k] *= a;
      };
      for (int k = 0; k < rule->n_pre; ++k) decay(rule->pre[k], n_in);
      for (int k = 0; k < rule->n_post; ++k) decay(rule->post[k], n);
    }
    return;
  }
}
