// The booking page in a real browser (issue 15): Debian's chromium driven by playwright-core,
// against a running server with the demo data (scripts/browser.sh starts one). A client
// registers, picks a slot, books, finds it in "My bookings", reschedules and cancels, on a phone
// and on a desktop; two clients race for one slot and the loser is told it was just taken; an
// expired access token is refreshed silently; a late cancellation and a bad reset link show the
// API's words. Every screen gets a screenshot under SCREENSHOTS and an axe-core scan that must
// find no serious or critical violation. Any request to another origin, any Content Security
// Policy violation and any uncaught script error fail the run.
//
//   BASE_URL=http://127.0.0.1:8080 node flow.mjs
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { chromium } from 'playwright-core';

const require = createRequire(import.meta.url);
const BASE_URL = (process.env.BASE_URL || 'http://127.0.0.1:8080').replace(/\/$/, '');
const ORIGIN = new URL(BASE_URL).origin;
const SCREENSHOTS = process.env.SCREENSHOTS || path.resolve('../../target/browser-screenshots');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const CLINIC_NAME = process.env.CLINIC_NAME || '';
const AXE_SOURCE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
const VIEWPORTS = {
  phone: { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 1 },
  desktop: { viewport: { width: 1280, height: 900 } },
};

mkdirSync(SCREENSHOTS, { recursive: true });
const results = [];
let shot = 0;

function assert(condition, text) {
  if (!condition) throw new Error(text);
}

/** A context that fails the run on foreign requests, CSP violations and script errors. */
async function newPage(browser, kind) {
  const context = await browser.newContext({ ...VIEWPORTS[kind], acceptDownloads: true, locale: 'en-US' });
  const page = await context.newPage();
  page.setDefaultTimeout(20_000);
  page.problems = [];
  page.on('request', (req) => {
    const url = req.url();
    if (!url.startsWith('blob:') && !url.startsWith('data:') && new URL(url).origin !== ORIGIN) {
      page.problems.push(`request to another origin: ${url}`);
    }
  });
  page.on('pageerror', (err) => page.problems.push(`script error: ${err.message}`));
  page.on('console', (msg) => {
    if (/Content Security Policy/i.test(msg.text())) page.problems.push(`CSP: ${msg.text()}`);
  });
  return page;
}

/** A full-page screenshot and an axe-core scan of the screen as it is now. */
async function capture(page, kind, step) {
  shot += 1;
  const file = path.join(SCREENSHOTS, `${String(shot).padStart(2, '0')}-${kind}-${step}.png`);
  await page.screenshot({ path: file, fullPage: true });
  const text = await page.evaluate(() => document.body.innerText);
  const junk = text.match(/\b(null|undefined|NaN)\b|\[object \w+\]|Invalid Date/);
  assert(!junk, `the screen shows "${junk && junk[0]}" on ${step}`);
  // The page's CSP forbids inline scripts, so axe goes in through the DevTools protocol (which
  // CSP does not govern) rather than as a <script> element.
  const loaded = await page.evaluate(() => typeof window.axe !== 'undefined');
  if (!loaded) await page.evaluate(AXE_SOURCE);
  const violations = await page.evaluate(async () => {
    const result = await window.axe.run(document, { resultTypes: ['violations'] });
    return result.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => n.target.join(' ')).slice(0, 5) }));
  });
  const bad = violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  for (const v of violations) {
    console.log(`    axe ${v.impact}: ${v.id} (${v.help}) at ${v.nodes.join(', ')}`);
  }
  assert(bad.length === 0, `axe found ${bad.length} serious/critical violation(s) on ${step}: ${bad.map((v) => v.id).join(', ')}`);
  assert(page.problems.length === 0, page.problems.join('\n'));
  console.log(`  ✓ ${step} (${path.relative(process.cwd(), file)})`);
}

let userCount = 0;
function newEmail(kind) {
  userCount += 1;
  return `${kind}-${Date.now()}-${userCount}@example.com`;
}

async function register(page, { name, email, password = 'plum orchard at dusk' }) {
  const form = page.locator('form.register');
  await form.getByLabel('Your name').fill(name);
  await form.getByLabel('Email').fill(email);
  await form.getByLabel('Password').fill(password);
  await form.getByRole('button', { name: 'Create account' }).click();
}

/** On the book screen: Swedish, 60 minutes, a later week, its first day with openings. */
async function chooseSwedishLaterWeek(page, therapist) {
  await page.getByRole('radio', { name: /Swedish/ }).check();
  await page.getByRole('radio', { name: /60 min/ }).check();
  if (therapist) await page.getByLabel('Therapist').selectOption({ label: therapist });
  await laterWeek(page.locator('.step'));
  await page.locator('.day.open[aria-pressed="true"]').waitFor();
  await page.locator('.times .time').first().waitFor();
}

/** Moves a picker to its next week and waits until that week is shown. */
async function laterWeek(scope) {
  const week = scope.locator('.picker:not([aria-busy]) .week');
  await week.waitFor();
  const before = await week.getAttribute('data-week');
  await scope.getByRole('button', { name: 'Later week' }).click();
  await scope.locator(`.picker:not([aria-busy]) .week:not([data-week="${before}"])`).waitFor();
}

async function theFlow(browser, kind) {
  const page = await newPage(browser, kind);
  await page.goto(`${BASE_URL}/`);
  await page.locator('.day').first().waitFor();
  if (CLINIC_NAME) assert((await page.locator('.brand').innerText()).includes(CLINIC_NAME), 'the clinic name from the configuration is shown');
  const prices = await page.locator('.durations .price').allInnerTexts();
  assert(prices.length > 0 && prices.every((p) => /\$\d/.test(p)), `prices are shown: ${prices}`);
  await capture(page, kind, 'choose');

  await chooseSwedishLaterWeek(page);
  await capture(page, kind, 'times');
  // The README's picture (README_SCREENSHOT=docs/booking-page.png): the desktop's first screen.
  if (kind === 'desktop' && process.env.README_SCREENSHOT) {
    await page.mouse.move(0, 0);
    await page.screenshot({ path: process.env.README_SCREENSHOT, clip: { x: 0, y: 0, width: 1280, height: 760 } });
  }
  const picked = page.locator('.times .time').first();
  const start = await picked.getAttribute('data-start');
  if (kind === 'desktop') {
    // By keyboard: Tab from the week buttons to the first time, see the focus ring, press Enter.
    await page.getByRole('button', { name: 'Later week' }).focus();
    for (let i = 0; i < 30 && !(await page.evaluate(() => document.activeElement.classList.contains('time'))); i++) {
      await page.keyboard.press('Tab');
    }
    const ring = await page.evaluate(() => {
      const el = document.activeElement;
      const style = getComputedStyle(el);
      return { start: el.dataset.start, outline: style.outlineStyle, width: style.outlineWidth };
    });
    assert(ring.start === start, `Tab reaches the first time (at ${ring.start})`);
    assert(ring.outline !== 'none' && ring.width !== '0px', `the focused time shows a focus ring: ${JSON.stringify(ring)}`);
    await page.keyboard.press('Enter');
  } else {
    await picked.click();
  }

  // Not signed in: register inline, first with a weak password to see the field error.
  await page.locator('form.register').waitFor();
  const email = newEmail(kind);
  await register(page, { name: `Test ${kind}`, email, password: 'password' });
  const fieldError = page.locator('form.register .field-error');
  await fieldError.waitFor();
  assert(await page.locator('form.register input[name="password"][aria-invalid="true"]').count() === 1, 'the password field is marked invalid');
  await capture(page, kind, 'register-error');
  await page.locator('form.register').getByLabel('Password').fill('plum orchard at dusk');
  await page.locator('form.register').getByRole('button', { name: 'Create account' }).click();

  // Held, with a countdown.
  const countdown = page.locator('.countdown');
  await countdown.waitFor();
  assert(/^\d+:\d\d$/.test(await countdown.innerText()), 'the countdown shows minutes and seconds');
  await capture(page, kind, 'held');

  await page.getByLabel(/Anything your therapist should know/).fill('First visit');
  await page.getByRole('button', { name: 'Confirm booking' }).click();
  await page.getByRole('heading', { name: 'You are booked' }).waitFor();
  assert(await page.locator('.policy').first().innerText().then((t) => /cancel/i.test(t)), 'the cancellation policy is shown');
  const [download] = await Promise.all([
    page.waitForEvent('download'),
    page.getByRole('button', { name: 'Add to calendar' }).click(),
  ]);
  const ics = readFileSync(await download.path(), 'utf8');
  assert(ics.startsWith('BEGIN:VCALENDAR') && ics.includes('BEGIN:VEVENT'), 'Add to calendar gives the booking as .ics');
  await capture(page, kind, 'booked');

  // The link in the confirmation email: /#/bookings/{id} shows that booking.
  const bookingId = await page.evaluate(async () => {
    const { access_token: token } = JSON.parse(localStorage.getItem('booking-page.session'));
    const res = await fetch('/api/v1/bookings', { headers: { Authorization: `Bearer ${token}` } });
    return (await res.json()).items[0].id;
  });
  await page.goto(`${BASE_URL}/#/bookings/${bookingId}`);
  await page.locator(`.booking[data-booking-id="${bookingId}"]`).waitFor();
  await page.getByRole('heading', { name: 'Your booking' }).waitFor();

  // An expired access token: the page refreshes it silently and retries.
  await page.evaluate(() => {
    const key = 'booking-page.session';
    const s = JSON.parse(localStorage.getItem(key));
    s.access_token = 'expired.access.token';
    localStorage.setItem(key, JSON.stringify(s));
  });
  await page.reload();
  await page.getByRole('navigation').getByRole('link', { name: 'My bookings' }).click();
  const item = page.locator('.booking').first();
  await item.waitFor();
  const session = await page.evaluate(() => JSON.parse(localStorage.getItem('booking-page.session')));
  assert(session && session.access_token !== 'expired.access.token', 'the access token was refreshed');
  assert(await page.locator('.booking').count() === 1, 'my one booking is listed');
  await capture(page, kind, 'my-bookings');

  // Reschedule to another offered time.
  await item.getByRole('button', { name: 'Reschedule' }).click();
  // A later week, so that the new time is outside the cancellation window too.
  await laterWeek(item);
  const times = item.locator('.times .time');
  await times.first().waitFor();
  await capture(page, kind, 'reschedule');
  const offered = await times.evaluateAll((els) => els.map((e) => e.dataset.start));
  const newStart = offered.find((s) => s !== start);
  assert(newStart, 'another time is offered');
  await item.locator(`.times .time[data-start="${newStart}"]`).click();
  await item.getByRole('button', { name: 'Cancel booking' }).waitFor();
  const moved = await page.evaluate(async (token) => {
    const res = await fetch('/api/v1/bookings', { headers: { Authorization: `Bearer ${token}` } });
    return (await res.json()).items[0].start;
  }, (await page.evaluate(() => JSON.parse(localStorage.getItem('booking-page.session')))).access_token);
  assert(moved === newStart, `the booking moved to ${newStart} (is ${moved})`);

  // Cancel it.
  await item.getByRole('button', { name: 'Cancel booking' }).click();
  await item.getByLabel('Reason (optional)').fill('Plans changed');
  await capture(page, kind, 'cancel');
  await item.getByRole('button', { name: 'Yes, cancel it' }).click();
  await item.locator('.badge.cancelled').waitFor();
  await capture(page, kind, 'cancelled');

  // Nothing fits: join the waitlist.
  await page.getByRole('navigation').getByRole('link', { name: 'Book', exact: true }).click();
  await page.getByRole('button', { name: /Join the waitlist/ }).click();
  await page.locator('form.waitlist').waitFor();
  await capture(page, kind, 'waitlist');
  await page.locator('form.waitlist').getByRole('button', { name: 'Join the waitlist' }).click();
  await page.getByText('You are on the waitlist').waitFor();
  await capture(page, kind, 'waitlisted');
  await page.context().close();
}

/** A booking inside the cancellation window: the API's late-cancellation words are shown. */
async function lateCancellation(browser) {
  const page = await newPage(browser, 'desktop');
  await page.goto(`${BASE_URL}/#/sign-in`);
  await page.getByRole('button', { name: 'New here' }).click();
  await register(page, { name: 'Late Client', email: newEmail('late') });
  await page.getByRole('heading', { name: 'My bookings' }).waitFor();
  await page.getByRole('navigation').getByRole('link', { name: 'Book', exact: true }).click();
  // The first week: inside the window that browser.sh sets (CANCELLATION_WINDOW_HOURS).
  await page.locator('.times .time').first().click();
  await page.getByRole('button', { name: 'Confirm booking' }).click();
  await page.getByRole('heading', { name: 'You are booked' }).waitFor();
  await page.getByRole('navigation').getByRole('link', { name: 'My bookings' }).click();
  const item = page.locator('.booking').first();
  await item.getByRole('button', { name: 'Cancel booking' }).click();
  await item.getByRole('button', { name: 'Yes, cancel it' }).click();
  const refusal = item.locator('.message.error');
  await refusal.waitFor();
  const text = await refusal.innerText();
  assert(/before the start/i.test(text), `the late-cancellation detail is shown: ${text}`);
  await capture(page, 'desktop', 'late-cancellation');
  await page.context().close();
}

/** Two clients pick the same time at once: one holds it, the other is told it was just taken. */
async function race(browser) {
  const pages = [];
  for (const who of ['first', 'second']) {
    const page = await newPage(browser, 'desktop');
    await page.goto(`${BASE_URL}/#/sign-in`);
    await page.getByRole('button', { name: 'New here' }).click();
    await register(page, { name: `Racer ${who}`, email: newEmail(`race-${who}`) });
    await page.getByRole('heading', { name: 'My bookings' }).waitFor();
    await page.getByRole('navigation').getByRole('link', { name: 'Book', exact: true }).click();
    await chooseSwedishLaterWeek(page, 'Liam Patel');
    pages.push(page);
  }
  const starts = await Promise.all(pages.map((p) => p.locator('.times .time').nth(2).getAttribute('data-start')));
  assert(starts[0] === starts[1], `both see the same time: ${starts}`);
  await Promise.all(pages.map((p) => p.locator(`.times .time[data-start="${starts[0]}"]`).click()));
  const outcome = await Promise.all(pages.map(async (p) => {
    await p.locator('.countdown, .picker .message.error:not(:empty)').first().waitFor();
    return (await p.locator('.countdown').count()) ? 'held' : 'taken';
  }));
  assert(outcome.filter((o) => o === 'held').length === 1, `exactly one holds the time: ${outcome}`);
  const loser = pages[outcome.indexOf('taken')];
  const notice = await loser.locator('.picker .message.error').innerText();
  assert(/just taken/i.test(notice), `the loser is told: ${notice}`);
  await loser.locator('.times .time').first().waitFor();
  assert(await loser.locator(`.times .time[data-start="${starts[0]}"]`).count() === 0, 'the taken time is no longer offered');
  await capture(loser, 'desktop', 'just-taken');
  for (const p of pages) await p.context().close();
}

/** Forgot password: the page asks for the email, the link in it (read from the mail spool)
 *  opens the reset screen, the new password signs in. */
async function passwordReset(browser) {
  const spool = process.env.MAIL_DIR;
  assert(spool, 'MAIL_DIR names the mail spool (scripts/browser.sh sets it)');
  const page = await newPage(browser, 'phone');
  const email = newEmail('reset');
  await page.goto(`${BASE_URL}/#/sign-in`);
  await page.getByRole('button', { name: 'New here' }).click();
  await register(page, { name: 'Forgetful Client', email });
  await page.getByRole('heading', { name: 'My bookings' }).waitFor();
  await page.getByRole('button', { name: /Sign out/ }).click();
  await page.goto(`${BASE_URL}/#/forgot-password`);
  await page.getByLabel('Email').fill(email);
  await page.getByRole('button', { name: 'Send the link' }).click();
  await page.getByText('a link to set a new password is on its way').waitFor();
  await capture(page, 'phone', 'forgot-password');
  // The worker writes the email within a few seconds.
  let link = null;
  for (let i = 0; i < 60 && !link; i++) {
    for (const name of existsSync(spool) ? readdirSync(spool) : []) {
      const raw = readFileSync(path.join(spool, name), 'utf8');
      if (!raw.includes(email)) continue;
      const text = raw.replace(/=\r?\n/g, '').replace(/=3D/g, '=');
      const match = text.match(/\/#\/reset-password\?token=([A-Za-z0-9_-]+)/);
      if (match) link = `${BASE_URL}/#/reset-password?token=${match[1]}`;
    }
    if (!link) await new Promise((resolve) => setTimeout(resolve, 500));
  }
  assert(link, 'the reset email with its link is in the spool');
  await page.goto(link);
  await page.getByLabel('New password', { exact: true }).fill('copper kettle on the hill');
  await page.getByLabel('New password again').fill('copper kettle on the hill');
  await page.getByRole('button', { name: 'Set the password' }).click();
  await page.getByText('Your password is set').waitFor();
  const form = page.locator('form.sign-in');
  await form.getByLabel('Email').fill(email);
  await form.getByLabel('Password').fill('copper kettle on the hill');
  await form.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'My bookings' }).waitFor();
  await capture(page, 'phone', 'reset-signed-in');
  await page.context().close();
}

/** A password-reset link with a bad token shows the API's words. */
async function resetLink(browser) {
  const page = await newPage(browser, 'phone');
  await page.goto(`${BASE_URL}/#/reset-password?token=not-a-real-token`);
  await page.getByLabel('New password', { exact: true }).fill('copper kettle on the hill');
  await page.getByLabel('New password again').fill('copper kettle on the hill');
  await page.getByRole('button', { name: 'Set the password' }).click();
  const error = page.locator('.message.error');
  await error.waitFor();
  assert((await error.innerText()).length > 10, 'the reset-token problem is shown');
  await capture(page, 'phone', 'reset-invalid');
  await page.context().close();
}

const browser = await chromium.launch({
  executablePath: CHROMIUM,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const scenarios = [
  ['book, reschedule, cancel and join the waitlist on a phone', () => theFlow(browser, 'phone')],
  ['book, reschedule, cancel and join the waitlist on a desktop', () => theFlow(browser, 'desktop')],
  ['two clients race for one slot', () => race(browser)],
  ['a late cancellation shows the API\'s refusal', () => lateCancellation(browser)],
  ['a bad reset link shows the API\'s refusal', () => resetLink(browser)],
  ['the reset link from the email sets a new password', () => passwordReset(browser)],
];
for (const [name, run] of scenarios) {
  console.log(`- ${name}`);
  try {
    await run();
    results.push([name, true]);
  } catch (err) {
    console.log(`  ✗ ${err.stack || err}`);
    results.push([name, false]);
  }
}
await browser.close();
const failed = results.filter(([, ok]) => !ok);
console.log(`\nscreenshots: ${SCREENSHOTS}`);
console.log(`browser: ${results.length - failed.length} passed, ${failed.length} failed`);
process.exit(failed.length ? 1 : 0);
