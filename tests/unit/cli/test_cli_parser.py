"""The command line without arguments skips argparse (issue 10): it must mean what the
parser would make of it."""

from __future__ import annotations

from notifier.cli import NO_ARGUMENTS, build_parser, parse_arguments


def test_no_arguments_mean_what_the_parser_says() -> None:
    assert vars(build_parser().parse_args([])) == NO_ARGUMENTS
    assert vars(parse_arguments([])) == NO_ARGUMENTS


def test_any_argument_goes_through_the_parser() -> None:
    args = parse_arguments(["--profile", "/tmp/p", "-v"])
    assert (args.profile, args.verbose, args.command) == ("/tmp/p", True, None)
