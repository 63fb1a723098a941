rule evaluate_all:
    input:
        [path for path, _ in pipeline.metric_files(config)],


# One rule for every metric of the registry (genlab.evaluation): flat metrics are {metric}.json, curves
# (sweep, modes) {metric}.csv.
rule evaluate:
    input:
        unpack(evaluation_inputs),
    output:
        paths.metric("{dataset}", "{model}", "{metric}", "{ext}"),
    params:
        config_hash=experiment_hash,
        settings=metric_settings,
        feature_net=feature_net_flag,
        params_file=PARAMS,
    log:
        paths.log("evaluate", "{dataset}/{model}/{metric}.{ext}"),
    benchmark:
        paths.benchmark("evaluate", "{dataset}/{model}/{metric}.{ext}")
    shell:
        "genlab evaluate --params {params.params_file} --dataset {wildcards.dataset} --model {wildcards.model} "
        "--metric {wildcards.metric} --data {input.data} --checkpoint {input.checkpoint} "
        "{params.feature_net} --out {output} 2> {log}"


rule samples:
    input:
        data=paths.data("{dataset}"),
        checkpoint=paths.checkpoint("{dataset}", "{model}"),
    output:
        paths.samples("{dataset}", "{model}"),
    params:
        config_hash=experiment_hash,
        n=sample_count,
        params_file=PARAMS,
    log:
        paths.log("sample", "{dataset}/{model}"),
    benchmark:
        paths.benchmark("sample", "{dataset}/{model}")
    shell:
        "genlab sample --params {params.params_file} --dataset {wildcards.dataset} --model {wildcards.model} "
        "--data {input.data} --checkpoint {input.checkpoint} --n {params.n} --out {output} 2> {log}"
