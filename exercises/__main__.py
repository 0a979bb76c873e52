"""python -m exercises: the exercises and where each stands;
python -m exercises check NAME [--file PATH]: the verdict on one, as its exit status
(0 right, 1 wrong, 2 not done yet or a bad command line)."""
import argparse
import sys

from exercises import EXERCISES
from exercises.checks import NOT_DONE, RIGHT, run

STANDING = {RIGHT: "right", NOT_DONE: "not done yet"}


def main():
    parser = argparse.ArgumentParser(prog="python -m exercises", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command")
    check = commands.add_parser("check", help="check one exercise")
    check.add_argument("name", choices=EXERCISES)
    check.add_argument("--file", help="the file to check (default: exercises/NAME.py)")
    args = parser.parse_args()
    from toolkit import backends
    backends.check_settings(parser.prog)  # the checks import PyTensor: its settings first
    if args.command == "check":
        status, text = run(args.name, file=args.file)
        print(text)
        return status
    print(f"{'exercise':10}{'where it stands':17}{'file':24}slide")
    for name, (slide, _) in EXERCISES.items():
        status, _ = run(name)  # each check is a few seconds at most; a stub stops at once
        print(f"{name:10}{STANDING.get(status, 'wrong'):17}{'exercises/' + name + '.py':24}{slide}")
    print("\nCheck one: python -m exercises check NAME [--file PATH]"
          "\nStuck? The answers are in exercises/solutions/.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
