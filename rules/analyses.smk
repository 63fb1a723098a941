# Analyses outside any experiment, whose curves a figure draws.
if "kde_curse" in config["figures"]:

    rule kde_curse:
        output:
            paths.analysis("kde_curse", "csv"),
        params:
            settings=kde_settings,
            params_file=PARAMS,
        log:
            paths.log("analysis", "kde_curse"),
        benchmark:
            paths.benchmark("analysis", "kde_curse")
        shell:
            "genlab kde-curse --params {params.params_file} --out {output} 2> {log}"


if "multiscale" in config["figures"]:

    rule sampling_speed:
        output:
            paths.analysis("sampling_speed", "csv"),
        params:
            settings=speed_settings,
            params_file=PARAMS,
        log:
            paths.log("analysis", "sampling_speed"),
        benchmark:
            paths.benchmark("analysis", "sampling_speed")
        shell:
            "genlab sampling-speed --params {params.params_file} --out {output} 2> {log}"


if "cdsm_consistency" in config["figures"]:

    rule cdsm_consistency:
        input:
            paths.data("{dataset}"),
        output:
            paths.cdsm_curves("{dataset}"),
        params:
            settings=cdsm_settings,
            run_dir=cdsm_run_dir,
            params_file=PARAMS,
        log:
            paths.log("analysis", "cdsm_{dataset}"),
        benchmark:
            paths.benchmark("analysis", "cdsm_{dataset}")
        shell:
            "genlab cdsm-consistency --params {params.params_file} --data {input} --run-dir {params.run_dir} "
            "--no-progress --out {output} 2> {log}"


if "autoencoder_dim" in config["figures"]:

    rule autoencoder_dim:
        input:
            paths.data("{dataset}"),
        output:
            paths.autoencoder_curves("{dataset}"),
        params:
            settings=autoencoder_settings,
            params_file=PARAMS,
        log:
            paths.log("analysis", "autoencoder_dim_{dataset}"),
        benchmark:
            paths.benchmark("analysis", "autoencoder_dim_{dataset}")
        shell:
            "genlab autoencoder-dim --params {params.params_file} --dataset {wildcards.dataset} --data {input} "
            "--no-progress --out {output} 2> {log}"


# Each claim of the thesis and its papers (claims.yaml): the paper's value, ours, a verdict.
rule reproduction:
    input:
        reproduction_inputs,
        claims="claims.yaml",
    output:
        md=report(paths.reproduction("md"), caption="../report/reproduction.rst", category="Reproduction"),
        json=paths.reproduction("json"),
    params:
        params_file=PARAMS,
    log:
        paths.log("analysis", "reproduction"),
    benchmark:
        paths.benchmark("analysis", "reproduction")
    shell:
        "genlab reproduction --params {params.params_file} --claims {input.claims} 2> {log}"
