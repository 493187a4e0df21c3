"""What staff do in the admin, in a real browser against a whole site in real processes.

A marketing user imports contacts from a CSV file, creates a campaign from the demo template,
looks at the dry run, starts it and watches the progress bar reach completed while the sandbox
posts its signed status webhooks back, then opens the funnel. A compliance user walks every list
and a page of each, and finds nothing that writes. Screenshots go to var/test-artifacts/browser/.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.support.browser import Site

pytestmark = pytest.mark.browser

CAMPAIGN = "Browser journey"
IMPORT_CSV = "\n".join(
    [
        "phone,name,language,tags,attr.last_order,consent_action,consent_scope,consent_source,"
        "consent_evidence,consent_captured_at",
        '+447400100201,Ines Browser,en_US,"demo,browser",B-2001,opt_in,all,web_form,'
        "browser signup 1,2026-01-10",
        '07400 100202,Joao Browser,pt_BR,"demo,browser",B-2002,opt_in,all,web_form,'
        "browser signup 2,2026-01-10",
        '+447400100203,Kim Browser,en_US,"demo,browser",B-2003,opt_in,utility,checkout,'
        "order 2003,2026-01-11",
        '+447400100204,Lea Browser,en_US,"demo,browser",,,,,,',
        "not-a-number,Bad Row,en_US,demo,,,,,,",
    ]
).encode()
MAPPING = (
    '{"body.1": {"source": "contact", "path": "name", "fallback": "there"}, '
    '"body.2": {"source": "attribute", "path": "last_order", "fallback": "your order"}}'
)
# Actions a read-only user may be offered: they read (preview, export, download) and write nothing.
READ_ONLY_ACTIONS = ("dry_run", "export", "download")


def writes(controls: list[str], *, erase_allowed: bool) -> list[str]:
    """The controls that add, change, delete or run an action that writes."""
    found = set()
    for control in controls:
        kind, _, name = control.partition(": ")
        if kind == "action" and (not name or name.startswith(READ_ONLY_ACTIONS)):
            continue
        if kind == "action" and name == "erase_contacts" and erase_allowed:
            continue  # erasure granted to Compliance on purpose (it answers legal requests)
        if kind == "campaign" and name == "dry_run":
            continue
        found.add(control)
    return sorted(found)


def log_in(browser, site: Site, username: str, **context_options):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, **context_options)
    page = context.new_page()
    page.set_default_timeout(20_000)
    page.goto(site.url("/admin/login/"))
    page.fill("#id_username", username)
    page.fill("#id_password", site.facts["passwords"][username])
    page.click("input[type=submit]")
    page.wait_for_selector("#user-tools")
    return context, page


def shot(page, folder: Path, name: str) -> None:
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


def messages_on(page) -> list[str]:
    """The admin messages of the page just loaded (waits for them to be there)."""
    page.wait_for_selector("ul.messagelist li")
    return [text.strip() for text in page.locator("ul.messagelist li").all_inner_texts()]


def test_a_marketing_user_imports_contacts_and_runs_a_campaign_to_completion(
    browser, site, artifacts
):
    context, page = log_in(browser, site, "marketer", timezone_id="America/Sao_Paulo")
    try:
        # The admin shows times in the browser's timezone (set by the login page's script).
        assert "Times in America/Sao_Paulo." in page.text_content("#tidings-timezone")

        # Import a CSV file of contacts.
        page.goto(site.url("/admin/contacts/contactimport/"))
        page.click(".object-tools a.addlink")
        page.set_input_files(
            "input[type=file]",
            files=[{"name": "browser-contacts.csv", "mimeType": "text/csv", "buffer": IMPORT_CSV}],
        )
        page.click("input[type=submit][value='Upload and import']")
        page.wait_for_selector(".field-status .readonly:text-is('Completed')", timeout=60_000)
        assert page.inner_text(".field-created_count .readonly") == "4"
        assert page.inner_text(".field-rejected_count .readonly") == "1"
        shot(page, artifacts, "01-import-completed")

        # Create a campaign from the demo template, to the demo segment the rows joined.
        page.goto(site.url("/admin/campaigns/campaign/"))
        page.click(".object-tools a.addlink")
        page.fill("#id_name", CAMPAIGN)
        page.select_option("#id_sender", label="+1 555 000 1234 (Tidings Demo)")
        page.select_option("#id_template", label="order_update (en_US)")
        page.fill("#id_default_language", "en_US")
        page.fill("#id_variable_mapping", MAPPING)
        page.select_option("#id_segment", label="Demo customers")
        page.fill("#id_purpose", "Order status updates")
        page.click("input[name=_continue]")
        assert any("was added successfully" in text for text in messages_on(page))
        live = page.locator("#campaign-live")
        assert live.get_attribute("data-campaign-status") == "draft"
        shot(page, artifacts, "02-campaign-draft")

        # The dry run shows the messages exactly as they would go out; nothing is sent.
        page.click("[data-campaign-action=dry_run]")
        page.wait_for_selector("h2:text('First messages, exactly as they would be sent')")
        samples = page.locator("#content pre").all_inner_texts()
        assert any(re.match(r"Hi .+, your order .+ is on its way\.", text) for text in samples)
        assert "no_consent" in page.inner_text("#content")
        shot(page, artifacts, "03-dry-run")

        # Start it, confirming first.
        page.click("[data-campaign-action=start]")
        page.wait_for_selector("[data-confirm-action=start]")
        assert "Start sending this campaign now?" in page.inner_text("#content")
        shot(page, artifacts, "04-start-confirmation")
        page.click("[data-confirm-action=start]")
        assert f"Started {CAMPAIGN}." in messages_on(page)

        # The progress bar reaches completed by itself: the page is never reloaded.
        page.evaluate("window.tidingsSamePage = true")
        page.wait_for_selector('#campaign-live[data-campaign-status="completed"]', timeout=90_000)
        assert page.evaluate("window.tidingsSamePage") is True
        assert page.get_attribute("[role=progressbar]", "aria-valuenow") == "100"
        summary = page.inner_text("[data-figure=summary]")
        assert re.fullmatch(r"(\d+) of \1 messages settled \(100%\) — Completed", summary)
        assert page.locator("[data-campaign-action=pause]").count() == 0
        assert "The campaign is now completed" in page.inner_text("#campaign-stale")
        shot(page, artifacts, "05-campaign-completed")

        # The funnel: statuses keep coming in from the sandbox's webhooks.
        page.click("a.campaign-open-funnel")
        page.wait_for_function(
            "() => Number(document.querySelector('[data-step=delivered]')?.dataset.count) > 0",
            timeout=60_000,
        )
        steps = page.locator("svg.campaign-funnel g.funnel-step")
        assert [steps.nth(i).get_attribute("data-step") for i in range(steps.count())] == [
            "queued",
            "sent",
            "delivered",
            "read",
            "replied",
        ]
        queued = int(page.get_attribute("[data-step=queued]", "data-count"))
        sent = int(page.get_attribute("[data-step=sent]", "data-count"))
        assert queued > 0
        assert 0 < sent <= queued
        skipped = page.inner_text("[data-breakdown=skipped]")
        assert "No consent for this kind of message" in skipped
        shot(page, artifacts, "06-funnel")

        # The contact page tells what was sent to an imported contact.
        page.goto(site.url("/admin/contacts/contact/?q=Ines+Browser"))
        page.click("#result_list tbody a")
        panel = page.locator("#panel-messages-sent")
        assert CAMPAIGN in panel.inner_text()
        assert "order_update (en_US)" in panel.inner_text()
        assert "Closed: this person never wrote to us" in page.inner_text(
            ".field-service_window .readonly"
        )
        shot(page, artifacts, "07-contact")
    except Exception as error:
        shot(page, artifacts, "failure")
        raise AssertionError(f"{error}\n\nsite logs:\n{site.log_tail()}") from error
    finally:
        context.close()


WRITE_CONTROLS_JS = """
() => {
  // Everything visible on the page that adds, changes, deletes or runs an action.
  const found = [];
  const visible = (element) => element.checkVisibility();
  const describe = (element) => (element.textContent || element.value || element.name || "").trim();
  document.querySelectorAll("a.addlink, a.deletelink, a.changelink, .inline-deletelink").forEach(
    (link) => visible(link) && found.push("link: " + describe(link)));
  document.querySelectorAll("input[type=submit], button[type=submit], button:not([type])").forEach(
    (button) => {
      if (!button.form || !visible(button)) return;  // theme and sidebar toggles submit nothing
      if (button.closest("#logout-form") || button.closest("#changelist-search")) return;
      if (button.closest("#changelist-form .actions")) return;  // runs the actions listed below
      found.push("button: " + describe(button));
    });
  document.querySelectorAll(
    "form[id$=_form] input:not([type=hidden]), form[id$=_form] textarea, form[id$=_form] select"
  ).forEach((field) => visible(field) && found.push("field: " + field.name));
  document.querySelectorAll("select[name=action] option").forEach(
    (option) => found.push("action: " + option.value));
  document.querySelectorAll("[data-campaign-action]").forEach(
    (button) => found.push("campaign: " + button.dataset.campaignAction));
  return found;
}
"""


def test_a_compliance_user_finds_no_write_control_anywhere(browser, site, artifacts):
    context, page = log_in(browser, site, "auditor")
    seen: dict[str, list[str]] = {}
    try:
        page.goto(site.url("/admin/contacts/contact/"))
        lists = [
            link.get_attribute("href")
            for link in page.locator("#nav-sidebar th[scope=row] a").all()
        ]
        assert "/admin/campaigns/campaign/" in lists
        assert "/admin/contacts/consentrecord/" in lists
        for changelist in lists:
            page.goto(site.url(changelist))
            seen[changelist] = page.evaluate(WRITE_CONTROLS_JS)
            first = page.locator("#result_list tbody tr a[href*='/change/']").first
            if first.count():
                change = first.get_attribute("href")
                page.goto(site.url(change))
                seen[change] = page.evaluate(WRITE_CONTROLS_JS)
                if "/campaigns/campaign/" in change:
                    shot(page, artifacts, "compliance-campaign")
                if "/contacts/contact/" in change:
                    shot(page, artifacts, "compliance-contact")
        page.goto(site.url("/admin/"))
        seen["/admin/"] = page.evaluate(WRITE_CONTROLS_JS)
        shot(page, artifacts, "compliance-index")
    except Exception:
        shot(page, artifacts, "failure")
        raise
    finally:
        context.close()

    erase_allowed = site.facts["compliance_erases"]
    found = {
        url: writes(controls, erase_allowed=erase_allowed)
        for url, controls in seen.items()
        if writes(controls, erase_allowed=erase_allowed)
    }
    assert found == {}
    assert len(seen) > 10  # every list, and a record of each that has one
