"""One module per ``bridge-agent`` subcommand, each exposing ``main(args) -> int``."""
