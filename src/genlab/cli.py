"""`genlab <command>`: every Snakemake rule is one call of this CLI; each command is a thin wrapper.

Errors a user can act on (GenlabError) are printed as one line `genlab: error: ...` with exit code 2."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time

from genlab.errors import ConfigError, GenlabError

log = logging.getLogger("genlab")


def _load_params(path):
    """The params file, checked against the schema, its cross-references and the plug-in registries."""
    from genlab.validation import load_params
    return load_params(path)


def _experiment(args):
    from genlab import config as cfg
    params = _load_params(args.params)
    return params, cfg.experiment(params, args.dataset, args.model)


def cmd_check_params(args):
    params = _load_params(args.params)
    print(f"{args.params}: valid ({len(params['experiments'])} experiments)")


def cmd_data(args):
    from genlab.data import make_dataset
    params = _load_params(args.params)
    if args.dataset not in params["datasets"]:
        raise ConfigError(f"unknown dataset {args.dataset!r}; declared: {sorted(params['datasets'])}")
    dataset = make_dataset(args.dataset, params["datasets"][args.dataset], params["seed"],
                           params.get("raw_dir", "data/raw"))
    dataset.save(args.out)
    log.info("wrote %s: train %s, test %s", args.out, dataset.x_train.shape, dataset.x_test.shape)


def cmd_train(args):
    from genlab.data import load_dataset
    from genlab.families import make_model
    from genlab.checkpoints import load_checkpoint, resolve_device
    from genlab.train import seed_everything, train
    params, exp = _experiment(args)
    dataset = load_dataset(args.data)
    seed_everything(exp.seed)
    model = make_model(exp.model, dataset.example_shape, dataset.meta, exp.model_name)
    from genlab import config as cfg
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
    """Metrics of one experiment, looked up in the metric registry, in one process (the checkpoint, data and
    feature net loaded once): flat metrics are written as JSON with provenance, curves as CSV; with --samples,
    the figures' samples file too (genlab.generation.samples_file)."""
    from genlab.evaluation import Run, get
    from genlab.io import write_csv, write_metrics
    params, exp = _experiment(args)
    if not args.metric and not args.samples:
        raise ConfigError("nothing to evaluate: give --metric NAME --out FILE (repeatable) or --samples FILE")
    if args.samples and args.samples_n < 1:
        raise ConfigError(f"--samples-n must be at least 1 (got {args.samples_n})")
    if len(args.metric) != len(args.out):
        raise ConfigError(f"give one --out per --metric (got {len(args.metric)} metrics, {len(args.out)} outputs)")
    for name in args.metric:
        if name not in exp.metrics:
            raise ConfigError(f"experiment {exp.name} does not list metric {name!r} (it lists "
                              f"{list(exp.metrics)}); add it under experiments in the params file")
        if get(name).needs_feature_net(exp.dataset["kind"]) and not args.feature_net:
            raise ConfigError(f"metric {name} needs --feature-net (the dataset's classifier checkpoint)")
    run = Run(params, exp, args.data, args.checkpoint, args.feature_net, args.device)
    for name, out in zip(args.metric, args.out):
        metric = get(name)
        started = time.perf_counter()
        result = metric.compute(run)
        if metric.output == "csv":
            write_csv(out, result)
            continue
        result = {"experiment": exp.name, "family": exp.family, **result}
        write_metrics(out, result, config_hash=exp.hash, seed=exp.seed, wall_time_s=time.perf_counter() - started)
        numbers = {key: value for key, value in result.items() if key != "examples"}  # images stay in the file
        log.info("%s %s: %s", exp.name, name, json.dumps(numbers, default=str))
    if args.samples:  # the figures' samples: drawn here, where the model is loaded already (a process less)
        from genlab.generation import samples_file
        from genlab.io import save_npz
        save_npz(args.samples, **samples_file(run.model, run.dataset, run.checkpoint, args.samples_n, exp.seed))
        log.info("wrote %s: %d samples", args.samples, args.samples_n)


def cmd_kde_curse(args):
    from genlab.analysis.kde import kde_error_curves
    from genlab.io import write_csv
    params = _load_params(args.params)
    if "kde_curse" not in params["figures"]:
        raise ConfigError(f"{args.params}: figures.kde_curse is not set; add it (dims, sample_sizes, repeats)")
    settings = params["figures"]["kde_curse"]
    write_csv(args.out, kde_error_curves(settings["dims"], settings["sample_sizes"], settings["repeats"],
                                         params["seed"]))


def cmd_sampling_speed(args):
    """figures.multiscale: seconds per 1000 samples of its models against resolution (CSV)."""
    from genlab.analysis.sampling_speed import sampling_speed
    from genlab.checkpoints import resolve_device
    from genlab.io import write_csv
    params = _load_params(args.params)
    if "multiscale" not in params["figures"]:
        raise ConfigError(f"{args.params}: figures.multiscale is not set; add it (see params/README.md)")
    settings = params["figures"]["multiscale"]
    blocks = {name: params["models"][name] for name in settings["models"]}
    write_csv(args.out, sampling_speed(blocks, settings["resolutions"], settings["speed_samples"],
                                       settings["speed_repeats"], params["seed"],
                                       resolve_device(params["device"]), progress=True))


def cmd_cdsm_consistency(args):
    """One dataset of figures.cdsm_consistency: every estimator trained on n pairs, per n (CSV)."""
    from genlab.data import load_dataset
    from genlab.io import write_csv
    from genlab.checkpoints import resolve_device
    from genlab.methods.cdsm import consistency_study
    params = _load_params(args.params)
    if "cdsm_consistency" not in params["figures"]:
        raise ConfigError(f"{args.params}: figures.cdsm_consistency is not set; add it (see params/README.md)")
    settings = params["figures"]["cdsm_consistency"]
    dataset = load_dataset(args.data)
    estimators = {name: params["models"][name] for name in settings["estimators"]}
    rows = consistency_study(dataset, estimators, settings, params["seed"], args.run_dir,
                             resolve_device(args.device or params["device"]), progress=not args.no_progress)
    write_csv(args.out, rows)


def cmd_autoencoder_dim(args):
    """figures.autoencoder_dim on one dataset: held-out reconstruction error per latent size (CSV)."""
    from genlab.analysis.autoencoder_dim import reconstruction_errors
    from genlab.data import load_dataset
    from genlab.io import write_csv
    params = _load_params(args.params)
    block = params["figures"].get("autoencoder_dim")
    if block is None:
        raise ConfigError(f"{args.params}: figures.autoencoder_dim is not set; add it (see params/README.md)")
    if args.dataset not in block["latent_sizes"]:
        raise ConfigError(f"--dataset {args.dataset!r}: figures.autoencoder_dim.latent_sizes names "
                          f"{sorted(block['latent_sizes'])}")
    dataset = load_dataset(args.data)
    write_csv(args.out, reconstruction_errors(dataset.x_train, dataset.x_test, block["latent_sizes"][args.dataset],
                                              block["autoencoder"], params["seed"], progress=not args.no_progress))


def cmd_intrinsic_dim(args):
    """Intrinsic dimension of any dataset file: the scikit-dimension baselines, and with --model our
    score-spectrum estimate from that params model block, trained on the file (or resumed) in --run-dir."""
    from genlab.data import load_dataset
    from genlab.evaluation.geometry import intrinsic_dimension
    from genlab.io import write_json
    params = _load_params(args.params)
    dataset = load_dataset(args.data)
    model = None
    if args.model:
        from genlab.checkpoints import resolve_device
        from genlab.train import fit
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
    write_json(args.out, intrinsic_dimension(model, dataset, params["evaluation"]["intrinsic_dim"], params["seed"]))


def cmd_dvc_yaml(args):
    from genlab.dvc import render
    from genlab.io import write_text
    write_text(args.out, render(_load_params(args.params), args.params))


def cmd_figure(args):
    """One figure of the figure registry: its notebook executed with typed parameters, its captions written."""
    from genlab import paths
    from genlab.figures import FIGURES, execute
    from genlab.io import write_text
    params = _load_params(args.params)
    if args.figure not in params["figures"]:
        raise ConfigError(f"{args.params}: figures.{args.figure} is not set; declared figures: "
                          f"{sorted(params['figures'])}")
    figure = FIGURES[args.figure]
    execute(figure.notebook, paths.executed_notebook(figure.name), figure.parameters(params))
    for stem, caption in figure.captions(params).items():
        write_text(paths.caption(stem), caption)


def cmd_table(args):
    """A dataset's comparison table: one row per experiment, from the metric files that fill its columns."""
    from genlab import paths, pipeline
    from genlab.figures import execute
    params = _load_params(args.params)
    if args.dataset not in pipeline.table_datasets(params):
        raise ConfigError(f"no table for dataset {args.dataset!r}; tables: {pipeline.table_datasets(params)}")
    execute("notebooks/tables.ipynb", paths.executed_notebook(f"tables_{args.dataset}"),
                      {"dataset": args.dataset, "runs": pipeline.table_runs(params, args.dataset),
                       "table": {ext: paths.table(args.dataset, ext) for ext in ("csv", "tex", "json")}})


def cmd_reproduction(args):
    """results/reproduction.{md,json}: each claim of claims.yaml, the paper's value, ours and a verdict."""
    from genlab import paths
    from genlab.claims import evaluate, load_claims, write_reproduction
    _load_params(args.params)
    write_reproduction(evaluate(load_claims(args.claims)), paths.reproduction("md"), paths.reproduction("json"))


def cmd_readme(args):
    """The README's generated results and findings blocks: rewritten from results/ (the findings from the
    template docs/findings.md; the values kept in docs/default-run.json) after a default run, or --check'ed
    against the snapshot."""
    from genlab import readme
    args.snapshot = args.snapshot or readme.SNAPSHOT
    if args.check:
        if not readme.check(args.readme, args.snapshot):
            raise ConfigError(f"{args.readme}: the results or findings block is stale against {args.snapshot} "
                              f"and {readme.FINDINGS}; run `genlab readme` after `snakemake all`")
        print(f"{args.readme}: results and findings blocks current")
        return
    readme.update(args.readme, args.snapshot)


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
    sub.add_argument("--metric", action="append", default=[],
                     help="a metric of the registry (genlab.evaluation); repeat for several, each with its --out")
    sub.add_argument("--data", required=True)
    sub.add_argument("--checkpoint", required=True)
    sub.add_argument("--feature-net", help="classifier checkpoint (fid, sweep, modes on images)")
    sub.add_argument("--out", action="append", default=[], help="the file of the --metric in the same place")
    sub.add_argument("--samples", help="also write the figures' samples file (results/<dataset>/<model>/samples.npz)")
    sub.add_argument("--samples-n", type=int, default=64, help="how many samples --samples draws")
    sub = command("kde-curse", cmd_kde_curse, "KDE error against sample size and dimension (CSV)")
    sub.add_argument("--out", required=True)
    sub = command("sampling-speed", cmd_sampling_speed, "sampling seconds of figures.multiscale's models against "
                  "resolution (CSV)")
    sub.add_argument("--out", required=True)
    sub = command("cdsm-consistency", cmd_cdsm_consistency, "conditional estimators' error against n (CSV)")
    sub.add_argument("--data", required=True, help="a conditional_mixture dataset file")
    sub.add_argument("--run-dir", required=True, help="where the estimators' checkpoints are kept")
    sub.add_argument("--device")
    sub.add_argument("--no-progress", action="store_true")
    sub.add_argument("--out", required=True)
    sub = command("autoencoder-dim", cmd_autoencoder_dim, "reconstruction error of auto-encoders against latent "
                  "size on one dataset of figures.autoencoder_dim (CSV)")
    sub.add_argument("--dataset", required=True, help="a dataset of the block's latent_sizes")
    sub.add_argument("--data", required=True, help="that dataset's file")
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
    sub = command("figure", cmd_figure, "draw one figure of the params (its notebook, with typed parameters)")
    sub.add_argument("--figure", required=True, help="a block under figures: in the params")
    sub = command("reproduction", cmd_reproduction, "the reproduction report: each claim against this run's results")
    sub.add_argument("--claims", default="claims.yaml")
    sub = command("readme", cmd_readme,
                  "rewrite the README's results and findings blocks from results/ (after `snakemake all`)")
    sub.add_argument("--readme", default="README.md")
    sub.add_argument("--snapshot", help="the committed copy of the values shown (default docs/default-run.json)")
    sub.add_argument("--check", action="store_true", help="only check the README against the snapshot")
    sub = command("table", cmd_table, "write one dataset's comparison table")
    sub.add_argument("--dataset", required=True)
    return parser


def main(argv: list[str] | None = None) -> int:
    if argv is None:  # the `genlab` command: a warm process may run it (genlab.forkserver, local Snakemake runs)
        from genlab import forkserver
        code = forkserver.run_in_server(sys.argv[1:])
        if code is not None:
            return code
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
