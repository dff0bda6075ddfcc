#!/usr/bin/python3
"""Check the Go cascade evaluator against OpenCV's own detectMultiScale.

Runs the same cascade XML files with the same parameters (no equalisation, OpenCV's window steps)
on the same grayscale PNGs through OpenCV (Debian's python3-opencv, for /usr/bin/python3) and
through `go run ./tools/facecal raw`, then reports, per cascade, how many of OpenCV's boxes the Go
evaluator reproduces (IoU >= 0.8, matched one to one), how many are identical, and the time each
takes per image on one core. Exits 1 if fewer than 95% of the boxes match.

Run from the repository root; README.md in this directory shows the whole procedure:

    /usr/bin/python3 tools/facecal/oracle.py --gray /tmp/facecal-gray/*.png
"""
import argparse
import json
import os
import subprocess
import sys
import time

import cv2

MODELS = [
    "haarcascades/haarcascade_frontalface_alt2.xml",
    "lbpcascades/lbpcascade_frontalface_improved.xml",
    "haarcascades/haarcascade_eye.xml",
    "lbpcascades/lbpcascade_profileface.xml",
]


def iou(a, b):
    x0, y0 = max(a[0], b[0]), max(a[1], b[1])
    x1, y1 = min(a[0] + a[2], b[0] + b[2]), min(a[1] + a[3], b[1] + b[3])
    if x1 <= x0 or y1 <= y0:
        return 0.0
    inter = (x1 - x0) * (y1 - y0)
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


def matched(want, got, threshold):
    """Greedy one-to-one matching, best overlaps first."""
    pairs = sorted(((iou(w, g), i, j) for i, w in enumerate(want) for j, g in enumerate(got)), reverse=True)
    used_w, used_g, n = set(), set(), 0
    for v, i, j in pairs:
        if v < threshold:
            break
        if i not in used_w and j not in used_g:
            used_w.add(i)
            used_g.add(j)
            n += 1
    return n


def go_results(args):
    env = dict(os.environ, GOMAXPROCS="1")
    cmd = ["go", "run", "./tools/facecal", "raw", "-opencv", args.opencv, "-models", ",".join(args.models),
           "-scale", str(args.scale), "-neighbors", str(args.neighbors), "-min", str(args.min)] + args.gray
    out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout
    res = {}
    for line in out.splitlines():
        r = json.loads(line)
        res[(r["model"], r["file"])] = r
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--opencv", default="/usr/share/opencv4", help="OpenCV's data directory")
    ap.add_argument("--models", nargs="+", default=MODELS)
    ap.add_argument("--scale", type=float, default=1.1)
    ap.add_argument("--neighbors", type=int, default=3)
    ap.add_argument("--min", type=int, default=0)
    ap.add_argument("--gray", nargs="+", required=True, help="grayscale PNGs (facecal gray)")
    args = ap.parse_args()

    cv2.setNumThreads(1)
    go = go_results(args)
    print("| cascade | images | OpenCV boxes | matched (IoU ≥ 0.8) | identical | Go boxes | OpenCV ms/image | Go ms/image | Go/OpenCV |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    total = total_matched = 0
    for model in args.models:
        c = cv2.CascadeClassifier(os.path.join(args.opencv, model))
        if c.empty():
            sys.exit("cannot load " + model)
        n_cv = n_go = n_match = n_same = 0
        t_cv = t_go = 0.0
        for name in args.gray:
            g = cv2.imread(name, cv2.IMREAD_GRAYSCALE)
            start = time.process_time()
            boxes = c.detectMultiScale(g, scaleFactor=args.scale, minNeighbors=args.neighbors,
                                       minSize=(args.min, args.min))
            t_cv += (time.process_time() - start) * 1000
            want = [list(map(int, b)) for b in boxes]
            r = go[(model, name)]
            got = r["boxes"]
            t_go += r["ms"]
            n_cv, n_go = n_cv + len(want), n_go + len(got)
            n_match += matched(want, got, 0.8)
            n_same += matched(want, got, 1.0)
        images = len(args.gray)
        print("| %s | %d | %d | %d (%.1f%%) | %d | %d | %.1f | %.1f | %.2f |" % (
            os.path.basename(model), images, n_cv, n_match, 100 * n_match / max(1, n_cv), n_same, n_go,
            t_cv / images, t_go / images, t_go / max(t_cv, 1e-9)))
        total, total_matched = total + n_cv, total_matched + n_match
    share = total_matched / max(1, total)
    print("\nAll cascades: %d of %d OpenCV boxes matched (%.1f%%)." % (total_matched, total, 100 * share))
    sys.exit(0 if share >= 0.95 else 1)


if __name__ == "__main__":
    main()
