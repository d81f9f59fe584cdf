// The Diehl & Cook network in exact online mode (one image at a time, batch 1), fused over the
// time steps of a presentation and its rest period, CPU: the operator hebbtorch::dc_run (schema
// and Python side: hebbtorch/kernels/diehl_cook_ops.py). Learning with any engine rule whose
// update is described by a Rule below (the original trace STDP, pair and triplet STDP, the
// calcium-trace rule, any TraceRule) or with Graupner & Brunel's calcium rule (a Calcium below:
// a dense per-synapse efficacy).
//
// The same arithmetic, step order and float32 rounding as hebbtorch/networks/diehl_cook.py
// (network_step, the rule through SharedPlasticity, relax_state), with three differences that
// change results only at rounding level: the input drive sums the weights of the inputs that
// spiked in index order (the reference multiplies by the 0/1 input with a BLAS call), the
// weight updates are applied per spiking row / column instead of as BLAS outer products, and
// exp() is libm's. The Poisson input is drawn here, the same draws as the reference's
// torch.rand (diehl_cook_kernels.h, PoissonInput).
// Why: at batch 1 the reference spends its time in ~30 tiny tensor operations per 0.5 ms step;
// here a step is a few hundred flops, most of them skipped when nothing spikes.
// Layout: E then I in every [2n] array; weights [n_in, n] row-major.

#include <optional>
#include <type_traits>
#include <utility>

#include "diehl_cook_kernels.h"

namespace hebbtorch {
namespace dc {
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

// A spike-triggered rule (hebbtorch/plasticity/core.py, RuleSpec): on a post spike of j,
// LTP_ij = ltp_pre_i * ltp_post_j; on a pre spike of i, LTD_ij = ltd_pre_i * ltd_post_j;
// both post factors are zero while post trace `gate` (before) is outside [gate_lo, gate_hi].
// Weight dependence: additive (w + LTP - LTD) or soft (w + LTP (w_max - w) - LTD (w - w_min)),
// then the hard clip to [w_min, w_max].
// Graupner & Brunel 2012 eq. 1 without noise (hebbtorch/plasticity/rules/gb.py,
// GraupnerBrunel.update through SharedPlasticity): every step, for every synapse,
// c = C_pre x_i + C_post y_j from the rule's delayed pre trace and its post trace (after this
// step's spikes), rho += h (gamma_p (1-rho) [c>=theta_p] - S rho (1-rho) (rho*-rho)
// - gamma_d rho [c>=theta_d]) clipped to [0, 1], where S = drift_every in every drift_every-th
// step (counted by *clock across calls) and 0 (the term left out) in the others; w moves by
// (Δrho w0) (b-1), additively, then the hard clip. rho [n_in, n]; t_p, t_d [n_in, n] (time
// above each threshold, ms) or null; history [delay, n_in]: the last `delay` steps of input
// spikes, oldest first.
struct Calcium {
  float *rho, *t_p, *t_d, *history;
  int64_t delay;
  float C_pre, C_post, theta_d, theta_p, gamma_d, gamma_p, rho_star, h, w0, b_minus_1, dt;
  int64_t* clock;
  int64_t drift_every;
};

struct Rule {
  Trace pre[2], post[2];
  int32_t n_pre, n_post;
  Factor ltp_pre, ltp_post, ltd_pre, ltd_post;
  int32_t gate;
  float gate_lo, gate_hi, w_min, w_max;
  int32_t soft;
  const Calcium* gb;  // null: the spike-triggered rule above; else Graupner-Brunel
};

struct Net {
  const Population& pop;
  Activity act;
  int64_t n_in, n;
  float *w, *theta, *thresh;  // updated in place
  float theta_plus;
  const Rule* rule;
  std::vector<float> ltp_a, ltp_b, ltd_a, ltd_b;
  std::vector<uint8_t> pre_spiked;
  std::vector<int64_t> pre_idx, post_idx;  // this step's spiking inputs / E neurons
  bool clamp_all = false;  // some weight is out of bounds: the next update clips all (w.clamp_)
  std::vector<uint8_t> line;  // Graupner-Brunel's delay line [delay, n_in], a ring from `head`
  int64_t head = 0;
  std::vector<int64_t> arrived;  // inputs whose delayed spike reaches the pre trace this step
  // Graupner-Brunel's record (graupner_brunel): calcium per step [GB_BLOCK, n_in] and
  // [GB_BLOCK, n] and the largest post one [GB_BLOCK]; the steps applied to each row [n_in]
  std::vector<float> cx, cy, cy_top;
  std::vector<int64_t> done;
  int64_t recorded = 0;
  int32_t threads = 1;  // for gb_flush: rows are independent, so any split gives the same bits
  std::vector<uint8_t> drift_at;  // [GB_BLOCK]: the recorded step is a drift step
  bool first_block = false;  // the record still holds the call's first step (k = 0)

  Net(const Population& p, int64_t n_in_, float* w_, float* theta_, float* thresh_, float tp,
      const Rule* r)
      : pop(p), act(p.n), n_in(n_in_), n(p.n), w(w_), theta(theta_), thresh(thresh_),
        theta_plus(tp), rule(r), ltp_a(n_in_), ltp_b(p.n), ltd_a(n_in_), ltd_b(p.n),
        pre_spiked(n_in_) {
    pre_idx.reserve(n_in);
    post_idx.reserve(n);
  }
};

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

// The loops over whole rows / columns below are functions with restrict parameters and their
// constants as values (GCC honours restrict on parameters): a store through a float* could
// otherwise change the rule's floats, and the compiler would reload them and not vectorise.

// out[k] = factor f at k, for every k < size (the caller reads the ones it needs)
inline void factor_values(const Factor& f, const Trace* traces, int64_t size,
                          float* __restrict out) {
  const Trace& t = traces[f.trace];
  const float k0 = f.k0, k1 = f.k1, jump = t.jump;
  const float* __restrict x = t.x;
  if (!f.after)
    for (int64_t k = 0; k < size; ++k) out[k] = k0 + k1 * x[k];
  else if (t.mode == ALL_TO_ALL)
    for (int64_t k = 0; k < size; ++k) out[k] = k0 + k1 * (x[k] + jump);
  else if (t.mode == NEAREST)
    for (int64_t k = 0; k < size; ++k) out[k] = k0 + k1 * jump;
  else
    for (int64_t k = 0; k < size; ++k) out[k] = k0 + k1 * (x[k] + jump * (1.0f - x[k]));
}

// post factors are 0 where the gate trace c is outside [lo, hi]
inline void gated(int64_t n, const float* __restrict c, float lo, float hi,
                  float* __restrict out) {
  for (int64_t j = 0; j < n; ++j) out[j] = c[j] >= lo && c[j] <= hi ? out[j] : 0.0f;
}

// LTD of one spiking input's row w [n] on the E neurons that did not spike (`a`: its pre
// factor), under the rule's dependence, clipped: clip(updated(w, 0, a ltd_b))
inline void ltd_row(int64_t n, float* __restrict w, const float* __restrict ltd_b,
                    const float* __restrict spiked, float a, float w_min, float w_max,
                    bool soft) {
  auto clipped = [=](float x) { return std::min(std::max(x, w_min), w_max); };
  if (soft) {
    for (int64_t j = 0; j < n; ++j) {
      const float wj = w[j];
      const float u = clipped(wj + (0.0f * (w_max - wj) - (a * ltd_b[j]) * (wj - w_min)));
      w[j] = spiked[j] == 0.0f ? u : wj;
    }
  } else {
    for (int64_t j = 0; j < n; ++j) {
      const float wj = w[j];
      const float u = clipped((wj + 0.0f) - a * ltd_b[j]);
      w[j] = spiked[j] == 0.0f ? u : wj;
    }
  }
}

// SharedPlasticity.step at batch 1: decay the traces; LTP on post spikes, LTD on pre spikes,
// from the traces before this step's spikes; weight dependence; clip; then the traces jump.
void plasticity(Net& s) {
  const Rule& r = *s.rule;
  const int64_t n = s.n, n_in = s.n_in;
  for (int k = 0; k < r.n_pre; ++k) {
    const float a = float(r.pre[k].decay);
    for (int64_t i = 0; i < n_in; ++i) r.pre[k].x[i] = flushed(r.pre[k].x[i] * a);
  }
  for (int k = 0; k < r.n_post; ++k) {
    const float a = float(r.post[k].decay);
    for (int64_t j = 0; j < n; ++j) r.post[k].x[j] = flushed(r.post[k].x[j] * a);
  }
  const bool pre_fired = !s.pre_idx.empty(), post_fired = !s.post_idx.empty();
  if (!pre_fired && !post_fired) return;
  const float* gate = r.post[r.gate].x;
  if (post_fired) {
    factor_values(r.ltp_pre, r.pre, n_in, s.ltp_a.data());
    factor_values(r.ltp_post, r.post, n, s.ltp_b.data());
    gated(n, gate, r.gate_lo, r.gate_hi, s.ltp_b.data());
  }
  if (pre_fired) {
    for (int64_t i : s.pre_idx) s.ltd_a[i] = factor(r.ltd_pre, r.pre, i);
    factor_values(r.ltd_post, r.post, n, s.ltd_b.data());
    gated(n, gate, r.gate_lo, r.gate_hi, s.ltd_b.data());
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
  for (int64_t i : s.pre_idx)
    ltd_row(n, s.w + i * n, s.ltd_b.data(), s.act.spiked.data(), s.ltd_a[i], r.w_min, r.w_max,
            r.soft != 0);
  if (s.clamp_all) {
    for (int64_t k = 0; k < n_in * n; ++k) s.w[k] = clip(r, s.w[k]);
    s.clamp_all = false;
  }
  for (int k = 0; k < r.n_pre; ++k)
    for (int64_t i : s.pre_idx) r.pre[k].x[i] = jumped(r.pre[k], r.pre[k].x[i]);
  for (int k = 0; k < r.n_post; ++k)
    for (int64_t j : s.post_idx) r.post[k].x[j] = jumped(r.post[k], r.post[k].x[j]);
}

// Graupner-Brunel's synapses are updated lazily, a row (one input's weights) at a time: a step
// only records the calcium of each side (C_pre x_i, C_post y_j -- the synapse's c is their
// sum); a row catches up on the recorded steps when its input spikes (the drive needs its
// weights) and every row when the record is full or the call ends. Each synapse still takes
// every step in order -- the same arithmetic as updating all of them every step -- but a row
// stays in L1 over up to GB_BLOCK steps instead of streaming the whole [n_in, n] matrix
// through the caches in every step, and a step whose calcium stays below both thresholds in
// the whole row (rounding is monotonic) changes nothing there outside drift steps (rho + h 0 =
// rho, w + 0 = w): skipped.
constexpr int64_t GB_BLOCK = 32;

// Steps [done[i], recorded) of the record on row i.
void gb_catch_up(Net& s, int64_t i) {
  const Rule& r = *s.rule;
  const Calcium& g = *r.gb;
  const int64_t n = s.n, n_in = s.n_in;
  float* rho = g.rho + i * n;
  float* w = s.w + i * n;
  float* tp = g.t_p ? g.t_p + i * n : nullptr;
  float* td = g.t_d ? g.t_d + i * n : nullptr;
  const float h = g.h, rs = g.rho_star, gp = g.gamma_p, gd = g.gamma_d, w0 = g.w0,
              bm1 = g.b_minus_1, th_p = g.theta_p, th_d = g.theta_d, dt = g.dt,
              th_min = std::min(th_p, th_d), S = float(g.drift_every);
  // the reference adds max(Δ, 0), then subtracts max(-Δ, 0): one of them is 0, and w - (-Δ)
  // rounds as w + Δ, so that is w + Δ exactly
  auto move = [&](float& wj, float& rj, float r1) {
    r1 = std::min(std::max(r1, 0.0f), 1.0f);
    wj = clip(r, wj + ((r1 - rj) * w0) * bm1);
    rj = r1;
  };
  auto bistable = [&](float r0) { return ((r0 * (1.0f - r0)) * (rs - r0)) * S; };
  for (int64_t k = s.done[i]; k < s.recorded; ++k) {
    const float cx = s.cx[k * n_in + i];
    const float* cy = s.cy.data() + k * n;
    const bool quiet = cx + s.cy_top[k] < th_min;  // the reference's "+ gamma 0" terms: exact
    if (quiet && !s.drift_at[k]) {
      // nothing moves, but the reference clips every weight in the call's first step
      if (k == 0 && s.first_block)
        for (int64_t j = 0; j < n; ++j) w[j] = clip(r, w[j]);
      continue;
    }
    if (quiet) {
      for (int64_t j = 0; j < n; ++j) {
        const float r0 = rho[j];
        move(w[j], rho[j], r0 + h * (0.0f - bistable(r0)));
      }
      continue;
    }
    // the reference's (gp (1-r0) up - S (r0 (1-r0)) (rs-r0)) - gd r0 down, rounded the same:
    // multiplying by the 0/1 indicators is exact; two loops so that each vectorises
    auto active = [&](auto drift) {
      for (int64_t j = 0; j < n; ++j) {
        const float c = cx + cy[j];
        const float r0 = rho[j];
        const float ltp = c >= th_p ? gp * (1.0f - r0) : 0.0f, ltd = c >= th_d ? gd * r0 : 0.0f;
        move(w[j], rho[j], r0 + h * ((decltype(drift)::value ? ltp - bistable(r0) : ltp) - ltd));
      }
    };
    if (s.drift_at[k]) active(std::true_type{});
    else active(std::false_type{});
    // the diagnostic times in their own loops (stores under a condition don't vectorise)
    for (auto [t, th] : {std::pair{tp, th_p}, std::pair{td, th_d}}) {
      if (!t) continue;
      for (int64_t j = 0; j < n; ++j) t[j] = t[j] + dt * (cx + cy[j] >= th ? 1.0f : 0.0f);
    }
  }
  s.done[i] = s.recorded;
}

// Every row up to date; the record starts again.
void gb_flush(Net& s) {
#pragma omp parallel for schedule(static) num_threads(s.threads)
  for (int64_t i = 0; i < s.n_in; ++i) gb_catch_up(s, i);
  s.recorded = 0;
  s.first_block = false;
  std::fill(s.done.begin(), s.done.end(), 0);
}

// One step of the rule of a Calcium (see there) -- the reference's order: the delay line moves,
// both traces decay and take their (delayed) spikes, then every synapse updates from them
// (recorded here, applied by gb_catch_up).
void graupner_brunel(Net& s) {
  const Rule& r = *s.rule;
  const Calcium& g = *r.gb;
  const int64_t n = s.n, n_in = s.n_in;
  const Trace &tx = r.pre[0], &ty = r.post[0];
  s.arrived.clear();
  if (g.delay) {
    uint8_t* oldest = s.line.data() + s.head * n_in;
    for (int64_t i = 0; i < n_in; ++i) {
      if (oldest[i]) s.arrived.push_back(i);
      oldest[i] = s.pre_spiked[i];
    }
    s.head = (s.head + 1) % g.delay;
  } else {
    s.arrived = s.pre_idx;
  }
  const float ax = float(tx.decay), ay = float(ty.decay);
  for (int64_t i = 0; i < n_in; ++i) tx.x[i] = flushed(tx.x[i] * ax);
  for (int64_t j = 0; j < n; ++j) ty.x[j] = flushed(ty.x[j] * ay);
  for (int64_t i : s.arrived) tx.x[i] = jumped(tx, tx.x[i]);
  for (int64_t j : s.post_idx) ty.x[j] = jumped(ty, ty.x[j]);
  const int64_t k = s.recorded;
  float* cx = s.cx.data() + k * n_in;
  float* cy = s.cy.data() + k * n;
  for (int64_t i = 0; i < n_in; ++i) cx[i] = g.C_pre * tx.x[i];
  float top = -INFINITY;
  for (int64_t j = 0; j < n; ++j) {
    cy[j] = g.C_post * ty.x[j];
    top = std::max(top, cy[j]);
  }
  s.cy_top[k] = top;
  s.drift_at[k] = ++*g.clock >= g.drift_every;
  if (s.drift_at[k]) *g.clock = 0;
  if (++s.recorded == GB_BLOCK) gb_flush(s);
}

// This step's input: the inputs that spike (pre_idx, in index order; pre_spiked).
template <class Fill>
void set_input(Net& s, Fill&& fill) {
  for (int64_t i : s.pre_idx) s.pre_spiked[i] = 0;
  s.pre_idx.clear();
  fill(s.pre_idx);
  for (int64_t i : s.pre_idx) s.pre_spiked[i] = 1;
}

// One 0.5 ms step (network_step, theta, plasticity) with the input set by set_input.
void step(Net& s, float* counts, bool learn) {
  const int64_t n = s.n;
  float* drive = s.act.drive.data();
  std::fill(drive, drive + n, 0.0f);
  if (s.recorded)
    for (int64_t i : s.pre_idx) gb_catch_up(s, i);
  for (int64_t i : s.pre_idx) {
    const float* wi = s.w + i * n;
    for (int64_t j = 0; j < n; ++j) drive[j] += wi[j];
  }
  s.post_idx.clear();
  neuron_step(s.pop, s.thresh, s.act, [&](int64_t j) { s.post_idx.push_back(j); });
  for (int64_t j : s.post_idx) {
    if (counts) counts[j] += 1.0f;
    if (learn) {
      s.theta[j] = s.theta[j] + s.theta_plus;
      s.thresh[j] = s.thresh[j] + s.theta_plus;
    }
  }
  if (learn) {
    if (s.rule->gb) graupner_brunel(s);
    else plasticity(s);
  }
}

// rule_f / rule_i / gb_f / gb_i: the flat lists of hebbtorch/kernels/diehl_cook_ops.py
// (rule_args), read in the same order.
Rule rule_of(at::TensorList traces, c10::ArrayRef<double> f, c10::ArrayRef<int64_t> i,
             const Calcium* gb) {
  TORCH_CHECK(f.size() == 20 && i.size() == 16, "dc_run: malformed rule description");
  Rule r{};
  r.n_pre = int32_t(i[12]);
  r.n_post = int32_t(i[13]);
  TORCH_CHECK(r.n_pre >= 1 && r.n_pre <= 2 && r.n_post >= 1 && r.n_post <= 2 &&
              int64_t(traces.size()) == r.n_pre + r.n_post, "dc_run: 1-2 traces per side");
  for (int k = 0; k < r.n_pre + r.n_post; ++k) {
    check_float(traces[k], "a trace");
    Trace& t = k < r.n_pre ? r.pre[k] : r.post[k - r.n_pre];
    const int slot = k < r.n_pre ? k : 2 + k - r.n_pre;
    t = Trace{traces[k].data_ptr<float>(), f[2 * slot], float(f[2 * slot + 1]),
              int32_t(i[slot])};
  }
  Factor* fs[4] = {&r.ltp_pre, &r.ltp_post, &r.ltd_pre, &r.ltd_post};
  for (int k = 0; k < 4; ++k)
    *fs[k] = Factor{float(f[8 + 2 * k]), float(f[9 + 2 * k]), int32_t(i[4 + 2 * k]),
                    int32_t(i[5 + 2 * k])};
  r.gate_lo = float(f[16]);
  r.gate_hi = float(f[17]);
  r.w_min = float(f[18]);
  r.w_max = float(f[19]);
  r.gate = int32_t(i[14]);
  r.soft = int32_t(i[15]);
  r.gb = gb;
  return r;
}

}  // namespace

// `steps` steps of the network (DiehlCookNetwork._run) with input x [steps, n_in] (0/1), or
// drawn from the per-step spike probability prob [n_in] with `seed` (torch.rand's stream), or
// neither (silence); then `rest` silent steps (DiehlCookNetwork._rest): every 10 steps, once
// both conductances are below 1e-6, the remaining steps are jumped over exactly (relax_state,
// and the traces decay by decay^steps) -- except while Graupner-Brunel learns, whose efficacies
// drift without spikes. The rule is read only with `learn`; `threads` split Graupner-Brunel's
// row updates (bit-identical for any count). Returns Graupner-Brunel's drift clock (else 0).
int64_t dc_run(const std::optional<at::Tensor>& x, const std::optional<at::Tensor>& prob,
               int64_t seed, int64_t steps, int64_t rest, const at::Tensor& w,
               const at::Tensor& theta, const at::Tensor& thresh, const at::Tensor& v,
               const at::Tensor& ge, const at::Tensor& gi, const at::Tensor& ref,
               const at::Tensor& v_rest, const at::Tensor& v_reset, const at::Tensor& E_inh,
               const at::Tensor& neg_dt_tau, const at::Tensor& n_ref,
               c10::ArrayRef<double> consts, double theta_plus,
               const std::optional<at::Tensor>& counts, bool learn, at::TensorList traces,
               c10::ArrayRef<double> rule_f, c10::ArrayRef<int64_t> rule_i, at::TensorList gb_t,
               c10::ArrayRef<double> gb_f, c10::ArrayRef<int64_t> gb_i, int64_t threads) {
  for (const auto& [t, name] : {std::pair{&w, "w"}, {&theta, "theta"}, {&thresh, "thresh"},
                                {&v, "v"}, {&ge, "ge"}, {&gi, "gi"}, {&ref, "ref"}})
    check_float(*t, name);
  TORCH_CHECK(w.dim() == 2 && w.size(0) < (1 << 16), "dc_run: w must be [n_in < 65536, n]");
  const int64_t n_in = w.size(0), n = w.size(1);
  TORCH_CHECK(theta.numel() == n && thresh.numel() == 2 * n && v.numel() == 2 * n &&
              ge.numel() == 2 * n && gi.numel() == 2 * n && ref.numel() == 2 * n,
              "dc_run: theta [n], thresholds and state [2n] (batch 1)");
  if (x) {
    check_float(*x, "x");
    TORCH_CHECK(x->numel() == steps * n_in, "dc_run: x must be [steps, 1, n_in]");
  }
  if (prob) {
    check_float(*prob, "prob");
    TORCH_CHECK(prob->numel() == n_in, "dc_run: prob must be [1, n_in]");
  }
  if (counts) {
    check_float(*counts, "counts");
    TORCH_CHECK(counts->numel() == n, "dc_run: counts must be [1, n]");
  }
  const Population pop(n, v_rest, v_reset, E_inh, neg_dt_tau, n_ref, consts);
  int64_t clock = 0;
  Calcium cal{};
  const bool gb = learn && !gb_t.empty();
  if (gb) {
    TORCH_CHECK(gb_t.size() == 4 && gb_f.size() == 11 && gb_i.size() == 3,
                "dc_run: malformed Graupner-Brunel description");
    for (const auto& t : gb_t) check_float(t, "a Graupner-Brunel tensor");
    clock = gb_i[1];
    cal = Calcium{fptr(gb_t[0]), fptr(gb_t[1]), fptr(gb_t[2]), fptr(gb_t[3]), gb_i[0],
                  float(gb_f[0]), float(gb_f[1]), float(gb_f[2]), float(gb_f[3]),
                  float(gb_f[4]), float(gb_f[5]), float(gb_f[6]), float(gb_f[7]),
                  float(gb_f[8]), float(gb_f[9]), float(gb_f[10]), &clock, gb_i[2]};
  }
  const Rule rule = learn ? rule_of(traces, rule_f, rule_i, gb ? &cal : nullptr) : Rule{};
  Net s(pop, n_in, w.data_ptr<float>(), theta.data_ptr<float>(), thresh.data_ptr<float>(),
        float(theta_plus), &rule);
  s.act.v = v.data_ptr<float>();
  s.act.ge = ge.data_ptr<float>();
  s.act.gi = gi.data_ptr<float>();
  s.act.ref = ref.data_ptr<float>();
  s.threads = int32_t(std::max<int64_t>(threads, 1));
  const int64_t delay = gb ? cal.delay : 0;
  if (gb) {
    s.line.resize(delay * n_in);
    for (int64_t k = 0; k < delay * n_in; ++k) s.line[k] = cal.history[k] != 0.0f;
    s.cx.resize(GB_BLOCK * n_in);
    s.cy.resize(GB_BLOCK * n);
    s.cy_top.resize(GB_BLOCK);
    s.done.resize(n_in);
    s.drift_at.resize(GB_BLOCK);
    s.first_block = true;
  }
  float* wp = s.w;
  if (learn && !gb) s.clamp_all = [&] {
    for (int64_t k = 0; k < n_in * n; ++k)
      if (!(wp[k] >= rule.w_min && wp[k] <= rule.w_max)) return true;
    return false;
  }();
  float* cnt = fptr(counts);
  std::optional<PoissonInput> drawn;
  if (prob) drawn.emplace(prob->data_ptr<float>(), 1, n_in, uint32_t(seed & 0xFFFFFFFF));
  std::vector<uint16_t> fired;
  const float* xp = fptr(x);
  for (int64_t t = 0; t < steps; ++t) {
    set_input(s, [&](std::vector<int64_t>& idx) {
      if (xp) {
        const float* row = xp + t * n_in;
        for (int64_t i = 0; i < n_in; ++i)
          if (row[i] != 0.0f) idx.push_back(i);
      } else if (drawn) {
        fired.clear();
        drawn->row(0, &fired);
        idx.insert(idx.end(), fired.begin(), fired.end());
      }
    });
    step(s, cnt, learn);
  }
  set_input(s, [](std::vector<int64_t>&) {});
  for (int64_t t = 0; t < rest; ++t) {
    step(s, nullptr, learn);
    const int64_t left = rest - t - 1;
    if (gb || left == 0 || (t + 1) % kRestChunk || !quiet(pop, s.act)) continue;
    relax(pop, s.act, left);
    if (learn) {
      auto decay = [&](const Trace& tr, int64_t size) {
        const float a = float(std::pow(tr.decay, double(left)));
        for (int64_t k = 0; k < size; ++k) tr.x[k] = flushed(tr.x[k] * a);
      };
      for (int k = 0; k < rule.n_pre; ++k) decay(rule.pre[k], n_in);
      for (int k = 0; k < rule.n_post; ++k) decay(rule.post[k], n);
    }
    break;
  }
  if (!gb) return 0;
  gb_flush(s);
  for (int64_t k = 0; k < delay; ++k)  // the delay line back, oldest first
    for (int64_t i = 0; i < n_in; ++i)
      cal.history[k * n_in + i] = s.line[((s.head + k) % delay) * n_in + i];
  return clock;
}

}  // namespace dc
}  // namespace hebbtorch

TORCH_LIBRARY_IMPL(hebbtorch, CPU, m) { m.impl("dc_run", &hebbtorch::dc::dc_run); }
