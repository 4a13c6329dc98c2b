"""`python -m tethra.cli` runs the same command as the `tethra` script."""

from tethra.cli import main

main()
