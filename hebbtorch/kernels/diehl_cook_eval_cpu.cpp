// Frozen evaluation of the Diehl & Cook network, CPU: one attempt of DiehlCookNetwork.present
// (learn=False) for a batch of B images -- 350 ms of Poisson input then the 150 ms rest -- in
// one call, the images (lanes) spread over threads. Nothing is learned: weights, theta
// and thresholds are read only.
//
// The same arithmetic, step order and float32 rounding as the reference step loop
// (hebbtorch/networks/diehl_cook.py: network_step, _rest, relax_state) and as the batch-1 kernel
// diehl_cook_cpu.cpp (whose neuron step this repeats for one lane), including:
// * the input spikes: torch.rand's draws of a CPU generator seeded with `seed` (MT19937, a
//   float32 uniform = (32-bit draw & 0xFFFFFF) / 2^24), one per (step, lane, input) in the
//   memory order of the reference's [steps, B, n_in] tensor, a spike where u < p[lane, input];
// * the rest: the reference checks every 10 steps whether the conductances of the *whole batch*
//   are below 1e-6 and then jumps the remaining steps for every lane. A lane whose conductances
//   are below 1e-6 without input can't spike any more (its membranes relax monotonically to
//   rest, below threshold) and so stays below, so that moment is the latest of the lanes' own
//   first quiet check: each lane finds its own in parallel, then all run on to the latest.
// The only difference from the reference: the input drive sums the weights of the inputs that
// spiked in index order (the reference multiplies by the 0/1 input with a BLAS call).
// Layout: E then I in every [2n] row; weights [n_in, n] row-major; state [B, 2n].

#include <algorithm>
#include <atomic>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <thread>
#include <vector>

namespace {

constexpr int64_t CHUNK = 10;  // steps between the rest's quiet checks (DiehlCookNetwork._rest)

// torch.lerp's formula (two branches, for accuracy near either end)
inline float lerp(float start, float end, float weight) {
  const float d = end - start;
  return std::fabs(weight) < 0.5f ? start + weight * d : end - d * (1.0f - weight);
}

// flush_subnormal: decaying state below FLT_MIN is 0
inline float flushed(float x) { return std::fabs(x) < FLT_MIN ? 0.0f : x; }

struct Net {
  int64_t n_in, n;
  const float *w, *thresh;
  const float *v_rest, *v_reset, *E_inh, *neg_dt_tau, *n_ref;  // per neuron [2n]
  float decay_ge, decay_gi, mean_ge, mean_gi, E_exc, w_ei, w_ie;
  double decay_ge_d, decay_gi_d;  // for the rest jump's power, as the reference's
};

// One lane's state and scratch, copied out of the [B, 2n] / [B, n] tensors while it runs and
// back when done: rows of neighbouring lanes share a cache line at their ends, and two threads
// writing one line every step (false sharing) cost more than they gained.
struct Lane {
  float *v, *ge, *gi, *ref, *counts;  // into `own`
  std::vector<float> own, drive;
  std::vector<uint8_t> spiked;
  float* out[5];  // where own's five parts came from
  int64_t size[5];

  Lane(float* v0, float* ge0, float* gi0, float* ref0, float* counts0, int64_t n)
      : own(9 * n), drive(n), spiked(2 * n), out{v0, ge0, gi0, ref0, counts0},
        size{2 * n, 2 * n, 2 * n, 2 * n, n} {
    float* at = own.data();
    float** mine[5] = {&v, &ge, &gi, &ref, &counts};
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

// One 0.5 ms step of one lane (network_step); `in`: indices of this step's input spikes.
void step(const Net& s, Lane& l, const uint16_t* in, int64_t n_spikes, bool count) {
  const int64_t n = s.n, n2 = 2 * n;
  std::fill(l.drive.begin(), l.drive.end(), 0.0f);
  for (int64_t k = 0; k < n_spikes; ++k) {
    const float* wi = s.w + int64_t(in[k]) * n;
    for (int64_t j = 0; j < n; ++j) l.drive[j] += wi[j];
  }
  int64_t n_i = 0;
  for (int64_t k = 0; k < n2; ++k) {  // conductance_membrane, refractory clamp, threshold
    const float g_e = l.ge[k] * s.mean_ge, g_i = l.gi[k] * s.mean_gi;
    const float g_tot = 1.0f + g_e + g_i;
    float num = s.E_exc != 0.0f ? s.v_rest[k] + g_e * s.E_exc : s.v_rest[k];
    num = num + g_i * s.E_inh[k];
    float v = lerp(num / g_tot, l.v[k], std::exp(g_tot * s.neg_dt_tau[k]));
    const bool free = l.ref[k] <= 0.0f;
    v = free ? v : s.v_reset[k];
    const bool sp = free && v > s.thresh[k];
    l.ref[k] = std::max(l.ref[k] - 1.0f, 0.0f);
    if (sp) {
      v = s.v_reset[k];
      l.ref[k] = s.n_ref[k];
      if (k < n) {
        if (count) l.counts[k] += 1.0f;
      } else {
        ++n_i;
      }
    }
    l.v[k] = v;
    l.spiked[k] = sp;
  }
  const float sum_i = float(n_i);
  for (int64_t k = 0; k < n2; ++k) {  // this step's arrivals
    float gi = l.gi[k] * s.decay_gi;
    if (k < n) {
      l.ge[k] = flushed(l.drive[k] + s.decay_ge * l.ge[k]);
      if (n_i) gi = gi + s.w_ie * (sum_i - (l.spiked[k + n] ? 1.0f : 0.0f));
    } else {
      l.ge[k] = flushed(s.w_ei * (l.spiked[k - n] ? 1.0f : 0.0f) + s.decay_ge * l.ge[k]);
    }
    l.gi[k] = flushed(gi);
  }
}

bool quiet(const Net& s, const Lane& l) {
  float top = 0.0f;
  for (int64_t k = 0; k < 2 * s.n; ++k) top = std::max(top, std::max(l.ge[k], l.gi[k]));
  return double(top) < 1e-6;
}

// relax_state: `left` silent steps at once
void jump(const Net& s, Lane& l, int64_t left) {
  const float a_e = float(std::pow(s.decay_ge_d, double(left)));
  const float a_i = float(std::pow(s.decay_gi_d, double(left)));
  for (int64_t k = 0; k < 2 * s.n; ++k) {
    l.v[k] = lerp(s.v_rest[k], l.v[k], std::exp(s.neg_dt_tau[k] * float(left)));
    l.ge[k] = flushed(l.ge[k] * a_e);
    l.gi[k] = flushed(l.gi[k] * a_i);
    l.ref[k] = std::max(l.ref[k] - float(left), 0.0f);
  }
}

// MT19937 (Matsumoto & Nishimura 1998) as torch's CPU generator runs it (seeded by
// init_genrand), one block of 624 outputs at a time, so that the caller tempers only the outputs
// it needs: an input that never fires (p = 0, most pixels) still advances the stream but costs
// no tempering. The block's twist is three plain loops that the compiler vectorises.
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

// The Bernoulli input of one attempt, as the reference draws it (see the top): spikes of step t,
// lane b are in[off[t * B + b] .. off[t * B + b + 1]). Serial: the draws form one stream.
void draw(const float* p, uint32_t seed, int64_t steps, int64_t B, int64_t n_in,
          std::vector<uint16_t>* in, std::vector<int64_t>* off) {
  MT19937 gen(seed);
  int pos = MT19937::N;  // next unused output of the current block
  constexpr float scale = 1.0f / float(1 << 24);
  off->assign(steps * B + 1, 0);
  in->clear();
  for (int64_t t = 0; t < steps; ++t)
    for (int64_t b = 0; b < B; ++b) {
      const float* pb = p + b * n_in;
      for (int64_t i = 0; i < n_in;) {
        if (pos == MT19937::N) {
          gen.next_block();
          pos = 0;
        }
        const int64_t k = std::min<int64_t>(n_in - i, MT19937::N - pos);  // within the block
        for (int64_t j = 0; j < k; ++j) {
          if (pb[i + j] > 0.0f &&  // u >= 0 = p never spikes: skip the tempering
              float(MT19937::tempered(gen.mt[pos + j]) & 0xFFFFFFu) * scale < pb[i + j])
            in->push_back(uint16_t(i + j));
        }
        i += k;
        pos += int(k);
      }
      (*off)[t * B + b + 1] = int64_t(in->size());
    }
}

// fn(b) for every lane b, lanes handed out one at a time to `threads` threads (this one
// included). Plain threads joined at the end, not an OpenMP team: an OpenMP thread that runs out
// of work spins at the barrier and between regions (libgomp's default spin lasts milliseconds),
// which another process's load turns into lost time -- measured here, 2 OpenMP threads under
// load were slower than 1 (bench/bench_unsupervised_eval.py). A joined thread sleeps.
template <class Fn>
void for_lanes(int64_t B, int32_t threads, const Fn& fn) {
  std::atomic<int64_t> next{0};
  auto work = [&] {
    for (int64_t b; (b = next.fetch_add(1)) < B;) fn(b);
  };
  std::vector<std::thread> team;
  for (int32_t k = 1; k < std::min<int64_t>(threads, B); ++k) team.emplace_back(work);
  work();
  for (auto& t : team) t.join();
}

}  // namespace

// The input spikes of draw() as a dense 0/1 tensor x [steps, B, n_in] (for tests).
extern "C" void ht_dc_draw_dense(const float* p, uint32_t seed, int64_t steps, int64_t B,
                                 int64_t n_in, float* x) {
  std::vector<uint16_t> in;
  std::vector<int64_t> off;
  draw(p, seed, steps, B, n_in, &in, &off);
  std::fill(x, x + steps * B * n_in, 0.0f);
  for (int64_t r = 0; r < steps * B; ++r)
    for (int64_t k = off[r]; k < off[r + 1]; ++k) x[r * n_in + in[k]] = 1.0f;
}

// One frozen attempt for B lanes: `steps` steps of input drawn from p [B, n_in] (spike
// probability per step; 0 silences an input) with `seed`, then `rest` silent steps (with the
// reference's quiet check and jump). State v, ge, gi, ref [B, 2n] updated in place; E spikes of
// the input steps added to counts [B, n].
extern "C" void ht_dc_eval(
    const float* p, uint32_t seed, int64_t steps, int64_t rest, int64_t B, int64_t n_in,
    int64_t n, const float* w, const float* thresh, float* v, float* ge, float* gi, float* ref,
    const float* v_rest, const float* v_reset, const float* E_inh, const float* neg_dt_tau,
    const float* n_ref, double decay_ge, double decay_gi, float mean_ge, float mean_gi,
    float E_exc, float w_ei, float w_ie, float* counts, int32_t threads) {
  const Net s{n_in, n, w, thresh, v_rest, v_reset, E_inh, neg_dt_tau, n_ref, float(decay_ge),
              float(decay_gi), mean_ge, mean_gi, E_exc, w_ei, w_ie, decay_ge, decay_gi};
  std::vector<uint16_t> in;
  std::vector<int64_t> off;
  draw(p, seed, steps, B, n_in, &in, &off);
  const int64_t n2 = 2 * n, never = rest + 1;
  std::vector<int64_t> ran(B, 0);  // rest steps each lane has simulated
  // 1: the input steps, then rest chunks until this lane is quiet (ran[b] = steps so far, or
  // `never` when it stays loud to the end)
  for_lanes(B, threads, [&](int64_t b) {
    Lane l(v + b * n2, ge + b * n2, gi + b * n2, ref + b * n2, counts + b * n, n);
    for (int64_t t = 0; t < steps; ++t)
      step(s, l, in.data() + off[t * B + b], off[t * B + b + 1] - off[t * B + b], true);
    int64_t done = 0;
    while (done < rest) {
      const int64_t k = std::min(CHUNK, rest - done);
      for (int64_t t = 0; t < k; ++t) step(s, l, nullptr, 0, false);
      done += k;
      if (done < rest && quiet(s, l)) break;
    }
    ran[b] = done < rest ? done : never;
  });
  // 2: every lane on to the batch's first quiet check, then the jump over what is left
  // (when some lane stayed loud, every lane simulates the whole rest)
  const int64_t until = *std::max_element(ran.begin(), ran.end());
  const int64_t stop = until == never ? rest : until;
  for_lanes(B, threads, [&](int64_t b) {
    Lane l(v + b * n2, ge + b * n2, gi + b * n2, ref + b * n2, counts + b * n, n);
    const int64_t from = ran[b] == never ? rest : ran[b];
    for (int64_t t = from; t < stop; ++t) step(s, l, nullptr, 0, false);
    if (stop < rest) jump(s, l, rest - stop);
  });
}
