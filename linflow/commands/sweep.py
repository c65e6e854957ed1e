"""``linflow sweep SPEC.toml --out STORE.zarr``: run a parameter sweep into a Zarr store."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys

from ._options import CLIError, check_output_directory, positive_int


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "sweep",
        help="run a parameter sweep (TOML spec) into a resumable Zarr store",
        description=(
            "Run every configuration of a sweep spec (schema: python -c 'import linflow.sweep; "
            "help(linflow.sweep)') and stream the labelled results into a Zarr store, task by "
            "task. Rerunning the same command resumes: finished tasks are kept. Locally by "
            "default (numba on all cores); --workers N starts a local Dask cluster of N worker "
            "processes, --scheduler uses an existing one. Reopen with xarray.open_zarr(STORE)."
        ),
    )
    p.add_argument("spec", metavar="SPEC.toml", help="sweep spec (TOML)")
    p.add_argument("--out", metavar="STORE.zarr", required=True, help="Zarr store to write (and resume)")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--scheduler", metavar="ADDRESS", help="address of a running Dask scheduler, e.g. tcp://HOST:8786")
    where.add_argument(
        "--workers", metavar="N", type=positive_int, help="start a local Dask cluster of N worker processes"
    )
    p.add_argument("--no-resume", action="store_true", help="overwrite STORE instead of resuming it")
    p.add_argument("--no-progress", action="store_true", help="never draw the progress bar")
    p.set_defaults(func=run)


def _client(args: argparse.Namespace):
    """A Dask client for --scheduler / --workers, else None (the sweep runs in this process)."""
    if args.scheduler is None and args.workers is None:
        return None
    from distributed import Client, LocalCluster

    if args.scheduler is not None:
        return Client(args.scheduler)
    # Each worker runs one task at a time; its numba engine gets its share of the cores.
    threads = max(1, (os.cpu_count() or 1) // args.workers)
    # The worker processes inherit an ignored SIGINT: Ctrl-C reaches the whole process group,
    # and only this process should react (cancel, keep the finished tasks, shut the cluster down).
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        cluster = LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True, dashboard_address=None,
                               silence_logs=logging.ERROR,
                               env={"NUMBA_NUM_THREADS": str(threads)})
    finally:
        signal.signal(signal.SIGINT, previous)
    return Client(cluster)


def run(args: argparse.Namespace) -> int:
    from ..sweep._execute import SweepReport

    report = SweepReport()
    try:
        return _run(args, report)
    except KeyboardInterrupt:
        # Also when Ctrl-C lands while the cluster starts or shuts down. Dask logs every
        # cancelled task and killed worker during that shutdown: noise here.
        logging.getLogger("distributed").setLevel(logging.CRITICAL)
        print(f"\ninterrupted: {report.n_skipped + report.n_computed} of {report.n_tasks} tasks are in "
              f"{args.out}; rerun the same command to resume", file=sys.stderr)
        return 130


def _run(args: argparse.Namespace, report) -> int:
    from ..sweep._execute import run_sweep
    from ..sweep._spec import load_spec

    # Every error is one line naming the argument (SPEC.toml, --scheduler or --out) and its value.
    try:
        spec = load_spec(args.spec)
    except OSError as exc:
        raise CLIError(f"SPEC.toml {args.spec!r} cannot be read: {exc.strerror or exc}") from None
    except (TypeError, ValueError) as exc:  # the message names the spec key and its value
        raise CLIError(f"SPEC.toml {args.spec!r}: {exc}") from None
    check_output_directory(args.out, "--out")
    client = None
    try:
        try:
            client = _client(args)
        except (OSError, ValueError, TypeError) as exc:
            raise CLIError(f"--scheduler {args.scheduler!r}: cannot connect: {exc}") from None
        ds, report = run_sweep(spec, store=args.out, client=client, resume=not args.no_resume,
                               progress=False if args.no_progress else None, report=report)
    except OSError as exc:
        raise CLIError(f"--out {args.out!r}: {exc.strerror or exc}") from None
    except (TypeError, ValueError) as exc:  # a store written by another spec, a task's refusal
        raise CLIError(f"SPEC.toml {args.spec!r} with --out {args.out!r}: {exc}") from None
    finally:
        if client is not None:
            cluster = getattr(client, "cluster", None)
            client.close()
            if cluster is not None and args.workers is not None:
                cluster.close()
    dims = ", ".join(f"{k}={v}" for k, v in ds.sizes.items())
    print(f"wrote {args.out} ({dims}): {report.n_computed} tasks computed, {report.n_skipped} already "
          f"there, {report.n_tasks} in all; engine {ds.attrs['engine']} ({report.seconds:.1f} s)")
    return 0
