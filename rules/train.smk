rule train_all:
    input:
        pipeline.checkpoints(config),


# Resumable: the loop keeps train_state.pt (not an output, so Snakemake never deletes it) and a rerun
# after a kill or preemption continues from it. Resources (gpu: 1 ...) come from profiles/default.
rule train:
    input:
        unpack(train_inputs),
    output:
        checkpoint=paths.checkpoint("{dataset}", "{model}"),
        log_csv=paths.train_log("{dataset}", "{model}"),
    params:
        config_hash=experiment_hash,
        run_dir=run_dir,
        launcher=launcher,
        pretrained=pretrained_flag,
        params_file=PARAMS,
    log:
        paths.log("train", "{dataset}/{model}"),
    benchmark:
        paths.benchmark("train", "{dataset}/{model}")
    shell:
        "{params.launcher} train --params {params.params_file} --dataset {wildcards.dataset} "
        "--model {wildcards.model} --data {input.data} --run-dir {params.run_dir} {params.pretrained} 2> {log}"
