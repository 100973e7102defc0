"""``ember train`` under mpirun: argv passes through to the command."""

import sys

from ember.cli import main

sys.exit(main(["train", *sys.argv[1:]]))
