"""Unsupervised learning of images with the Diehl & Cook (2015) network and a choice of local
rules: train (online or batched), label the neurons, evaluate, draw, checkpoint and resume.

Protocol (as the original code): during training each image is shown with learning on; every
``update_interval`` images the neurons are (re)assigned the class they responded to most in
that block, and the next block is classified with those assignments -- this gives the
accuracy-vs-images-seen curve for free. After training, weights and theta are frozen, the
neurons are labelled on ``label_images`` training images and the test images are classified
by "all activity" and by "proportion weighting". See docs/unsupervised.md.

Under ``torchrun`` (a process group with several ranks) the lanes of each training batch are
split across the ranks (:func:`~hebbtorch.plasticity.batched.lane_share`): image ``j`` of the
training order gets its own input seed, so its input does not depend on the rank that shows it,
and every rank applies the whole batch's weight update, so the run is the one-process run bit
for bit. Rank 0 writes the checkpoint and evaluates alone.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import torch
from tqdm import tqdm

from hebbtorch import distributed as ddp
from hebbtorch.data.preflight import check_splits
from hebbtorch.errors import HebbtorchError
from hebbtorch.io import save_figure, write_json
from hebbtorch.kernels.threads import torch_threads
from hebbtorch.learning.run import (
    LoopState,
    RunFolder,
    Schedule,
    Trainer,
    check_memory,
    run_loop,
)
from hebbtorch.networks.diehl_cook import (
    N_INPUT,
    DiehlCookNetwork,
    DiehlCookParameters,
    initial_weights,
)
from hebbtorch.networks.readout import (
    assign_labels,
    confusion_matrix,
    predict_all_activity,
    predict_proportion,
)
from hebbtorch.plasticity import (
    DiehlCookSTDPParameters,
    GraupnerBrunel,
    PlasticityRule,
    TripletSTDP,
    TripletSTDPParameters,
    WeightBounds,
    gb_parameters,
    registry,
    triplet_parameters,
)
from hebbtorch.plasticity.batched import lane_share


class RuleSetup(NamedTuple):
    """A rule with the weight bounds and initial weights it runs with in this network."""

    rule: PlasticityRule
    bounds: WeightBounds
    init: Callable[[int, torch.Generator], torch.Tensor]


def balanced_triplet(p: TripletSTDPParameters,
                     ref: DiehlCookSTDPParameters | None = None) -> TripletSTDPParameters:
    """``p`` with both depression amplitudes (A2_minus, A3_minus) scaled by one factor so that
    A2_minus / A3_plus = ``ref.nu_pre / ref.nu_post`` (default 1e-4 / 1e-2).

    Why this ratio: the original rule is itself a minimal nearest-spike triplet rule -- LTP
    ``nu_post pre post2(t-)`` is ``A3_plus r1 o2``, LTD ``nu_pre post1`` is ``A2_minus o1`` --
    so nu_post and nu_pre are its A3_plus and A2_minus. Pfister & Gerstner's ratio (about 1,
    from slice pairing protocols) makes depression win below a post rate of about 20 Hz
    (all-to-all set, independent Poisson spikes): the active inputs of every neuron but the
    winner lose weight, the normalisation moves it onto the background and the network falls
    silent. The LTP side, the time constants and the ratio of pair to triplet LTD
    (A3_minus / A2_minus) are kept. Trials: docs/unsupervised.md, "Triplet STDP scaling"."""
    ref = ref or DiehlCookSTDPParameters()
    k = ref.nu_pre / ref.nu_post * p.A3_plus / p.A2_minus
    return p._replace(A2_minus=p.A2_minus * k, A3_minus=p.A3_minus * k)


def make_rule(name: str, p: DiehlCookParameters | None = None,
              gb_calcium: tuple[float, float] | None = None,
              gb_set: str | None = None, gb_params: dict[str, float] | None = None,
              gb_drift_every: int = 128, n_input: int = N_INPUT) -> RuleSetup:
    """Rules and their scaling in the Diehl & Cook network (docs/unsupervised.md, "Rules"):

    * ``dc``: the original trace STDP, weights in [0, 1] (hard clip), original initial weights;
      so does every other registered rule (e.g. ``pair``) with its default parameters.
    * ``triplet``: Pfister & Gerstner's visual-cortex all-to-all full set with its depression
      rebalanced to the original rule's (:func:`balanced_triplet`: both LTD amplitudes x 0.0089,
      so that A2_minus / A3_plus = nu_pre / nu_post = 0.01; unchanged, LTD silences the
      network); weights in [0, 1] (hard clip), original initial weights.
    * ``calcium``: :class:`~hebbtorch.plasticity.CalciumHebbian` defaults, soft bounds [0, 1].
    * ``gb``: Graupner & Brunel's ``DP`` set (deterministic, no noise); DOWN/UP strengths
      ``w0``/``b w0`` placed so that their midpoint is the normalised mean weight
      ``norm / n_input`` (w0 = 2 norm / (n_input (1 + b)); n_input = 784 for 28x28 images);
      initial efficacies ρ ~ U(0, 1); the times above threshold are not kept (``times=False``:
      a diagnostic). ``gb_set``: another of Graupner & Brunel's fitted sets
      (:data:`~hebbtorch.plasticity.GB_PARAMETER_SETS`);
      ``gb_calcium``: other calcium amplitudes (C_pre, C_post) for the set; ``gb_params``: any
      other fields of :class:`~hebbtorch.plasticity.GraupnerBrunelParameters` replaced
      (docs/unsupervised.md, "Graupner-Brunel in the network"); ``gb_drift_every``: see
      :class:`~hebbtorch.plasticity.GraupnerBrunel`.
    """
    for opt, v in (("gb_calcium (--gb-calcium) sets", gb_calcium),
                   ("gb_set (--gb-set) picks", gb_set), ("gb_params (--gb-param) set", gb_params)):
        if v is not None and name != "gb":
            raise HebbtorchError(f"{opt} the gb rule's parameters; rule {name!r} has none")
    p = p or DiehlCookParameters()

    def original(n: int, g: torch.Generator) -> torch.Tensor:
        return initial_weights(n, p, g, n_input)

    entry = registry.get(name)  # the one vocabulary: every registered rule runs here
    if name == "triplet":
        rule = TripletSTDP(balanced_triplet(triplet_parameters("visual_cortex", "all_to_all",
                                                               "full")))
        return RuleSetup(rule, WeightBounds(0.0, 1.0, "additive"), original)
    if name == "calcium":
        return RuleSetup(entry.make(None), WeightBounds(0.0, 1.0, "multiplicative"), original)
    if name == "gb":
        gp = gb_parameters(gb_set or "DP")
        if gb_calcium is not None:
            gp = gp._replace(C_pre=float(gb_calcium[0]), C_post=float(gb_calcium[1]))
        if gb_params:
            unknown = sorted(set(gb_params) - set(gp._fields))
            if unknown:
                raise HebbtorchError(f"gb_params: unknown Graupner-Brunel parameter(s) {unknown}; "
                                     f"known: {', '.join(gp._fields)}")
            gp = gp._replace(**{k: float(v) for k, v in gb_params.items()})
        w0 = 2.0 * p.norm / (n_input * (1.0 + gp.b))

        def bistable(n: int, g: torch.Generator) -> torch.Tensor:
            return w0 * (1.0 + (gp.b - 1.0) * torch.rand(n_input, n, generator=g))

        return RuleSetup(GraupnerBrunel(gp, w0=w0, times=False, drift_every=gb_drift_every),
                         WeightBounds(w0, gp.b * w0, "additive"),
                         bistable)
    return RuleSetup(entry.make(None), WeightBounds(0.0, 1.0, "additive"), original)


def _load(dataset: str, split: str, data_root: str | None
          ) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Images ``[N, H, W]`` (any size: one input neuron per pixel), labels, class count."""
    from hebbtorch.data import load_dataset

    ds = load_dataset(dataset, split=split, root=data_root)
    if ds.images.dim() != 3:
        raise HebbtorchError(f"{dataset}: the network takes grey images [N, H, W], got "
                             f"{tuple(ds.images.shape)}")
    return ds.images, ds.labels, ds.num_classes


def _order(n_train: int, images: int, seed: int) -> torch.Tensor:
    """Training order: epochs of fresh permutations of the training set."""
    g = torch.Generator().manual_seed(seed)
    epochs = math.ceil(images / n_train)
    return torch.cat([torch.randperm(n_train, generator=g) for _ in range(epochs)])[:images]


def _block_accuracy(counts: torch.Tensor, labels: torch.Tensor,
                    assigned: tuple[torch.Tensor, torch.Tensor] | None,
                    n_classes: int = 10) -> dict | None:
    if assigned is None:
        return None
    a, prop = assigned
    pred_all = predict_all_activity(counts, a, n_classes)
    pred_prop = predict_proportion(counts, a, prop, n_classes)
    return {"all_activity": float((pred_all == labels).float().mean()),
            "proportion": float((pred_prop == labels).float().mean())}


@torch.inference_mode()
def respond(net: DiehlCookNetwork, pixels: torch.Tensor, seed: int,
            desc: str | None = None) -> torch.Tensor:
    """Frozen responses ``[N, n]`` of ``net`` to images ``[N, 784]`` (lanes of ``net.batch``;
    image ``k`` uses input seed ``seed + k``)."""
    B, N = net.batch, len(pixels)
    out = torch.zeros(N, net.n)
    bar = tqdm(total=N, desc=desc, disable=desc is None, unit="img")
    for i in range(0, N, B):
        chunk = pixels[i:i + B]
        k = len(chunk)
        if k < B:  # pad the last chunk with copies of its first image (results dropped)
            chunk = torch.cat([chunk, chunk[:1].expand(B - k, chunk.shape[1])])
        counts, _ = net.present(chunk, learn=False, seed=seed + i)
        out[i:i + k] = counts[:k].cpu()
        bar.update(k)
    bar.close()
    return out


def train_unsupervised(
    out: str | Path, *, rule: str = "dc", neurons: int = 100, dataset: str = "mnist-5k",
    images: int = 1000, batch: int = 1, label_images: int | None = None,
    test_images: int | None = None,
    eval_batch: int = 50, update_interval: int = 250, checkpoint_every: int = 250,
    seed: int = 0, data_root: str | None = None, time_budget_s: float | None = None,
    quiet: bool = False, device: str = "cpu", gb_calcium: tuple[float, float] | None = None,
    gb_set: str | None = None, gb_rate_normalised: bool = False,
    gb_params: dict[str, float] | None = None, gb_drift_every: int = 128,
    resume: bool = False, overwrite: bool = False,
) -> dict:
    """Train, label, evaluate; write ``metrics.json``, ``checkpoint.pt`` and the pictures
    (``receptive_fields.png``, ``assignments.png``, ``confusion.png``, ``accuracy.png``).
    ``out`` is a :class:`~hebbtorch.learning.run.RunFolder`: ``resume=True`` continues its
    checkpoint when it was made with the same settings, or with the same settings but fewer
    ``images``: training goes on from there, the same as one longer run (the training order of
    N images begins with that of fewer); ``overwrite=True`` replaces an earlier run.
    ``batch`` = 1 is the exact online mode; > 1 the batched mode (updates averaged), whose lanes
    are split over the ranks of a running process group (collective then; ranks other than 0
    write nothing, skip the evaluation and return ``{}``). ``device="cuda"``: the networks
    live on the GPU (exact online mode with ``dc``, ``triplet`` or ``calcium`` and every frozen
    evaluation with ``eval_batch`` 1 in :mod:`hebbtorch.kernels.diehl_cook_triton`); input
    spikes are then drawn by CUDA generators, i.e. other samples than on the CPU."""
    out = Path(out)
    for name, v in (("neurons", neurons), ("images", images), ("batch", batch),
                    ("label_images", label_images or 1), ("test_images", test_images or 1),
                    ("eval_batch", eval_batch), ("update_interval", update_interval),
                    ("checkpoint_every", checkpoint_every)):
        if int(v) != v or v < 1:
            raise HebbtorchError(f"{name} must be a positive integer, got {v}")
    if update_interval % batch or checkpoint_every % batch:
        raise HebbtorchError(f"update_interval ({update_interval}) and checkpoint_every "
                             f"({checkpoint_every}) must be multiples of batch ({batch})")
    xtr, ytr, n_classes = _load(dataset, "train", data_root)
    xte, yte, _ = _load(dataset, "test", data_root)
    shape = check_splits(xtr, ytr, xte, yte, dataset, n_classes=n_classes)
    n_input = math.prod(shape.image_shape)  # one input neuron per pixel
    xtr, xte = xtr.reshape(len(xtr), n_input), xte.reshape(len(xte), n_input)
    setup = make_rule(rule, gb_calcium=gb_calcium, gb_set=gb_set, gb_params=gb_params,
                      gb_drift_every=gb_drift_every, n_input=n_input)
    config = {"rule": rule, "neurons": neurons, "dataset": dataset, "images": images,
              "batch": batch, "update_interval": update_interval, "seed": seed}
    if gb_set is not None:  # kept only when given: older checkpoints stay resumable
        config["gb_set"] = gb_set
    if gb_calcium is not None:
        config["gb_calcium"] = [float(c) for c in gb_calcium]
    if gb_params:
        config["gb_params"] = {k: float(gb_params[k]) for k in sorted(gb_params)}
    if gb_rate_normalised:
        config["gb_rate_normalised"] = True
    if rule == "gb":  # always: runs from before drift_every drifted every step
        config["gb_drift_every"] = int(gb_drift_every)
    if shape.image_shape != (28, 28) or shape.n_classes != 10:  # MNIST's: configs stay as before
        config["image_shape"], config["classes"] = list(shape.image_shape), shape.n_classes
    label_images = min(1000, len(ytr)) if label_images is None else label_images
    test_images = min(1000, len(yte)) if test_images is None else test_images
    for name, v, n, split in (("label_images", label_images, len(ytr), "training"),
                              ("test_images", test_images, len(yte), "test")):
        if v > n:
            raise HebbtorchError(f"--{name.replace('_', '-')} {v}: {dataset} has only {n} "
                                 f"{split} images")
    p = DiehlCookParameters()  # input spikes of a presentation: [steps, lanes, n_input] floats
    per_lane = 2 * 4 * n_input * (p.t_present / p.dt) + 4 * 8 * n_input * neurons
    check_memory(per_lane * max(eval_batch, batch), "the simulation of "
                 f"{max(eval_batch, batch)} images at once", "lower --eval-batch / --batch-size "
                 "or --neurons", device)
    check_memory(16.0 * images, f"the training order of {images} images", "lower --images")
    order = _order(len(ytr), images, seed)

    info = ddp.current()
    share = lane_share(batch, info)
    lanes = torch.arange(share.start, share.start + share.count)

    def extends(old: dict, new: dict) -> bool:  # the same run, trained on to more images
        return {**old, "images": new["images"]} == new and old["images"] < new["images"]

    folder = RunFolder(out, "unsupervised", config, resume=resume, overwrite=overwrite,
                       compatible=extends, main=info.is_main)
    with folder:
        return _train(folder, config, setup, xtr, ytr, xte, yte, order, share, lanes,
                      label_images=label_images, test_images=test_images,
                      eval_batch=eval_batch, update_interval=update_interval,
                      checkpoint_every=checkpoint_every, time_budget_s=time_budget_s,
                      quiet=quiet, device=device, gb_rate_normalised=gb_rate_normalised)


class _OnlineTrainer(Trainer):
    """Training of the Diehl & Cook network: a step shows ``batch`` images with learning on;
    an "epoch" is a block of ``update_interval`` images, after which the neurons are labelled
    by their responses in the block and the next block is classified with those labels."""

    def __init__(self, net: DiehlCookNetwork, config: dict, order, xtr, ytr, share, lanes,
                 checkpoint: Path) -> None:
        self.net, self.config, self.order, self.xtr, self.ytr = net, config, order, xtr, ytr
        self.share, self.lanes, self.checkpoint = share, lanes, checkpoint
        self.desc = f"train {config['rule']}"
        self.run = {"block_counts": [], "block_labels": [], "assigned": None,
                    "train_cpu_seconds": 0.0, "retries": 0}
        # one image at a time, every step's operations are tiny: one thread for the whole
        # training phase (set once: switching the pool per image costs), batched: the pool
        self.threads = 1 if share.count == 1 else torch.get_num_threads()

    def train_step(self, step: int) -> None:
        batch, seed, net, lanes = self.config["batch"], self.config["seed"], self.net, self.lanes
        j, c0 = step * batch, time.process_time()
        idx = self.order[j:j + batch]
        # one input seed per image (the online run's seed for batch 1)
        counts, used = net.present(self.xtr[idx[lanes]], learn=True,
                                   seed=(seed * 10_000_019 + j + lanes).tolist())
        counts, used = self.share.gather(counts), self.share.gather(used)
        self.run["retries"] += int((used - net.params.intensity).sum())
        self.run["block_counts"].append(counts.cpu())
        self.run["block_labels"].append(self.ytr[idx])
        self.run["train_cpu_seconds"] += time.process_time() - c0

    def end_epoch(self, epoch: int, loop: LoopState) -> dict | None:
        run = self.run
        c, lab = torch.cat(run["block_counts"]), torch.cat(run["block_labels"])
        n_classes = int(self.config.get("classes", 10))  # configs of MNIST's shape omit it
        acc = _block_accuracy(c, lab, run["assigned"], n_classes)
        run["assigned"] = assign_labels(c, lab, n_classes)
        run["block_counts"], run["block_labels"] = [], []
        return None if acc is None else {"images_seen": loop.step * self.config["batch"], **acc}

    def run_record(self, loop: LoopState) -> dict:
        """The checkpoint's ``run`` entry (its layout of earlier versions)."""
        return {**self.run, "seen": loop.step * self.config["batch"], "curve": loop.history,
                "train_seconds": loop.elapsed}

    def state_dict(self, loop: LoopState) -> dict:
        net = self.net  # collective when the lanes are split over ranks
        return {"config": self.config, "weight": net.weight, "theta": net.theta,
                "dynamic": net.dynamic_state(), "run": self.run_record(loop)}

    def load_state_dict(self, state: dict) -> LoopState:
        try:
            self.net.weight.copy_(state["weight"])
            self.net.theta.copy_(state["theta"])
            self.net.load_dynamic_state(state["dynamic"])
        except (RuntimeError, TypeError, KeyError) as e:
            why = (str(e).strip().splitlines() or [""])[0][:160]
            raise HebbtorchError(f"checkpoint {self.checkpoint} does not fit this network "
                                 f"({why})") from None
        run = dict(state["run"])
        loop = LoopState(run.pop("seen") // self.config["batch"], run.pop("curve"), [],
                         run.pop("train_seconds"))
        self.run = run
        return loop


def _train(folder: RunFolder, config: dict, setup: RuleSetup, xtr, ytr, xte, yte, order,
           share, lanes, *, label_images: int, test_images: int, eval_batch: int,
           update_interval: int, checkpoint_every: int, time_budget_s: float | None,
           quiet: bool, device: str, gb_rate_normalised: bool) -> dict:
    rule, neurons, dataset = config["rule"], config["neurons"], config["dataset"]
    images, batch, seed = config["images"], config["batch"], config["seed"]
    image_shape = tuple(config.get("image_shape", (28, 28)))
    n_classes, n_input = int(config.get("classes", 10)), xtr.shape[1]
    out, info = folder.path, ddp.current()
    net = DiehlCookNetwork(neurons, setup.rule, bounds=setup.bounds, batch=share.count,
                           w_init=setup.init(neurons, torch.Generator().manual_seed(seed)),
                           share=share, device=device,
                           rate_normalised_calcium=gb_rate_normalised, n_input=n_input)
    trainer = _OnlineTrainer(net, config, order, xtr, ytr, share, lanes, folder.checkpoint)
    schedule = Schedule(images // batch, update_interval // batch,
                        checkpoint_every=checkpoint_every // batch, epoch_checkpoints=False,
                        unit="img", scale=batch, epoch_label=None)
    with torch_threads(trainer.threads):  # see hebbtorch.kernels.threads
        end = run_loop(folder, trainer, schedule, quiet=quiet, time_budget_s=time_budget_s,
                       required=("config", "weight", "theta", "dynamic", "run"))
    run, stopped = trainer.run_record(end.loop), end.stopped
    if not info.is_main:
        return {}
    if not stopped:  # a run stopped by its budget stays unfinished: --resume goes on
        folder.finish()

    # frozen evaluation: label the neurons on training images, then classify the test set
    ev = DiehlCookNetwork(neurons, setup.rule, bounds=setup.bounds, batch=eval_batch,
                          w_init=net.weight, device=device, n_input=n_input)
    ev.theta.copy_(net.theta)
    t1 = time.time()
    n_label, n_test = label_images, test_images
    lab_x, lab_y = xtr[:n_label], ytr[:n_label]
    r_label = respond(ev, lab_x, seed=seed * 7_919 + 1, desc=None if quiet else "label")
    assignments, proportions = assign_labels(r_label, lab_y, n_classes)
    r_test = respond(ev, xte[:n_test], seed=seed * 7_919 + 2, desc=None if quiet else "test")
    eval_seconds = time.time() - t1
    pred_all = predict_all_activity(r_test, assignments, n_classes)
    pred_prop = predict_proportion(r_test, assignments, proportions, n_classes)
    y = yte[:n_test]
    final = {"all_activity": float((pred_all == y).float().mean()),
             "proportion": float((pred_prop == y).float().mean()),
             "test_images": n_test, "label_images": n_label,
             "silent_test_images": int((r_test.sum(1) == 0).sum())}
    cm = confusion_matrix(pred_all, y, n_classes)
    per_class = neurons_per_class(assignments, n_classes)
    metrics = {
        "network": "Diehl & Cook 2015", "config": config, "label_images": n_label,
        "test_images": n_test, "eval_batch": eval_batch, "images_trained": run["seen"],
        "stopped_by_budget": stopped, "time_budget_s": time_budget_s,
        "train_seconds": run["train_seconds"],
        "train_images_per_second": run["seen"] / max(run["train_seconds"], 1e-9),
        "train_cpu_seconds": run["train_cpu_seconds"],
        "train_images_per_cpu_second": run["seen"] / max(run["train_cpu_seconds"], 1e-9),
        "eval_seconds": eval_seconds, "retries": run["retries"], "curve": run["curve"],
        "final": final, "confusion_all_activity": cm.tolist(),
        "neurons_per_class": per_class.tolist(),
        "unassigned_neurons": int((assignments < 0).sum()),
        "theta_mean_mV": float(net.theta.mean()), "torch": torch.__version__,
    }
    write_json(out / "metrics.json", metrics)
    title = f"{rule}, {neurons} neurons, {run['seen']} {dataset} images"
    from hebbtorch.viz.unsupervised import (  # matplotlib only when a report is drawn
        plot_assignments,
        plot_confusion,
        plot_curve,
        plot_receptive_fields,
    )
    save_figure(plot_receptive_fields(net.weight, assignments, title, image_shape),
                out / "receptive_fields.png")
    save_figure(plot_assignments(per_class, title), out / "assignments.png")
    save_figure(plot_confusion(cm, final["all_activity"], title), out / "confusion.png")
    save_figure(plot_curve(run["curve"], final, title), out / "accuracy.png")
    if not quiet:
        print(f"{title}: test accuracy {100 * final['all_activity']:.1f}% (all activity), "
              f"{100 * final['proportion']:.1f}% (proportion weighting) on {n_test} images; "
              f"{metrics['train_images_per_second']:.2f} img/s training; report in {out}")
    return metrics


def neurons_per_class(assignments: torch.Tensor, n_classes: int = 10) -> torch.Tensor:
    """Neurons assigned to each class ``[n_classes]``; unassigned ones (-1: silent while the
    neurons were labelled) count for none."""
    return torch.bincount(assignments[assignments >= 0], minlength=n_classes)
