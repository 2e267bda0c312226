"""Steps the journeys share: logging in, passing the second factor, TOTP codes."""

import time

from allauth.mfa.totp.internal.auth import format_hotp_value, hotp_value

PERIOD = 30


def totp_code(secret: str, *, offset: int = 0) -> str:
    """The TOTP code for `secret` in the current period (+ offset), computed like allauth does."""
    return format_hotp_value(hotp_value(secret, int(time.time()) // PERIOD + offset))


def fresh_totp_code(secret: str) -> str:
    """The current code, waiting for the next period when this one is about to end
    (allauth accepts only the current period)."""
    if PERIOD - time.time() % PERIOD < 4:
        time.sleep(PERIOD - time.time() % PERIOD + 0.2)
    return totp_code(secret)


def wrong_code(secret: str) -> str:
    """A six-digit code that is certainly not accepted now (tolerance is one period each way)."""
    valid = {totp_code(secret, offset=o) for o in (-1, 0, 1)}
    candidate = 0
    while f"{candidate:06d}" in valid:
        candidate += 1
    return f"{candidate:06d}"


def log_in(page, email: str, password: str) -> None:
    """Fill in and send the login form (e-mail and password)."""
    page.goto("/accounts/login/")
    form = page.locator("main form").filter(has=page.locator("input[name=password]"))
    form.get_by_label("Courriel").fill(email)
    form.locator("input[name=password]").fill(password)
    form.get_by_role("button", name="Se connecter").click()
    page.wait_for_load_state()


def pass_totp(page, code: str) -> None:
    """Send a code on the second-factor page."""
    form = page.locator("main form").filter(has=page.locator("input[name=code]"))
    form.locator("input[name=code]").fill(code)
    form.locator("button[type=submit]").first.click()
    page.wait_for_load_state()


def open_menu(page, menu: str, item: str) -> None:
    """Main menu → `menu` → `item`. A click before the DSFR script has bound the button opens
    nothing: click again until the menu says it is open, then follow the item."""
    nav = page.locator("#fr-navigation")
    button = nav.get_by_role("button", name=menu)
    for _ in range(20):
        button.click()
        page.wait_for_timeout(250)
        if button.get_attribute("aria-expanded") == "true":
            break
    nav.get_by_role("link", name=item).click()
