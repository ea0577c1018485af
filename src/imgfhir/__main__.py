"""`python -m imgfhir` runs the command line."""

from imgfhir.cli import main

main()
