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
        # more than one GPU requested (e.g. --set-resources train:gpu=4): data-parallel over them
        launcher=lambda w, resources: (f"torchrun --standalone --nproc_per_node {resources.gpu} -m genlab.cli"
                                       if int(resources.get("gpu", 0)) > 1 else "genlab"),
    log:
        "results/logs/train/{dataset}/{model}.log",
    shell:
        "{params.launcher} train --params {PARAMS} --dataset {wildcards.dataset} --model {wildcards.model} "
        "--data {input} --run-dir {params.run_dir} 2> {log}"
