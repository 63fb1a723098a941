"""Sample fidelity: FID against the data through the dataset's feature net, FID against NFE for every
diffusion sampler, and the feature net's own accuracy with the held-out FID floor."""

from __future__ import annotations

import logging
from typing import Any

from genlab.evaluation.registry import Run, metric

log = logging.getLogger(__name__)


@metric("accuracy", settings=("fid",), requires={"classify"}, datasets=("images",))
def accuracy(run: Run) -> dict[str, Any]:
    """The feature net's train and test accuracy, the FID of held-out real data against the training set:
    the floor no model can be expected to beat, and the share of held-out real images it classifies with
    probability at least coverage.CONFIDENCE: the reference for a model's high-quality samples (modes)."""
    import torch
    from genlab.evaluation.coverage import CONFIDENCE
    from genlab.metrics.fid import frechet_distance
    classifier, dataset = run.model.cpu(), run.dataset
    x_test, y_test = torch.as_tensor(dataset.x_test), torch.as_tensor(dataset.y_test)
    logits = classifier.logits(x_test)  # one pass over the test set for both numbers
    return {"test_accuracy": int((logits.argmax(1) == y_test).sum()) / len(x_test),
            "test_high_quality": float((logits.softmax(1).max(1).values >= CONFIDENCE).double().mean()),
            "train_accuracy": classifier.accuracy(torch.as_tensor(dataset.x_train), torch.as_tensor(dataset.y_train)),
            "fid_test_vs_train": frechet_distance(torch.as_tensor(dataset.x_train), x_test, classifier,
                                                  run.settings("fid")["batch_size"])}


@metric("fid", settings=("fid",), feature_net="always", requires={"sample"}, datasets=("images",),
        columns={"FID": "fid"})
def fid(run: Run) -> dict[str, Any]:
    """FID of samples of the default sampler against the reference split, in the feature net's space."""
    import torch
    from genlab.metrics.fid import frechet_distance
    settings = run.settings("fid")
    reference = torch.as_tensor(run.dataset.split(settings["reference"])[0])
    samples, cost = run.fid_draw
    return {"fid": frechet_distance(reference, samples, run.classifier.cpu(), settings["batch_size"]),
            "n_samples": settings["n_samples"], "reference": settings["reference"], "nfe": cost["nfe"]}


def sweep_settings(samplers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Expand sweep entries ({name, steps: [..]} or {name, tolerance: [..]}) to sampler option sets."""
    settings = []
    for entry in samplers:
        fixed = {k: v for k, v in entry.items() if k not in ("steps", "tolerance")}
        if "steps" in entry:
            settings += [{**fixed, "steps": steps} for steps in entry["steps"]]
        if "tolerance" in entry:
            settings += [{**fixed, "rtol": tol, "atol": tol} for tol in entry["tolerance"]]
        if "steps" not in entry and "tolerance" not in entry:
            settings.append(fixed)
    return settings


@metric("sweep", output="csv", settings=("sweep", "fid"), feature_net="always", requires={"samplers"},
        datasets=("images",), plot={"x": "nfe", "y": "fid"})
def sweep(run: Run) -> list[dict[str, Any]]:
    """FID against NFE for every sampler setting: the data of the FID-vs-NFE figure."""
    import torch
    from tqdm import tqdm
    from genlab.generation import generate
    from genlab.metrics.fid import frechet_distance
    settings, fid_settings = run.settings("sweep"), run.settings("fid")
    reference = torch.as_tensor(run.dataset.split(fid_settings["reference"])[0])
    model, classifier = run.model, run.classifier
    rows = []
    for options in tqdm(sweep_settings(settings["samplers"]), desc="sampler sweep"):
        samples, cost = generate(model, settings["n_samples"], fid_settings["batch_size"], run.seed, **options)
        row = {"sampler": options["name"], "steps": options.get("steps"), "tolerance": options.get("rtol"),
               "nfe": cost["nfe"], "seconds_per_sample": cost["seconds_per_sample"],
               "fid": frechet_distance(reference, samples, classifier.cpu(), fid_settings["batch_size"])}
        log.info("sweep %s", row)
        rows.append(row)
    return rows
