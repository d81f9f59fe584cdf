"""Tutorial (b): encode an image and a video into spikes.

An MNIST digit goes through two image codes (Poisson rate code, time-to-first-spike latency
code); a short video of the same digit making small eye movements (a "saccade") goes through the
DVS emulator, which emits ON/OFF events where the log intensity changes. Run:
``python tutorials/encode_image_video.py [--small]``.
"""

from __future__ import annotations

import torch
from _common import tutorial_args

from hebbtorch.data import load_dataset
from hebbtorch.encoding import frames_to_events, latency_encode, rate_encode
from hebbtorch.encoding.temporal import saccade_video
from hebbtorch.viz.events import event_frames
from hebbtorch.viz.raster import spike_raster

args = tutorial_args("image and video to spikes", "docs/img/tutorials/encode")
steps = 50 if args.small else 100

# 1. One image, intensities in [0, 1], shape [batch, H, W].
data = load_dataset("mnist-5k", "test")
image = data.images[:1].float() / 255.0
print("image", tuple(image.shape), "label", int(data.labels[0]))

# 2. Image codes: [time, batch, H, W] spike tensors.
g = torch.Generator().manual_seed(0)
rate = rate_encode(image, steps, max_rate=200.0, dt=1.0, generator=g)  # up to 200 Hz, 1 ms steps
latency = latency_encode(image, steps)  # brighter pixels fire earlier, at most once
for name, s in (("rate", rate), ("latency", latency)):
    print(f"{name}: {int(s.sum())} spikes over {steps} steps")
    fig = spike_raster(s[:, 0].flatten(1), f"{name} code of one digit (784 pixels)", dt=1.0)
    fig.savefig(args.out / f"{name}_raster.png", bbox_inches="tight")

# 3. A video: the digit moving along a small saccade path, [frames, batch, H, W], 1 ms per frame.
video = saccade_video(image, num_frames=steps, amplitude=2.0)
events = frames_to_events(video[:, 0] + 0.05, on_threshold=0.2, off_threshold=0.2,
                          frame_interval_us=1000)
print(f"video: {len(events)} DVS events from {steps} frames")
fig = event_frames(events, (28, 28), n_frames=5, title="DVS events")
fig.savefig(args.out / "dvs_events.png", bbox_inches="tight")
