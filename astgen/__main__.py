"""`python -m astgen` runs the command line."""

from astgen.cli import main

main()
