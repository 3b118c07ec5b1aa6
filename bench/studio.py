"""The studio's targets (issue 23), measured in Debian's chromium through Playwright against a live `mentor serve`:

- the first page (the chat playground) is interactive in <= 1 s: navigation start to DOMContentLoaded, after which
  the deferred scripts (htmx, studio.js) have run; cold (first load) and warm (median of 5 reloads);
- streamed chat shows the first token as fast as the API does (<= 100 ms extra): time to the first streamed piece
  in the page (from the fetch) against the official `openai` client streaming the same request, alternated, medians;
- the loss chart updates at least every 2 s during training: the intervals between the progress fragment's swaps
  while a real 1-epoch LoRA job runs (and how often a new point arrives).

    python bench/studio.py            # ~3 min on 2 CPU cores
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.iterate import KEY, _server  # noqa: E402

PROMPT = "Name three rivers in Europe."


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--train-seconds", type=float, default=30.0, help="how long to watch the training chart")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    home = Path(tempfile.mkdtemp(prefix="mentor-studio-bench-")) / "home"
    proc, client, url = _server(home)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium")
            page = browser.new_page()
            page.goto(f"{url}/studio")
            page.get_by_label("API key").fill(KEY)
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_url(f"{url}/studio")
            loads = [_interactive_ms(page)]
            for _ in range(args.rounds):
                page.reload()
                loads.append(_interactive_ms(page))
            print(f"first page interactive: cold {loads[0]:.0f} ms, warm median {statistics.median(loads[1:]):.0f} ms "
                  f"(target <= 1000 ms)")
            studio_ms, api_ms = [], []
            _studio_ttft(page)  # warm the model up once
            for _ in range(args.rounds):
                studio_ms.append(_studio_ttft(page))
                api_ms.append(_api_ttft(client))
            extra = statistics.median(studio_ms) - statistics.median(api_ms)
            print(f"first token: studio median {statistics.median(studio_ms):.0f} ms, API (openai client) median "
                  f"{statistics.median(api_ms):.0f} ms, extra {extra:+.0f} ms (target <= 100 ms)")
            _chart(page, client, url, args.train_seconds)
            browser.close()
    finally:
        proc.terminate()
        proc.wait(timeout=60)


def _interactive_ms(page) -> float:
    page.wait_for_load_state("domcontentloaded")
    return page.evaluate("performance.getEntriesByType('navigation')[0].domContentLoadedEventEnd")


def _studio_ttft(page) -> float:
    page.get_by_role("button", name="New conversation").click()
    page.get_by_label("Message").fill(PROMPT)
    page.get_by_role("button", name="Send").click()
    page.wait_for_selector("#col-0 .turn.assistant[data-done]", timeout=120_000)
    return float(page.locator("#col-0 .turn.assistant").get_attribute("data-first-token-ms"))


def _api_ttft(client) -> float:
    started = time.perf_counter()
    first = None
    for chunk in client.chat.completions.create(model="smollm2-135m-instruct", stream=True, temperature=0,
                                                max_tokens=256, messages=[{"role": "user", "content": PROMPT}]):
        if first is None and chunk.choices and chunk.choices[0].delta.content:
            first = (time.perf_counter() - started) * 1000
    return first


def _chart(page, client, url: str, seconds: float) -> None:
    rows = (REPO / "examples" / "data" / "lanternfish.jsonl").read_text(encoding="utf-8")
    path = Path(tempfile.mkdtemp()) / "train.jsonl"
    path.write_text(rows, encoding="utf-8")
    file_id = client.files.create(file=path.open("rb"), purpose="fine-tune").id
    job = client.fine_tuning.jobs.create(model="smollm2-135m-instruct", training_file=file_id,
                                         hyperparameters={"n_epochs": 1, "batch_size": 2})
    page.goto(f"{url}/studio/train/{job.id}")
    page.wait_for_function("(document.querySelector('polyline.series')?.dataset.points | 0) >= 1", timeout=240_000)
    page.evaluate("""() => { window.swaps = []; window.points = [];
        document.body.addEventListener('htmx:afterSwap', () => {
          window.swaps.push(performance.now());
          const n = document.querySelector('polyline.series')?.dataset.points | 0;
          if (!window.points.length || window.points[window.points.length - 1][1] !== n) window.points.push([performance.now(), n]);
        }); }""")
    page.wait_for_timeout(seconds * 1000)
    swaps, points = page.evaluate("window.swaps"), page.evaluate("window.points")
    client.fine_tuning.jobs.cancel(job.id)
    gaps = [b - a for a, b in zip(swaps, swaps[1:])]
    new = [b[0] - a[0] for a, b in zip(points, points[1:])]
    print(f"loss chart: {len(swaps)} updates in {seconds:.0f} s, interval median {statistics.median(gaps):.0f} ms, "
          f"max {max(gaps):.0f} ms (target <= 2000 ms); a new point every {statistics.median(new) / 1000:.1f} s "
          f"(one per training step)" if gaps and new else f"loss chart: too few updates ({len(swaps)})")


if __name__ == "__main__":
    main()
