# Figures: one rule per block under `figures:`, each built from its spec in genlab/figures.py and run as
# `genlab figure` (its notebook through papermill; the executed copy is kept under results/notebooks/).
rule figures_all:
    input:
        pipeline.figure_outputs(config) + pipeline.table_files(config) + pipeline.reproduction_files(),


for figure_name in config["figures"]:

    rule:
        name:
            f"figure_{figure_name}"
        input:
            **figure_inputs(figure_name),
        output:
            **figure_outputs(figure_name),
        params:
            figure=figure_name,
            params_file=PARAMS,
        log:
            paths.log("figures", figure_name),
        benchmark:
            paths.benchmark("figures", figure_name)
        shell:
            "genlab figure --params {params.params_file} --figure {params.figure} 2> {log}"


rule table:
    input:
        table_inputs,
        notebook="notebooks/tables.ipynb",
    output:
        csv=report(paths.table("{dataset}", "csv"), caption="../report/table.rst", category="Tables",
                   labels={"dataset": "{dataset}"}),
        tex=paths.table("{dataset}", "tex"),
        json=paths.table("{dataset}", "json"),
        executed=paths.executed_notebook("tables_{dataset}"),
    params:
        params_file=PARAMS,
    log:
        paths.log("tables", "{dataset}"),
    benchmark:
        paths.benchmark("tables", "{dataset}")
    shell:
        "genlab table --params {params.params_file} --dataset {wildcards.dataset} 2> {log}"
