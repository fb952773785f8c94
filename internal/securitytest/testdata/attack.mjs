// Opens the attacker's pages in headless Chromium and records every
// request they make to Tracehouse's ports and what each got back. Started
// by TestBrowserAttack (browser_test.go), which passes:
//   PLAYWRIGHT_DIR  web/tests, whose node_modules hold playwright-core
//   CHROMIUM_PATH   the system Chromium (no browser is downloaded)
//   ATTACK_PAGES    JSON list of {url, html?}: pages to open in turn; with
//                   html, the page's own document is that HTML instead of
//                   a request (a DNS-rebinding page: its name now points
//                   at this machine, its document came from the attacker)
//   TARGET_PORTS    JSON list of the ports under attack
//   REBIND_HOST     the rebinding host name, resolved to 127.0.0.1
//   RESULT_FILE     where the JSON report goes
// Each page sets window.__done once its attempts have settled and
// window.__results to what its scripts saw.
import { createRequire } from 'node:module';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

const require = createRequire(join(process.env.PLAYWRIGHT_DIR, 'package.json'));
const { chromium } = require('playwright-core');

const pages = JSON.parse(process.env.ATTACK_PAGES);
const ports = new Set(JSON.parse(process.env.TARGET_PORTS).map(String));
const rebindHost = process.env.REBIND_HOST;

const network = [];
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    // DNS rebinding: the attacker's name resolves to this machine.
    `--host-resolver-rules=MAP ${rebindHost} 127.0.0.1`,
    // Chromium's own Local Network Access checks would stop the rebinding
    // pages before their requests left the browser; other browsers have
    // none, and it is the servers under test, not the browser.
    '--disable-features=LocalNetworkAccessChecks,PrivateNetworkAccessSendPreflights,PrivateNetworkAccessRespectPreflightResults,BlockInsecurePrivateNetworkRequests'],
});
const isTarget = (url) => {
  const u = new URL(url);
  return ports.has(u.port) && !u.pathname.startsWith('/attacker/');
};
try {
  const results = [];
  for (const p of pages) {
    // A context of its own per page: a route (which the rebinding pages
    // need for their document) makes Playwright answer CORS preflights
    // itself, so a cross-site page must run where no route is set.
    const context = await browser.newContext();
    context.setDefaultTimeout(60_000);
    if (p.html) {
      // The rebinding page's document is the attacker's; every later
      // request to the same name goes to the network, i.e. to this machine.
      await context.route(p.url, (route) => route.fulfill({ status: 200, contentType: 'text/html', body: p.html }));
    }
    const page = await context.newPage();
    page.on('response', async (res) => {
      const req = res.request();
      if (!isTarget(req.url())) return;
      network.push({ url: req.url(), method: req.method(), type: req.resourceType(), status: res.status(),
        code: res.headers()['x-clickhouse-exception-code'] || '' });
    });
    page.on('requestfailed', (req) => {
      if (!isTarget(req.url())) return;
      network.push({ url: req.url(), method: req.method(), type: req.resourceType(), status: 0, failure: req.failure()?.errorText || '' });
    });
    await page.goto(p.url);
    await page.waitForFunction(() => window.__done === true);
    results.push({ page: p.url, saw: await page.evaluate(() => window.__results) });
    await context.close();
  }
  writeFileSync(process.env.RESULT_FILE, JSON.stringify({ network, pages: results }, null, 2));
} finally {
  await browser.close();
}
