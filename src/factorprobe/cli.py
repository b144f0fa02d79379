"""The ``factorprobe`` command line: argument parsing only, one subcommand per user task.

Each subcommand maps its flags onto one public function and holds no logic of its own. Bad
input is reported as one line on standard error, without a traceback, with exit status 2
(set ``FACTORPROBE_DEBUG=1`` to see the traceback instead).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn

_USER_ERRORS = (ValueError, TypeError, KeyError, OSError)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with ``argv`` (default: ``sys.argv[1:]``); return the exit status."""
    parser = build_parser()
    # usage errors exit (SystemExit 2) with one line naming the subcommand, like argparse's own
    args, extra = parser.parse_known_args(argv)
    if extra:
        command = parser.commands.get(getattr(args, "command", None) or "", parser)
        command.error(f"unrecognized arguments: {' '.join(extra)}")
    if not hasattr(args, "handler"):
        parser.print_help(sys.stderr)
        return 2
    try:
        args.handler(args)
    except KeyboardInterrupt:
        print(f"factorprobe {args.command}: interrupted", file=sys.stderr)
        return 130
    except _USER_ERRORS as err:
        if os.environ.get("FACTORPROBE_DEBUG"):
            raise
        print(f"factorprobe {args.command}: error: {_one_line(err)}", file=sys.stderr)
        return 2
    return 0


def build_parser() -> _Parser:
    """Return the argument parser with every subcommand registered."""
    from factorprobe._version import __version__

    parser = _Parser(
        prog="factorprobe",
        description="Which units of a network code which stimulus factor, and how exclusively.",
    )
    parser.add_argument("--version", action="version", version=f"factorprobe {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for register in _COMMANDS:
        register(sub)
    parser.commands = dict(sub.choices)
    return parser


class _Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line, like the other errors."""

    commands: dict[str, argparse.ArgumentParser]  # the subcommands, set by build_parser

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}; see '{self.prog} --help'.\n")


def _one_line(err: BaseException) -> str:
    # KeyError's str() is the repr of its argument; show the message itself.
    text = err.args[0] if isinstance(err, KeyError) and err.args else str(err)
    return " ".join(str(text).split()) or type(err).__name__


_MAX_LEVELS = 10_000  # levels one 'start:stop:step' range may give


def _float_list(text: str) -> list[float]:
    """Parse '16,32,48' or a range 'start:stop:step' (stop included when on the step)."""
    text = text.strip()
    try:
        if ":" in text:
            start, stop, step = (float(v) for v in text.split(":"))
            if step <= 0:
                raise ValueError
            count = (stop - start) / step + 1
            if not count <= _MAX_LEVELS:  # NaN and inf too
                raise argparse.ArgumentTypeError(
                    f"a range may give at most {_MAX_LEVELS} levels (each level is rendered "
                    f"with every level of the other factors); {text!r} gives {count:.3g}"
                )
            n = int((stop - start) / step + 1e-9) + 1
            return [start + i * step for i in range(n)]
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated numbers like '16,32,48' or a range 'start:stop:step' "
            f"with step > 0; got {text!r}"
        ) from None


def _text_list(text: str) -> list[str]:
    """Parse 'disc,square' into names."""
    return [v.strip() for v in text.split(",") if v.strip()]


def _add_stimuli(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "stimuli",
        help="render a factor grid; write its dataset (NetCDF) and contact sheet (PNG)",
        description="Render a full factorial grid and write OUT/stimuli.nc and "
        "OUT/contact_sheet.png. Sizes and positions in pixels, rotation in degrees.",
    )
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--size", type=_float_list, default="16,32,48,64", help="sizes (px)")
    p.add_argument("--x", type=_float_list, default="48:176:32", help="centres x (px)")
    p.add_argument("--y", type=_float_list, default="48:176:32", help="centres y (px)")
    p.add_argument("--shape", type=_text_list, default="disc", help="e.g. disc,square,triangle")
    p.add_argument("--rotation", type=_float_list, default="0", help="degrees, counterclockwise")
    p.add_argument("--contrast", type=_float_list, default="1", help="in [0, 1]")
    p.add_argument("--canvas", type=int, default=224, help="canvas side (px)")
    p.add_argument("--background", type=float, default=0.0, help="intensity in [0, 1]")
    p.add_argument("--foreground", type=float, default=1.0, help="intensity in [0, 1]")
    p.add_argument("--on-misfit", choices=["raise", "drop"], default="raise")
    p.add_argument("--columns", default="size", help="contact sheet: factor across columns")
    p.add_argument("--rows", default="x", help="contact sheet: factor down the rows")
    p.set_defaults(handler=_run_stimuli)


def _run_stimuli(args: argparse.Namespace) -> None:
    from factorprobe import stimuli

    space = stimuli.grid(
        size=args.size, x=args.x, y=args.y, shape=args.shape, rotation=args.rotation,
        contrast=args.contrast, canvas=args.canvas, on_misfit=args.on_misfit,
    )  # fmt: skip
    paths = stimuli.write_stimuli(
        space, args.out, canvas=args.canvas, background=args.background,
        foreground=args.foreground, columns=args.columns, rows=args.rows,
    )  # fmt: skip
    print(f"{len(space)} stimuli: {paths['dataset']}, {paths['contact_sheet']}")


def _add_models(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "models",
        help="list the models factorprobe can probe and how to name them",
        description="List the embedded model (with its held-out accuracy) and explain how to "
        "name timm models.",
    )
    p.set_defaults(handler=_run_models)


def _run_models(args: argparse.Namespace) -> None:
    from factorprobe import probing

    print(probing.describe_models())


def _add_train(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="train the embedded Swish CNN from a seed (CPU, minutes)",
        description="Train the embedded Swish CNN and write OUT/weights.safetensors and "
        "OUT/card.json; the defaults reproduce the shipped model. Load the result with "
        "load_model('embedded', weights='OUT/weights.safetensors').",
    )
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--steps", type=int, default=1100, help="optimiser steps")
    p.add_argument("--seed", type=int, default=0, help="seed of weights, designs and noise")
    p.add_argument("--batch-size", type=int, default=64, help="stimuli per step")
    p.add_argument("--learning-rate", type=float, default=0.004, help="peak AdamW rate")
    p.add_argument("--n-fc", type=int, default=3, help="fully connected hidden layers")
    p.add_argument("--fc-width", type=int, default=128, help="units per FC layer")
    p.add_argument("--input-size", type=int, default=224, help="input side (px)")
    p.add_argument(
        "--activation", default="silu", help="nonlinearity: silu (the shipped model) or relu"
    )
    p.add_argument(
        "--head", default="pool", help="how the last map reaches fc1: pool (shipped) or flat"
    )
    p.add_argument("--n-eval", type=int, default=2000, help="held-out stimuli")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(handler=_run_train)


def _run_train(args: argparse.Namespace) -> None:
    from factorprobe import probing

    network = probing.NetworkConfig(
        input_size=args.input_size, n_fc=args.n_fc, fc_width=args.fc_width,
        activation=args.activation, head=args.head,
    )  # fmt: skip
    config = probing.TrainConfig(
        steps=args.steps, batch_size=args.batch_size, learning_rate=args.learning_rate,
        seed=args.seed, n_eval=args.n_eval, network=network,
    )  # fmt: skip
    card = probing.train_embedded(args.out, config, progress=False if args.quiet else None)
    accuracy = ", ".join(f"{k} {v:.3f}" for k, v in card["heldout_accuracy"].items())
    print(f"held-out accuracy: {accuracy}; written to {args.out}")


def _add_run(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "run",
        help="render, capture, analyse and plot: from a factor grid to a results folder",
        description="Run every stage of a TOML configuration (default: the embedded model on "
        "a size x X x Y disc grid) and write its results folder: activations, units.csv/.parquet "
        "with data_dictionary.csv, layers.csv, plots/ and manifest.json (docs/run.md).",
    )
    p.add_argument("config", nargs="?", default=None, help="TOML configuration (examples/)")
    p.add_argument("--out", default=None, help="results folder (default: [output] folder)")
    p.add_argument("--overwrite", action="store_true", default=None,
                   help="replace a results folder that factorprobe made with another "
                   "configuration (never a folder it did not make)")  # fmt: skip
    p.add_argument("--quiet", action="store_true", help="no progress, notes or summary line")
    p.add_argument("--progress", choices=["auto", "bars", "lines", "none"], default="auto",
                   help="progress bars, plain log lines (one per finished stage), or none; "
                   "auto: bars on a terminal, else lines")  # fmt: skip
    p.add_argument("--scheduler", default=None, metavar="ADDRESS|threads|synchronous",
                   help="where dask work runs: 'threads', 'synchronous' or a dask.distributed "
                   "address such as tcp://host:8786 (default: [dask] scheduler)")  # fmt: skip
    p.set_defaults(handler=_run_run)


def _run_run(args: argparse.Namespace) -> None:
    from factorprobe.pipeline.runner import run

    folder = run(
        args.config,
        out=args.out,
        overwrite=args.overwrite,
        scheduler=args.scheduler,
        progress="none" if args.quiet else args.progress,
    )
    if not args.quiet:
        single = folder / "report.html"
        for report in [single] if single.is_file() else sorted(folder.glob("*/report.html")):
            print(f"report: {report} (open it in a web browser)", file=sys.stderr)
        print(f"results: {folder}")


def _add_analyze(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "analyze",
        help="rerun the analysis on saved activations (a store or a results folder)",
        description="Compute the unit table, tuning curves and layer-level results from saved "
        "activations (activations.zarr, activations.nc, or a results folder holding one).",
    )
    p.add_argument("store", help="activations store, NetCDF file or results folder")
    p.add_argument("--config", default=None, help="TOML whose [analysis] to use "
                   "(default: the config.toml beside the store)")  # fmt: skip
    p.add_argument("--out", default=None, help="folder to write (default: the store's folder)")
    p.add_argument("--quiet", action="store_true", help="no progress bar or summary line")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS|threads|synchronous",
                   help="where dask work runs: 'threads', 'synchronous' or a dask.distributed "
                   "address such as tcp://host:8786 (default: --config's [dask] scheduler, "
                   "else threads)")  # fmt: skip
    p.add_argument("--no-report", action="store_true",
                   help="write the tables only, not plots/ and report.html")  # fmt: skip
    p.set_defaults(handler=_run_analyze)


def _run_analyze(args: argparse.Namespace) -> None:
    from factorprobe.pipeline.runner import analyze
    from factorprobe.report.build import make_report

    folder = analyze(
        args.store, config=args.config, out=args.out, quiet=args.quiet, scheduler=args.scheduler
    )
    report = None if args.no_report else make_report(folder, quiet=args.quiet)
    if not args.quiet:
        if report is not None:  # as 'run' does: the report on stderr, the folder on stdout
            print(f"report: {report} (open it in a web browser)", file=sys.stderr)
        print(f"analysis: {folder}")


def _add_report(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "report",
        help="(re)make the plots and report of a results folder",
        description="Draw the figures (plots/*.png) and the report of a results folder from "
        "its saved tables.",
    )
    p.add_argument("results", help="results folder written by 'factorprobe run' or 'analyze'")
    p.add_argument("--quiet", action="store_true", help="no summary line")
    p.set_defaults(handler=_run_report)


def _run_report(args: argparse.Namespace) -> None:
    from factorprobe.report.build import make_report

    path = make_report(args.results, quiet=args.quiet)
    if not args.quiet:
        print(f"report: {path}")


def _add_unit(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "unit",
        help="a unit's card: tuning, response maps, its strongest and weakest stimuli, saliency",
        description="Save what a unit's card needs beyond the tables (RESULTS/cards/"
        "<layer>_<index>.nc: the stimuli that drive it most and least, the saliency on its top "
        "stimulus, which loads the model) and draw the card to RESULTS/cards/<layer>_<index>.png "
        "with its row of the unit table (.csv); 'factorprobe report RESULTS' then adds it to "
        "report.html.",
    )
    p.add_argument("results", help="results folder written by 'factorprobe run' or 'analyze'")
    p.add_argument("units", nargs="+", metavar="LAYER:INDEX", help="e.g. fc1:17")
    p.add_argument("--no-saliency", action="store_true", help="do not load the model")
    p.add_argument("--config", default=None,
                   help="the run's configuration (default: RESULTS/config.toml; give the "
                   "original file for a python: model)")  # fmt: skip
    p.set_defaults(handler=_run_unit)


def _run_unit(args: argparse.Namespace) -> None:
    from factorprobe.pipeline.cards import parse_unit, write_card, write_card_inputs

    units = [parse_unit(u) for u in args.units]
    write_card_inputs(args.results, units, saliency=not args.no_saliency, config=args.config)
    for layer, index in units:
        print(f"card: {write_card(args.results, layer, index)}")


def _add_ablate(sub: argparse._SubParsersAction) -> None:
    from factorprobe import _options as o  # cumulative_ablation's choices and defaults, no torch

    p = sub.add_parser(
        "ablate",
        help="cumulative ablation of a layer's units ranked by MI (or another column) vs random",
        description="Ablate the units of one layer cumulatively, ranked by a unit-table column "
        "(for each --factor) and in random orders, and write OUT/ablation.nc, OUT/ablation.png "
        "and, with two or more factors, OUT/dissociation.csv (docs/ablation.md).",
    )
    p.add_argument("--stimuli", required=True, help="stimuli.nc from 'factorprobe stimuli'")
    p.add_argument("--layer", required=True, help="layer to ablate, e.g. fc2")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument(
        "--model",
        default="embedded",
        help="'embedded' (or a twin: 'embedded:relu', 'embedded:flat') or 'timm:NAME'",
    )
    p.add_argument("--rank-by", default="mi", help="unit-table column, e.g. mi, kl_selectivity")
    p.add_argument("--factor", action="append", default=None,
                   help="factor of the column; repeat: one ranking each")  # fmt: skip
    p.add_argument("--decode", type=_text_list, default=None,
                   help="decoded factors (default: the --factor ones, else "
                   f"{','.join(o.DEFAULT_FACTORS)})")  # fmt: skip
    p.add_argument("--method", choices=o.ABLATION_METHODS, default=o.DEFAULT_METHOD,
                   help="ablated value")  # fmt: skip
    p.add_argument("--steps", type=int, default=o.DEFAULT_GRID,
                   help="grid points from 0 to the layer width")  # fmt: skip
    p.add_argument("--n-random", type=int, default=o.DEFAULT_N_RANDOM,
                   help=f"random orders (>= {o.MIN_RANDOM})")  # fmt: skip
    p.add_argument("--decoder", choices=o.ABLATION_DECODERS, default=o.DEFAULT_DECODER)
    p.add_argument("--n-splits", type=int, default=o.DEFAULT_N_SPLITS,
                   help="cross-validation folds")  # fmt: skip
    p.add_argument("--readout", default=None, help="layer decoded (default: the next FC layer)")
    p.add_argument("--seed", type=int, default=o.DEFAULT_SEED)
    p.add_argument("--device", default=None, help="cpu, cuda or mps (default: best available)")
    p.set_defaults(handler=_run_ablate)


def _run_ablate(args: argparse.Namespace) -> None:
    from factorprobe import _options as o
    from factorprobe.pipeline.ablate import write_ablation

    rankings = [f"{args.rank_by}:{f}" for f in args.factor] if args.factor else [args.rank_by]
    # decode what the rankings are about: a factor not asked for may have too few stimuli per
    # level for the folds (position on the default 'factorprobe stimuli' grid)
    decode = args.decode or list(dict.fromkeys(args.factor or o.DEFAULT_FACTORS))
    paths = write_ablation(
        args.model, args.stimuli, args.layer, rankings, args.out, factors=decode,
        method=args.method, grid=args.steps, n_random=args.n_random, decoder=args.decoder,
        n_splits=args.n_splits, readout=args.readout, seed=args.seed, device=args.device,
    )  # fmt: skip
    print(", ".join(str(path) for path in paths.values()))


_COMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [
    _add_stimuli,
    _add_models,
    _add_train,
    _add_run,
    _add_analyze,
    _add_report,
    _add_unit,
    _add_ablate,
]


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
