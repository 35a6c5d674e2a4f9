"""Live pipeline benchmark: the issues' targets for source -> capture -> inference process -> display, and the window.

    .venv/bin/python benchmarks/live_pipeline.py                  # 5-minute real-time run (RSS target)
    .venv/bin/python benchmarks/live_pipeline.py --duration 60    # a quicker run
    .venv/bin/python benchmarks/live_pipeline.py --no-big-model   # skip building the 300 MB model

On 1280x720 30 fps footage at real-time pace, with the starter classifier and a detector from ../shared
(YOLOX-nano, the starter; or NanoDet-Plus) in the inference process:
 1. real time (benchmarks/scene_quality.py's footage: 2-s shots of 1-3 small birds cut along their outline
    on real photos, a fifth bird-free, written as MJPG and looped): every frame shown, scene pass >= 15
    frames/s, result latency p95 <= 100 ms; RSS growth after warm-up of the app process and of the
    inference process (< 20 MB over 5 minutes); the quality of what is shown (scene_quality's figures:
    birds named, frames named, wrong names, bird-free frames clean, label changes) against the baseline
    of the same video's frames through the scene pass every frame in order (target: within 0.05);
 2. slow model (the scene pass plus a 200 ms sleep, in the inference process): every frame still shown,
    classified rate >= 0.9x the slow model's own rate measured here (the baseline);
 3. the window (off-screen): event-loop stall p99 while playing, and while a ~300 MB model loads in a
    new inference process (target <= 50 ms; the baseline is the same timer in an idle event loop);
    closing the window: every thread and process ended (target < 1 s).
`--set FIELD=VALUE` changes the scene pass's options; `--versus FIELD=VALUE` measures a second scene pass beside it
in real time, the two taking turns a loop of the video each (a machine whose speed drifts slows both alike).
The process boundary's own cost per frame is measured by benchmarks/process_boundary.py.
Figures go to stdout and, with --json, to a file.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("BIRDCAM_SHARED") or REPO.parent / "shared")
STARTER = SHARED / "models" / "aiy_birds_v1" / "lite-model_aiy_vision_classifier_birds_V1_3.tflite"
DETECTORS = {
    "yolox": SHARED / "models" / "yolox_nano" / "yolox_nano_float16_quantize.tflite",
    "nanodet": SHARED / "models" / "nanodet_plus_m_416" / "nanodetplus_m_416_float16.tflite",
}
SIZE = (1280, 720)
FPS = 30
SLOW_S = 0.2
TICK_MS = 10
BIG_MODEL_SCRIPT = """
import sys
import numpy as np
import tensorflow as tf
weights = tf.constant(np.random.default_rng(0).normal(0, 0.01, (56 * 56 * 3, 8000)).astype(np.float32))
@tf.function(input_signature=[tf.TensorSpec([1, 224, 224, 3], tf.float32)])
def classify(image):
    pooled = tf.nn.avg_pool2d(image, 4, 4, "VALID")
    return tf.nn.softmax(tf.matmul(tf.reshape(pooled, [1, -1]), weights))
converter = tf.lite.TFLiteConverter.from_concrete_functions([classify.get_concrete_function()], classify)
open(sys.argv[1], "wb").write(converter.convert())
"""


def write_scene_video(path: Path, shots: int, seed: int = 0, cut: str = "outline") -> list[tuple[int, tuple]]:
    """2-s shots of 1-3 drifting small birds on real bird-free photos (the scene-quality footage); returns each
    frame's (shot number, truth)."""
    from bird_scenes import random_shots

    from birdcam.models.labels import read_labels

    names = {label.scientific_name.lower() for label in read_labels(STARTER.parent / "labels.txt")}
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), FPS, SIZE)
    truths = []
    for number, shot in enumerate(random_shots(SHARED, names, shots, seed=seed, cut=cut)):
        for _n, frame, truth in shot.play():
            writer.write(frame)
            truths.append((number, truth))
    writer.release()
    return truths


def every_frame_quality(video: Path, truths: list[tuple[int, tuple]], detector: Path, threads: int, factory) -> dict:
    """The baseline: the video's own frames through the scene pass one after another (scene_quality's way)."""
    from scene_quality import BirdcamPass, Tally

    from birdcam.live.inference import InferenceOptions

    scene, _ = factory(
        InferenceOptions(model=str(STARTER), detector=str(detector), num_threads=threads), lambda text: None
    )
    way, tally = BirdcamPass(scene), Tally()
    capture = cv2.VideoCapture(str(video))
    for n, (shot, truth) in enumerate(truths):
        ok, frame = capture.read()
        if not ok:
            break
        start = time.perf_counter()
        shown = way.process(frame, n / FPS)
        tally.add(shot, truth, shown, (time.perf_counter() - start) * 1e3)
    capture.release()
    scene.close()
    return quality_figures(tally)


def live_quality(logs: list[Path], truths: list[tuple[int, tuple]]) -> dict:
    """The quality of what `live --headless` showed in one or more runs: each logged frame's birds against that
    frame's truth (the video loops: frame numbers keep counting; each run's loops are shots of their own)."""
    from scene_quality import Tally

    tally = Tally()
    loops_before = 0
    for log in logs:
        loops_before = _tally_log(tally, log, truths, loops_before)
    return quality_figures(tally)


def _tally_log(tally, log: Path, truths: list[tuple[int, tuple]], loops_before: int) -> int:
    """Adds one run's logged frames to the tally, its loops counted after `loops_before`; returns the loops counted
    by the end of this run."""
    from scene_quality import Shown

    loops = loops_before
    with log.open(encoding="utf-8") as lines:
        for line in lines:
            record = json.loads(line)
            if record.get("summary"):
                continue
            loop, n = divmod(record["frame"], len(truths))
            loop += loops_before
            loops = max(loops, loop + 1)
            shot, truth = truths[n]
            shown = [
                Shown(
                    tuple(bird["box"]),
                    bird["scientific_name"].lower() if bird["scientific_name"] else None,
                    bird["whole_frame"],
                )
                for bird in record["birds"]
            ]
            tally.add(loop * len(truths) + shot, truth, shown, 0.0)
    return loops


def quality_figures(tally) -> dict:
    figures = tally.figures()
    keys = ("named", "frames_named", "wrong_per_frame", "clean", "changes", "first_name_s")
    return {key: round(figures[key], 3) for key in keys} | {"ms_mean": round(figures["ms_mean"], 1)}


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def slow_scene(options, progress):
    """The default scene pass with a 200 ms sleep per frame (imported by name in the inference process)."""
    from birdcam.live.inference import build_scene_pass

    scene, info = build_scene_pass(options, progress)
    process = scene.process

    def slowly(frame, t):
        time.sleep(SLOW_S)
        return process(frame, t)

    scene.process = slowly
    return scene, info


def scene_with(assignments: tuple[str, ...], options, progress):
    """The default scene pass with these SceneOptions fields changed, e.g. ("detector_every=1",) (scene_quality's
    --set; the factory is imported by name in the inference process)."""
    from scene_quality import with_option

    from birdcam.live.inference import build_scene_pass

    scene, info = build_scene_pass(options, progress)
    scene_options = scene.options
    for assignment in assignments:
        scene_options = with_option(scene_options, assignment)
    scene.set_options(scene_options)
    return scene, info


def own_rate(scene, frames: list[np.ndarray], seconds: float) -> float:
    """Baseline: frames per second of the scene pass alone, in a plain loop on these frames."""
    start, count = time.perf_counter(), 0
    while time.perf_counter() - start < seconds:
        scene.process(frames[count % len(frames)], count / FPS)
        count += 1
    return count / (time.perf_counter() - start)


def run_headless(
    video: Path, seconds: float, work: Path, *, detector: Path, threads: int, factory=None, sample_rss: bool
) -> tuple[dict, list]:
    from birdcam.live.headless import HeadlessOptions
    from birdcam.live.headless import run_headless as run
    from birdcam.live.inference import InferenceOptions, build_scene_pass, child_pids

    samples: list[tuple[float, float, float]] = []
    done = threading.Event()

    def sample() -> None:
        start = time.monotonic()
        while not done.wait(1.0):
            children = child_pids()
            samples.append((time.monotonic() - start, rss_mb(os.getpid()), rss_mb(children[0]) if children else 0.0))

    sampler = threading.Thread(target=sample, daemon=True)
    if sample_rss:
        sampler.start()
    try:
        summary = run(
            HeadlessOptions(
                source=str(video),
                log_path=work / "live.jsonl",
                model=str(STARTER),
                max_frames=int(seconds * FPS),
                loop=True,
                record=False,
            ),
            factory=factory or build_scene_pass,
            inference=InferenceOptions(detector=str(detector), num_threads=threads),
        )
    finally:
        done.set()
    return summary, samples


def stall_percentiles(app, seconds: float, until=None) -> dict:
    """Lateness of a 10 ms timer on the GUI thread (ms): how long the event loop was kept from it."""
    from PySide6.QtCore import QTimer

    late: list[float] = []
    last = [time.perf_counter()]

    def tick():
        now = time.perf_counter()
        late.append(max(0.0, (now - last[0]) * 1e3 - TICK_MS))
        last[0] = now

    timer = QTimer()
    timer.setTimerType(timer.timerType().PreciseTimer)
    timer.timeout.connect(tick)
    timer.start(TICK_MS)
    end = time.monotonic() + seconds
    while time.monotonic() < end and not (until is not None and until()):
        app.processEvents()
        time.sleep(0.001)
    timer.stop()
    values = np.array(late or [0.0])
    return {
        "ticks": len(late),
        "p50_ms": round(float(np.percentile(values, 50)), 1),
        "p99_ms": round(float(np.percentile(values, 99)), 1),
        "max_ms": round(float(values.max()), 1),
    }


def window_stalls(app, video: Path, seconds: float, big_model: Path | None, work: Path, detector: Path) -> dict:
    from PySide6.QtCore import QSettings

    from birdcam.gui.window import MainWindow
    from birdcam.live.inference import child_pids

    figures = {"idle_event_loop": stall_percentiles(app, min(seconds, 5.0))}
    window = MainWindow(
        QSettings(str(work / "bench.ini"), QSettings.Format.IniFormat),
        source=str(video),
        model=str(STARTER),
        detector=str(detector),
    )
    window.resize(1280, 800)
    window.show()
    stall_percentiles(app, 3.0, until=lambda: window.pipeline.results > 10)  # warm-up: model load, first frames
    figures["window_playing"] = stall_percentiles(app, seconds)
    figures["window_frames_shown"] = window.pipeline.frames_shown
    if big_model is not None:
        start = time.monotonic()
        window.open_model(str(big_model))
        figures["window_while_300mb_model_loads"] = stall_percentiles(
            app, 180.0, until=lambda: window.pipeline.model_path == big_model
        )
        figures["big_model_load_s"] = round(time.monotonic() - start, 2)
        figures["big_model_mb"] = round(big_model.stat().st_size / 2**20)
        figures["big_model_loaded"] = window.pipeline.model_path == big_model
    start = time.monotonic()
    window.close()
    figures["close_s"] = round(time.monotonic() - start, 3)
    figures["processes_left_after_close"] = len(child_pids())
    figures["threads_left_after_close"] = [t.name for t in threading.enumerate() if t is not threading.main_thread()]
    return figures


def build_big_model(path: Path) -> Path:
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        print(f"building a ~300 MB model with TensorFlow into {path} ...", flush=True)
        subprocess.run(
            [sys.executable, "-c", BIG_MODEL_SCRIPT, str(path)],
            check=True,
            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
        )
    return path


def real_time_figures(summary: dict) -> dict:
    """What a `live --headless` run's summary says of real time."""
    return {
        "seconds": summary["duration_s"],
        "frames_captured": summary["frames_captured"],
        "shown_fraction": summary["shown_fraction"],
        "classified_fps": summary["classified_fps"],
        "classified_fraction": summary["classified_fraction"],
        "staleness_frames_p95": summary["staleness_frames"]["p95"],
        "staleness_ms_p95": summary["staleness_ms"]["p95"],
        "result_latency_ms_p50": summary["result_latency_ms"]["p50"],
        "result_latency_ms_p95": summary["result_latency_ms"]["p95"],
    }


def versus(
    args, video: Path, truths: list, detector: Path, work: Path, one: list[str], other: list[str]
) -> dict[str, dict]:
    """Two scene passes (SceneOptions changes `one` and `other`) in real time, taking turns a loop of the video
    each, args.rounds times: a machine whose speed drifts slows both alike. Each one's every-frame quality, real-time
    figures averaged over its turns (the rates and latencies) and real-time quality over all its turns."""
    ways = {" ".join(one) or "default": tuple(one), " ".join(other): tuple(other)}
    logs: dict[str, list[Path]] = {name: [] for name in ways}
    turns: dict[str, list[dict]] = {name: [] for name in ways}
    for round_number in range(args.rounds):
        for way_number, (name, assignments) in enumerate(ways.items()):
            turn = work / f"turn-{round_number}-{way_number}"
            turn.mkdir()
            factory = functools.partial(scene_with, assignments)
            seconds = len(truths) / FPS
            summary, _ = run_headless(
                video, seconds, turn, detector=detector, threads=args.threads, factory=factory, sample_rss=False
            )
            turns[name].append(real_time_figures(summary))
            logs[name].append(turn / "live.jsonl")
            print(json.dumps({name: turns[name][-1]}), flush=True)
    figures = {}
    for name, assignments in ways.items():
        factory = functools.partial(scene_with, assignments)
        figures[name] = {
            "every_frame_quality": every_frame_quality(video, truths, detector, args.threads, factory),
            "real_time_turns": turns[name],
            "real_time_mean": {
                key: round(float(np.mean([turn[key] for turn in turns[name]])), 2)
                for key in ("classified_fps", "result_latency_ms_p50", "result_latency_ms_p95", "staleness_ms_p95")
            },
            "real_time_quality": live_quality(logs[name], truths),
        }
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=300.0, help="seconds of the real-time run (default 300)")
    parser.add_argument("--slow-duration", type=float, default=30.0, help="seconds of the slow-model run")
    parser.add_argument("--stall-duration", type=float, default=10.0, help="seconds of the window stall measurement")
    parser.add_argument("--no-big-model", action="store_true", help="skip the 300 MB model load")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--shots", type=int, default=40, help="2-s shots of the looped video (40: scene_quality's)")
    parser.add_argument("--seed", type=int, default=0, help="draws other footage")
    parser.add_argument("--cut", choices=("outline", "ellipse"), default="outline", help="how birds are cut out")
    parser.add_argument("--detector", choices=tuple(DETECTORS), default="yolox", help="the detector family")
    parser.add_argument("--threads", type=int, default=2, help="LiteRT threads per model (2: the app's default)")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="a SceneOptions field of the scene pass, e.g. sweep_new_shot=true (repeatable)",
    )
    parser.add_argument(
        "--versus",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="a second scene pass, with this field changed too (repeatable): the two take turns in real time, one "
        "loop of the video each, --rounds times, so that both meet the same machine",
    )
    parser.add_argument("--rounds", type=int, default=3, help="turns of each scene pass with --versus (3)")
    parser.add_argument("--skip-window", action="store_true", help="only the headless runs (no slow model, no window)")
    args = parser.parse_args()
    sys.path[:0] = [str(REPO / "tests"), str(REPO / "benchmarks")]
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    work = Path(tempfile.mkdtemp(prefix="birdcam-live-bench-"))
    os.environ["BIRDCAM_DATA_DIR"] = str(work / "data")
    os.environ["BIRDCAM_OFFLINE"] = "1"

    from birdcam.live.inference import InferenceOptions, build_scene_pass

    video = work / "scenes-720p.avi"
    truths = write_scene_video(video, args.shots, args.seed, args.cut)
    detector = DETECTORS[args.detector]
    capture = cv2.VideoCapture(str(video))
    frames = [capture.read()[1] for _ in range(90)]
    capture.release()
    figures: dict = {
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
        "video": f"{SIZE[0]}x{SIZE[1]} MJPG {FPS} fps, {args.shots} shots of 1-3 small birds ({args.cut} cut, "
        f"seed {args.seed}), real-time pace, looped",
        "models": f"{STARTER.name} + {detector.name}, {args.threads} LiteRT threads each",
        "load_average": os.getloadavg(),
    }

    options = InferenceOptions(model=str(STARTER), detector=str(detector), num_threads=args.threads)
    factory = functools.partial(scene_with, tuple(args.set)) if args.set else build_scene_pass
    figures["scene_pass"] = " ".join(args.set) or "default"
    if args.versus:
        figures["versus"] = versus(args, video, truths, detector, work, args.set, args.set + args.versus)
        return report(figures, args.json)
    scene, _ = factory(options, lambda text: None)
    figures["scene_pass_own_fps"] = round(own_rate(scene, frames, 10.0), 1)
    scene.close()
    slow, _ = slow_scene(options, lambda text: None)
    figures["slow_model_own_fps"] = round(own_rate(slow, frames, 4.0), 2)
    slow.close()

    figures["every_frame_quality"] = every_frame_quality(video, truths, detector, args.threads, factory)
    print(json.dumps({"every_frame_quality": figures["every_frame_quality"]}), flush=True)
    summary, samples = run_headless(
        video, args.duration, work, detector=detector, threads=args.threads, factory=factory, sample_rss=True
    )
    warm = [(app, child) for t, app, child in samples if t >= min(30.0, args.duration * 0.2)]
    figures["real_time"] = real_time_figures(summary) | {
        "app_rss_after_warmup_mb": round(warm[0][0], 1) if warm else None,
        "app_rss_growth_mb": round(max(a for a, _ in warm[-10:]) - warm[0][0], 1) if warm else None,
        "inference_rss_after_warmup_mb": round(warm[0][1], 1) if warm else None,
        "inference_rss_growth_mb": round(max(c for _, c in warm[-10:]) - warm[0][1], 1) if warm else None,
    }
    figures["real_time_quality"] = live_quality([work / "live.jsonl"], truths)
    figures["real_time_quality_minus_every_frame"] = {
        key: round(figures["real_time_quality"][key] - figures["every_frame_quality"][key], 3)
        for key in ("named", "frames_named", "wrong_per_frame", "clean", "changes")
    }
    print(json.dumps({key: figures[key] for key in ("real_time", "real_time_quality")}), flush=True)
    print(json.dumps({"minus_every_frame": figures["real_time_quality_minus_every_frame"]}), flush=True)
    if args.skip_window:
        return report(figures, args.json)

    summary, _ = run_headless(
        video, args.slow_duration, work, detector=detector, threads=args.threads, factory=slow_scene, sample_rss=False
    )
    figures["slow_model"] = {
        "shown_fraction": summary["shown_fraction"],
        "classified_fps": summary["classified_fps"],
        "classified_vs_own_rate": round(summary["classified_fps"] / figures["slow_model_own_fps"], 3),
        "result_latency_ms_p95": summary["result_latency_ms"]["p95"],
        "one_inference_plus_one_frame_ms": round(1000 / figures["slow_model_own_fps"] + 1000 / FPS, 1),
    }
    print(json.dumps({"slow_model": figures["slow_model"]}), flush=True)

    from PySide6.QtWidgets import QApplication

    import birdcam.gui  # noqa: F401  (before Qt is used)

    app = QApplication(sys.argv[:1])
    big_model = None if args.no_big_model else build_big_model(REPO / "benchmarks" / "out" / "big-300mb.tflite")
    figures["window"] = window_stalls(app, video, args.stall_duration, big_model, work, detector)
    return report(figures, args.json)


def report(figures: dict, path: Path | None) -> int:
    """The figures to stdout and, given a path, to that file."""
    print(json.dumps(figures, indent=2))
    if path is not None:
        path.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
