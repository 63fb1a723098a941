rule train_all:
    input:
        CHECKPOINTS,


# Resumable: the loop keeps train_state.pt (not an output, so Snakemake never deletes it) and a rerun
# after a kill or preemption continues from it. Resources (gpu: 1 ...) come from profiles/default.
rule train:
    input:
        "data/processed/{dataset}.npz",
    output:
        checkpoint="results/{dataset}/{model}/checkpoint.pt",
        log_csv="results/{dataset}/{model}/train_log.csv",
    params:
        config_hash=experiment_hash,
        run_dir=lambda w, output: os.path.dirname(output.checkpoint),
    log:
        "results/logs/train/{dataset}/{model}.log",
    shell:
        "genlab train --params {PARAMS} --dataset {wildcards.dataset} --model {wildcards.model} "
        "--data {input} --run-dir {params.run_dir} 2> {log}"
