rule data_all:
    input:
        pipeline.data_files(config),


rule data:
    output:
        paths.data("{dataset}"),
    params:
        spec=dataset_hash,
        params_file=PARAMS,
    log:
        paths.log("data", "{dataset}"),
    benchmark:
        paths.benchmark("data", "{dataset}")
    shell:
        "genlab data --params {params.params_file} --dataset {wildcards.dataset} --out {output} 2> {log}"
