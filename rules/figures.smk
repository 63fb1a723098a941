# Figures and tables through papermill: the executed notebook is kept under results/notebooks/.
rule figures_all:
    input:
        figure_outputs() + TABLES + ANALYSES,


def dataset_metric_files(dataset):
    return metric_outputs([e for e in EXPERIMENTS if e["dataset"] == dataset])


if "diffusion_samplers" in config["figures"]:
    FIG = config["figures"]["diffusion_samplers"]

    rule figure_diffusion_samplers:
        input:
            notebook="notebooks/diffusion_samplers.ipynb",
            samples=f"results/{FIG['dataset']}/{FIG['model']}/samples.npz",
            sweep=f"results/{FIG['dataset']}/{FIG['model']}/sweep.csv",
            fid=f"results/{FIG['dataset']}/{FIG['model']}/fid.json",
            accuracy=f"results/{FIG['dataset']}/{config['evaluation']['fid']['feature_model']}/accuracy.json",
        output:
            "figures/diffusion_samples.pdf",
            report("figures/diffusion_samples.png", caption="../report/diffusion_samples.rst",
                   category="Diffusion samplers"),
            "figures/fid_vs_nfe.pdf",
            report("figures/fid_vs_nfe.png", caption="../report/fid_vs_nfe.rst", category="Diffusion samplers"),
            executed="results/notebooks/diffusion_samplers.ipynb",
        log:
            "results/logs/figures/diffusion_samplers.log",
        shell:
            "genlab figure --notebook {input.notebook} --executed {output.executed} "
            "-p samples={input.samples} -p sweep={input.sweep} -p fid={input.fid} -p accuracy={input.accuracy} "
            "-p figures_dir=figures 2> {log}"


def run_files(pairs, name):
    return [f"results/{dataset}/{model}/{name}" for dataset, model in pairs]


def joined(files):
    """A list of paths as one notebook parameter (papermill parameters here are strings)."""
    return ",".join(files)


if "family_samples" in config["figures"]:
    FAMILY = config["figures"]["family_samples"]
    FAMILY_RUNS = gcfg.figure_experiments(FAMILY)

    rule figure_family_samples:
        input:
            notebook="notebooks/family_samples.ipynb",
            samples=run_files(FAMILY_RUNS, "samples.npz"),
            fids=run_files(FAMILY_RUNS, "fid.json"),
        output:
            "figures/family_samples.pdf",
            report("figures/family_samples.png", caption="../report/family_samples.rst", category="Families"),
            executed="results/notebooks/family_samples.ipynb",
        params:
            samples=lambda w, input: joined(input.samples),
            fids=lambda w, input: joined(input.fids),
        log:
            "results/logs/figures/family_samples.log",
        shell:
            "genlab figure --notebook {input.notebook} --executed {output.executed} "
            "-p samples={params.samples} -p fids={params.fids} -p grid={FAMILY[grid]} -p figures_dir=figures "
            "2> {log}"


if "mode_collapse" in config["figures"]:
    MODE_RUNS = gcfg.figure_experiments(config["figures"]["mode_collapse"])

    rule figure_mode_collapse:
        input:
            notebook="notebooks/mode_collapse.ipynb",
            samples=run_files(MODE_RUNS, "samples.npz"),
            modes=run_files(MODE_RUNS, "modes.csv"),
            data=[f"data/processed/{dataset}.npz" for dataset, _ in MODE_RUNS],
        output:
            "figures/mode_collapse.pdf",
            report("figures/mode_collapse.png", caption="../report/mode_collapse.rst", category="Families"),
            executed="results/notebooks/mode_collapse.ipynb",
        params:
            samples=lambda w, input: joined(input.samples),
            modes=lambda w, input: joined(input.modes),
            data=lambda w, input: joined(input.data),
        log:
            "results/logs/figures/mode_collapse.log",
        shell:
            "genlab figure --notebook {input.notebook} --executed {output.executed} "
            "-p samples={params.samples} -p modes={params.modes} -p data={params.data} -p figures_dir=figures "
            "2> {log}"


if "reconstructions" in config["figures"]:
    RECON = config["figures"]["reconstructions"]
    RECON_RUNS = gcfg.figure_experiments(RECON)

    rule figure_reconstructions:
        input:
            notebook="notebooks/reconstructions.ipynb",
            samples=run_files(RECON_RUNS, "samples.npz"),
            metrics=run_files(RECON_RUNS, "reconstruction.json"),
        output:
            "figures/reconstructions.pdf",
            report("figures/reconstructions.png", caption="../report/reconstructions.rst", category="Families"),
            csv=report("results/analysis/reconstructions.csv", caption="../report/reconstructions.rst",
                       category="Families"),
            tex="results/analysis/reconstructions.tex",
            json="results/analysis/reconstructions.json",
            executed="results/notebooks/reconstructions.ipynb",
        params:
            samples=lambda w, input: joined(input.samples),
            metrics=lambda w, input: joined(input.metrics),
        log:
            "results/logs/figures/reconstructions.log",
        shell:
            "genlab figure --notebook {input.notebook} --executed {output.executed} "
            "-p samples={params.samples} -p metrics={params.metrics} -p grid={RECON[grid]} -p csv={output.csv} "
            "-p tex={output.tex} -p json_path={output.json} -p figures_dir=figures 2> {log}"


if "intrinsic_dim" in config["figures"]:
    ID_RUNS = gcfg.figure_experiments(config["figures"]["intrinsic_dim"])

    rule figure_intrinsic_dim:
        input:
            notebook="notebooks/intrinsic_dim.ipynb",
            metrics=run_files(ID_RUNS, "intrinsic_dim.json"),
        output:
            "figures/intrinsic_dim_spectra.pdf",
            report("figures/intrinsic_dim_spectra.png", caption="../report/intrinsic_dim.rst",
                   category="Intrinsic dimension"),
            csv=report("results/analysis/intrinsic_dim.csv", caption="../report/intrinsic_dim.rst",
                       category="Intrinsic dimension"),
            tex="results/analysis/intrinsic_dim.tex",
            json="results/analysis/intrinsic_dim.json",
            executed="results/notebooks/intrinsic_dim.ipynb",
        params:
            metrics=lambda w, input: joined(input.metrics),
        log:
            "results/logs/figures/intrinsic_dim.log",
        shell:
            "genlab figure --notebook {input.notebook} --executed {output.executed} "
            "-p metrics={params.metrics} -p csv={output.csv} -p tex={output.tex} -p json_path={output.json} "
            "-p figures_dir=figures 2> {log}"


if "pullback_geodesics" in config["figures"]:
    GEODESIC_RUNS = gcfg.figure_experiments(config["figures"]["pullback_geodesics"])

    rule figure_pullback_geodesics:
        input:
            notebook="notebooks/pullback_geodesics.ipynb",
            metrics=run_files(GEODESIC_RUNS, "geodesic.json"),
            nll=run_files(GEODESIC_RUNS, "nll.json"),
            data=[f"data/processed/{dataset}.npz" for dataset in config["figures"]["pullback_geodesics"]["datasets"]],
        output:
            "figures/pullback_geodesics.pdf",
            report("figures/pullback_geodesics.png", caption="../report/pullback_geodesics.rst",
                   category="Pullback geometry"),
            csv=report("results/analysis/pullback_geodesics.csv", caption="../report/pullback_geodesics.rst",
                       category="Pullback geometry"),
            tex="results/analysis/pullback_geodesics.tex",
            json="results/analysis/pullback_geodesics.json",
            executed="results/notebooks/pullback_geodesics.ipynb",
        params:
            metrics=lambda w, input: joined(input.metrics),
            nll=lambda w, input: joined(input.nll),
            data=lambda w, input: joined(input.data),
        log:
            "results/logs/figures/pullback_geodesics.log",
        shell:
            "genlab figure --notebook {input.notebook} --executed {output.executed} "
            "-p metrics={params.metrics} -p nll={params.nll} -p data={params.data} -p csv={output.csv} "
            "-p tex={output.tex} -p json_path={output.json} -p figures_dir=figures 2> {log}"


if "rae" in config["figures"]:
    RAE_RUNS = gcfg.figure_experiments(config["figures"]["rae"])

    rule figure_rae:
        input:
            notebook="notebooks/rae.ipynb",
            metrics=run_files(RAE_RUNS, "rae.json"),
        output:
            "figures/rae_spectra.pdf",
            report("figures/rae_spectra.png", caption="../report/rae.rst", category="Pullback geometry"),
            csv=report("results/analysis/rae.csv", caption="../report/rae.rst", category="Pullback geometry"),
            tex="results/analysis/rae.tex",
            json="results/analysis/rae.json",
            executed="results/notebooks/rae.ipynb",
        params:
            metrics=lambda w, input: joined(input.metrics),
        log:
            "results/logs/figures/rae.log",
        shell:
            "genlab figure --notebook {input.notebook} --executed {output.executed} "
            "-p metrics={params.metrics} -p csv={output.csv} -p tex={output.tex} -p json_path={output.json} "
            "-p figures_dir=figures 2> {log}"


if "kde_curse" in config["figures"]:

    rule kde_curse:
        output:
            "results/analysis/kde_curse.csv",
        params:
            settings=lambda w: gcfg.config_hash([config["seed"], config["figures"]["kde_curse"]]),
        log:
            "results/logs/analysis/kde_curse.log",
        shell:
            "genlab kde-curse --params {PARAMS} --out {output} 2> {log}"

    rule figure_kde_curse:
        input:
            notebook="notebooks/kde_curse.ipynb",
            curves="results/analysis/kde_curse.csv",
        output:
            "figures/kde_curse.pdf",
            report("figures/kde_curse.png", caption="../report/kde_curse.rst", category="Analyses"),
            executed="results/notebooks/kde_curse.ipynb",
        log:
            "results/logs/figures/kde_curse.log",
        shell:
            "genlab figure --notebook {input.notebook} --executed {output.executed} "
            "-p curves={input.curves} -p figures_dir=figures 2> {log}"


if "conditional_generation" in config["figures"]:
    CONDITIONAL_RUNS = gcfg.figure_experiments(config["figures"]["conditional_generation"])

    rule figure_conditional_generation:
        input:
            notebook="notebooks/conditional_generation.ipynb",
            metrics=run_files(CONDITIONAL_RUNS, "conditional.json"),
        output:
            "figures/conditional_generation.pdf",
            report("figures/conditional_generation.png", caption="../report/conditional_generation.rst",
                   category="CDSM"),
            csv=report("results/analysis/conditional_generation.csv", caption="../report/conditional_generation.rst",
                       category="CDSM"),
            tex="results/analysis/conditional_generation.tex",
            json="results/analysis/conditional_generation.json",
            executed="results/notebooks/conditional_generation.ipynb",
        params:
            metrics=lambda w, input: joined(input.metrics),
        log:
            "results/logs/figures/conditional_generation.log",
        shell:
            "genlab figure --notebook {input.notebook} --executed {output.executed} "
            "-p metrics={params.metrics} -p csv={output.csv} -p tex={output.tex} -p json_path={output.json} "
            "-p figures_dir=figures 2> {log}"


if "cdsm_consistency" in config["figures"]:
    CDSM = config["figures"]["cdsm_consistency"]

    rule cdsm_consistency:
        input:
            "data/processed/{dataset}.npz",
        output:
            "results/analysis/cdsm/{dataset}.csv",
        params:
            settings=lambda w: gcfg.config_hash([config["seed"], CDSM, config["datasets"][w.dataset],
                                                 [config["models"][m] for m in CDSM["estimators"]]]),
        log:
            "results/logs/analysis/cdsm_{dataset}.log",
        shell:
            "genlab cdsm-consistency --params {PARAMS} --data {input} --run-dir results/cdsm_runs/{wildcards.dataset} "
            "--no-progress --out {output} 2> {log}"

    rule figure_cdsm_consistency:
        input:
            notebook="notebooks/cdsm_consistency.ipynb",
            curves=expand("results/analysis/cdsm/{dataset}.csv", dataset=CDSM["datasets"]),
        output:
            "figures/cdsm_consistency.pdf",
            report("figures/cdsm_consistency.png", caption="../report/cdsm_consistency.rst", category="CDSM"),
            executed="results/notebooks/cdsm_consistency.ipynb",
        params:
            curves=lambda w, input: joined(input.curves),
        log:
            "results/logs/figures/cdsm_consistency.log",
        shell:
            "genlab figure --notebook {input.notebook} --executed {output.executed} "
            "-p curves={params.curves} -p figures_dir=figures 2> {log}"


rule table:
    input:
        lambda w: dataset_metric_files(w.dataset),
        notebook="notebooks/tables.ipynb",
    output:
        csv=report("results/tables/{dataset}.csv", caption="../report/table.rst", category="Tables",
                   labels={"dataset": "{dataset}"}),
        tex="results/tables/{dataset}.tex",
        json="results/tables/{dataset}.json",
        executed="results/notebooks/tables_{dataset}.ipynb",
    log:
        "results/logs/tables/{dataset}.log",
    shell:
        "genlab figure --notebook {input.notebook} --executed {output.executed} "
        "-p params={PARAMS} -p dataset={wildcards.dataset} -p csv={output.csv} -p tex={output.tex} "
        "-p json={output.json} "
        "2> {log}"
