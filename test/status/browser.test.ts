/**
 * The status page in a real browser: headless Chromium (Debian's `chromium`, driven by playwright-core) loads the
 * page the local runtime serves, with no console error, shows the expected states, stays readable at 390 px wide
 * with enough contrast, and leaves screenshots in .tmp/artifacts/. Skips, saying why, where /usr/bin/chromium is missing.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { tempDir } from '../support/temp';
import { startLocalRuntime, type LocalRuntime } from '../support/local-runtime';
import { seedStatusBucket, statusProbesConfig } from '../support/status-history';
import { openStore } from '../../shared/storage/open';

const CHROMIUM = '/usr/bin/chromium';
const missing = !existsSync(CHROMIUM);
const ARTIFACTS = fileURLToPath(new URL('../../.tmp/artifacts/', import.meta.url));
const title = missing
  ? `status page in headless Chromium: SKIPPED, ${CHROMIUM} is missing (apt-get install -y chromium)`
  : 'status page in headless Chromium';
if (missing)
  process.stderr.write(`test/status/browser.test.ts: skipped: ${CHROMIUM} is missing (apt-get install -y chromium)\n`);

describe.skipIf(missing)(title, () => {
  let runtime: LocalRuntime;
  let empty: LocalRuntime;
  let browser: Browser;

  beforeAll(async () => {
    const cwd = tempDir('mt-status-browser-');
    writeFileSync(
      join(cwd, 'ops.config.json'),
      JSON.stringify(statusProbesConfig({ public: true, title: 'Missing Table status' })),
    );
    await seedStatusBucket(openStore(`file://${join(cwd, 'backups')}`), 'local', new Date());
    const fresh = tempDir('mt-status-empty-');
    writeFileSync(join(fresh, 'ops.config.json'), JSON.stringify(statusProbesConfig({ public: true })));
    [runtime, empty, browser] = await Promise.all([
      startLocalRuntime(cwd, {}),
      startLocalRuntime(fresh, {}),
      chromium.launch({
        executablePath: CHROMIUM,
        headless: true,
        chromiumSandbox: false,
        args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
      }),
    ]);
    mkdirSync(ARTIFACTS, { recursive: true });
  });

  afterAll(async () => {
    await browser?.close();
    for (const rt of [runtime, empty]) if (rt) expect(await rt.stop()).toBe(0);
  });

  /** Opens a URL in a fresh page at a viewport width, collecting console errors, page errors and failed requests. */
  async function open(url: string, width: number): Promise<{ page: Page; problems: string[] }> {
    const context = await browser.newContext({ viewport: { width, height: 900 } });
    const page = await context.newPage();
    const problems: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') problems.push(`console ${m.type()}: ${m.text()}`);
    });
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('requestfailed', (r) => problems.push(`request failed: ${r.url()}`));
    const res = await page.goto(url, { waitUntil: 'load' });
    expect(res?.status()).toBe(200);
    return { page, problems };
  }

  it('loads without a console error and shows each state in words', async () => {
    const { page, problems } = await open(`${runtime.url}/status`, 1280);
    expect(await page.title()).toBe('Missing Table status: Partial outage: api-health-full is down.');
    expect((await page.locator('.overall').innerText()).trim()).toBe('✕ Partial outage: api-health-full is down.');
    const states = await page
      .locator('article.probe')
      .evaluateAll((articles) =>
        articles.map((a) => `${a.querySelector('h3')!.textContent} ${a.querySelector('.pill')!.textContent!.trim()}`),
      );
    expect(states).toEqual([
      'api-health ✓ Up',
      'api-health-full ✕ Down',
      'worker ‖ Maintenance',
      'backup-freshness ? No data',
    ]);
    expect(await page.getByText('No data yet: this probe has not run.').count()).toBe(1);
    // each probe with data: 90 day cells with a tooltip, a latency sparkline; the incident and the silence are listed
    expect(await page.locator('svg.bar').count()).toBe(3);
    expect(await page.locator('svg.bar').first().locator('rect[class^="d-"]').count()).toBe(90);
    expect(await page.locator('svg.bar title').first().textContent()).toMatch(/^\d{4}-\d\d-\d\d: /);
    expect(await page.locator('h3:text("Firing now") + ul li').innerText()).toContain('api-health-full is down');
    expect(await page.locator('table tbody tr').count()).toBe(1);
    expect(await page.locator('h3:text("Silences") + ul li').innerText()).toContain('probe=worker');
    expect(await page.getByText('Last restore drill').count()).toBe(1);
    // the page refreshes itself, runs no script, and links its JSON
    expect(await page.locator('meta[http-equiv="refresh"]').getAttribute('content')).toBe('60');
    expect(await page.locator('script').count()).toBe(0);
    expect(await page.locator('a[href="status.json"]').count()).toBe(1);
    await page.screenshot({ path: join(ARTIFACTS, 'status-desktop.png'), fullPage: true });
    expect(problems).toEqual([]);
  });

  it('is usable at 390 px: no sideways scrolling, the bar and the figures fit, text is readable', async () => {
    const { page, problems } = await open(`${runtime.url}/status`, 390);
    // (browser code as text: this project's TypeScript has no DOM types)
    const layout = (await page.evaluate(`(() => {
      const bars = [...document.querySelectorAll('svg.bar')].map((b) => b.getBoundingClientRect());
      const sparks = [...document.querySelectorAll('svg.spark')].map((b) => b.getBoundingClientRect());
      const fontSizes = [...document.querySelectorAll('p, li, dd, dt, td, th, figcaption, h1, h2, h3')].map((e) => parseFloat(getComputedStyle(e).fontSize));
      return {
        scrollWidth: document.documentElement.scrollWidth,
        bars: bars.map((r) => [Math.round(r.left), Math.round(r.right), Math.round(r.height)]),
        sparksRight: Math.max(...sparks.map((r) => r.right)),
        smallestFont: Math.min(...fontSizes),
        overflowing: [...document.querySelectorAll('main *')].filter((e) => e.getBoundingClientRect().right > 390.5 && !e.closest('.scroll')).map((e) => e.tagName + '.' + e.className),
      };
    })()`)) as {
      scrollWidth: number;
      bars: Array<[number, number, number]>;
      sparksRight: number;
      smallestFont: number;
      overflowing: string[];
    };
    expect(layout.scrollWidth).toBeLessThanOrEqual(390);
    expect(layout.overflowing).toEqual([]);
    for (const [left, right, height] of layout.bars) {
      expect(left).toBeGreaterThanOrEqual(0);
      expect(right).toBeLessThanOrEqual(390);
      expect(right - left).toBeGreaterThan(300); // 90 cells of about 3.8 px each
      expect(height).toBe(40);
    }
    expect(layout.sparksRight).toBeLessThanOrEqual(390);
    expect(layout.smallestFont).toBeGreaterThanOrEqual(12);
    await page.screenshot({ path: join(ARTIFACTS, 'status-390.png'), fullPage: true });
    expect(problems).toEqual([]);
  });

  it('has enough contrast: every text at 4.5:1 or better against its background', async () => {
    const { page } = await open(`${runtime.url}/status`, 1280);
    const poor = (await page.evaluate(`(() => {
      const rgb = (s) => (s.match(/[\\d.]+/g) ?? []).slice(0, 4).map(Number);
      const lum = ([r, g, b]) => {
        const c = [r, g, b].map((v) => {
          const x = v / 255;
          return x <= 0.03928 ? x / 12.92 : ((x + 0.055) / 1.055) ** 2.4;
        });
        return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
      };
      const background = (e) => {
        for (let n = e; n; n = n.parentElement) {
          const c = rgb(getComputedStyle(n).backgroundColor);
          if (c.length === 3 || (c.length === 4 && c[3] > 0)) return c;
        }
        return [255, 255, 255];
      };
      const out = [];
      const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
      for (let t = walker.nextNode(); t; t = walker.nextNode()) {
        const e = t.parentElement;
        if (!t.textContent.trim() || e.closest('svg')) continue;
        const fg = lum(rgb(getComputedStyle(e).color));
        const bg = lum(background(e));
        const ratio = (Math.max(fg, bg) + 0.05) / (Math.min(fg, bg) + 0.05);
        if (ratio < 4.5) out.push(t.textContent.trim().slice(0, 40) + ': ' + ratio.toFixed(2));
      }
      return out;
    })()`)) as string[];
    expect(poor).toEqual([]);
  });

  it('uses landmarks and headings, and says every state in text as well as colour', async () => {
    const { page } = await open(`${runtime.url}/status`, 1280);
    expect(await page.locator('header').count()).toBe(1);
    expect(await page.locator('main').count()).toBe(1);
    expect(await page.locator('footer').count()).toBe(1);
    expect(await page.locator('h1').count()).toBe(1);
    expect(await page.locator('h2').allInnerTexts()).toEqual(['Services', 'Backups', 'Incidents']);
    // every picture has a text equivalent
    const unlabelled = await page
      .locator('svg')
      .evaluateAll(
        (svgs) => svgs.filter((s) => s.getAttribute('role') !== 'img' || !s.getAttribute('aria-label')).length,
      );
    expect(unlabelled).toBe(0);
    expect(await page.getByRole('img', { name: /Uptime per day, last 90 days/ }).count()).toBe(3);
    expect(await page.getByRole('status').innerText()).toContain('Partial outage');
  });

  it('with nothing recorded yet, says so plainly', async () => {
    const { page, problems } = await open(`${empty.url}/status`, 390);
    expect((await page.locator('.overall').innerText()).trim()).toBe(
      '? No data yet: no probe has run and no backup has been taken.',
    );
    expect(await page.getByText('No data yet: this probe has not run.').count()).toBe(4);
    expect(await page.getByText('No backup yet: none has been taken in this environment.').count()).toBe(1);
    expect(await page.locator('body').innerText()).not.toMatch(/\b0(\.0+)?%|NaN|undefined|null/);
    await page.screenshot({ path: join(ARTIFACTS, 'status-empty-390.png'), fullPage: true });
    expect(problems).toEqual([]);
  });
});
