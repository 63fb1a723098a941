"""`genlab <command>`: every Snakemake rule is one call of this CLI; each command is a thin wrapper.

Errors a user can act on (GenlabError) are printed as one line `genlab: error: ...` with exit code 2."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

import numpy as np

from genlab import config as cfg
from genlab.errors import ConfigError, GenlabError

log = logging.getLogger("genlab")


def _experiment(args):
    params = cfg.load_params(args.params)
    return params, cfg.experiment(params, args.dataset, args.model)


def _trained_model(exp, dataset, checkpoint, device):
    from genlab.families import make_model
    from genlab.train import load_trained, resolve_device
    model = make_model(exp.model, dataset.example_shape, dataset.meta)
    return load_trained(model, checkpoint, exp.hash).to(resolve_device(device or exp.device))


def cmd_check_params(args):
    params = cfg.load_params(args.params)
    print(f"{args.params}: valid ({len(params['experiments'])} experiments)")


def cmd_data(args):
    from genlab.data import make_dataset
    params = cfg.load_params(args.params)
    if args.dataset not in params["datasets"]:
        raise ConfigError(f"unknown dataset {args.dataset!r}; declared: {sorted(params['datasets'])}")
    dataset = make_dataset(args.dataset, params["datasets"][args.dataset], params["seed"],
                           params.get("raw_dir", "data/raw"))
    dataset.save(args.out)
    log.info("wrote %s: train %s, test %s", args.out, dataset.x_train.shape, dataset.x_test.shape)


def cmd_train(args):
    from genlab.data import load_dataset
    from genlab.families import make_model
    from genlab.train import load_checkpoint, resolve_device, seed_everything, train
    params, exp = _experiment(args)
    dataset = load_dataset(args.data)
    seed_everything(exp.seed)
    model = make_model(exp.model, dataset.example_shape, dataset.meta)
    pretrained = cfg.pretrained_experiment(params, exp.dataset_name, exp.model_name)
    if pretrained is not None:  # a model on top of a frozen pretrained one (ScoreVAE): its weights first
        if not args.pretrained:
            raise ConfigError(f"{exp.name} starts from {pretrained.name}: pass its checkpoint with --pretrained")
        model.load_pretrained(load_checkpoint(args.pretrained, pretrained.hash), args.pretrained)
    summary = train(model, dataset, exp.training, args.run_dir, seed=exp.seed, config_hash=exp.hash,
                    config=exp.resolved(), device=resolve_device(args.device or exp.device),
                    progress=not args.no_progress)
    log.info("trained %s: %s", exp.name, summary)


def cmd_evaluate(args):
    from genlab import evaluate
    from genlab.data import load_dataset
    from genlab.io import write_metrics
    from genlab.train import load_checkpoint
    params, exp = _experiment(args)
    if args.metric not in exp.metrics:
        raise ConfigError(f"experiment {exp.name} does not list metric {args.metric!r} (it lists "
                          f"{list(exp.metrics)}); add it under experiments in the params file")
    settings = params["evaluation"]
    dataset = load_dataset(args.data)
    model = _trained_model(exp, dataset, args.checkpoint, args.device)
    classifier = None
    if cfg.needs_feature_net(args.metric, dataset.meta["kind"]):
        if not args.feature_net:
            raise ConfigError(f"metric {args.metric} needs --feature-net (the dataset's classifier checkpoint)")
        feature_exp = cfg.experiment(params, exp.dataset_name, settings["fid"]["feature_model"])
        classifier = _trained_model(feature_exp, dataset, args.feature_net, "cpu")
    started = time.perf_counter()
    if args.metric == "accuracy":
        metrics = evaluate.accuracy(model, dataset, settings["fid"]["batch_size"])
    elif args.metric == "fid":
        metrics = evaluate.fid(model, exp, dataset, classifier, settings["fid"])
    elif args.metric == "nll":
        metrics = evaluate.nll(model, exp, dataset, settings["nll"])
    elif args.metric == "cost":
        metrics = evaluate.cost(model, exp, load_checkpoint(args.checkpoint, exp.hash), settings["cost"])
    elif args.metric == "reconstruction":
        metrics = evaluate.reconstruction(model, exp, dataset, classifier, settings["reconstruction"])
    elif args.metric == "intrinsic_dim":
        metrics = evaluate.intrinsic_dimension(model, exp, dataset, settings["intrinsic_dim"], exp.seed)
    elif args.metric == "geodesic":
        metrics = evaluate.geodesic(model, exp, dataset, settings["geodesic"])
    elif args.metric == "rae":
        metrics = evaluate.rae(model, exp, dataset, settings["rae"])
    elif args.metric == "conditional":
        metrics = evaluate.conditional(model, exp, dataset, classifier, settings["conditional"])
    else:  # sweep and modes: CSVs (DVC plots), not flat metrics files
        from genlab.io import write_csv
        if args.metric == "sweep":
            rows = evaluate.sweep(model, exp, dataset, classifier, settings["sweep"]["n_samples"],
                                  settings["sweep"]["samplers"], settings["fid"])
        else:
            rows = evaluate.modes(model, exp, dataset, load_checkpoint(args.checkpoint, exp.hash), classifier,
                                  settings["modes"])
        write_csv(args.out, rows)
        return
    metrics = {"experiment": exp.name, "family": exp.family, **metrics}
    write_metrics(args.out, metrics, config_hash=exp.hash, seed=exp.seed,
                  wall_time_s=time.perf_counter() - started)
    log.info("%s %s: %s", exp.name, args.metric, json.dumps(metrics, default=str))


def cmd_sample(args):
    from genlab.data import load_dataset
    from genlab.evaluate import generate
    from genlab.io import save_npz
    from genlab.train import load_checkpoint
    params, exp = _experiment(args)
    dataset = load_dataset(args.data)
    model = _trained_model(exp, dataset, args.checkpoint, args.device)
    samples, cost = generate(model, args.n, args.n, exp.seed)
    arrays = {"samples": samples.numpy(), "nfe": np.array(cost["nfe"])}
    if hasattr(model, "reconstruct"):  # auto-encoders: the first n test examples and their reconstructions
        import torch
        originals = torch.as_tensor(dataset.x_test[: args.n])
        generator = torch.Generator(device=model.device).manual_seed(exp.seed)
        arrays.update(originals=originals.numpy(),
                      reconstructions=model.reconstruct(originals, generator=generator).cpu().numpy())
    snapshots = load_checkpoint(args.checkpoint, exp.hash).get("snapshots")
    if snapshots:  # samples of the raw weights along training (the mode-collapse figure)
        steps = sorted(snapshots)
        drawn = []
        for step in steps:
            model.load_state_dict(snapshots[step])
            drawn.append(generate(model, args.n, args.n, exp.seed)[0].numpy())
        arrays.update(snapshot_steps=np.array(steps), snapshot_samples=np.stack(drawn))
    save_npz(args.out, **arrays)


def cmd_kde_curse(args):
    from genlab.analysis.kde import kde_error_curves
    from genlab.io import write_csv
    params = cfg.load_params(args.params)
    if "kde_curse" not in params["figures"]:
        raise ConfigError(f"{args.params}: figures.kde_curse is not set; add it (dims, sample_sizes, repeats)")
    settings = params["figures"]["kde_curse"]
    write_csv(args.out, kde_error_curves(settings["dims"], settings["sample_sizes"], settings["repeats"],
                                         params["seed"]))


def cmd_cdsm_consistency(args):
    """One dataset of figures.cdsm_consistency: every estimator trained on n pairs, per n (CSV)."""
    from genlab.data import load_dataset
    from genlab.io import write_csv
    from genlab.methods.cdsm import consistency_study
    from genlab.train import resolve_device
    params = cfg.load_params(args.params)
    if "cdsm_consistency" not in params["figures"]:
        raise ConfigError(f"{args.params}: figures.cdsm_consistency is not set; add it (see params/README.md)")
    settings = params["figures"]["cdsm_consistency"]
    dataset = load_dataset(args.data)
    estimators = {name: params["models"][name] for name in settings["estimators"]}
    rows = consistency_study(dataset, estimators, settings, params["seed"], args.run_dir,
                             resolve_device(args.device or params["device"]), progress=not args.no_progress)
    write_csv(args.out, rows)


def cmd_intrinsic_dim(args):
    """Intrinsic dimension of any dataset file: the scikit-dimension baselines, and with --model our
    score-spectrum estimate from that params model block, trained on the file (or resumed) in --run-dir."""
    from genlab import evaluate
    from genlab.data import load_dataset
    from genlab.io import write_json
    params = cfg.load_params(args.params)
    dataset = load_dataset(args.data)
    model = None
    if args.model:
        from genlab.train import fit, resolve_device
        block = params["models"].get(args.model)
        if block is None or block["family"] != "diffusion":
            raise ConfigError(f"--model {args.model!r} must name a diffusion model block of {args.params} (a score "
                              f"model); declared: {sorted(params['models'])}")
        if not args.run_dir:
            raise ConfigError("--model needs --run-dir, where the score model's checkpoint is kept")
        config = {"data": dataset.meta.get("config"), "data_name": dataset.meta.get("name"), "model": block,
                  "seed": params["seed"]}
        model = fit(block, dataset, args.run_dir, seed=params["seed"], config=config,
                    device=resolve_device(args.device or params["device"]), progress=not args.no_progress)
    write_json(args.out, evaluate.intrinsic_dimension(model, None, dataset, params["evaluation"]["intrinsic_dim"],
                                                      params["seed"]))


def cmd_dvc_yaml(args):
    from genlab.dvc import render
    from genlab.io import write_text
    write_text(args.out, render(cfg.load_params(args.params), args.params))


def cmd_figure(args):
    import papermill
    parameters = {}
    for item in args.parameter:
        key, _, value = item.partition("=")
        if not key or not _:
            raise ConfigError(f"figure parameter {item!r} must look like key=value")
        parameters[key] = value
    Path(args.executed).parent.mkdir(parents=True, exist_ok=True)
    papermill.execute_notebook(args.notebook, args.executed, parameters=parameters, progress_bar=False,
                               cwd=str(Path.cwd()))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="genlab", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true")
    commands = parser.add_subparsers(dest="command", required=True)

    def command(name, func, help_, experiment=False):
        sub = commands.add_parser(name, help=help_)
        sub.set_defaults(func=func)
        sub.add_argument("--params", default="params/default.yaml", help="params YAML (validated)")
        if experiment:
            sub.add_argument("--dataset", required=True)
            sub.add_argument("--model", required=True)
            sub.add_argument("--device", choices=["auto", "cpu", "cuda"], help="overrides params 'device'")
        return sub

    command("check-params", cmd_check_params, "validate a params file")
    sub = command("data", cmd_data, "generate a dataset file (offline, seeded)")
    sub.add_argument("--dataset", required=True)
    sub.add_argument("--out", required=True)
    sub = command("train", cmd_train, "train (or resume) an experiment", experiment=True)
    sub.add_argument("--data", required=True)
    sub.add_argument("--run-dir", required=True)
    sub.add_argument("--pretrained", help="checkpoint of the model the params block's `pretrained` names (ScoreVAE)")
    sub.add_argument("--no-progress", action="store_true")
    sub = command("evaluate", cmd_evaluate, "evaluate a trained experiment", experiment=True)
    sub.add_argument("--metric", required=True, choices=sorted(cfg.METRIC_FILES))
    sub.add_argument("--data", required=True)
    sub.add_argument("--checkpoint", required=True)
    sub.add_argument("--feature-net", help="classifier checkpoint (fid, sweep, modes on images)")
    sub.add_argument("--out", required=True)
    sub = command("sample", cmd_sample, "draw samples with the default sampler", experiment=True)
    sub.add_argument("--data", required=True)
    sub.add_argument("--checkpoint", required=True)
    sub.add_argument("--n", type=int, required=True)
    sub.add_argument("--out", required=True)
    sub = command("kde-curse", cmd_kde_curse, "KDE error against sample size and dimension (CSV)")
    sub.add_argument("--out", required=True)
    sub = command("cdsm-consistency", cmd_cdsm_consistency, "conditional estimators' error against n (CSV)")
    sub.add_argument("--data", required=True, help="a conditional_mixture dataset file")
    sub.add_argument("--run-dir", required=True, help="where the estimators' checkpoints are kept")
    sub.add_argument("--device")
    sub.add_argument("--no-progress", action="store_true")
    sub.add_argument("--out", required=True)
    sub = command("intrinsic-dim", cmd_intrinsic_dim, "intrinsic dimension of a dataset file: baselines, and ours "
                  "with --model")
    sub.add_argument("--data", required=True)
    sub.add_argument("--model", help="a diffusion model block of the params file, trained on the data in --run-dir")
    sub.add_argument("--run-dir")
    sub.add_argument("--device")
    sub.add_argument("--no-progress", action="store_true")
    sub.add_argument("--out", required=True)
    sub = command("dvc-yaml", cmd_dvc_yaml, "write dvc.yaml: the outputs of the params file's experiments")
    sub.add_argument("--out", default="dvc.yaml")
    sub = commands.add_parser("figure", help="execute a papermill notebook")
    sub.set_defaults(func=cmd_figure)
    sub.add_argument("--notebook", required=True)
    sub.add_argument("--executed", required=True, help="where the executed copy is kept")
    sub.add_argument("-p", "--parameter", action="append", default=[], help="key=value (repeatable)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        args.func(args)
    except GenlabError as error:
        print(f"genlab: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
