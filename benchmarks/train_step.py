"""Training-step throughput of LAA-Net on random data: images/s and peak GPU memory.

Runs the real :func:`laanet.training.engine.train_step` (SAM over Adam: two forward/backward passes per step) on
random images and targets, after warm-up steps. Defaults are the paper configuration (EfficientNet-B4, 384 px,
8 real/fake pairs = 16 images per step) with bf16 autocast on CUDA::

    python benchmarks/train_step.py                                   # paper-sbi, GPU if present
    python benchmarks/train_step.py --amp fp16 --batch-pairs 16
    python benchmarks/train_step.py --config cpu-tiny --batch-pairs 2 --steps 2 --warmup 1 --device cpu

On a CPU the autocast setting is ignored (float32). Nothing downloads: the backbone starts from random weights.
"""
from __future__ import annotations

import argparse
import json
import resource
import time

import torch


def random_batch(n_pairs: int, size: int, device: torch.device, generator: torch.Generator) -> dict[str, torch.Tensor]:
    """2n images (n reals, n fakes) with plausible targets: sparse heatmap peaks and a consistency map per fake."""
    b, s = 2 * n_pairs, size // 4
    image = torch.rand(b, 3, size, size, generator=generator) * 2 - 1
    heatmap = torch.zeros(b, 1, s, s)
    consistency = torch.zeros(b, 1, s, s)
    for i in range(n_pairs, b):  # fakes: a few unit peaks and a smooth target in [0, 1]
        rows = torch.randint(0, s, (4,), generator=generator)
        cols = torch.randint(0, s, (4,), generator=generator)
        heatmap[i, 0, rows, cols] = 1.0
        consistency[i] = torch.rand(1, s, s, generator=generator)
    label = torch.cat([torch.zeros(n_pairs), torch.ones(n_pairs)])
    batch = {"image": image, "heatmap": heatmap, "consistency": consistency, "label": label}
    return {k: v.to(device) for k, v in batch.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="paper-sbi", help="preset or YAML (model.pretrained is forced off)")
    parser.add_argument("--batch-pairs", type=int, default=None, help="real/fake pairs per step (default: train.batch_size)")
    parser.add_argument("--steps", type=int, default=10, help="timed steps")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first")
    parser.add_argument("--amp", choices=["none", "bf16", "fp16"], default="bf16", help="autocast on CUDA")
    parser.add_argument("--no-sam", action="store_true", help="plain Adam (one pass per step)")
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()

    from laanet.config import load_config
    from laanet.models.laanet import LAANet, count_parameters
    from laanet.training.engine import train_step
    from laanet.training.loop import autocast_context, resolve_device
    from laanet.training.losses import LAANetLoss, LossWeights
    from laanet.training.sam import SAM

    cfg = load_config(args.config, ["model.pretrained=false"])
    device = resolve_device(args.device)
    n_pairs = args.batch_pairs or cfg.train.batch_size
    amp = args.amp if device.type == "cuda" else "none"
    torch.manual_seed(0)
    model = LAANet(cfg.model).to(device).train()
    if args.channels_last:
        model = model.to(memory_format=torch.channels_last)
    tc = cfg.train
    criterion = LAANetLoss(LossWeights(heatmap=tc.hm_weight, cls=tc.cls_weight, consistency=tc.cst_weight))
    adam = torch.optim.Adam(model.parameters(), lr=tc.lr, weight_decay=tc.weight_decay)
    optimizer = adam if args.no_sam else SAM(adam, rho=tc.sam_rho)
    scaler = torch.amp.GradScaler("cuda") if amp == "fp16" else None
    autocast = autocast_context(device, amp)
    batch = random_batch(n_pairs, cfg.model.input_size, device, torch.Generator().manual_seed(0))
    if args.channels_last:
        batch["image"] = batch["image"].contiguous(memory_format=torch.channels_last)

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    for _ in range(args.warmup):
        train_step(model, criterion, batch, optimizer, autocast=autocast, scaler=scaler)
    sync()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    times, losses = [], []
    for _ in range(args.steps):
        t0 = time.perf_counter()
        out = train_step(model, criterion, batch, optimizer, autocast=autocast, scaler=scaler)
        sync()
        times.append(time.perf_counter() - t0)
        losses.append(float(out["total"]))
    times.sort()
    median = times[len(times) // 2]
    images = 2 * n_pairs
    result = {
        "config": args.config,
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "parameters": count_parameters(model),
        "input_size": cfg.model.input_size,
        "images_per_step": images,
        "sam": not args.no_sam,
        "amp": amp,
        "channels_last": args.channels_last,
        "median_s_per_step": round(median, 4),
        "images_per_s": round(images / median, 2),
        "peak_gpu_mem_gib": round(torch.cuda.max_memory_allocated(device) / 2**30, 2) if device.type == "cuda" else None,
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "loss_first_last": [round(losses[0], 4), round(losses[-1], 4)],
        "threads": torch.get_num_threads(),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
