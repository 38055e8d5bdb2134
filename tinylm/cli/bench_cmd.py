"""`tinylm bench`: tinylm.bench from the command line (PyTorch side by side:
python benchmarks/bench_train.py in a checkout, with torch installed)."""
import argparse

from .. import bench


def add_parsers(sub):
    p = sub.add_parser("bench", help="time training steps and generation",
                       description=bench.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    bench.add_arguments(p)
    p.set_defaults(run=bench.run)
