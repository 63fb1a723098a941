# Figures and tables through papermill: the executed notebook is kept under results/notebooks/.
rule figures_all:
    input:
        figure_outputs() + TABLES,


def dataset_metric_files(dataset):
    return metric_outputs([e for e in EXPERIMENTS if e["dataset"] == dataset])


if "diffusion_samplers" in config["figures"]:
    FIG = config["figures"]["diffusion_samplers"]

    rule figure_diffusion_samplers:
        input:
            notebook="notebooks/diffusion_samplers.ipynb",
            samples=f"results/{FIG['dataset']}/{FIG['model']}/samples.npz",
            sweep=f"results/{FIG['dataset']}/{FIG['model']}/sampler_sweep.csv",
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


rule table:
    input:
        lambda w: dataset_metric_files(w.dataset),
        notebook="notebooks/tables.ipynb",
    output:
        csv=report("results/tables/{dataset}.csv", caption="../report/table.rst", category="Tables",
                   labels={"dataset": "{dataset}"}),
        tex="results/tables/{dataset}.tex",
        executed="results/notebooks/tables_{dataset}.ipynb",
    log:
        "results/logs/tables/{dataset}.log",
    shell:
        "genlab figure --notebook {input.notebook} --executed {output.executed} "
        "-p params={PARAMS} -p dataset={wildcards.dataset} -p csv={output.csv} -p tex={output.tex} "
        "2> {log}"
