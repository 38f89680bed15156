/**
 * The status page's static text: the login form, the page, its stylesheet and its
 * script. No framework: the script opens an EventSource on /events and redraws the
 * LEDs, faults, connections, counters and one uPlot chart per reading name from each
 * snapshot (see status-page.ts for its shape). Sized for a phone: one column, large
 * LEDs. Everything is served from the device itself (CSP 'self'), nothing from the web.
 */

const escapes: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (character) => escapes[character] ?? character);
}

function document(title: string, body: string, extraHead = ''): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<link rel="stylesheet" href="/style.css">${extraHead}
</head><body>${body}</body></html>
`;
}

export function loginPage(device: string, message?: string): string {
  const note = message ? `<p class="error" role="alert">${escapeHtml(message)}</p>` : '';
  return document(
    `piwire ${device}: log in`,
    `<main class="login"><h1>piwire <span class="muted">${escapeHtml(device)}</span></h1>${note}
<form method="post" action="/login">
<label>User <input name="user" autocomplete="username" required autofocus></label>
<label>Password <input name="password" type="password" autocomplete="current-password" required></label>
<button type="submit">Log in</button>
</form><p class="muted">Same users as the remote shell. Read-only.</p></main>`,
  );
}

export function statusPage(device: string, user: string): string {
  return document(
    `piwire ${device}`,
    `<header><h1>piwire <span class="muted">${escapeHtml(device)}</span></h1>
<form method="post" action="/logout"><span class="muted">${escapeHtml(user)}</span> <button type="submit">Log out</button></form></header>
<p id="live" class="muted">connecting…</p>
<section><h2>LEDs</h2><div id="leds" class="leds"></div></section>
<section><h2>Faults</h2><ul id="faults"><li class="muted">none</li></ul></section>
<section><h2>Readings</h2><div id="charts"></div></section>
<section><h2>Connections</h2><div class="scroll"><table id="conns"></table></div></section>
<section><h2>Counters</h2><div class="scroll"><table id="counters"></table></div></section>
<section><h2>Status</h2><table id="status"></table></section>
<script src="/uPlot.iife.min.js"></script><script src="/app.js"></script>`,
    '\n<link rel="stylesheet" href="/uPlot.min.css">',
  );
}

export const STYLE = `
body { font-family: system-ui, sans-serif; margin: 0 auto; padding: 0.5rem 1rem; max-width: 60rem; background: #111; color: #eee; }
h1 { font-size: 1.3rem; margin: 0.3rem 0; } h2 { font-size: 1.05rem; margin: 1rem 0 0.4rem; border-bottom: 1px solid #333; }
header { display: flex; justify-content: space-between; align-items: center; flex-wrap: wrap; }
.muted { color: #999; font-weight: normal; } .error { color: #f66; }
.login form { display: flex; flex-direction: column; gap: 0.6rem; max-width: 20rem; }
input, button { font-size: 1rem; padding: 0.4rem; }
.leds { display: flex; gap: 1.5rem; flex-wrap: wrap; }
.led { display: flex; flex-direction: column; align-items: center; gap: 0.3rem; min-width: 5.5rem; }
.lamp { width: 2.6rem; height: 2.6rem; border-radius: 50%; background: #333; border: 2px solid #555; }
.led[data-color="green"] .lamp.on { background: #2d2; box-shadow: 0 0 12px #2d2; }
.led[data-color="yellow"] .lamp.on { background: #ec2; box-shadow: 0 0 12px #ec2; }
.led[data-color="red"] .lamp.on { background: #e22; box-shadow: 0 0 12px #e22; }
.lamp.blink { animation: blink 1s steps(2, start) infinite; }
@keyframes blink { to { visibility: hidden; } }
table { border-collapse: collapse; font-size: 0.85rem; } td, th { padding: 0.15rem 0.5rem; text-align: right; border-bottom: 1px solid #222; }
td:first-child, th:first-child { text-align: left; } .scroll { overflow-x: auto; }
.chart { margin-bottom: 0.8rem; } .chart h3 { font-size: 0.9rem; margin: 0.2rem 0; }
`;

/** The page's script: EventSource → render. Plain ES2017, no build step. */
export const SCRIPT = `'use strict';
const COLORS = { status: 'green', link: 'yellow', fault: 'red' };
const charts = new Map();
function cell(tag, text) { const element = document.createElement(tag); element.textContent = text; return element; }
function table(element, header, rows) {
  element.replaceChildren();
  const head = document.createElement('tr');
  for (const name of header) head.append(cell('th', name));
  element.append(head);
  for (const row of rows) { const tr = document.createElement('tr'); for (const value of row) tr.append(cell('td', String(value))); element.append(tr); }
}
function renderLeds(leds) {
  const container = document.getElementById('leds');
  container.replaceChildren();
  for (const led of leds) {
    const box = document.createElement('div');
    box.className = 'led'; box.dataset.led = led.led; box.dataset.pattern = led.pattern; box.dataset.color = COLORS[led.led] || 'green';
    const lamp = document.createElement('div');
    lamp.className = 'lamp' + (led.pattern === 'off' ? '' : ' on') + (led.pattern === 'solid' || led.pattern === 'off' ? '' : ' blink');
    box.append(lamp, cell('strong', led.led), cell('span', led.pattern));
    container.append(box);
  }
}
function renderFaults(faults) {
  const list = document.getElementById('faults');
  list.replaceChildren();
  if (faults.length === 0) list.append(cell('li', 'none'));
  for (const fault of faults) list.append(cell('li', fault));
}
function renderCharts(series) {
  const container = document.getElementById('charts');
  for (const [name, points] of Object.entries(series)) {
    const data = [points.map((p) => p.at / 1000), points.map((p) => p.value)];
    let chart = charts.get(name);
    if (!chart) {
      const box = document.createElement('div'); box.className = 'chart'; box.dataset.name = name;
      box.append(cell('h3', name)); container.append(box);
      const width = Math.min(container.clientWidth || 600, 900);
      chart = new uPlot({
        width, height: 160, legend: { show: false },
        scales: { x: { time: true, auto: false } },
        series: [{}, { label: name, stroke: '#4af', width: 2, points: { show: true } }],
        axes: [{ stroke: '#aaa' }, { stroke: '#aaa' }],
      }, data, box);
      charts.set(name, chart);
    } else {
      chart.setData(data, false);
    }
    // The last readings fill the width; one reading (or one instant) gets a minute either side.
    const first = data[0][0], last = data[0][data[0].length - 1];
    if (first !== undefined) chart.setScale('x', last - first < 1 ? { min: first - 60, max: last + 60 } : { min: first, max: last });
  }
}
function render(snapshot) {
  renderLeds(snapshot.leds);
  renderFaults(snapshot.faults);
  renderCharts(snapshot.series);
  table(document.getElementById('conns'), ['id', 'local', 'remote', 'state', 'srtt', 'rto', 'mss', 'cwnd', 'snd wnd', 'rcv wnd', 'retrans', 'zwp', 'ka'],
    snapshot.connections.map((c) => [c.id, c.localAddress + ':' + c.localPort, c.remoteAddress + ':' + c.remotePort, c.state,
      c.srtt === undefined ? '-' : Math.round(c.srtt), Math.round(c.rto), c.mss, c.cwnd, c.sendWindow, c.receiveWindow, c.retransmits, c.zeroWindowProbes, c.keepaliveProbes]));
  table(document.getElementById('counters'), ['counter', 'value'], Object.entries(snapshot.counters));
  table(document.getElementById('status'), ['key', 'value'], Object.entries(snapshot.status).map(([k, v]) => [k, Array.isArray(v) ? v.join('; ') : v]));
  document.getElementById('live').textContent = 'live, updated ' + new Date(snapshot.at).toLocaleTimeString();
}
const events = new EventSource('/events');
events.addEventListener('snapshot', (event) => render(JSON.parse(event.data)));
events.onerror = () => { document.getElementById('live').textContent = 'connection lost, retrying…'; };
`;
