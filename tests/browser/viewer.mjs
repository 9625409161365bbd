// Drives the viewer in headless Chromium (Debian's, through playwright-core) as a salon owner
// would: open a booking's timeline, filter the log, page forward, read the verify status,
// download the CSV, and take a screenshot of the timeline. Prints what it saw as one JSON line
// for tests/browser.rs to check.
//
// node viewer.mjs PLAYWRIGHT_CORE_DIR BASE_URL OUT_DIR
import { createRequire } from 'node:module';
import path from 'node:path';
import fs from 'node:fs';

const [playwrightDir, base, outDir] = process.argv.slice(2);
const require = createRequire(import.meta.url);
const { chromium } = require(playwrightDir);

const profile = fs.mkdtempSync(path.join(outDir, 'profile-'));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.AUDITKIT_CHROMIUM || '/usr/bin/chromium',
  headless: true,
  acceptDownloads: true,
  downloadsPath: outDir,
  args: [
    '--no-sandbox',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--no-first-run',
    '--disable-default-apps',
  ],
  viewport: { width: 1100, height: 900 },
});
const seen = {};
try {
  const page = context.pages()[0] || (await context.newPage());

  await page.goto(base + 'timeline/booking/b-100');
  seen.timeline = await page.locator('li.event .sentence').allTextContents();
  seen.hover = await page.locator('li.event time').first().getAttribute('title');
  await page.screenshot({ path: path.join(outDir, 'timeline.png'), fullPage: true });

  await page.goto(base);
  await page.fill('input[name=action]', 'booking.created');
  await Promise.all([page.waitForURL(/action=booking\.created/), page.click('form.filters button')]);
  seen.first_page = await page.locator('li.event').count();
  seen.first_actions = [...new Set(await page.locator('li.event').evaluateAll(
    (els) => els.map((e) => e.getAttribute('data-action'))))];
  await Promise.all([page.waitForURL(/after=/), page.click('#next-page')]);
  seen.second_page = await page.locator('li.event').count();
  seen.second_seqs = await page.locator('li.event').evaluateAll(
    (els) => els.map((e) => Number(e.getAttribute('data-seq'))));

  await page.waitForSelector('#verify-status:not([data-state=pending])');
  seen.verify = await page.locator('#verify-status').textContent();
  seen.verify_state = await page.locator('#verify-status').getAttribute('data-state');

  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download-csv')]);
  const csv = path.join(outDir, 'download.csv');
  await download.saveAs(csv);
  seen.csv = csv;
} finally {
  await context.close();
}
console.log(JSON.stringify(seen));
