#!/usr/bin/env python3
"""A small convolutional auto-encoder in PyTorch: a runner external method
(protocol 1).

fit:   trains the auto-encoder on the normal training images (pixels in
       [0, 1], mean squared error, Adam), seeded with the job's seed; one
       progress line per epoch.
score: each test image's mean squared reconstruction error (higher = more
       anomalous).

params (all optional): epochs (10), batch_size (64), lr (1e-3), width (16),
latent (32). Give `uses_device: true` in the spec to train on the run's
CUDA device. The protocol is docs/external-methods.md.
"""
import json
import os
import sys
import time

import numpy as np
import torch
from torch import nn

PROTOCOL = 1


def settings(job):
    p = job["params"]
    return {
        "epochs": int(p.get("epochs", 10)),
        "batch_size": int(p.get("batch_size", 64)),
        "lr": float(p.get("lr", 1e-3)),
        "width": int(p.get("width", 16)),
        "latent": int(p.get("latent", 32)),
    }


def device(job):
    name = job["device"]
    if name.startswith("cuda") and torch.cuda.is_available():
        return torch.device(name)
    return torch.device("cpu")


class AutoEncoder(nn.Module):
    """Two stride-2 convolutions down, a dense bottleneck, and back up."""

    def __init__(self, channels, height, width, w, latent):
        super().__init__()
        self.shape = (2 * w, (height + 3) // 4, (width + 3) // 4)
        flat = self.shape[0] * self.shape[1] * self.shape[2]
        self.encode = nn.Sequential(
            nn.Conv2d(channels, w, 3, 2, 1), nn.ReLU(),  # [B, w, H/2, W/2]
            nn.Conv2d(w, 2 * w, 3, 2, 1), nn.ReLU(),  # [B, 2w, H/4, W/4]
            nn.Flatten(), nn.Linear(flat, latent),
        )
        self.expand = nn.Linear(latent, flat)
        self.decode = nn.Sequential(
            nn.ConvTranspose2d(2 * w, w, 4, 2, 1), nn.ReLU(),
            nn.ConvTranspose2d(w, channels, 4, 2, 1),
        )
        self.out = (height, width)

    def forward(self, x):
        z = self.expand(self.encode(x)).view(-1, *self.shape)
        y = self.decode(z)[:, :, : self.out[0], : self.out[1]]
        return torch.sigmoid(y)


def images(job, dev):
    x = np.load(job["images"]).astype(np.float32) / 255.0  # N x C x H x W
    return torch.from_numpy(x).to(dev)


def build(job, s):
    return AutoEncoder(job["channels"], job["height"], job["width"], s["width"], s["latent"])


def fit(job):
    torch.manual_seed(job["seed"])
    dev, s = device(job), settings(job)
    x = images(job, dev)
    model = build(job, s).to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=s["lr"])
    gen = torch.Generator().manual_seed(job["seed"])
    for epoch in range(1, s["epochs"] + 1):
        t0, total = time.time(), 0.0
        for idx in torch.randperm(len(x), generator=gen).split(s["batch_size"]):
            batch = x[idx.to(dev)]
            loss = ((model(batch) - batch) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        print(json.dumps({"epoch": epoch, "epochs": s["epochs"],
                          "losses": {"mse": total / len(x)},
                          "seconds": time.time() - t0}))
    torch.save({"settings": s, "state": model.state_dict()},
               os.path.join(job["model_dir"], "ae.pt"))


def score(job):
    dev = device(job)
    saved = torch.load(os.path.join(job["model_dir"], "ae.pt"), map_location=dev)
    model = build(job, saved["settings"]).to(dev)
    model.load_state_dict(saved["state"])
    model.eval()
    x, out = images(job, dev), []
    with torch.no_grad():
        for batch in x.split(256):
            out.append(((model(batch) - batch) ** 2).flatten(1).mean(1).cpu())
            print(json.dumps({"done": sum(len(o) for o in out), "total": len(x)}))
    np.savetxt(job["scores"], torch.cat(out).numpy(), header="score", comments="", fmt="%.9g")


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in ("fit", "score"):
        sys.exit("usage: torch_ae.py fit|score JOB_FILE")
    with open(sys.argv[2]) as f:
        job = json.load(f)
    if job["protocol"] != PROTOCOL:
        sys.exit(f"torch_ae.py speaks protocol {PROTOCOL}, got {job['protocol']}")
    torch.set_num_threads(job["threads"])
    fit(job) if sys.argv[1] == "fit" else score(job)


if __name__ == "__main__":
    main()
