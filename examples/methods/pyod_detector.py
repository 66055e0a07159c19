#!/usr/bin/env python3
"""Any PyOD detector as a runner external method (protocol 1).

params:
  detector: the PyOD class name (IForest, OCSVM, LOF, KNN, ECOD, COPOD, PCA,
            HBOS, DeepSVDD, AutoEncoder, ...): any detector of pyod.models
  pca:      optional; project the flat images onto this many principal
            axes of the normal training images first (an int), or keep this
            share of the variance (a float in (0, 1))
  every other key: a keyword argument of that detector's constructor,
            e.g. {detector: LOF, n_neighbors: 35}

The images go to the detector as flat pixel vectors in [0, 1]. The job's
seed becomes `random_state` and its thread count `n_jobs` where the
detector's constructor takes them (a value in params wins). Scores are
PyOD's `decision_function` (higher = more anomalous). The fitted detector
(and the PCA, if any) is pickled into the model folder.

Run it in the environment of pyod-requirements.txt (the spec's
`environment:`); the protocol is docs/external-methods.md.
"""
import importlib
import inspect
import json
import os
import pickle
import pkgutil
import re
import sys

import numpy as np

PROTOCOL = 1
MODEL = "detector.pkl"


def fail(message):
    print(f"pyod_detector.py: {message}", file=sys.stderr)
    sys.exit(2)


def load_images(job):
    """The job's images as an N x D float64 array in [0, 1]."""
    x = np.load(job["images"])  # uint8, N x C x H x W
    return x.reshape(len(x), -1).astype(np.float64) / 255.0


def find_detector(name):
    """The PyOD class called `name`: in the module of the same name
    (IForest -> pyod.models.iforest), its snake-case name (DeepSVDD ->
    deep_svdd), else any module of pyod.models that defines it."""
    import pyod.models

    snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()
    guesses = [name.lower(), snake]
    others = [m.name for m in pkgutil.iter_modules(pyod.models.__path__)]
    for module in guesses + [m for m in others if m not in guesses]:
        try:
            found = getattr(importlib.import_module(f"pyod.models.{module}"), name, None)
        except Exception:  # a module needing an optional package (torch)
            continue
        if inspect.isclass(found):
            return found
    fail(f"PyOD has no detector `{name}` (pyod.models: {', '.join(sorted(others))})")


def make_detector(job):
    params = dict(job["params"])
    name = params.pop("detector", None)
    if not name:
        fail("params.detector is missing: name a PyOD detector, e.g. `detector: IForest`")
    params.pop("pca", None)
    cls = find_detector(name)
    takes = inspect.signature(cls.__init__).parameters
    if "random_state" in takes:
        params.setdefault("random_state", job["seed"])
    if "n_jobs" in takes:
        params.setdefault("n_jobs", job["threads"])
    try:
        return cls(**params)
    except TypeError as e:
        fail(f"{name}: {e}")


def reduce(job, x, pca=None):
    """Fit (when `pca` is None) and apply the optional PCA of params.pca."""
    components = job["params"].get("pca")
    if components is None:
        return x, None
    if pca is None:
        from sklearn.decomposition import PCA

        pca = PCA(n_components=components, random_state=job["seed"]).fit(x)
    return pca.transform(x), pca


def fit(job):
    x, pca = reduce(job, load_images(job))
    detector = make_detector(job)
    detector.fit(x)
    with open(os.path.join(job["model_dir"], MODEL), "wb") as f:
        pickle.dump({"detector": detector, "pca": pca}, f)
    train = detector.decision_function(x)
    print(json.dumps({"epoch": 1, "epochs": 1, "losses": {"train_score": float(np.mean(train))}}))


def score(job):
    with open(os.path.join(job["model_dir"], MODEL), "rb") as f:
        model = pickle.load(f)
    x = load_images(job)
    if model["pca"] is not None:
        x = model["pca"].transform(x)
    s = model["detector"].decision_function(x)
    np.savetxt(job["scores"], s, header="score", comments="", fmt="%.9g")


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in ("fit", "score"):
        sys.exit("usage: pyod_detector.py fit|score JOB_FILE")
    with open(sys.argv[2]) as f:
        job = json.load(f)
    if job["protocol"] != PROTOCOL:
        sys.exit(f"pyod_detector.py speaks protocol {PROTOCOL}, got {job['protocol']}")
    fit(job) if sys.argv[1] == "fit" else score(job)


if __name__ == "__main__":
    main()
