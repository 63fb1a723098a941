"""Job costs (genlab.jobcosts): the job graph from `snakemake --detailed-summary`, each job's seconds from its
benchmark file, time by kind and the critical path, checked on a hand-made graph whose answer is known. The
real run's summary is checked in tests/test_pipeline.py (every job of the pipeline has a benchmark file)."""

from genlab import jobcosts, paths

HEADER = "output_file\tdate\trule\tlog-file(s)\tinput-file(s)\tshellcmd\tstatus\tplan"


def _row(output, rule, log, inputs):
    return "\t".join([output, "Wed Nov 25 08:00:00 2026", rule, log, ",".join(inputs) or "-", "genlab ...", "ok",
                      "no update"])


def _summary():
    d, a, b = paths.data("d"), paths.checkpoint("d", "a"), paths.checkpoint("d", "b")
    rows = [
        _row(d, "data", paths.log("data", "d"), []),
        _row(a, "train", paths.log("train", "d/a"), [d]),
        _row(paths.train_log("d", "a"), "train", paths.log("train", "d/a"), [d]),  # a second output, same job
        _row(b, "train", paths.log("train", "d/b"), [d]),
        _row(paths.metric("d", "a", "fid", "json"), "evaluate_d_a", paths.log("evaluate", "d/a"), [d, a]),
        _row(paths.metric("d", "b", "fid", "json"), "evaluate_d_b", paths.log("evaluate", "d/b"), [d, b]),
        _row(paths.table("d", "csv"), "table", paths.log("tables", "d"),
             [paths.metric("d", "a", "fid", "json"), paths.metric("d", "b", "fid", "json")]),
        "figures/x.pdf\t-\tall\t-\t-\t-\tmissing\tupdate pending",  # a target without a log: not a job
    ]
    return "\n".join([HEADER, *rows]) + "\n"


SECONDS = {("data", "d"): 2.0, ("train", "d/a"): 10.0, ("train", "d/b"): 30.0, ("evaluate", "d/a"): 5.0,
           ("evaluate", "d/b"): 1.0, ("tables", "d"): 3.0}


def _write_benchmarks(root, seconds):
    for (kind, name), s in seconds.items():
        path = root / paths.benchmark(kind, name)
        path.parent.mkdir(parents=True, exist_ok=True)
        # Snakemake's columns; with --benchmark-repeats there is one row per repeat
        path.write_text("s\th:m:s\tmax_rss\tcpu_time\n" f"{s}\t0:00:00\t100\t{s}\n" f"{s + 2}\t0:00:00\t100\t{s}\n")


def test_jobs_their_dependencies_and_seconds(tmp_path):
    jobs = jobcosts.parse_summary(_summary())
    assert [(j.kind, j.name) for j in jobs] == sorted(SECONDS, key=lambda k: paths.log(*k))
    by_key = {(j.kind, j.name): j for j in jobs}
    assert {(a.kind, a.name) for a in by_key["tables", "d"].after} == {("evaluate", "d/a"), ("evaluate", "d/b")}
    assert [(a.kind, a.name) for a in by_key["evaluate", "d/b"].after] == [("data", "d"), ("train", "d/b")]
    assert by_key["train", "d/a"].outputs == {paths.checkpoint("d", "a"), paths.train_log("d", "a")}
    assert by_key["train", "d/a"].experiment == "d/a" and by_key["tables", "d"].experiment is None
    _write_benchmarks(tmp_path, {k: v for k, v in SECONDS.items() if k != ("tables", "d")})
    jobcosts.read_seconds(jobs, tmp_path)
    assert by_key["train", "d/b"].seconds == 31.0  # the mean over the repeats
    assert by_key["tables", "d"].seconds is None


def test_critical_path_and_report(tmp_path):
    jobs = jobcosts.parse_summary(_summary())
    _write_benchmarks(tmp_path, SECONDS)
    jobcosts.read_seconds(jobs, tmp_path)
    length, chain = jobcosts.critical_path(jobs)
    # data 3 + train d/b 31 + evaluate d/b 2 + table 4 = 40 beats the d/a branch (3 + 11 + 6 + 4 = 24)
    assert length == 40.0 and [(j.kind, j.name) for j in chain] == [("data", "d"), ("train", "d/b"),
                                                                    ("evaluate", "d/b"), ("tables", "d")]
    text = jobcosts.report(jobs, cores=2)
    total = sum(s + 1 for s in SECONDS.values())
    assert f"{total:.0f} job-seconds" in text and f"= {max(total / 2, 40):.0f} s" in text
    assert "| train | 2 | 42 |" in text  # kind, jobs, seconds
    assert "| d/b | 31.0 | 2.0 | 0.0 | 33.0 |" in text  # experiment: train, evaluate, sample, total
    assert "### Critical path: 40 s" in text
