"""The sampling loop of the Ray tutorial this project translates, timed on one core.

    python3 tutorial-loop.py SAMPLES   ->   "<inside count> <CPU seconds>"

The loop is the tutorial's sampling_task body (random.uniform, math.hypot, and the check for a
progress report every million samples), without Ray, so it measures the sampling itself.
"""
import math
import random
import sys
import time


def sampling_task(num_samples: int) -> int:
    num_inside = 0
    for i in range(num_samples):
        x, y = random.uniform(-1, 1), random.uniform(-1, 1)
        if math.hypot(x, y) <= 1:
            num_inside += 1
        if (i + 1) % 1_000_000 == 0:
            pass  # the tutorial reports progress to its actor here
    return num_inside


if __name__ == "__main__":
    samples = int(sys.argv[1])
    random.seed(1)
    start = time.process_time()  # CPU time: other load on the machine does not count
    inside = sampling_task(samples)
    print(inside, time.process_time() - start)
