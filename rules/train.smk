rule train_all:
    input:
        CHECKPOINTS,


# Resumable: the loop keeps train_state.pt (not an output, so Snakemake never deletes it) and a rerun
# after a kill or preemption continues from it. Resources (gpu: 1 ...) come from profiles/default.
def train_inputs(wildcards):
    """The data, and for a model on top of a pretrained one (ScoreVAE) that model's checkpoint."""
    inputs = {"data": f"data/processed/{wildcards.dataset}.npz"}
    pretrained = gcfg.pretrained_experiment(config, wildcards.dataset, wildcards.model)
    if pretrained is not None:
        inputs["pretrained"] = f"results/{wildcards.dataset}/{pretrained.model_name}/checkpoint.pt"
    return inputs


rule train:
    input:
        unpack(train_inputs),
    output:
        checkpoint="results/{dataset}/{model}/checkpoint.pt",
        log_csv="results/{dataset}/{model}/train_log.csv",
    params:
        config_hash=experiment_hash,
        run_dir=lambda w, output: os.path.dirname(output.checkpoint),
        # more than one GPU requested (e.g. --set-resources train:gpu=4): data-parallel over them
        launcher=lambda w, resources: (f"torchrun --standalone --nproc_per_node {resources.gpu} -m genlab.cli"
                                       if int(resources.get("gpu", 0)) > 1 else "genlab"),
        pretrained=lambda w, input: f"--pretrained {input.pretrained}" if "pretrained" in input.keys() else "",
    log:
        "results/logs/train/{dataset}/{model}.log",
    shell:
        "{params.launcher} train --params {PARAMS} --dataset {wildcards.dataset} --model {wildcards.model} "
        "--data {input.data} --run-dir {params.run_dir} {params.pretrained} 2> {log}"
