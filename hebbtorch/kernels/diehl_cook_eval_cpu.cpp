// Frozen evaluation of the Diehl & Cook network, CPU: one attempt of DiehlCookNetwork.present
// (learn=False) for a batch of B images -- 350 ms of Poisson input then the 150 ms rest -- in
// one call, the images (lanes) spread over threads: the operator hebbtorch::dc_eval (schema and
// Python side: hebbtorch/kernels/diehl_cook_ops.py). Nothing is learned: weights, theta and
// thresholds are read only.
//
// The same arithmetic, step order and float32 rounding as the reference step loop
// (hebbtorch/networks/diehl_cook.py: network_step, _rest, relax_state) and as the batch-1 kernel
// diehl_cook_cpu.cpp (the neuron step of diehl_cook_kernels.h), including:
// * the input spikes: torch.rand's draws of a CPU generator seeded with `seed`, one per (step,
//   lane, input) in the memory order of the reference's [steps, B, n_in] tensor (PoissonInput);
// * the rest: the reference checks every 10 steps whether the conductances of the *whole batch*
//   are below 1e-6 and then jumps the remaining steps for every lane. A lane whose conductances
//   are below 1e-6 without input can't spike any more (its membranes relax monotonically to
//   rest, below threshold) and so stays below, so that moment is the latest of the lanes' own
//   first quiet check: each lane finds its own in parallel, then all run on to the latest.
// The only difference from the reference: the input drive sums the weights of the inputs that
// spiked in index order (the reference multiplies by the 0/1 input with a BLAS call).
// Layout: E then I in every [2n] row; weights [n_in, n] row-major; state [B, 2n].

#include <atomic>
#include <thread>

#include "diehl_cook_kernels.h"

namespace hebbtorch {
namespace dc {
namespace {

// One lane's state, copied out of the [B, 2n] / [B, n] tensors while it runs and back when
// done: rows of neighbouring lanes share a cache line at their ends, and two threads writing
// one line every step (false sharing) cost more than they gained.
struct Lane {
  Activity act;
  float* counts;
  std::vector<float> own;
  float* out[5];  // where own's five parts came from
  int64_t size[5];

  Lane(float* v0, float* ge0, float* gi0, float* ref0, float* counts0, int64_t n)
      : act(n), own(9 * n), out{v0, ge0, gi0, ref0, counts0},
        size{2 * n, 2 * n, 2 * n, 2 * n, n} {
    float* at = own.data();
    float** mine[5] = {&act.v, &act.ge, &act.gi, &act.ref, &counts};
    for (int k = 0; k < 5; ++k) {
      *mine[k] = at;
      std::copy(out[k], out[k] + size[k], at);
      at += size[k];
    }
  }
  ~Lane() {
    const float* at = own.data();
    for (int k = 0; k < 5; ++k) {
      std::copy(at, at + size[k], out[k]);
      at += size[k];
    }
  }
  Lane(const Lane&) = delete;
  Lane& operator=(const Lane&) = delete;
};

// One 0.5 ms step of one lane; `in`: indices of this step's input spikes.
void step(const Population& p, const float* w, const float* thresh, Lane& l,
          const uint16_t* in, int64_t n_spikes, bool count) {
  const int64_t n = p.n;
  float* drive = l.act.drive.data();
  std::fill(drive, drive + n, 0.0f);
  for (int64_t k = 0; k < n_spikes; ++k) {
    const float* wi = w + int64_t(in[k]) * n;
    for (int64_t j = 0; j < n; ++j) drive[j] += wi[j];
  }
  float* counts = l.counts;
  if (count) neuron_step(p, thresh, l.act, [&](int64_t j) { counts[j] += 1.0f; });
  else neuron_step(p, thresh, l.act, [](int64_t) {});
}

// The input spikes of one attempt (PoissonInput): spikes of step t, lane b are
// in[off[t * B + b] .. off[t * B + b + 1]). Serial: the draws form one stream.
void draw(const float* p, uint32_t seed, int64_t steps, int64_t B, int64_t n_in,
          std::vector<uint16_t>* in, std::vector<int64_t>* off) {
  PoissonInput input(p, B, n_in, seed);
  off->assign(steps * B + 1, 0);
  in->clear();
  for (int64_t t = 0; t < steps; ++t)
    for (int64_t b = 0; b < B; ++b) {
      input.row(b, in);
      (*off)[t * B + b + 1] = int64_t(in->size());
    }
}

// fn(b) for every lane b, lanes handed out one at a time to `threads` threads (this one
// included). Plain threads joined at the end, not an OpenMP team: an OpenMP thread that runs out
// of work spins at the barrier and between regions (libgomp's default spin lasts milliseconds),
// which another process's load turns into lost time -- measured here, 2 OpenMP threads under
// load were slower than 1 (bench/bench_unsupervised_eval.py). A joined thread sleeps.
template <class Fn>
void for_lanes(int64_t B, int64_t threads, const Fn& fn) {
  std::atomic<int64_t> next{0};
  auto work = [&] {
    for (int64_t b; (b = next.fetch_add(1)) < B;) fn(b);
  };
  std::vector<std::thread> team;
  for (int64_t k = 1; k < std::min<int64_t>(threads, B); ++k) team.emplace_back(work);
  work();
  for (auto& t : team) t.join();
}

void check_prob(const at::Tensor& prob) {
  check_float(prob, "prob");
  TORCH_CHECK(prob.dim() == 2 && prob.size(1) < (1 << 16), "prob must be [B, n_in < 65536]");
}

}  // namespace

// The input spikes of one attempt as a dense 0/1 tensor [steps, B, n_in] (for tests).
at::Tensor dc_draw(const at::Tensor& prob, int64_t seed, int64_t steps) {
  check_prob(prob);
  const int64_t B = prob.size(0), n_in = prob.size(1);
  std::vector<uint16_t> in;
  std::vector<int64_t> off;
  draw(prob.data_ptr<float>(), uint32_t(seed & 0xFFFFFFFF), steps, B, n_in, &in, &off);
  at::Tensor x = at::zeros({steps, B, n_in}, prob.options());
  float* xp = x.data_ptr<float>();
  for (int64_t r = 0; r < steps * B; ++r)
    for (int64_t k = off[r]; k < off[r + 1]; ++k) xp[r * n_in + in[k]] = 1.0f;
  return x;
}

// One frozen attempt for B lanes: `steps` steps of input drawn from prob [B, n_in] (spike
// probability per step; 0 silences an input) with `seed`, then `rest` silent steps (with the
// reference's quiet check and jump). State v, ge, gi, ref [B, 2n] updated in place; E spikes of
// the input steps added to counts [B, n].
void dc_eval(const at::Tensor& prob, int64_t seed, int64_t steps, int64_t rest,
             const at::Tensor& w, const at::Tensor& thresh, const at::Tensor& v,
             const at::Tensor& ge, const at::Tensor& gi, const at::Tensor& ref,
             const at::Tensor& v_rest, const at::Tensor& v_reset, const at::Tensor& E_inh,
             const at::Tensor& neg_dt_tau, const at::Tensor& n_ref,
             c10::ArrayRef<double> consts, const at::Tensor& counts, int64_t threads) {
  check_prob(prob);
  for (const auto& [t, name] : {std::pair{&w, "w"}, {&thresh, "thresh"}, {&v, "v"},
                                {&ge, "ge"}, {&gi, "gi"}, {&ref, "ref"}, {&counts, "counts"}})
    check_float(*t, name);
  const int64_t B = prob.size(0), n_in = prob.size(1);
  TORCH_CHECK(w.dim() == 2 && w.size(0) == n_in, "dc_eval: w must be [n_in, n]");
  const int64_t n = w.size(1), n2 = 2 * n;
  TORCH_CHECK(thresh.numel() == n2 && v.numel() == B * n2 && ge.numel() == B * n2 &&
              gi.numel() == B * n2 && ref.numel() == B * n2 && counts.numel() == B * n,
              "dc_eval: thresholds [2n], state [B, 2n], counts [B, n]");
  const Population pop(n, v_rest, v_reset, E_inh, neg_dt_tau, n_ref, consts);
  std::vector<uint16_t> in;
  std::vector<int64_t> off;
  draw(prob.data_ptr<float>(), uint32_t(seed & 0xFFFFFFFF), steps, B, n_in, &in, &off);
  const float *wp = w.data_ptr<float>(), *th = thresh.data_ptr<float>();
  float *vp = v.data_ptr<float>(), *gep = ge.data_ptr<float>(), *gip = gi.data_ptr<float>(),
        *refp = ref.data_ptr<float>(), *cp = counts.data_ptr<float>();
  auto lane = [&](int64_t b) {
    return std::make_unique<Lane>(vp + b * n2, gep + b * n2, gip + b * n2, refp + b * n2,
                                  cp + b * n, n);
  };
  const int64_t never = rest + 1;
  std::vector<int64_t> ran(B, 0);  // rest steps each lane has simulated
  // 1: the input steps, then rest chunks until this lane is quiet (ran[b] = steps so far, or
  // `never` when it stays loud to the end)
  for_lanes(B, threads, [&](int64_t b) {
    auto l = lane(b);
    for (int64_t t = 0; t < steps; ++t)
      step(pop, wp, th, *l, in.data() + off[t * B + b], off[t * B + b + 1] - off[t * B + b],
           true);
    int64_t done = 0;
    while (done < rest) {
      const int64_t k = std::min(kRestChunk, rest - done);
      for (int64_t t = 0; t < k; ++t) step(pop, wp, th, *l, nullptr, 0, false);
      done += k;
      if (done < rest && quiet(pop, l->act)) break;
    }
    ran[b] = done < rest ? done : never;
  });
  // 2: every lane on to the batch's first quiet check, then the jump over what is left
  // (when some lane stayed loud, every lane simulates the whole rest)
  const int64_t until = *std::max_element(ran.begin(), ran.end());
  const int64_t stop = until == never ? rest : until;
  for_lanes(B, threads, [&](int64_t b) {
    auto l = lane(b);
    const int64_t from = ran[b] == never ? rest : ran[b];
    for (int64_t t = from; t < stop; ++t) step(pop, wp, th, *l, nullptr, 0, false);
    if (stop < rest) relax(pop, l->act, rest - stop);
  });
}

}  // namespace dc
}  // namespace hebbtorch

TORCH_LIBRARY_IMPL(hebbtorch, CPU, m) {
  m.impl("dc_eval", &hebbtorch::dc::dc_eval);
  m.impl("dc_draw", &hebbtorch::dc::dc_draw);
}
