// The main window: shows what get_dashboard returns, already formatted by
// the app (this file computes nothing), and reloads when the app's live
// status says a run ended.
'use strict';

const { invoke } = window.__TAURI__.core;
const { listen } = window.__TAURI__.event;
const SVG = 'http://www.w3.org/2000/svg';

const $ = (id) => document.getElementById(id);
let shownRevision = -1;
let shownSyncing = null;
let shownNext = null;
let reloadTimer = null;
// Why Sync now cannot be used (before setup), or null.
let syncBlocked = null;

function el(tag, className, text) {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text !== undefined && text !== null) e.textContent = text;
  return e;
}

function svg(tag, attrs) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
  return e;
}

function message(err) {
  return (err && err.message) || String(err);
}

function setProgress(syncing, text) {
  $('sync-now').disabled = !!syncing || !!syncBlocked;
  $('progress').hidden = !syncing;
  $('progress-text').textContent = text || 'Syncing…';
}

function setError(text, opensSettings) {
  $('error').hidden = !text;
  $('error-text').textContent = text || '';
  $('error-action').hidden = !opensSettings;
}

function renderSetup(card) {
  $('setup').hidden = !card;
  $('setup-what').textContent = card ? card.what : '';
  $('setup-needed').textContent = card ? card.needed : '';
}

function renderStatus(s) {
  $('last-sync').textContent = s.last_sync;
  $('last-sync').dataset.outcome = s.outcome;
  $('last-summary').textContent = s.outcome === 'never' ? '' : s.summary;
  $('next-sync-block').hidden = s.next_sync === null;
  $('next-sync').textContent = s.next_sync || '';
  syncBlocked = s.sync_disabled;
  $('sync-now').title = s.sync_disabled || '';
  setProgress(s.syncing, s.progress);
  setError(s.error, s.error_opens_settings);
  const notes = $('notes');
  notes.replaceChildren(...s.notes.map((n) => el('li', null, n)));
}

function renderWorkouts(list, empty) {
  const ul = $('workouts');
  ul.replaceChildren(...list.map((w) => {
    const li = el('li');
    li.dataset.id = w.id;
    const main = el('div', 'main');
    main.append(el('div', 'title', w.title));
    const who = [w.instructor, w.discipline, w.date].filter(Boolean).join(' · ');
    main.append(el('div', 'sub', who));
    if (w.zones.length) {
      const bar = el('div', 'zones');
      bar.title = w.zones_label;
      bar.setAttribute('aria-label', w.zones_label);
      w.zones.forEach((pct, i) => {
        const z = el('span', `z${i + 1}`);
        z.style.width = `${pct}%`;
        bar.append(z);
      });
      main.append(bar);
    }
    const num = el('div', 'num');
    num.append(el('div', 'output', w.output), el('div', 'sub', w.minutes));
    if (w.strive) num.append(el('div', 'sub strive', w.strive));
    li.append(main, num);
    return li;
  }));
  $('workouts-empty').textContent = empty;
  $('workouts-empty').hidden = list.length > 0;
}

function renderFriends(list, empty) {
  const ul = $('friends');
  ul.replaceChildren(...list.map((f) => {
    const li = el('li');
    li.dataset.id = f.id;
    let avatar;
    if (f.avatar) {
      avatar = el('img', 'avatar');
      avatar.src = f.avatar;
      avatar.alt = '';
    } else {
      avatar = el('div', 'avatar initial', f.initial);
      avatar.setAttribute('aria-hidden', 'true');
    }
    const main = el('div', 'main');
    main.append(el('div', 'title', f.username), el('div', 'sub', `${f.title} · ${f.when}`));
    li.append(avatar, main, el('div', 'num', f.output));
    return li;
  }));
  $('friends-empty').textContent = empty;
  $('friends-empty').hidden = list.length > 0;
}

function titled(node, text) {
  const t = svg('title');
  t.textContent = text;
  node.append(t);
  return node;
}

let shownChart = null;

// The zones view stacks each week's minutes per heart-rate zone over its
// faint bar; the output line stays.
function renderChart(c) {
  shownChart = c;
  $('chart-card').hidden = !c;
  if (!c) return;
  $('chart-zones-toggle').hidden = !c.has_zones;
  const zones = c.has_zones && $('chart-zones').checked;
  $('chart-legend').hidden = zones;
  $('chart-zones-legend').hidden = !zones;
  const chart = $('chart');
  chart.setAttribute('viewBox', `0 0 ${c.width} ${c.height}`);
  const nodes = [svg('line', { class: 'axis', x1: 0, x2: c.width, y1: c.height - 20, y2: c.height - 20 })];
  for (const b of c.bars) {
    const r = svg('rect', { class: zones ? 'bar faint' : 'bar', x: b.x, y: b.y, width: b.width, height: b.height, rx: 2 });
    nodes.push(titled(r, zones ? b.zones_title : b.title));
    if (zones) {
      for (const z of b.zones.filter((z) => z.height > 0)) {
        const zr = svg('rect', { class: `zone z${z.zone}`, x: b.x, y: z.y, width: b.width, height: z.height });
        nodes.push(titled(zr, b.zones_title));
      }
    }
    if (b.label) {
      const label = svg('text', { class: 'tick', x: b.x + b.width / 2, y: c.height - 6 });
      label.textContent = b.label;
      nodes.push(label);
    }
  }
  nodes.push(svg('polyline', { class: 'line', points: c.output_points }));
  for (const p of c.output_points.split(' ').filter(Boolean)) {
    const [x, y] = p.split(',');
    nodes.push(svg('circle', { class: 'dot', cx: x, cy: y, r: 2.5 }));
  }
  chart.replaceChildren(...nodes);
  $('chart-minutes').textContent = `Minutes (${c.max_minutes_label})`;
  $('chart-output').textContent = `Output (${c.max_output_label})`;
  $('chart-summary').textContent = c.summary;
}

async function load() {
  try {
    const d = await invoke('get_dashboard');
    renderSetup(d.setup);
    renderStatus(d.status);
    renderWorkouts(d.workouts, d.workouts_empty);
    renderFriends(d.friends, d.friends_empty);
    renderChart(d.chart);
    shownRevision = d.status.revision;
  } catch (err) {
    setError(message(err), false);
  }
}

function reloadSoon() {
  clearTimeout(reloadTimer);
  reloadTimer = setTimeout(load, 200);
}

function onStatus(s) {
  setProgress(s.syncing, s.progress);
  // A finished run, a run starting or a new plan changes what the window shows.
  if (s.revision !== shownRevision || s.syncing !== shownSyncing || s.next_sync_at !== shownNext) {
    reloadSoon();
  }
  shownSyncing = s.syncing;
  shownNext = s.next_sync_at;
}

$('sync-now').addEventListener('click', async () => {
  $('sync-now').disabled = true;
  try {
    await invoke('sync_now');
  } catch (err) {
    setError(message(err), false);
  }
});
const openSettings = () => invoke('open_settings').catch((err) => setError(message(err), false));
$('error-action').addEventListener('click', openSettings);
$('open-settings').addEventListener('click', openSettings);
$('chart-zones').addEventListener('change', () => renderChart(shownChart));
$('setup-open-settings').addEventListener('click', openSettings);

listen('status', (e) => onStatus(e.payload));
window.addEventListener('focus', reloadSoon);
load();
