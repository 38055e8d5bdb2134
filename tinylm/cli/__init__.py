"""The `tinylm` command (installed as a console script):

    tinylm train     train a language model (GPT, LSTM or GRU) on a corpus
    tinylm generate  sample text from a checkpoint
    tinylm eval      validation loss and perplexity of a checkpoint
    tinylm bench     time training steps and generation
    tinylm wordvec   train and query word vectors (word2vec, glove, fasttext)

`tinylm <command> --help` explains every option. Mistakes in the input (a
missing or empty corpus, a prompt the tokenizer cannot encode, a checkpoint
of another kind) print one line starting with "tinylm: error:" and exit with
status 2, without a traceback; TINYLM_DEBUG=1 shows the traceback.
"""
import argparse
import os
import sys

from ..serialization import CheckpointError
from . import bench_cmd, lm_train, lm_use, wordvec_cmd


class UserError(Exception):
    """A problem with what the user asked for, reported without a traceback."""


# errors that come from the user's input (files, arguments), as opposed to bugs
USER_ERRORS = (UserError, ValueError, TypeError, FileNotFoundError, IsADirectoryError, PermissionError,
               CheckpointError, UnicodeError)


def build_parser():
    parser = argparse.ArgumentParser(prog="tinylm", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", metavar="command", required=True)
    for module in (lm_train, lm_use, bench_cmd, wordvec_cmd):
        module.add_parsers(sub)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args) or 0
    except USER_ERRORS as e:
        if os.environ.get("TINYLM_DEBUG"):
            raise
        print(f"tinylm: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("tinylm: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
