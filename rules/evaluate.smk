rule evaluate_all:
    input:
        [path for path, _ in pipeline.metric_files(config)],
        pipeline.sample_files(config),


# One job per experiment evaluates all the metrics it lists (the registry's, genlab.evaluation) in one process,
# which loads the checkpoint, the data and the feature net once: starting Python with torch cost each job
# more than most metrics themselves. The same job draws the figures' samples file where a figure reads one.
# A rule's outputs cannot depend on its wildcards, so each experiment has its own rule,
# evaluate_<dataset>_<model>; their resources (a GPU on clusters) are EVALUATION_RESOURCES.
for dataset_name, model_name in pipeline.experiments(config):

    rule:
        name:
            f"evaluate_{dataset_name}_{model_name}"
        input:
            **pipeline.evaluation_inputs(config, dataset_name, model_name),
        output:
            **pipeline.evaluation_outputs(config, dataset_name, model_name),
            **samples_output(dataset_name, model_name),
        params:
            config_hash=gcfg.experiment(config, dataset_name, model_name).hash,
            settings=gcfg.config_hash(pipeline.evaluation_settings(config, dataset_name, model_name)),
            metrics=metric_flags(dataset_name, model_name),
            feature_net=feature_net_flag,
            params_file=PARAMS,
            dataset=dataset_name,
            model=model_name,
        log:
            paths.log("evaluate", f"{dataset_name}/{model_name}"),
        benchmark:
            paths.benchmark("evaluate", f"{dataset_name}/{model_name}")
        resources:
            **EVALUATION_RESOURCES,
        shell:
            "genlab evaluate --params {params.params_file} --dataset {params.dataset} --model {params.model} "
            "--data {input.data} --checkpoint {input.checkpoint} {params.feature_net} {params.metrics} 2> {log}"
