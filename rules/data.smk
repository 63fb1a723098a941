rule data_all:
    input:
        DATA,


rule data:
    output:
        "data/processed/{dataset}.npz",
    params:
        spec=lambda w: gcfg.config_hash(config["datasets"][w.dataset]),
    log:
        "results/logs/data/{dataset}.log",
    shell:
        "genlab data --params {PARAMS} --dataset {wildcards.dataset} --out {output} 2> {log}"
