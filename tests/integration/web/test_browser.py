"""The portal in a real browser: headless Chromium (Debian) driven by Selenium against a real
`supportbot run` process; the login links come from `supportbot console` processes, as a
customer and an agent would ask for them in chat. Both processes share one SQLite file."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import need, shipped_text
from tests.integration.ops.ops_peers import BotProcess, free_port
from tests.integration.web import browser as chromium
from tests.integration.web.web_peers import SECRET

pytestmark = pytest.mark.browser
NOW = "2026-11-24T10:00:00+00:00"  # a Tuesday: the uk-office calendar is open


@pytest.fixture(scope="module")
def driver() -> Iterator[Any]:
    need(chromium.have_chromium(), f"headless Chromium is not installed ({chromium.CHROMEDRIVER}, chromium, selenium; "
                                   "apt-get install chromium chromium-driver)")
    with chromium.Chromium(width=1280, height=900) as d:
        yield d


def desk_files(tmp_path: Path, port: int) -> tuple[Path, dict[str, str]]:
    text = shipped_text("sqlite:///desk.db")
    text = text.replace('# http = "127.0.0.1:8080"', f'http = "127.0.0.1:{port}"')
    text = text.replace("[web]\nenabled = false", "[web]\nenabled = true")
    text = text.replace('public_url = "http://127.0.0.1:8080"', f'public_url = "http://127.0.0.1:{port}"')
    cfg = tmp_path / "bot.toml"
    cfg.write_text(text)
    env = {**os.environ, "SUPPORTBOT_NOW": NOW, "SUPPORTBOT_WEB_SECRET": SECRET, "SUPPORTBOT_LOG_LEVEL": "INFO"}
    return cfg, env


def link_from_chat(cfg: Path, env: dict[str, str], who: str) -> str:
    """`web` typed into `supportbot console --as WHO`: the link it answers with."""
    r = subprocess.run([sys.executable, "-m", "bot.runtime.cli", "console", "--config", str(cfg), "--as", who],
                       input="web\n", capture_output=True, text=True, timeout=60, env=env)
    m = re.search(r"http://127\.0\.0\.1:\d+/login/[A-Za-z0-9_-]+", r.stdout)
    assert m, (r.stdout, r.stderr)
    return m.group(0)


def log_in(driver: Any, link: str) -> None:
    from selenium.webdriver.common.by import By

    driver.delete_all_cookies()
    driver.get(link)
    driver.find_element(By.ID, "login").click()
    wait_text(driver, "who", "(")


def wait_text(driver: Any, element_id: str, text: str) -> str:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, 10, poll_frequency=0.02).until(ec.text_to_be_present_in_element((By.ID, element_id), text))
    return str(driver.find_element(By.ID, element_id).text)


def screenshot(driver: Any, path: Path, colours: tuple[str, ...] = ()) -> dict[str, int]:
    png = driver.get_screenshot_as_png()
    path.write_bytes(png)
    w, h, ncolours, counts = chromium.png_stats(png, colours)
    assert (w, h) == (1280, driver.execute_script("return window.innerHeight"))
    assert len(png) > 5000 and ncolours > 20, (path, len(png), ncolours)  # not a blank page
    return dict(counts)


async def test_customer_opens_p2_agent_replies_customer_sees_it(driver: Any, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    port = free_port()
    cfg, env = desk_files(tmp_path, port)
    bot = BotProcess("bot", cfg, port, env, tmp_path)
    try:
        await bot.wait_ready()
        base = bot.base_url

        # The customer: a link from chat, the form, the due time.
        log_in(driver, link_from_chat(cfg, env, "alice"))
        assert driver.current_url == f"{base}/tickets"
        assert driver.get_cookie("supportbot_session")["httpOnly"]
        assert driver.execute_script("return document.cookie") == ""
        driver.get(f"{base}/tickets/new")
        driver.find_element(By.ID, "prio-P2").click()
        driver.find_element(By.ID, "summary").send_keys("Mail queue stuck since 09:40")
        driver.find_element(By.ID, "description").send_keys("About 2,000 messages waiting.")
        driver.find_element(By.ID, "submit-ticket").click()
        flash = wait_text(driver, "flash", "Opened ticket #1 (P2)")
        assert "First response due 2026-11-25 10:00 GMT (in 1 business day)" in flash
        assert driver.current_url == f"{base}/tickets/1"
        assert "First response due 2026-11-25 10:00 GMT" in driver.find_element(By.CLASS_NAME, "clocks").text
        # A forged form (no CSRF token), sent with the browser's own cookie, changes nothing.
        driver.execute_script("const f = document.createElement('form'); f.method = 'post';"
                              "f.action = '/tickets/1/close'; document.body.appendChild(f); f.submit();")
        assert wait_text(driver, "message", "missing or wrong CSRF token")
        driver.get(f"{base}/tickets/1")
        assert "[P2 open]" in driver.find_element(By.ID, "headline").text

        # The agent: the board, then a reply.
        log_in(driver, link_from_chat(cfg, env, "agnes"))
        assert driver.current_url == f"{base}/board"
        row = driver.find_element(By.CSS_SELECTOR, '#board tr[data-id="1"]')
        assert "due 2026-11-25 10:00 GMT" in row.text and "Mail queue stuck" in row.text
        screenshot(driver, tmp_path / "board.png")
        driver.get(f"{base}/tickets/1")
        driver.find_element(By.ID, "reply-text").send_keys("Restarting the queue runner; please check in 5 minutes.")
        driver.find_element(By.ID, "send-reply").click()
        assert wait_text(driver, "flash", "Added your reply to #1.")

        driver.get(f"{base}/compliance?org=acme&month=2026-11")
        assert "SLA compliance: ACME Ltd, 2026-11" in driver.find_element(By.TAG_NAME, "h1").text
        for chart in ("chart-met", "chart-breaches"):
            loaded = driver.execute_script(f"return document.getElementById('{chart}').naturalWidth")
            assert loaded == 640, chart  # the SVG came and was drawn
        counts = screenshot(driver, tmp_path / "compliance.png", ("c62828",))
        assert counts["c62828"] > 1000, counts  # the target bars of the chart, in their colour

        # The customer sees the agent's reply.
        log_in(driver, link_from_chat(cfg, env, "alice"))
        driver.get(f"{base}/tickets/1")
        history = driver.find_element(By.ID, "history").text
        assert "agnes reply: Restarting the queue runner; please check in 5 minutes." in history
        assert (tmp_path / "board.png").stat().st_size > 5000 and (tmp_path / "compliance.png").stat().st_size > 5000
    except BaseException:
        print(bot.log()[-6000:])
        raise
    finally:
        driver.delete_all_cookies()
        bot.signal(15)
        assert await bot.wait_exit(15) == 0, bot.log()[-3000:]
        bot.close()
