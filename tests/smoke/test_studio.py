"""Mentor Studio in a real browser: pytest-playwright drives Debian's chromium against a live `mentor serve` (with
its key, worker and the embedded models). Each page does what a person does there; axe-core checks it, it must fit
a 390-pixel phone screen, and a screenshot of it lands in test-artifacts/studio/ (not committed)."""

from __future__ import annotations

import re
import shutil

import pytest

from tests.conftest import FIXTURES, MODEL, REPO, SAMPLE
from tests.smoke.test_server import KEY, Server

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    not CHROMIUM, reason="chromium is not installed (`make browser` installs Debian's as root): "
                         "the studio's browser tests did not run")
ARTIFACTS = REPO / "test-artifacts" / "studio"
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="session")
def browser_type_launch_args():
    return {"executable_path": CHROMIUM}  # no browser download here: Debian's chromium


@pytest.fixture(scope="module")
def studio(tmp_path_factory, model_cache):
    s = Server(tmp_path_factory.mktemp("studio") / "home", "--max-upload-mb", "1")
    yield s
    s.stop()


def login(page, studio) -> None:
    page.goto(f"{studio.url}/studio")
    page.get_by_label("API key").fill(KEY)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/studio$"))


def check_page(page, name: str) -> None:
    """axe-core finds no serious or critical violation; at phone width nothing scrolls sideways; a screenshot."""
    from axe_playwright_python.sync_playwright import Axe

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    results = Axe().run(page)
    bad = [v for v in results.response["violations"] if v["impact"] in ("serious", "critical")]
    assert not bad, f"{name}: " + "; ".join(f"{v['id']}: {v['help']} ({len(v['nodes'])}x)" for v in bad)
    size = page.viewport_size
    page.set_viewport_size(PHONE)
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    page.screenshot(path=str(ARTIFACTS / f"{name}-phone.png"), full_page=True)
    page.set_viewport_size(size)
    assert overflow <= 0, f"{name}: {overflow} px of horizontal scrolling at 390 px"


def test_login_and_streamed_chat(page, studio):
    page.goto(f"{studio.url}/studio/runs")
    assert "/studio/login" in page.url  # a page without a session: the login form
    page.get_by_label("API key").fill("wrong")
    page.get_by_role("button", name="Sign in").click()
    assert page.get_by_role("alert").filter(has_text="Incorrect API key").is_visible()
    login(page, studio)
    page.get_by_label("Model 1").select_option(MODEL)
    page.get_by_label("Message").fill("What is the capital of France?")
    page.get_by_role("button", name="Send").click()
    answer = page.locator("#col-0 .turn.assistant")
    page.wait_for_function("document.querySelector('#col-0 .turn.assistant')?.dataset.firstTokenMs !== undefined",
                           timeout=120_000)  # the first streamed piece arrived before the answer finished
    page.wait_for_selector("#col-0 .turn.assistant[data-done]", timeout=120_000)
    assert "Paris" in answer.inner_text()
    check_page(page, "chat")
    # an error from the API is shown in the page, not only in the console
    page.get_by_label("Model 1").evaluate("(el) => { el.add(new Option('gone', 'gone')); el.value = 'gone' }")
    page.get_by_label("Message").fill("hello")  # a model deleted since the page loaded
    page.get_by_role("button", name="Send").click()
    page.wait_for_selector("#flash:not(:empty)")
    assert "The model 'gone' does not exist" in page.locator("#flash").inner_text()


def test_data_upload_shows_problems_by_line(page, studio, tmp_path):
    login(page, studio)
    page.goto(f"{studio.url}/studio/data")
    page.get_by_label(re.compile("Training data")).set_input_files(str(FIXTURES / "broken.jsonl"))
    page.get_by_role("button", name="Upload and check").click()
    problems = page.locator("#problems")
    problems.wait_for()
    assert "broken.jsonl:2" in problems.inner_text() and "unknown role 'narrator'" in problems.inner_text()
    assert "was not stored" in page.locator("#report").inner_text()
    good = tmp_path / "lanternfish.jsonl"
    shutil.copy(SAMPLE, good)
    page.get_by_label(re.compile("Training data")).set_input_files(str(good))
    page.get_by_role("button", name="Upload and check").click()
    page.get_by_text("ready to train").wait_for()
    report = page.locator("#report").inner_text()
    assert "<|im_start|>" in report  # rows previewed with the model's chat template
    check_page(page, "data")
    page.reload()
    assert "lanternfish.jsonl" in page.locator("#files").inner_text()
    page.get_by_role("button", name="Prepare and split").first.click()  # clean, de-duplicate, split
    assert re.search(r"Prepared lanternfish.jsonl: \d+ training and \d+ validation rows",
                     page.locator("#report p.ok").inner_text(timeout=60_000))
    big = tmp_path / "big.jsonl"  # over the server's 1 MB upload limit: the API's limit and message
    big.write_text('{"messages": [{"role": "user", "content": "' + "x" * (1 << 20) + '"}]}\n')
    page.get_by_label(re.compile("Training data")).set_input_files(str(big))
    page.get_by_role("button", name="Upload and check").click()
    page.wait_for_selector("#flash:not(:empty)")
    assert "larger than 1048576 bytes" in page.locator("#flash").inner_text()


def test_train_chart_pause_resume_cancel(page, studio, tmp_path):
    rows = tmp_path / "train.jsonl"
    rows.write_text("".join(SAMPLE.read_text(encoding="utf-8").splitlines(keepends=True)[:60]), encoding="utf-8")
    file_id = studio.client.files.create(file=rows.open("rb"), purpose="fine-tune").id
    login(page, studio)
    page.goto(f"{studio.url}/studio/train?file={file_id}")
    page.get_by_text("Memory advisor").wait_for(timeout=120_000)
    page.get_by_label("Method").select_option("dora")
    page.get_by_text("Options of dora").wait_for()  # the form follows the method
    assert page.get_by_label("lora_alpha", exact=True).input_value() == "16"
    page.get_by_label("Method").select_option("lora")
    page.get_by_label("Epochs").fill("1")
    page.get_by_label("Batch size").fill("2")
    check_page(page, "train-form")
    page.get_by_role("button", name="Start training").click()
    page.wait_for_url(re.compile(r"/studio/train/ftjob-"), timeout=60_000)
    page.wait_for_function("(document.querySelector('polyline.series')?.dataset.points | 0) >= 2", timeout=240_000)
    check_page(page, "train")
    page.get_by_role("button", name="Pause").click()
    page.wait_for_selector("#status[data-status=paused]")
    page.get_by_role("button", name="Resume").click()
    page.wait_for_selector("#status[data-status=queued], #status[data-status=running]")
    page.get_by_role("button", name="Cancel").click()
    page.wait_for_selector("#status[data-status=cancelled]")
    job_id = page.url.rsplit("/", 1)[1]
    assert studio.client.fine_tuning.jobs.retrieve(job_id).status == "cancelled"
    events = [e.message for e in studio.client.fine_tuning.jobs.list_events(job_id, limit=50)]
    assert any("paused" in m for m in events) and any("resumed" in m for m in events)
    page.goto(f"{studio.url}/studio/runs")
    page.get_by_role("link", name=job_id).click()
    page.wait_for_selector("polyline.series")
    check_page(page, "run")


def test_knowledge_base_upload_index_search(page, studio):
    login(page, studio)
    page.goto(f"{studio.url}/studio/kb")
    page.get_by_label("Name").fill("handbook")
    page.get_by_label("Embedding model").select_option("minilm-l6")
    page.get_by_role("button", name="Create a knowledge base").click()
    page.wait_for_url(re.compile(r"/studio/kb/handbook$"))
    page.get_by_label(re.compile("Documents")).set_input_files(str(FIXTURES / "kb" / "handbook.md"))
    page.get_by_role("button", name="Upload and index").click()
    page.get_by_text(re.compile(r"Indexed: 1 added")).wait_for(timeout=120_000)
    text = (FIXTURES / "kb" / "handbook.md").read_text(encoding="utf-8")
    phrase = next(line for line in text.splitlines() if len(line.split()) > 6 and not line.startswith("#"))
    page.get_by_label("Query").fill(" ".join(phrase.split()[:8]))
    page.get_by_label("Mode").select_option("keyword")
    page.get_by_role("button", name="Search").click()
    first = page.locator("article.hit").first
    first.wait_for()
    assert "handbook.md" in first.inner_text() and "score" in first.inner_text()
    check_page(page, "knowledge-base")


def test_app_prompt_version_feedback_and_cases(page, studio):
    login(page, studio)
    page.goto(f"{studio.url}/studio/apps")
    page.get_by_label("Template").select_option("titles")
    page.get_by_label("Name").fill("titles")
    page.get_by_role("button", name="Create from the template").click()
    page.wait_for_url(re.compile(r"/studio/apps/titles$"))
    page.get_by_label("role", exact=True).fill("You are a headline editor at a newspaper.")
    page.locator("#prompt form").first.get_by_role("button", name="Save as a new version").click()
    page.get_by_text("Version 2").first.wait_for()  # the page reloads with the new version
    diff = page.locator("pre.diff").inner_text()
    assert "+  role: You are a headline editor at a newspaper." in diff
    check_page(page, "app")
    page.get_by_label("v1", exact=True).uncheck()  # the evaluation matrix on the new version and the template's cases
    page.get_by_role("button", name="Run the evaluation matrix").click()
    page.locator("table.eval").wait_for(timeout=240_000)
    row = page.locator("table.eval tbody tr").first.inner_text()
    assert row.startswith("v2") and "rougeL" in page.locator("table.eval thead").inner_text()
    page.goto(f"{studio.url}/studio?model=app:titles")
    question = "Write a title for: the city opens three new libraries next spring."
    page.get_by_label("Message").fill(question)
    page.get_by_role("button", name="Send").click()
    page.wait_for_selector("#col-0 .turn.assistant[data-done]", timeout=120_000)
    page.get_by_label("Correction").fill("City to Open Three New Libraries Next Spring")
    page.get_by_role("button", name="Bad answer").click()
    page.get_by_text("Feedback saved").wait_for()
    page.goto(f"{studio.url}/studio/apps/titles#cases")
    case = page.locator("article.case").filter(has_text="three new libraries")
    assert "thumbs-down with a correction" in case.inner_text()
    assert case.get_by_label("Correction").input_value() == "City to Open Three New Libraries Next Spring"
    case.get_by_role("button", name="Reject the case").click()
    page.wait_for_function("!document.querySelector('#case-list').innerText.includes('three new libraries')")


def test_advise_language_and_every_page_on_a_phone(page, studio):
    login(page, studio)
    page.goto(f"{studio.url}/studio/advise")
    page.get_by_label("The knowledge changes often").check()
    page.get_by_label("Answers must cite their sources").check()
    page.get_by_role("button", name="Advise").click()
    assert "rag" in page.locator("#advice").inner_text()
    check_page(page, "advise")
    page.get_by_role("link", name="中文").click()
    assert page.get_by_role("link", name="对话").is_visible()
    assert page.locator("h1").inner_text() == "方案建议"  # the same page, now in Chinese
    for path, name in (("/studio/runs", "runs"), ("/studio/kb", "knowledge-bases"), ("/studio/apps", "apps")):
        page.goto(studio.url + path)
        check_page(page, f"{name}-zh")


def test_browser_language_is_the_default(browser, studio):
    context = browser.new_context(locale="zh-CN")
    page = context.new_page()
    page.goto(f"{studio.url}/studio")
    assert page.get_by_role("button", name="登录").is_visible()
    context.close()

