# genlab: every figure and table of the thesis from one DAG. `snakemake --cores 2 all` at the embedded
# default (params/default.yaml); `snakemake --profile slurm all --configfile params/thesis.yaml` on a cluster.
from snakemake.utils import min_version

min_version("9.0")


# The embedded default, unless params are given with --configfile: a thesis-scale file then replaces it
# (Snakemake would otherwise merge the two recursively, mixing an MLP's keys into a U-Net's block).
if not workflow.overwrite_configfiles:

    configfile: "params/default.yaml"


report: "report/workflow.rst"


include: "rules/common.smk"


# Jobs run on this machine are forks of one warm process that imported torch and the families once
# (genlab.forkserver: 1-2 s less per job); on a cluster's nodes they start fresh as before.
onstart:
    if workflow.local_exec:
        forkserver.start(log=paths.log("forkserver", "server"))


onsuccess:
    forkserver.stop()


onerror:
    forkserver.stop()


rule all:
    default_target: True
    input:
        pipeline.all_targets(config),


include: "rules/data.smk"
include: "rules/train.smk"
include: "rules/evaluate.smk"
include: "rules/analyses.smk"
include: "rules/figures.smk"
