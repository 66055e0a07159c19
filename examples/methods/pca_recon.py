#!/usr/bin/env python3
"""PCA reconstruction error: a runner external method (protocol 1), numpy only.

fit:   the mean and the first `components` principal axes of the normal
       training images (pixels scaled to [0, 1]).
score: each test image's squared distance to that affine subspace
       (higher = more anomalous).

The runner calls `python3 pca_recon.py fit JOB_FILE`, then
`python3 pca_recon.py score JOB_FILE`; the job file (JSON) has every path
and setting. The protocol is docs/external-methods.md. Copy this file to
start your own detector: replace `fit` and `score`.
"""
import json
import os
import sys

import numpy as np

PROTOCOL = 1


def load_images(job):
    """The job's images as an N x D float array in [0, 1]."""
    x = np.load(job["images"])  # uint8, N x C x H x W
    return x.reshape(len(x), -1).astype(np.float64) / 255.0


def residual(x, mean, axes):
    """Squared distance of each row of x to the subspace mean + span(axes)."""
    centred = x - mean
    projected = centred @ axes.T @ axes
    return ((centred - projected) ** 2).sum(axis=1)


def fit(job):
    x = load_images(job)
    k = min(int(job["params"].get("components", 20)), *x.shape)
    mean = x.mean(axis=0)
    _, _, vt = np.linalg.svd(x - mean, full_matrices=False)
    axes = vt[:k]
    np.savez(os.path.join(job["model_dir"], "pca.npz"), mean=mean, axes=axes)
    # one progress line: the runner shows it and keeps it as the training log
    loss = float(residual(x, mean, axes).mean())
    print(json.dumps({"epoch": 1, "epochs": 1, "losses": {"recon": loss}}))


def score(job):
    model = np.load(os.path.join(job["model_dir"], "pca.npz"))
    s = residual(load_images(job), model["mean"], model["axes"])
    # a header naming the column, then one score per image, in order
    np.savetxt(job["scores"], s, header="score", comments="", fmt="%.9g")


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in ("fit", "score"):
        sys.exit("usage: pca_recon.py fit|score JOB_FILE")
    with open(sys.argv[2]) as f:
        job = json.load(f)
    if job["protocol"] != PROTOCOL:
        sys.exit(f"pca_recon.py speaks protocol {PROTOCOL}, got {job['protocol']}")
    fit(job) if sys.argv[1] == "fit" else score(job)


if __name__ == "__main__":
    main()
