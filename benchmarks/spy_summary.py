"""Summarise a ``py-spy record --threads --idle --format raw`` file: samples per thread
group and the hottest leaf frames (where each thread's time actually goes).

    python3 benchmarks/spy_summary.py profile.txt [--top 15]
"""

import argparse
import collections
import re


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("raw")
    p.add_argument("--top", type=int, default=15)
    args = p.parse_args(argv)
    by_thread = collections.Counter()
    leaves = collections.Counter()
    total = 0
    with open(args.raw) as f:
        for line in f:
            stack, _, count = line.rstrip("\n").rpartition(" ")
            n = int(count)
            frames = stack.split(";")
            thread = re.sub(r"[-_]\d+|\s*\(.*\)|0x[0-9a-f]+", "", frames[0]).strip()
            leaf = re.sub(r"\s*\(/[^)]*/", " (", frames[-1])
            by_thread[thread] += n
            leaves[(thread, leaf)] += n
            total += n
    print("samples %d" % total)
    for thread, n in by_thread.most_common():
        print("  %5.1f%%  %s" % (100 * n / total, thread))
    print("hottest leaves:")
    for (thread, leaf), n in leaves.most_common(args.top):
        print("  %5.1f%%  %-28s %s" % (100 * n / total, thread[:28], leaf))


if __name__ == "__main__":
    main()
