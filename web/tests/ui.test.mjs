// Browser tests of the Tracehouse UI against the real query service with
// seeded data. Started by `go test ./web/e2e`, which passes:
//   TRACEHOUSE_URL   the query service serving the UI at /
//   TRACEHOUSE_SEED  a JSON file describing the seeded traces and logs
//   CHROMIUM_PATH    the system Chromium (no browser is downloaded)
//   SCREENSHOT_DIR   where each page's screenshot is saved
// Waits are for states (elements, URLs), never for wall-clock durations.
import { test, before, after, beforeEach, describe } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const BASE = process.env.TRACEHOUSE_URL;
const seed = JSON.parse(readFileSync(process.env.TRACEHOUSE_SEED, 'utf8'));
const SHOTS = process.env.SCREENSHOT_DIR || join(process.cwd(), 'screenshots');
// Generous: CI runs this beside every other package's tests on 2 cores.
const TIMEOUT = 60_000;

let context;
let page;
let userDataDir;
const pageErrors = [];

before(async () => {
  assert.ok(BASE, 'TRACEHOUSE_URL is not set: run these tests through `go test ./web/e2e`');
  mkdirSync(SHOTS, { recursive: true });
  userDataDir = mkdtempSync(join(tmpdir(), 'tracehouse-chromium-'));
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
    headless: true,
    viewport: { width: 1280, height: 800 },
    colorScheme: 'light',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  context.setDefaultTimeout(TIMEOUT);
  // Every asset comes from the query service: fail on any other host.
  // The UI's files are served with the Content-Security-Policy the web
  // package declares (web.ContentSecurityPolicy), so anything it would
  // block fails here as a console error.
  const csp = process.env.TRACEHOUSE_CSP || '';
  await context.route('**/*', async (route) => {
    const url = new URL(route.request().url());
    if (url.origin !== new URL(BASE).origin) {
      pageErrors.push(`request to another host: ${url.href}`);
      return route.abort();
    }
    if (!csp || url.pathname.startsWith('/api/') || route.request().resourceType() !== 'document') return route.continue();
    const res = await route.fetch();
    return route.fulfill({ response: res, headers: { ...res.headers(), 'content-security-policy': csp } });
  });
  page = context.pages()[0] || await context.newPage();
  page.on('pageerror', (e) => pageErrors.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error' && !/status of 400/.test(m.text())) pageErrors.push(`console error: ${m.text()}`);
  });
});

// A failed test must not leave its page errors to the next one.
beforeEach(() => {
  pageErrors.length = 0;
});

after(async () => {
  if (context) await context.close();
  if (userDataDir) rmSync(userDataDir, { recursive: true, force: true });
});

// open loads the UI afresh at a route, so nothing of the previous test's
// page can satisfy the next wait.
async function open(hash) {
  await page.goto('about:blank');
  await page.goto(new URL('#' + hash.replace(/^#/, ''), BASE).href);
}

async function shot(name) {
  await page.screenshot({ path: join(SHOTS, `${name}.png`) });
}

async function api(path) {
  const res = await fetch(new URL(path, BASE));
  return { status: res.status, body: await res.json() };
}

// fixtures is the custom range holding the hand-made traces (the shop's
// traffic comes after it).
const fixtures = `range=custom&start=${seed.fixturesStart}&end=${seed.fixturesEnd}`;

// lastHour is the hour before the data was written (the service's clock),
// so what these tests see does not move while they run.
const lastHour = `range=custom&start=${seed.now - 3600e3}&end=${seed.now}`;
const iso = (ms) => new Date(ms).toISOString();

// rateOf reads the first "N/s" (or N/min) in a text as requests per second.
function rateOf(text) {
  const m = /([\d.]+)\/(s|min)\b/.exec(text);
  assert.ok(m, `no rate in ${JSON.stringify(text)}`);
  return Number(m[1]) / (m[2] === 'min' ? 60 : 1);
}

function noPageErrors() {
  const errs = pageErrors.splice(0);
  assert.deepEqual(errs, [], 'the page logged errors');
}

describe('search', () => {
  test('finds the seeded traces and plots them', async () => {
    await open(`/search?${fixtures}`);
    await page.locator('#f-service option[value="gateway"]').waitFor({ state: 'attached' });
    await page.selectOption('#f-service', 'gateway');
    await page.click('#f-submit');
    await page.waitForURL(/service=gateway/);
    const items = page.locator('.trace-item');
    await page.locator(`.trace-item[data-trace-id="${seed.big.id}"]`).waitFor();
    const ids = await items.evaluateAll((els) => els.map((e) => e.dataset.traceId));
    for (const t of [...seed.checkout, ...seed.health, seed.big]) assert.ok(ids.includes(t.id), `trace ${t.id} (${t.root}) is listed`);
    assert.equal(await page.locator('#scatter .dot').count(), ids.length, 'one dot per trace');
    const big = page.locator(`.trace-item[data-trace-id="${seed.big.id}"]`);
    assert.match(await big.innerText(), /10000 spans/);
    const declined = page.locator(`.trace-item[data-trace-id="${seed.checkout[0].id}"]`);
    assert.match(await declined.innerText(), new RegExp(`${seed.checkout[0].errors} errors`));
    await shot('search');
    noPageErrors();
  });

  test('filters by errors and attributes, keeping them in the URL', async () => {
    await open(`/search?service=gateway&errors=1&${fixtures}`);
    await page.locator('.trace-item').first().waitFor();
    const ids = await page.locator('.trace-item').evaluateAll((els) => els.map((e) => e.dataset.traceId));
    const failing = seed.checkout.filter((t) => t.errors > 0).map((t) => t.id).sort();
    assert.deepEqual(ids.sort(), failing);
    assert.equal(await page.isChecked('#f-errors'), true);

    await open(`/search?service=gateway&tags=user.id%3Du-41&${fixtures}`);
    await page.locator('.trace-item').first().waitFor();
    const one = await page.locator('.trace-item').evaluateAll((els) => els.map((e) => e.dataset.traceId));
    assert.deepEqual(one, [seed.checkout[1].id]);
    assert.equal(await page.inputValue('#f-tags'), 'user.id=u-41');
    noPageErrors();
  });

  test('keyboard: / focuses the filters, j selects, Enter opens', async () => {
    await open('/search?service=gateway');
    await page.locator('.trace-item').first().waitFor();
    await page.evaluate(() => document.activeElement && document.activeElement.blur());
    await page.keyboard.press('/');
    assert.equal(await page.evaluate(() => document.activeElement.id), 'f-tags');
    await page.keyboard.press('Escape');
    await page.keyboard.press('j');
    const first = await page.locator('.trace-item[aria-selected="true"]').getAttribute('data-trace-id');
    assert.ok(first);
    await page.keyboard.press('Enter');
    await page.waitForURL(new RegExp(`#/trace/${first}`));
    await page.locator('.wf-row').first().waitFor();
    noPageErrors();
  });

  test('the attributes box suggests keys and values with counts; Enter completes them', async () => {
    await open(`/search?service=gateway&${fixtures}`);
    await page.locator('.trace-item').first().waitFor();
    const keys = await api(`api/v1/attributes?service=gateway&prefix=user.&start=${iso(seed.fixturesStart)}&end=${iso(seed.fixturesEnd)}`);
    assert.equal(keys.status, 200);
    const userID = keys.body.data.find((k) => k.key === 'user.id');
    assert.ok(userID && userID.count >= seed.checkout.length, `user.id is among gateway's keys with its count: ${JSON.stringify(keys.body.data)}`);

    await page.click('#f-tags');
    await page.keyboard.type('user.');
    const item = page.locator('.ac-list:not(.hidden) .ac-item', { hasText: 'user.id' });
    await item.waitFor();
    assert.equal(await page.getAttribute('#f-tags', 'aria-expanded'), 'true');
    assert.equal(await item.locator('.ac-count').getAttribute('title'), `${userID.count} spans carry it; about ${userID.distinct} distinct values`);
    assert.match(await page.locator('.ac-item[aria-selected="true"]').innerText(), /user\.id/, 'the first key is highlighted');
    await shot('search-autocomplete-keys');
    await page.keyboard.press('Enter');
    assert.equal(await page.inputValue('#f-tags'), 'user.id=');
    // The key's values follow at once, with their counts.
    const value = page.locator('.ac-list:not(.hidden) .ac-item', { hasText: 'u-41' });
    await value.waitFor();
    assert.match(await value.locator('.ac-count').innerText(), /^\d/);
    await page.keyboard.type('u-41');
    await page.locator('.ac-list:not(.hidden) .ac-item').first().waitFor();
    await page.waitForFunction(() => [...document.querySelectorAll('.ac-list:not(.hidden) .ac-item .ac-label')].map((e) => e.textContent).join() === 'u-41');
    await shot('search-autocomplete-values');
    await page.keyboard.press('Enter');
    assert.equal(await page.inputValue('#f-tags'), 'user.id=u-41 ');
    assert.equal(await page.getAttribute('#f-tags', 'aria-expanded'), 'false');
    // Esc closes the list and leaves the text alone.
    await page.keyboard.type('cache');
    await page.locator('.ac-list:not(.hidden) .ac-item').first().waitFor();
    await page.keyboard.press('Escape');
    assert.equal(await page.isHidden('.ac-list'), true);
    assert.equal(await page.inputValue('#f-tags'), 'user.id=u-41 cache');
    await page.fill('#f-tags', 'user.id=u-41');
    await page.click('#f-submit');
    await page.waitForURL(/tags=user\.id%3Du-41/);
    await page.waitForFunction((id) => {
      const items = [...document.querySelectorAll('.trace-item')];
      return items.length === 1 && items[0].dataset.traceId === id;
    }, seed.checkout[1].id);
    noPageErrors();
  });

  test('clicking a dot opens its trace', async () => {
    await open(`/search?service=gateway&${fixtures}`);
    const dot = page.locator(`#scatter .dot[data-trace-id="${seed.checkout[2].id}"]`);
    await dot.waitFor();
    await dot.dispatchEvent('click');
    await page.waitForURL(new RegExp(`#/trace/${seed.checkout[2].id}`));
    await page.locator('.wf-row').first().waitFor();
    noPageErrors();
  });
});

describe('trace view', () => {
  const t = seed.checkout[0];
  let rp;

  before(async () => {
    const r = await api(`api/v1/traces/${t.id}`);
    assert.equal(r.status, 200);
    rp = r.body.data;
  });

  const allSpans = () => {
    const out = [];
    const walk = (n) => {
      out.push(n);
      n.children.forEach(walk);
    };
    rp.roots.forEach(walk);
    return out;
  };

  test('shows one row per visible span, and collapsing hides the subtree', async () => {
    await open(`/trace/${t.id}`);
    await page.locator('.wf-row[data-kind="span"]').first().waitFor();
    assert.equal(await page.locator('#trace-span-count').innerText(), String(t.spans));
    const rows = page.locator('.wf-row[data-kind="span"]');
    assert.equal(await rows.count(), t.spans, 'every span of a small trace has a row');
    const ids = await rows.evaluateAll((els) => els.map((e) => e.dataset.spanId));
    assert.deepEqual(new Set(ids), new Set(allSpans().map((s) => s.spanId)));

    const orderCreate = allSpans().find((s) => s.name === 'order.create');
    let hidden = 0;
    const count = (n) => n.children.forEach((c) => {
      hidden++;
      count(c);
    });
    count(orderCreate);
    await page.click(`.wf-row[data-span-id="${orderCreate.spanId}"] .wf-toggle`);
    await page.waitForFunction((n) => document.querySelectorAll('.wf-row[data-kind="span"]').length === n, t.spans - hidden);
    assert.equal(await page.getAttribute(`.wf-row[data-span-id="${orderCreate.spanId}"]`, 'aria-expanded'), 'false');
    await page.click(`.wf-row[data-span-id="${orderCreate.spanId}"] .wf-toggle`);
    await page.waitForFunction((n) => document.querySelectorAll('.wf-row[data-kind="span"]').length === n, t.spans);
    noPageErrors();
  });

  test('marks the critical path the API computed', async () => {
    await open(`/trace/${t.id}`);
    await page.locator('.wf-row[data-kind="span"]').first().waitFor();
    const marked = await page.locator('.wf-row.on-crit').evaluateAll((els) => els.map((e) => e.dataset.spanId));
    assert.deepEqual(new Set(marked), new Set(rp.criticalPath));
    assert.ok(rp.criticalPath.length < t.spans, 'the seeded trace has spans off the critical path');
    assert.ok(await page.locator('.wf-crit').count() >= rp.criticalPath.length);
    const off = allSpans().find((s) => !s.onCriticalPath);
    assert.equal(await page.locator(`.wf-row[data-span-id="${off.spanId}"] .wf-crit`).count(), 0);
    await page.click(`.wf-row[data-span-id="${rp.roots[0].spanId}"]`);
    await page.click('#tab-critical');
    assert.equal(await page.locator('#panel-body .logline').count(), rp.criticalPath.length);
    await shot('trace-critical-path');
    noPageErrors();
  });

  test('shows the trace logs under their spans and in the panel, linked back', async () => {
    await open(`/trace/${t.id}`);
    await page.locator('.wf-row[data-kind="span"]').first().waitFor();
    assert.equal(await page.locator('.wf-row.log-row').count(), t.logs, 'one timeline row per log record');
    // A span's records come right after the span's row.
    const pay = allSpans().find((s) => s.name === 'POST /charge');
    const next = await page.evaluate((id) => {
      const rows = [...document.querySelectorAll('.wf-row')].sort((a, b) => new DOMMatrix(getComputedStyle(a).transform).m42 - new DOMMatrix(getComputedStyle(b).transform).m42);
      const i = rows.findIndex((r) => r.dataset.spanId === id && r.dataset.kind === 'span');
      return rows[i + 1] && { kind: rows[i + 1].dataset.kind, span: rows[i + 1].dataset.spanId, text: rows[i + 1].innerText };
    }, pay.spanId);
    assert.equal(next.kind, 'log');
    assert.equal(next.span, pay.spanId);
    assert.match(next.text, /card declined/);

    await page.click('.wf-row[data-kind="span"]');
    await page.click('#tab-logs');
    const lines = page.locator('#panel-body .logline');
    assert.equal(await lines.count(), t.logs);
    await shot('trace-logs');
    await lines.filter({ hasText: 'card declined' }).locator('.spanlink a').click();
    await page.waitForFunction((id) => document.querySelector('.wf-row[aria-selected="true"]')?.dataset.spanId === id && document.querySelector('.wf-row[aria-selected="true"]').dataset.kind === 'span', pay.spanId);
    await page.waitForFunction(() => /POST \/charge/.test(document.querySelector('.panel-head')?.innerText || ''));
    assert.match(page.url(), new RegExp(`span=${pay.spanId}`));
    noPageErrors();
  });

  test('span details: typed attributes, events, resource; keyboard j/k, Enter, Esc', async () => {
    const root = rp.roots[0];
    await open(`/trace/${t.id}?span=${root.spanId}`);
    await page.locator('#panel-body').waitFor();
    const body = page.locator('#panel-body');
    await body.getByText('http.response.status_code').waitFor();
    const typeOf = async (key) => body.locator('.kv .k', { hasText: new RegExp(`^${key.replace(/\./g, '\\.')}$`) }).first().locator('xpath=following-sibling::div[1]').locator('.type').innerText();
    assert.equal((await typeOf('cart.total')).toLowerCase(), 'double');
    assert.equal((await typeOf('feature.fast_checkout')).toLowerCase(), 'bool');
    assert.equal((await typeOf('user.id')).toLowerCase(), 'string');
    assert.match(await body.innerText(), /deployment\.environment/);
    await shot('trace-span-detail');

    await page.keyboard.press('j');
    const sel = await page.locator('.wf-row[aria-selected="true"]').getAttribute('data-key');
    assert.notEqual(sel, root.spanId);
    await page.keyboard.press('k');
    assert.equal(await page.locator('.wf-row[aria-selected="true"]').getAttribute('data-span-id'), root.spanId);
    await page.keyboard.press('Escape');
    await page.locator('#side-panel.hidden').waitFor({ state: 'attached' });
    await page.keyboard.press('Enter');
    await page.locator('#side-panel:not(.hidden)').waitFor();
    noPageErrors();
  });

  test('dark theme', async () => {
    await open(`/trace/${seed.checkout[1].id}`);
    await page.locator('.wf-row').first().waitFor();
    await page.click('#theme-btn');
    assert.equal(await page.getAttribute('html', 'data-theme'), 'dark');
    const bg = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
    assert.notEqual(bg, 'rgb(247, 248, 250)');
    await shot('trace-dark');
    await page.click('#theme-btn');
    assert.equal(await page.getAttribute('html', 'data-theme'), 'light');
    noPageErrors();
  });
});

describe('large trace', () => {
  test('the 10,000-span trace opens and renders only the visible rows', async () => {
    await open(`/trace/${seed.big.id}`);
    await page.locator('.wf-row[data-kind="span"]').first().waitFor();
    assert.equal(await page.locator('#trace-span-count').innerText(), String(seed.big.spans));
    const total = await page.evaluate(() => window.__tracehouse.waterfall.rows.length);
    assert.equal(total, seed.big.spans + seed.big.logs, 'a row per span and log');
    const inDom = await page.locator('.wf-row').count();
    assert.ok(inDom > 10 && inDom < 120, `only the rows in view are in the DOM (${inDom})`);
    const height = await page.evaluate(() => document.querySelector('.wf-spacer').getBoundingClientRect().height);
    assert.equal(height, total * 26, 'the scroll area is as tall as every row');
    await shot('trace-10k');

    // Jump to the end: the last span's row is rendered and the DOM stays small.
    const lastId = await page.evaluate(() => {
      const rows = window.__tracehouse.waterfall.rows;
      return rows[rows.length - 1].key;
    });
    await page.evaluate(() => {
      const vp = document.querySelector('.wf-viewport');
      vp.scrollTop = vp.scrollHeight;
    });
    await page.locator(`.wf-row[data-key="${lastId}"]`).waitFor();
    const after = await page.locator('.wf-row').count();
    assert.ok(after < 120, `still only the rows in view (${after})`);
    await shot('trace-10k-end');

    // Keyboard moves through the virtual rows too.
    await page.keyboard.press('End');
    assert.equal(await page.locator('.wf-row[aria-selected="true"]').getAttribute('data-key'), lastId);
    await page.keyboard.press('Home');
    await page.locator('.wf-row[aria-selected="true"][data-kind="span"]').waitFor();
    noPageErrors();
  });
});

describe('service map and dashboards', () => {
  test('shows the seeded services and calls', async () => {
    await open('/map');
    await page.locator('.map-node').first().waitFor();
    const nodes = await page.locator('.map-node').evaluateAll((els) => els.map((e) => e.dataset.service).sort());
    for (const s of seed.services) assert.ok(nodes.includes(s), `service ${s} on the map`);
    const edges = await page.locator('.map-edge').evaluateAll((els) => els.map((e) => `${e.dataset.parent}>${e.dataset.child}`));
    for (const [p, c] of seed.edges) assert.ok(edges.includes(`${p}>${c}`), `edge ${p} → ${c} on the map`);
    // gateway serves the declined checkouts: its error rate is marked, and
    // so are the errors on its calls to order.
    assert.equal(await page.locator('.map-node[data-service="gateway"] .stat.bad').count(), 1, 'a failing service is marked');
    assert.match(await page.locator('.map-edge[data-parent="gateway"][data-child="order"] text.err').textContent(), /failed/);
    await shot('service-map');
    noPageErrors();
  });

  test('an edge opens its traces, a node its dashboard', async () => {
    await open('/map');
    await page.locator('.map-edge[data-parent="order"][data-child="payment"]').dispatchEvent('click');
    await page.waitForURL(/#\/search\?service=payment/);
    await page.locator('.trace-item').first().waitFor();

    await open('/map');
    await page.locator('.map-node[data-service="payment"]').dispatchEvent('click');
    await page.waitForURL(/#\/service\/payment/);
    await page.locator('#chart-rate svg').waitFor();
    await page.locator('#chart-latency svg').waitFor();
    await page.locator('#operations tbody tr').first().waitFor();
    const ops = await page.locator('#operations tbody tr').evaluateAll((els) => els.map((e) => e.dataset.operation));
    assert.ok(ops.includes('POST /charge'));
    await shot('service-dashboard');
    await page.click('#operations tbody tr[data-operation="POST /charge"]');
    await page.waitForURL(/operation=POST/);
    await page.locator('#chart-rate svg').waitFor();
    noPageErrors();
  });

  test('services list', async () => {
    await open('/services');
    await page.locator('.svc-card').first().waitFor();
    const names = await page.locator('.svc-card').evaluateAll((els) => els.map((e) => e.dataset.service));
    for (const s of seed.services) assert.ok(names.includes(s));
    await shot('services');
    noPageErrors();
  });
});

describe('logs explorer', () => {
  test('a query returns the seeded records, with volume and a jump to the trace', async () => {
    await open('/logs');
    await page.locator('#logs-q').waitFor();
    await page.fill('#logs-q', 'service:payment level:error "card declined"');
    await page.press('#logs-q', 'Enter');
    await page.waitForURL(/q=service/);
    const rows = page.locator('#logs-table tbody tr[data-index]');
    // Right after the URL changes, the previous query's rows can still be
    // on screen (the page re-renders when the new answer arrives): wait for
    // this query's rows, then check them.
    await page.waitForFunction((n) => {
      const trs = [...document.querySelectorAll('#logs-table tbody tr[data-index]')];
      return trs.length === n && trs.every((tr) => /card declined/.test(tr.innerText));
    }, seed.declinedLogs);
    assert.equal(await rows.count(), seed.declinedLogs);
    for (const text of await rows.allInnerTexts()) assert.match(text, /card declined/);
    await page.locator('#logs-histogram svg').waitFor();
    await rows.first().click();
    await page.locator('#logs-table tr.detail').waitFor();
    assert.match(await page.locator('#logs-table tr.detail').innerText(), /payment\.provider/);
    await shot('logs');
    await rows.first().locator('a.trace-link').click();
    await page.waitForURL(/#\/trace\/c0/);
    await page.locator('.wf-row[aria-selected="true"]').waitFor();
    noPageErrors();
  });

  test('a bad query shows its error at its position', async () => {
    const r = await api(`api/v1/logs?q=${encodeURIComponent(seed.badQuery)}`);
    assert.equal(r.status, 400);
    const want = r.body.errors[0];
    assert.equal(want.param, 'q');
    assert.equal(typeof want.position, 'number');

    await open('/logs');
    await page.fill('#logs-q', seed.badQuery);
    await page.press('#logs-q', 'Enter');
    const err = page.locator('#logs-q-error');
    await err.waitFor();
    assert.equal(await err.getAttribute('data-position'), String(want.position));
    assert.match(await err.innerText(), new RegExp(`position ${want.position}`));
    const caretLine = await err.locator('.caret').innerText();
    assert.equal(caretLine.indexOf('^'), want.position, 'the caret sits under the position');
    assert.equal(await page.getAttribute('#logs-q', 'aria-invalid'), 'true');
    const sel = await page.evaluate(() => document.getElementById('logs-q').selectionStart);
    assert.equal(sel, [...seed.badQuery].slice(0, want.position).join('').length, 'the cursor is put at the error');
    await shot('logs-query-error');
    noPageErrors();
  });

  test('the query box suggests fields and values with counts; arrows and Enter complete them', async () => {
    await open(`/logs?${lastHour}`);
    await page.locator('#logs-table tbody tr').first().waitFor();
    const levels = await api(`api/v1/attributes/values?signal=log&scope=field&key=level&start=${iso(seed.now - 3600e3)}&end=${iso(seed.now)}`);
    assert.equal(levels.status, 200);
    const errors = levels.body.data.values.find((v) => v.value === 'error');
    assert.ok(errors && errors.count >= seed.declinedLogs, `level error is counted: ${JSON.stringify(levels.body.data)}`);

    await page.click('#logs-q');
    await page.keyboard.type('lev');
    const field = page.locator('.ac-list:not(.hidden) .ac-item', { hasText: 'level:' });
    await field.waitFor();
    // A bare word may be a full-text search: nothing is highlighted until
    // an arrow picks a suggestion.
    assert.equal(await page.locator('.ac-item[aria-selected="true"]').count(), 0);
    await page.keyboard.press('ArrowDown');
    await page.keyboard.press('Enter');
    assert.equal(await page.inputValue('#logs-q'), 'level:');
    const value = page.locator('.ac-list:not(.hidden) .ac-item', { hasText: /^error/ });
    await value.waitFor();
    assert.equal(await value.locator('.ac-count').getAttribute('title'), `${errors.count} occurrences`);
    await shot('logs-autocomplete');
    await page.keyboard.type('er');
    await page.waitForFunction(() => [...document.querySelectorAll('.ac-list:not(.hidden) .ac-item .ac-label')].map((e) => e.textContent).join() === 'error');
    await page.keyboard.press('Enter');
    assert.equal(await page.inputValue('#logs-q'), 'level:error ');
    // attr. keys, from the records' own attributes.
    await page.keyboard.type('attr.payment');
    await page.locator('.ac-list:not(.hidden) .ac-item', { hasText: 'attr.payment.provider:' }).waitFor();
    await page.keyboard.press('Enter');
    await page.locator('.ac-list:not(.hidden) .ac-item', { hasText: 'acme-pay' }).waitFor();
    await page.keyboard.press('Enter');
    assert.equal(await page.inputValue('#logs-q'), 'level:error attr.payment.provider:acme-pay ');
    await page.keyboard.press('Enter');
    await page.waitForURL(/q=level%3Aerror/);
    await page.waitForFunction((n) => {
      const trs = [...document.querySelectorAll('#logs-table tbody tr[data-index]')];
      return trs.length === n && trs.every((tr) => /card declined/.test(tr.innerText));
    }, seed.declinedLogs);
    noPageErrors();
  });

  test('suggestions that fail say so and do not stop the search', async () => {
    await open(`/logs?${lastHour}`);
    await page.locator('#logs-table tbody tr').first().waitFor();
    await page.route('**/api/v1/attributes**', (route) => route.fulfill({ status: 429, contentType: 'application/json', headers: { 'Retry-After': '1' },
      body: JSON.stringify({ data: null, errors: [{ code: 429, msg: 'the query service is busy' }] }) }));
    await page.click('#logs-q');
    await page.keyboard.type('service:');
    const err = page.locator('.ac-list:not(.hidden) .ac-error');
    await err.waitFor();
    assert.match(await err.innerText(), /Suggestions unavailable: the query service is busy/);
    await shot('logs-autocomplete-error');
    await page.keyboard.type('payment');
    await page.keyboard.press('Enter');
    await page.waitForURL(/q=service%3Apayment/);
    await page.unroute('**/api/v1/attributes**');
    pageErrors.splice(0); // the 429 is logged by the browser on purpose
  });

  test('the Patterns tab lists templates with counts; a click filters the logs to that pattern', async () => {
    const want = 'order <*> created with <*> items';
    await open(`/logs?q=service%3Aorder&view=patterns&${fixtures}`);
    const row = page.locator('#patterns-table tr.pattern-row', { hasText: want });
    await row.waitFor();
    assert.equal(await page.getAttribute('#logs-tab-patterns', 'aria-selected'), 'true');
    assert.equal(await page.isHidden('#logs-table'), true);
    // Every record of the range is mined here: counts are exact.
    assert.match(await page.locator('#patterns-note').innerText(), /patterns? in the \d+ records that match/);
    assert.equal(await row.locator('.pcount').innerText(), String(seed.checkout.length));
    assert.equal(await row.locator('.ph').count(), 2, 'the variable parts are marked');
    assert.match(await row.locator('.pexample').innerText(), /order \d+ created with \d+ items/);
    assert.equal(await row.locator('svg.spark').count(), 1);
    await shot('logs-patterns');
    await row.click();
    await page.waitForURL((u) => /pattern/.test(decodeURIComponent(u.hash)) && !/view=patterns/.test(u.hash));
    assert.equal(await page.inputValue('#logs-q'), `service:order pattern:"${want}"`);
    await page.waitForFunction((n) => {
      const trs = [...document.querySelectorAll('#logs-table tbody tr[data-index]')];
      return trs.length === n && trs.every((tr) => /order \d+ created with \d+ items/.test(tr.innerText));
    }, seed.checkout.length);
    assert.equal(await page.getAttribute('#logs-tab-records', 'aria-selected'), 'true');
    // The keyboard reaches a pattern too: j moves to a row, Enter opens it.
    await open(`/logs?q=service%3Aorder&view=patterns&${fixtures}`);
    await row.waitFor();
    await page.evaluate(() => document.activeElement && document.activeElement.blur());
    await page.keyboard.press('j');
    assert.equal(await page.evaluate(() => document.activeElement.classList.contains('pattern-row')), true, 'j focuses the first pattern');
    await page.keyboard.press('Enter');
    await page.waitForURL((u) => /pattern/.test(decodeURIComponent(u.hash)));
    noPageErrors();
  });

  test('live tail connects and shows its state', async () => {
    await open('/logs?q=service%3Apayment');
    await page.locator('#logs-table tbody tr').first().waitFor();
    await page.click('#live-toggle');
    await page.waitForURL(/live=1/);
    assert.equal(await page.getAttribute('#live-toggle', 'aria-pressed'), 'true');
    await page.waitForFunction(() => /^Live/.test(document.getElementById('logs-status').innerText));
    await page.click('#live-toggle');
    await page.waitForURL((u) => !/live=1/.test(u.href));
    noPageErrors();
  });
});

describe('saved views', () => {
  test('save the logs page as a named view, list it, open its link, delete it', async () => {
    const route = `/logs?q=${encodeURIComponent('service:payment level:error')}&${lastHour}`;
    await open(route);
    await page.locator('#logs-table tbody tr').first().waitFor();
    await page.click('#views-btn');
    await page.locator('#views-dialog').waitFor();
    // A name is required: the service says so.
    await page.click('#views-save');
    await page.waitForFunction(() => /give the view a name/.test(document.getElementById('views-error').innerText));
    await page.fill('#views-name', 'checkout failures, last hour');
    await page.click('#views-save');
    const item = page.locator('#views-list .view-item', { hasText: 'checkout failures, last hour' });
    await item.waitFor();
    const id = await item.getAttribute('data-id');
    assert.match(id, /^[0-9a-f]{16}$/);
    await shot('saved-views');
    const stored = await api(`api/v1/views/${id}`);
    assert.equal(stored.status, 200);
    assert.equal(decodeURIComponent(stored.body.data.route), decodeURIComponent(route));
    await page.keyboard.press('Escape');

    // Its link opens the page it holds, with the query and the range.
    await open(`/view/${id}`);
    await page.waitForURL((u) => u.hash.startsWith('#/logs?'));
    assert.equal(await page.inputValue('#logs-q'), 'service:payment level:error');
    await page.waitForFunction(() => {
      const trs = [...document.querySelectorAll('#logs-table tbody tr[data-index]')];
      return trs.length > 0 && trs.every((tr) => /payment/.test(tr.querySelector('.svc-cell').innerText) && /error/i.test(tr.querySelector('.lvl').innerText));
    });

    // Delete takes two clicks: a view is shared.
    await page.click('#views-btn');
    const del = page.locator(`#views-list .view-item[data-id="${id}"] button`, { hasText: 'Delete' });
    await del.click();
    assert.equal(await del.innerText(), 'Delete for everyone?');
    await del.click();
    await page.locator(`#views-list .view-item[data-id="${id}"]`).waitFor({ state: 'detached' });
    assert.equal((await api(`api/v1/views/${id}`)).status, 404);
    await page.keyboard.press('Escape');
    // A deleted view's link says so.
    await open(`/view/${id}`);
    await page.locator('#view-error').waitFor();
    assert.match(await page.locator('#view-error').innerText(), /deleted, or the link is wrong/);
    await shot('saved-view-missing');
    pageErrors.splice(0); // the 404 is logged by the browser on purpose
  });
});

describe('compare', () => {
  test('two traces side by side with their differences marked', async () => {
    const [a, b] = [seed.checkout[0], seed.checkout[1]];
    await open(`/compare?a=${a.id}&b=${b.id}`);
    await page.locator('.cmp-table tbody tr').first().waitFor();
    const added = page.locator('.cmp-table tr[data-change="added"]');
    assert.ok(await added.count() >= 1, 'B has a span path A lacks');
    assert.match(await added.first().innerText(), /ledger\.write/);
    assert.match(await page.locator('.cmp-summary').innerText(), new RegExp(`${a.spans}`));
    await shot('compare');
    noPageErrors();
  });
});

// Issue 21: the UI tells the truth at a glance, on the shop's traffic:
// steady load, then payment in an outage behind order's breaker.
describe('rates, root causes, error reasons, incomplete data', () => {
  test('rates are over the data, the same on the map, the services list, the dashboard and its operations', async () => {
    // Over the last hour the data covers the 50 minutes since the first
    // hand-made trace: the map's rate is calls per second of those, said
    // on the page, not of the hour.
    await open(`/map?${lastHour}`);
    let gwNode = page.locator('.map-node[data-service="gateway"]');
    await gwNode.waitFor();
    const m = (await api(`api/v1/servicemap?start=${iso(seed.now - 3600e3)}&end=${iso(seed.now)}`)).body.data;
    const gw = m.nodes.find((n) => n.service === 'gateway');
    assert.ok(Math.abs(gw.rate - gw.calls / m.coverage.seconds) < 1e-3 && m.coverage.seconds < 3300, JSON.stringify(m.coverage));
    assert.ok(Math.abs(rateOf(await gwNode.locator('text.stat').first().textContent()) - gw.rate) < 0.01);
    assert.match(await page.locator('#map-coverage').innerText(), /per second over the \d+ min( \d+ s)? the data covers/);

    // Over a range that starts a minute before the shop's 10 minutes of
    // traffic: 5/s, not 10/11 of it.
    const shopRange = `range=custom&start=${seed.shop.start - 60e3}&end=${seed.now}`;
    await open(`/map?${shopRange}`);
    gwNode = page.locator('.map-node[data-service="gateway"]');
    await gwNode.waitFor();
    const mapRate = rateOf(await gwNode.locator('text.stat').first().textContent());
    assert.ok(Math.abs(mapRate - seed.shop.rate) < 0.1, `gateway on the map: ${mapRate}/s, want about ${seed.shop.rate}/s`);

    await open(`/services?${shopRange}`);
    const card = page.locator('.svc-card[data-service="gateway"] .stats');
    await card.waitFor();
    assert.equal(rateOf(await card.innerText()), mapRate, 'the services list shows the map\u2019s rate');
    assert.match(await page.locator('#svc-coverage').innerText(), /the data covers/);

    await open(`/service/gateway?${shopRange}`);
    await page.locator('#rate-summary').waitFor();
    assert.equal(rateOf(await page.locator('#rate-summary').innerText()), mapRate, 'the dashboard shows the map\u2019s rate');
    const row = page.locator('#operations tbody tr[data-operation="POST /api/checkout"]');
    await row.waitFor();
    const opRate = rateOf(await row.locator('td').nth(2).innerText());
    assert.ok(Math.abs(opRate - mapRate) / mapRate < 0.02, `the checkout operation: ${opRate}/s beside the map's ${mapRate}/s`);
    // The last 5 minutes of the operation failed, whatever the hour says.
    assert.equal(await row.locator('td.recent').innerText(), '100%');
    // The chart: no data before the first span, the last (filling) minute
    // drawn as partial, not as a fall.
    await page.locator('#chart-rate svg').waitFor();
    assert.ok(await page.locator('#chart-rate circle.partial-point').count() >= 1, 'partial steps are marked');
    await open(`/service/payment?${lastHour}`);
    await page.locator('#chart-rate svg').waitFor();
    assert.ok(await page.locator('#chart-rate rect.nodata').count() >= 1, 'the time before any data is shaded "no data"');
    // Payment's own charts are mostly fine (the breaker spares it); the
    // dashboard says what its callers saw.
    await page.locator('#dash-health .health-box').waitFor();
    assert.match(await page.locator('#dash-health').innerText(), /Unreachable, and the failure starts here: its callers could not reach it/);
    assert.ok(await page.locator('#chart-rate circle.partial-point').count() >= 1, 'partial steps are marked');
    const r = await api(`api/v1/metrics/red?service=gateway&start=${iso(seed.now - 3600e3)}&end=${iso(seed.now)}&step=60`);
    const withData = r.body.data.points.filter((p) => p.rate !== null);
    const last = withData[withData.length - 1];
    // Coverage ends on the second after the last span (query/coverage.go),
    // so a partial minute of c seconds holds between rate×(c−1) and
    // rate×c calls: a minute only seconds old cannot be held to ±1/s (the
    // seed's now 2 s into a minute gave 7 calls over 2 s, 3.5/s). It is
    // partial unless the seed's now fell on the minute's end (CI: 297 calls
    // over the whole 60 s, not partial).
    const c = last.coveredSeconds;
    assert.ok(Boolean(last.partial) === (c < 60) && last.calls >= seed.shop.rate * (c - 1) - 1 && last.calls <= seed.shop.rate * c + 1,
      `the last minute: ${JSON.stringify(last)}`);
    await open(`/service/order?${shopRange}`);
    await page.locator('#operations tbody tr').first().waitFor();
    await page.locator('#chart-latency svg').waitFor();
    await shot('service-dashboard-outage');
    noPageErrors();
  });

  test('the map shows where the failure starts, and labels never cross a line', async () => {
    await open(`/map?${lastHour}`);
    await page.locator('.map-node[data-service="payment"]').waitFor();
    const health = async (svc) => page.locator(`.map-node[data-service="${svc}"]`).evaluate((e) => [e.dataset.health, e.dataset.rootCause]);
    // The breaker spares payment, so its own errors are few; its callers'
    // calls to it all fail: it is red, and the failure starts there.
    assert.deepEqual(await health('payment'), ['unreachable', 'true']);
    assert.deepEqual(await health('order'), ['failing', 'false']);
    assert.deepEqual(await health('gateway'), ['failing', 'false']);
    assert.deepEqual(await health('auth'), ['ok', 'false']);
    assert.match(await page.locator('.map-node[data-service="payment"] .root-label').textContent(), /failure starts here/);
    assert.match(await page.locator('.map-edge[data-parent="order"][data-child="payment"] text.err').textContent(), /\d+% failed \(\d+ short-circuited\)/);
    await shot('service-map-outage');

    // The recent view: the last 5 minutes, where the outage is everything.
    await page.click('#map-view-recent');
    await page.waitForURL(/view=recent/);
    assert.match(page.url(), /range=custom/, 'the view keeps the range');
    await page.locator('#map-view-recent.on').waitFor();
    await page.locator('.map-node[data-service="payment"]').waitFor();
    assert.match(await page.locator('#map-coverage').innerText(), /Last 5 minutes/);
    assert.match(await page.locator('.map-node[data-service="payment"]').textContent(), /100% failed/);
    assert.match(await page.locator('.map-edge[data-parent="order"][data-child="payment"] text.err').textContent(), /^100% failed \(\d+ short-circuited\)/);
    await shot('service-map-outage-recent');

    // Labels sit on straight runs of their own line: no line passes
    // through any label's box.
    const crossings = await page.evaluate(() => {
      const out = [];
      const labels = [...document.querySelectorAll('.map-edge text')].map((t) => ({ box: t.getBBox(), edge: t.parentNode.dataset }));
      for (const path of document.querySelectorAll('.map-edge path.line')) {
        const len = path.getTotalLength();
        for (let d = 0; d <= len; d += 2) {
          const p = path.getPointAtLength(d);
          for (const l of labels) {
            const b = l.box;
            if (p.x > b.x + 1 && p.x < b.x + b.width - 1 && p.y > b.y + 1 && p.y < b.y + b.height - 1) {
              out.push(`${path.parentNode.dataset.parent}→${path.parentNode.dataset.child} crosses the label of ${l.edge.parent}→${l.edge.child}`);
            }
          }
        }
      }
      return [...new Set(out)];
    });
    assert.deepEqual(crossings, []);
    noPageErrors();
  });

  test('the search plot is scaled to the results; incomplete traces are marked there and in the trace', async () => {
    await open(`/search?service=gateway&${lastHour}`);
    await page.locator('#scatter .dot').first().waitFor();
    const spread = await page.evaluate(() => {
      const xs = [...document.querySelectorAll('#scatter .dot')].map((d) => Number(d.getAttribute('cx')));
      const w = document.querySelector('#scatter svg').getAttribute('width');
      return (Math.max(...xs) - Math.min(...xs)) / w;
    });
    assert.ok(spread > 0.6, `the 20 most recent traces spread over ${Math.round(spread * 100)}% of the plot, not one column`);
    const arriving = page.locator(`.trace-item[data-trace-id="${seed.shop.arriving}"]`);
    await arriving.waitFor();
    assert.match(await arriving.locator('.badge.incomplete').innerText(), /may still be arriving/);
    assert.equal(await page.locator(`#scatter .dot.hollow[data-trace-id="${seed.shop.arriving}"]`).count(), 1);
    await shot('search-outage');

    await open(`/search?service=order&operation=POST%20%2Fv1%2Forders&limit=100&range=custom&start=${seed.now - 185e3}&end=${seed.now - 175e3}`);
    const noRoot = page.locator(`.trace-item[data-trace-id="${seed.shop.noRoot}"]`);
    await noRoot.waitFor();
    assert.match(await noRoot.locator('.badge.incomplete').innerText(), /no root/);

    await open(`/trace/${seed.shop.noRoot}`);
    await page.locator('#trace-incomplete').waitFor();
    assert.match(await page.locator('#trace-incomplete').innerText(), /root span is missing/);
    await open(`/trace/${seed.shop.arriving}`);
    await page.locator('#trace-incomplete').waitFor();
    assert.match(await page.locator('#trace-incomplete').innerText(), /still be arriving/);
    await shot('trace-incomplete');
    await open(`/trace/${seed.shop.okTrace}`);
    await page.locator('.wf-row').first().waitFor();
    assert.equal(await page.locator('#trace-incomplete').count(), 0, 'a complete trace has no banner');
    noPageErrors();
  });

  test('log rows show the reason; search finds it in the error attributes, with infix wildcards', async () => {
    await open(`/logs?q=service%3Apayment%20level%3Aerror&${lastHour}`);
    const rows = page.locator('#logs-table tbody tr[data-index]');
    await rows.first().waitFor();
    const first = rows.first();
    assert.match(await first.locator('.msg').innerText(), /request served/);
    assert.match(await first.locator('.hl[data-field="error"]').innerText(), new RegExp(seed.shop.outageText));
    assert.match(await first.locator('.hl[data-field="http.response.status_code"]').innerText(), /503/);
    // total means what the page says: every match in the range.
    const r = await api(`api/v1/logs?q=${encodeURIComponent('service:payment level:error')}&limit=10&start=${iso(seed.now - 3600e3)}&end=${iso(seed.now)}`);
    assert.ok(r.body.total > r.body.data.logs.length, `total ${r.body.total} counts more than the page of ${r.body.data.logs.length}`);
    await page.waitForFunction(() => /\d+ records? match/.test(document.getElementById('logs-status').innerText));
    const status = await page.locator('#logs-status').innerText();
    const histTotal = Number((await page.locator('#logs-total').innerText()).match(/\d+/)[0]);
    assert.equal(Number(status.match(/^(\d+) record/)[1]), histTotal, `status "${status}" and the histogram agree`);
    assert.ok(await page.locator('#logs-histogram .bar.partial').count() >= 1, 'the filling bucket is drawn partial');
    // The trace column is the last, at the right edge.
    const [msgBox, traceBox, tableBox] = await Promise.all([first.locator('td.body').boundingBox(), first.locator('td.trace-col').boundingBox(), page.locator('#logs-table').boundingBox()]);
    assert.ok(traceBox.x > msgBox.x + msgBox.width - 2 && traceBox.x + traceBox.width > tableBox.x + tableBox.width - 4, 'trace → sits at the right edge');
    assert.match(await page.getAttribute('#logs-q', 'placeholder'), /^Search/, 'the placeholder reads as a hint, not as a query');
    await shot('logs-errors');

    for (const q of [`"${seed.shop.outageText}"`, 'attr.error:*outage*', '*outage*']) {
      await open(`/logs?q=${encodeURIComponent(q)}&${lastHour}`);
      await page.waitForFunction(() => /match|No records/.test(document.getElementById('logs-status').innerText));
      assert.equal(await page.locator('#logs-q-error:not(.hidden)').count(), 0, `${q} is accepted`);
      assert.ok(await rows.count() > 0, `${q} finds the outage's records (their body is "request served")`);
    }
    // The highlighted fields are the user's to choose.
    await page.fill('#logs-fields', 'http.route');
    await page.press('#logs-fields', 'Enter');
    await page.waitForURL(/fields=http\.route/);
    await page.locator('#logs-table tbody tr[data-index] .hl[data-field="http.route"]').first().waitFor();
    assert.equal(await page.locator('#logs-table .hl[data-field="error"]').count(), 0);
    await page.evaluate(() => localStorage.removeItem('tracehouse.logFields'));
    noPageErrors();
  });

  test('smaller things: span panel log counts, key wrapping, last ruler tick, compare order', async () => {
    // A checkout that failed while payment was down: order's span has logs
    // of its own, the trace has more.
    const rp = (await api(`api/v1/traces/${seed.shop.failedTrace}`)).body.data;
    const find = (n, pred) => pred(n) ? n : n.children.map((c) => find(c, pred)).find(Boolean);
    const orderSpan = find(rp.roots[0], (n) => n.service === 'order' && n.kind === 'server');
    const gwClient = find(rp.roots[0], (n) => n.service === 'gateway' && n.kind === 'client' && n.name === 'POST /v1/orders');
    const traceLogs = rp.logs.length + (function count(n) { return n.logs.length + n.children.reduce((a, c) => a + count(c), 0); })(rp.roots[0]);
    await open(`/trace/${seed.shop.failedTrace}?span=${orderSpan.spanId}`);
    await page.locator('#panel-body').waitFor();
    assert.match(await page.locator('#panel-body').innerText(), new RegExp(`Logs of this span \\(${orderSpan.logs.length}\\)`, 'i'));
    assert.equal(await page.locator('#tab-logs').innerText(), `Trace logs (${traceLogs})`);
    assert.ok(orderSpan.logs.length < traceLogs);

    // Attribute keys wrap after a dot, never inside a word.
    await open(`/trace/${seed.shop.failedTrace}?span=${gwClient.spanId}`);
    await page.locator('#panel-body .kv .k').first().waitFor();
    await page.evaluate(() => { document.getElementById('side-panel').style.width = '320px'; });
    const broken = await page.evaluate(() => {
      const out = [];
      for (const k of document.querySelectorAll('#panel-body .kv .k')) {
        for (const node of k.childNodes) {
          if (node.nodeType !== Node.TEXT_NODE) continue;
          const range = document.createRange();
          range.selectNodeContents(node);
          const tops = new Set([...range.getClientRects()].map((r) => Math.round(r.top)));
          if (tops.size > 1) out.push(node.textContent);
        }
      }
      return out;
    });
    assert.deepEqual(broken, [], 'no part of a key between dots is split over two lines');

    // The ruler's last tick label is inside the ruler.
    const clipped = await page.evaluate(() => {
      const ruler = document.querySelector('.wf-ruler').getBoundingClientRect();
      return [...document.querySelectorAll('.wf-ruler .tick')].filter((t) => t.getBoundingClientRect().right > ruler.right + 0.5).map((t) => t.innerText);
    });
    assert.deepEqual(clipped, []);

    // Compare lists span paths in execution order: order reserves stock
    // before it charges payment (alphabetically it would be the reverse).
    await open(`/compare?a=${seed.shop.okTrace}&b=${seed.shop.failedTrace}`);
    await page.locator('.cmp-table tbody tr').first().waitFor();
    const paths = await page.locator('.cmp-table tbody tr').evaluateAll((els) => els.map((e) => e.title));
    const at = (suffix) => paths.findIndex((p) => p.endsWith(suffix));
    assert.ok(at('order:saga.reserve_stock') >= 0 && at('order:saga.reserve_stock') < at('order:saga.charge_payment'), paths.join('\n'));
    assert.ok(at('gateway:POST /v1/tokens/validate') < at('gateway:POST /v1/orders'), paths.join('\n'));
    await shot('compare-execution-order');
    noPageErrors();
  });
});

// Issue 19: requests that cross a broker, and services with several
// instances.
describe('asynchronous request paths', () => {
  const a = seed.async;
  let rp;
  const findIn = (n, pred) => (pred(n) ? n : n.children.map((c) => findIn(c, pred)).find(Boolean));

  before(async () => {
    const r = await api(`api/v1/traces/${a.trace}`);
    assert.equal(r.status, 200);
    rp = r.body.data;
  });

  test('the waterfall marks producer and consumer spans, draws the wait in the broker, and the critical path runs through the consumers', async () => {
    await open(`/trace/${a.trace}`);
    // The rows are drawn again once the links are resolved (a marker at
    // the linked span's start): measure after that.
    await page.locator(`.wf-row[data-span-id="${a.deliveries[0]}"] .wf-mark.link`).waitFor();
    assert.equal(await page.locator('#trace-span-count').innerText(), String(a.spans));
    assert.equal(await page.locator(`.wf-row[data-span-id="${a.publishSpan}"] .wf-kind.producer`).count(), 1, 'the publish is marked as a producer');
    const pubBar = await page.locator(`.wf-row[data-span-id="${a.publishSpan}"] .wf-bar`).boundingBox();
    for (const [i, id] of a.deliveries.entries()) {
      const row = page.locator(`.wf-row[data-span-id="${id}"]`);
      assert.equal(await row.locator('.wf-kind.consumer').count(), 1, `delivery ${i + 1} is marked as a consumer`);
      const span = findIn(rp.roots[0], (n) => n.spanId === id);
      assert.equal(span.queueDelayNs, a.queueDelayMs[i] * 1e6, `delivery ${i + 1}: queue delay from the API`);
      // The wait is drawn from the publish's start to the delivery's.
      const wait = await row.locator('.wf-queue').boundingBox();
      const bar = await row.locator('.wf-bar').boundingBox();
      assert.ok(Math.abs(wait.x - pubBar.x) <= 2, `delivery ${i + 1}: the wait starts at the publish (${wait.x} vs ${pubBar.x})`);
      assert.ok(Math.abs(wait.x + wait.width - bar.x) <= 2, `delivery ${i + 1}: the wait ends where the delivery starts`);
      assert.ok(bar.x - pubBar.x - pubBar.width > 10, 'the publish–consume gap is visible');
      assert.match(await row.getAttribute('aria-label'), /\(consumer\).*queued/);
    }
    assert.match(await page.locator(`.wf-row[data-span-id="${a.deliveries[1]}"] .wf-queue-label`).innerText(), /^queued \d+(\.\d+)?ms$/);
    // Each delivery says which one it was and whether it failed, beside
    // its bar; the wait's label and the bar's do not cover each other.
    assert.deepEqual(await Promise.all(a.deliveries.map((id) => page.locator(`.wf-row[data-span-id="${id}"] .wf-delivery`).innerText())),
      [' · delivery #1 failed', ' · delivery #2 failed', ' · delivery #3']);
    for (const id of a.deliveries) {
      const row = page.locator(`.wf-row[data-span-id="${id}"]`);
      if (!(await row.locator('.wf-queue-label').count())) continue;
      const q = await row.locator('.wf-queue-label').boundingBox();
      const lb = await row.locator('.wf-label').boundingBox();
      assert.ok(q.x + q.width <= lb.x || lb.x + lb.width <= q.x, `${id}: the wait's label and the span's label overlap`);
    }
    // The header tells the response from the request's end.
    assert.equal(await page.locator('#trace-response').innerText(), '60ms');
    assert.match(await page.locator('#trace-duration').innerText(), /^1\.2\ds$/);

    // The path runs on through every delivery; each wait in the broker is
    // a queue stretch of its own, on the delivery's row.
    const queued = rp.criticalSegments.filter((sg) => sg.queue).map((sg) => sg.spanId);
    assert.deepEqual(queued, a.deliveries, 'a queue segment before each delivery');
    for (const id of [a.publishSpan, ...a.deliveries]) assert.ok(rp.criticalPath.includes(id), `${id} is on the critical path`);
    for (const id of a.deliveries) assert.equal(await page.locator(`.wf-row[data-span-id="${id}"] .wf-crit.queue`).count(), 1);
    await page.click(`.wf-row[data-span-id="${a.deliveries[0]}"]`);
    await page.locator('#span-messaging').waitFor();
    assert.match(await page.locator('#span-queue-delay').innerText(), /^78ms/);
    assert.match(await page.locator('#span-messaging').innerText(), /delivery\s+#1/);
    await page.click('#tab-critical');
    const waits = page.locator('#panel-body .logline[data-queue="true"]');
    assert.equal(await waits.count(), 3);
    assert.match(await waits.first().innerText(), /waiting in order\.confirmed before/);
    // After a failed delivery the path waits for the redelivery.
    assert.match(await waits.nth(1).innerText(), /waiting in order\.confirmed for redelivery #2/);
    assert.match(await page.locator(`#panel-body .logline[data-queue="false"][data-span-id="${a.deliveries[0]}"]`).innerText(), /delivery #1, failed/);
    await shot('trace-async');
    noPageErrors();
  });

  test('a span link names the span it points to; following it opens the other trace, and the way back returns', async () => {
    await open(`/trace/${a.trace}`);
    const link = page.locator(`.wf-row[data-span-id="${a.deliveries[0]}"] a.wf-link`);
    await link.waitFor();
    // Once resolved, the link says what it points to and the linked span's
    // start is marked on the row.
    await page.waitForFunction((id) => /receive ORDERS/.test(document.querySelector(`.wf-row[data-span-id="${id}"] a.wf-link`)?.title || ''), a.deliveries[0]);
    assert.equal(await page.locator(`.wf-row[data-span-id="${a.deliveries[0]}"] .wf-mark.link`).count(), 1);
    await link.click();
    await page.waitForURL(new RegExp(`#/trace/${a.receive}\\?span=${a.receiveSpan}&from=${a.trace}`));
    await page.locator(`.wf-row[aria-selected="true"][data-span-id="${a.receiveSpan}"]`).waitFor();
    await page.locator('#link-back').waitFor();

    // The receive span links to both messages of its batch: its button
    // opens the span's links, each a way into its checkout's trace.
    await page.click(`.wf-row[data-span-id="${a.receiveSpan}"] button.wf-link`);
    const follow = page.locator('#panel-body .follow-link');
    await page.waitForFunction(() => [...document.querySelectorAll('#panel-body .follow-link')].every((l) => /publish order\.confirmed/.test(l.innerText)) &&
      document.querySelectorAll('#panel-body .follow-link').length === 2);
    assert.deepEqual((await follow.evaluateAll((els) => els.map((e) => e.dataset.traceId))).sort(), [a.trace, a.traceB].sort());
    await shot('trace-links');

    await page.click('#link-back-btn');
    await page.waitForURL(new RegExp(`#/trace/${a.trace}\\?span=${a.deliveries[0]}`));
    await page.locator(`.wf-row[aria-selected="true"][data-span-id="${a.deliveries[0]}"]`).waitFor();
    // And the other way: from the receive span's panel to trace B.
    await open(`/trace/${a.receive}?span=${a.receiveSpan}`);
    await page.locator(`#panel-body .follow-link[data-trace-id="${a.traceB}"]`).click();
    await page.waitForURL(new RegExp(`#/trace/${a.traceB}`));
    await page.locator('.wf-row[aria-selected="true"] .wf-kind.producer').waitFor();
    noPageErrors();
  });

  test('a poison message: every delivery failed, and the last one published it to the dead-letter subject', async () => {
    await open(`/trace/${a.poison}`);
    await page.locator(`.wf-row[data-span-id="${a.deadLetterSpan}"]`).waitFor();
    assert.deepEqual(await Promise.all(a.poisonDeliveries.map((id) => page.locator(`.wf-row[data-span-id="${id}"] .wf-delivery.failed`).innerText())),
      [' · delivery #1 failed', ' · delivery #2 failed', ' · delivery #3 failed']);
    const dl = page.locator(`.wf-row[data-span-id="${a.deadLetterSpan}"]`);
    assert.equal(await dl.locator('.wf-kind.producer').count(), 1, 'the dead letter is a publish');
    assert.match(await dl.locator('.wf-op').innerText(), new RegExp(`publish ${a.deadLetter.replace(/\./g, '\\.')}`));
    // Where it went is said beside the bar, whatever the name column cuts.
    assert.equal(await dl.locator('.wf-dest').innerText(), ` · → ${a.deadLetter}`);
    assert.equal(await page.locator(`.wf-row[data-span-id] .wf-dest`).first().innerText(), ' · → order.confirmed');
    // It sits under the last delivery, one level deeper.
    const level = (loc) => loc.getAttribute('aria-level').then(Number);
    assert.equal(await level(dl), (await level(page.locator(`.wf-row[data-span-id="${a.poisonDeliveries[2]}"]`))) + 1);
    assert.equal(await page.locator('.wf-row .wf-err-icon').count(), 3, 'three failed spans');
    await shot('trace-dead-letter');
    noPageErrors();
  });

  test('the Jaeger API shows the links as FOLLOWS_FROM references', async () => {
    const r = await api(`api/traces/${a.trace}`);
    const spans = r.body.data[0].spans;
    for (const id of a.deliveries) {
      const sp = spans.find((x) => x.spanID === id);
      const refs = sp.references.map((x) => `${x.refType} ${x.traceID.padStart(32, '0')} ${x.spanID}`);
      assert.ok(refs.includes(`CHILD_OF ${a.trace} ${a.publishSpan}`), refs.join('; '));
      assert.equal(sp.references.filter((x) => x.refType === 'FOLLOWS_FROM').length, 1, refs.join('; '));
    }
    const recv = (await api(`api/traces/${a.receive}`)).body.data[0].spans[0];
    assert.deepEqual(recv.references.map((x) => x.refType), ['FOLLOWS_FROM', 'FOLLOWS_FROM']);
  });

  test('the map puts the broker destination between order and fulfillment, with its rates, queue delay and redeliveries', async () => {
    await open(`/map?${fixtures}`);
    const dest = page.locator(`.map-node.map-dest[data-destination="${a.destination}"]`);
    await dest.waitFor();
    const m = (await api(`api/v1/servicemap?start=${iso(seed.fixturesStart)}&end=${iso(seed.fixturesEnd)}`)).body.data;
    const del = m.deliveries.find((d) => d.destination === a.destination);
    assert.equal(del.calls, 7, 'three deliveries of A, one of B, three of the poison message');
    assert.equal(del.redeliveries, 4);
    assert.equal(del.errors, 5);
    assert.ok(del.queueDelay.p99Ns >= 1e9, `queue p99 ${del.queueDelay.p99Ns}`);
    const pub = page.locator(`.map-edge[data-kind="publish"][data-parent="order"][data-destination="${a.destination}"]`);
    const out = page.locator(`.map-edge[data-kind="delivery"][data-destination="${a.destination}"][data-child="fulfillment"]`);
    assert.equal(await pub.count(), 1);
    assert.equal(await out.count(), 1);
    assert.match(await out.locator('text.rate').textContent(), /^\S+ delivered · 71% failed$/);
    assert.match(await out.locator('text.second').textContent(), /^queued p50 \d+ms · p99 1\.\d+s$/);
    assert.match(await dest.textContent(), /4 redeliveries/);
    // The dead letters: fulfillment publishes them, nobody consumes them.
    const dlq = page.locator(`.map-node.map-dest[data-destination="${a.deadLetter}"]`);
    assert.match(await dlq.textContent(), /no consumer in the traces/);
    assert.equal(await page.locator(`.map-edge[data-kind="publish"][data-parent="fulfillment"][data-destination="${a.deadLetter}"]`).count(), 1);
    assert.equal(await page.locator(`.map-edge[data-kind="delivery"][data-destination="${a.deadLetter}"]`).count(), 0);
    // The whole path fits the pane: no node is cut off at its edge (a
    // consumer out of sight would hide where the path ends).
    const pane = await page.locator('#service-map').boundingBox();
    for (const box of await page.locator('.map-node').evaluateAll((els) => els.map((e) => { const r = e.getBoundingClientRect(); return { x: r.x, y: r.y, r: r.right, b: r.bottom, name: e.dataset.service || e.dataset.destination }; }))) {
      assert.ok(box.x >= pane.x - 1 && box.r <= pane.x + pane.width + 1, `${box.name} is outside the map's pane (${box.x}–${box.r} vs ${pane.x}–${pane.x + pane.width})`);
    }
    assert.match(await page.locator('#map-legend-broker').innerText(), /redeliveries are counted/);
    // The hop is not a call: no order → fulfillment arrow.
    assert.equal(await page.locator('.map-edge[data-kind="call"][data-parent="order"][data-child="fulfillment"]').count(), 0);
    await shot('service-map-broker');
    await out.dispatchEvent('click');
    await page.waitForURL(/#\/search\?service=fulfillment&tags=messaging\.destination\.name%3Dorder\.confirmed/);
    await page.locator(`.trace-item[data-trace-id="${a.trace}"]`).waitFor();
    noPageErrors();
  });

  test('RED and search split by service.instance.id', async () => {
    await open(`/service/order?${fixtures}`);
    const rows = page.locator('#instances tbody tr');
    await rows.first().waitFor();
    const inst = (await api(`api/v1/metrics/instances?service=order&start=${iso(seed.fixturesStart)}&end=${iso(seed.fixturesEnd)}`)).body.data;
    const named = inst.filter((x) => x.instance).map((x) => x.instance).sort();
    assert.deepEqual(named, a.instances);
    assert.deepEqual((await rows.evaluateAll((els) => els.map((e) => e.dataset.instance))).sort(), inst.map((x) => x.instance).sort());
    await page.locator('#rate-instances').waitFor();
    assert.deepEqual(await page.locator('#rate-instances [data-instance]').evaluateAll((els) => els.map((e) => e.dataset.instance).sort()), a.instances);
    assert.deepEqual(await page.locator('#dash-instance option').evaluateAll((els) => els.map((e) => e.value).filter(Boolean).sort()), a.instances);
    await shot('service-instances');
    await page.selectOption('#dash-instance', 'order-2');
    await page.waitForURL(/instance=order-2/);
    await page.waitForFunction(() => /^2 calls/.test(document.getElementById('rate-summary')?.innerText || ''));
    assert.equal(await page.locator('#instances tbody tr[aria-selected="true"]').getAttribute('data-instance'), 'order-2');

    await open(`/search?service=order&instance=order-1&${fixtures}`);
    await page.locator('.trace-item').first().waitFor();
    assert.deepEqual(await page.locator('.trace-item').evaluateAll((els) => els.map((e) => e.dataset.traceId)), [a.trace]);
    assert.equal(await page.inputValue('#f-instance'), 'order-1');
    noPageErrors();
  });
});
