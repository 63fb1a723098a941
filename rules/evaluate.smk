rule evaluate_all:
    input:
        metric_outputs(EXPERIMENTS),


def trained_inputs(wildcards):
    return {"data": f"data/processed/{wildcards.dataset}.npz",
            "checkpoint": f"results/{wildcards.dataset}/{wildcards.model}/checkpoint.pt"}


def evaluation_inputs(wildcards):
    """Data and checkpoint, plus the FID feature net for the metrics that need it (fid, the sweep, and the
    class histograms of modes on images)."""
    inputs = trained_inputs(wildcards)
    if gcfg.needs_feature_net(wildcards.metric, config["datasets"][wildcards.dataset]["kind"]):
        inputs["feature_net"] = feature_net(wildcards)
    return inputs


def feature_net_flag(wildcards, input):
    return f"--feature-net {input.feature_net}" if "feature_net" in input.keys() else ""


# One rule for every metric: flat metrics are {metric}.json, curves (sweep, modes) {metric}.csv.
rule evaluate:
    input:
        unpack(evaluation_inputs),
    output:
        "results/{dataset}/{model}/{metric}.{ext}",
    params:
        config_hash=experiment_hash,
        # the metric's own settings (and the FID block for the metrics that compute FIDs): changing one
        # evaluation block reruns only its metric
        settings=lambda w: gcfg.config_hash([config["evaluation"].get(w.metric),
                                             config["evaluation"]["fid"] if w.metric in ("accuracy", "fid", "sweep")
                                             else None]),
        feature_net=feature_net_flag,
    log:
        "results/logs/evaluate/{dataset}/{model}/{metric}.{ext}.log",
    shell:
        "genlab evaluate --params {PARAMS} --dataset {wildcards.dataset} --model {wildcards.model} "
        "--metric {wildcards.metric} --data {input.data} --checkpoint {input.checkpoint} "
        "{params.feature_net} --out {output} 2> {log}"


rule samples:
    input:
        unpack(trained_inputs),
    output:
        "results/{dataset}/{model}/samples.npz",
    params:
        config_hash=experiment_hash,
        # images: enough for the largest grid; 2-D points: enough for a scatter plot
        n=lambda w: SAMPLE_COUNT if is_image(w.dataset) else 1000,
    log:
        "results/logs/sample/{dataset}/{model}.log",
    shell:
        "genlab sample --params {PARAMS} --dataset {wildcards.dataset} --model {wildcards.model} "
        "--data {input.data} --checkpoint {input.checkpoint} --n {params.n} --out {output} 2> {log}"
