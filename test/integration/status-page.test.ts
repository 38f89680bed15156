/**
 * The status page (SPEC §5a) in a real browser: headless Debian Chromium driven by
 * playwright-core, looking at what a technician sees.
 *
 * - The firmware in a namespace (veth), the browser in the LAN namespace, and a sensor
 *   on another subnet behind the LAN namespace (a routed third namespace). The browser
 *   logs in with a shell user, sees the three LEDs, the sensor's chart and the conns
 *   table; then the sensor's cable is pulled: keepalive finds the peer lost and the
 *   page's fault LED turns to `blink-code 3` with the fault's text, live, without a
 *   reload. Screenshots before and after go to the test's diagnostics (file paths).
 * - The simulated board (`--link sim`, host namespace): the page through the board's
 *   localhost bridge shows the LEDs and charts of the simulated sensors.
 */
import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { addRoutedHost, canUseNetns, createTopology, spawnInNamespace } from '../support/netns.ts';
import { startFirmware } from '../support/firmware-process.ts';
import { chromiumMissing, launchBrowser } from '../support/browser.ts';
import { createStoredSecret, formatStoredSecret } from '../../src/services/shell/auth.ts';

const availability = canUseNetns();
const noBrowser = chromiumMissing();
const skipNamespace = !availability.ok ? `integration: needs root and network namespaces: ${availability.reason}` : noBrowser;
const skipSim = noBrowser;

const USER = 'tech';
const PASSWORD = 'field-check-42';
const SCREENSHOTS = join(tmpdir(), 'piwire-screenshots');

async function configFile(directory: string, extra: Record<string, unknown>): Promise<string> {
  const stored = formatStoredSecret(await createStoredSecret(PASSWORD, Buffer.from('status-page-salt')));
  const path = join(directory, 'config.json');
  writeFileSync(path, JSON.stringify({ ...extra, services: { ...(extra['services'] as object), shell: { users: { [USER]: stored } } } }));
  return path;
}

/**
 * Chromium aborts a navigation with ERR_NETWORK_CHANGED when the interfaces of its
 * namespace change meanwhile (the test wires the routed sensor's link around then);
 * playwright reports that either by the error's name or as the navigation "interrupted
 * by another navigation to chrome-error://chromewebdata/" (Chromium's error page). A
 * person would reload, and so does this, twice at most, saying why in the diagnostics;
 * any other error, or a third failure, fails the test.
 */
async function open(t: TestContext, page: Page, url: string): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await page.goto(url);
      return;
    } catch (error) {
      const text = String(error);
      const networkChanged = text.includes('ERR_NETWORK_CHANGED') || text.includes('chrome-error://chromewebdata/');
      if (attempt >= 3 || !networkChanged) throw error;
      t.diagnostic(`navigation ${attempt} to ${url} failed, reloading: ${text.split('\n')[0]}`);
    }
  }
}

async function logIn(t: TestContext, page: Page, url: string): Promise<void> {
  await open(t, page, url);
  await page.fill('input[name=user]', USER);
  await page.fill('input[name=password]', PASSWORD);
  await page.click('button[type=submit]');
  await page.waitForSelector('.led[data-led="status"][data-pattern="heartbeat"]', { timeout: 20_000 });
}

async function screenshot(t: TestContext, page: Page, name: string): Promise<void> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  const path = join(SCREENSHOTS, `${name}-${process.pid}.png`);
  const image = await page.screenshot({ path, fullPage: true });
  assert.ok(image.length > 1000, 'a real image');
  t.diagnostic(`screenshot ${path} (${image.length} bytes)`);
}

describe('status page in headless Chromium: firmware in a namespace', { skip: skipNamespace }, () => {
  it('logs in, shows LEDs, chart and conns, and the fault LED changes when a sensor cable is pulled', async (t: TestContext) => {
    const directory = mkdtempSync(join(tmpdir(), 'pw-status-'));
    t.after(() => rmSync(directory, { recursive: true, force: true }));
    const topology = await createTopology({ mtu: 1500, prefix: 'pw', after: (fn) => t.after(fn) });
    const sensorHost = await addRoutedHost(topology, { after: (fn) => t.after(fn) });
    const config = await configFile(directory, {
      tcp: { keepalive: { idle: '1s', interval: '500ms', count: 2 } },
      services: { http: { enabled: true, port: 8080 } },
    });
    const firmware = startFirmware({
      namespace: topology.deviceNamespace,
      args: [...topology.firmwareArgs(), '--config', config, '--state-dir', join(directory, 'state'), '--log', 'json'],
      readyTimeoutMs: 45_000,
    });
    t.after(() => firmware.stop());
    const ready = await firmware.ready;
    assert.equal((ready.ports as Record<string, number>)['http'], 8080, firmware.describe());

    const browser = await launchBrowser({ namespace: topology.peerNamespace });
    t.after(() => browser.close());
    const page = await browser.context.newPage();
    await logIn(t, page, `http://${topology.deviceAddress}:8080/`);
    assert.equal(await page.getAttribute('.led[data-led="link"]', 'data-pattern'), 'solid');
    assert.equal(await page.getAttribute('.led[data-led="fault"]', 'data-pattern'), 'off');

    // A sensor on the other subnet pushes readings and stays connected (nc keeps stdin open).
    const sensor = spawnInNamespace(sensorHost.namespace, ['nc', topology.deviceAddress, '7070'], { stdio: ['pipe', 'ignore', 'ignore'] });
    t.after(() => {
      sensor.kill('SIGKILL');
    });
    sensor.stdin?.write('HELLO barn-1\nPUT barn.temperature 9.5\nPUT barn.temperature 9.75\n');
    await page.waitForSelector('.chart[data-name="barn.temperature"] canvas', { timeout: 20_000 });
    await page.waitForSelector(`#conns td:text-matches("^${sensorHost.address.replaceAll('.', '\\.')}:")`, { timeout: 10_000 });
    await screenshot(t, page, 'status-page-before-pull');

    // Pull the sensor's cable: keepalive (1 s + 2 × 500 ms) declares it lost; the page follows live.
    await sensorHost.setCable(false);
    await page.waitForSelector('.led[data-led="fault"][data-pattern="blink-code 3"]', { timeout: 30_000 });
    const faults = await page.textContent('#faults');
    assert.match(faults ?? '', /^3 /, `faults shown: ${faults}`);
    assert.equal(await page.getAttribute('.led[data-led="link"]', 'data-pattern'), 'solid', 'the device link itself stayed up');
    await screenshot(t, page, 'status-page-after-pull');
    assert.ok(firmware.events('peer_lost').length >= 1, firmware.describe());
  });
});

describe('status page in headless Chromium: the simulated board', { skip: skipSim }, () => {
  it('serves the page through the board bridge with live LEDs and charts of the simulated sensors', async (t: TestContext) => {
    const directory = mkdtempSync(join(tmpdir(), 'pw-status-sim-'));
    t.after(() => rmSync(directory, { recursive: true, force: true }));
    // Unusual ports, so the board's localhost bridges do not collide with anything else.
    const config = await configFile(directory, {
      services: { http: { enabled: true, port: 18080 }, sensors: { port: 17070 } },
    });
    const firmware = startFirmware({
      namespace: undefined,
      args: ['--link', 'sim', '--config', config, '--state-dir', join(directory, 'state'), '--log', 'json'],
      readyTimeoutMs: 45_000,
    });
    t.after(() => firmware.stop());
    const ready = await firmware.ready;
    const hostPort = (ready['hostPorts'] as Record<string, number> | undefined)?.['http'];
    assert.equal(hostPort, 18080, firmware.describe());

    const browser = await launchBrowser();
    t.after(() => browser.close());
    const page = await browser.context.newPage();
    await logIn(t, page, `http://127.0.0.1:${hostPort}/`);
    // The simulated sensors push every 2 s: their charts appear and the conns table lists them.
    await page.waitForSelector('.chart[data-name="greenhouse.temperature"] canvas', { timeout: 30_000 });
    const leds = await page.$$eval('.led', (elements) => elements.map((element) => `${element.getAttribute('data-led')}=${element.getAttribute('data-pattern')}`));
    assert.deepEqual(leds.slice(0, 2), ['status=heartbeat', 'link=solid']);
    assert.match(await page.textContent('#live') ?? '', /^live, updated/);
    await screenshot(t, page, 'status-page-sim');
  });
});
