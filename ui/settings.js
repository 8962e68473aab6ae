// The settings window: fills the form from get_settings, sends it to
// save_settings or test_connection, and shows each message beside its
// field. Secrets are only ever typed here, never read back.
'use strict';

const { invoke } = window.__TAURI__.core;
const $ = (id) => document.getElementById(id);
let warnBelow = 60;
let tableKeys = [];

function message(err) {
  return (err && err.message) || String(err);
}

function errorId(field) {
  return 'error-' + field.replace(/[._]/g, '-');
}

// The input a settings key belongs to.
function inputFor(field) {
  const fixed = {
    peloton_email: 'peloton-email',
    coda_doc: 'coda-doc',
    interval_minutes: 'interval',
    friend_workouts_per_friend: 'friend-workouts',
    launch_at_login: 'launch-at-login',
  };
  const table = /^tables\.([a-z_]+)\.name$/.exec(field);
  return table ? `table-${table[1]}-name` : fixed[field];
}

function clearErrors() {
  for (const e of document.querySelectorAll('.field-error')) {
    e.hidden = true;
    e.textContent = '';
  }
  for (const i of document.querySelectorAll('[aria-invalid]')) i.removeAttribute('aria-invalid');
}

function showFieldErrors(fields) {
  for (const f of fields || []) {
    const box = $(errorId(f.field));
    if (box) {
      box.textContent = f.message;
      box.hidden = false;
      const input = $(inputFor(f.field));
      if (input) input.setAttribute('aria-invalid', 'true');
    }
  }
}

function setBadge(id, set) {
  const b = $(id);
  b.textContent = set ? 'Saved' : 'Not set';
  b.classList.toggle('set', !!set);
}

function renderTables(tables) {
  tableKeys = tables.map((t) => t.key);
  const box = $('tables');
  box.replaceChildren(...tables.map((t) => {
    const wrap = document.createElement('div');
    const row = document.createElement('div');
    row.className = 'table-row';
    const label = document.createElement('label');
    label.className = 'check';
    const on = document.createElement('input');
    on.type = 'checkbox';
    on.id = `table-${t.key}-enabled`;
    on.checked = t.enabled;
    label.append(on, ` ${t.label}`);
    const name = document.createElement('input');
    name.type = 'text';
    name.id = `table-${t.key}-name`;
    name.value = t.name;
    name.setAttribute('aria-label', `Name of the ${t.label} table in the doc`);
    row.append(label, name);
    const err = document.createElement('p');
    err.className = 'field-error';
    err.id = errorId(`tables.${t.key}.name`);
    err.hidden = true;
    wrap.append(row, err);
    return wrap;
  }));
}

function fill(v) {
  $('peloton-email').value = v.peloton_email;
  $('peloton-password').value = '';
  $('peloton-password').placeholder = v.peloton_password_set ? 'Saved; type to replace' : '';
  // With the window way no password is kept: the badge would mislead.
  setBadge('peloton-password-state', v.peloton_password_set && !v.peloton_sign_in_window);
  $('peloton-sign-in-way').textContent = v.peloton_sign_in;
  $('coda-token').value = '';
  $('coda-token').placeholder = v.coda_token_set ? 'Saved; type to replace' : '';
  setBadge('coda-token-state', v.coda_token_set);
  $('coda-doc').value = v.coda_doc;
  $('interval').value = v.interval_minutes;
  warnBelow = v.interval_warning_below;
  $('friend-workouts').value = v.friend_workouts_per_friend;
  renderTables(v.tables);
  $('notify-new-workouts').checked = v.notifications.new_workouts;
  $('notify-friends').checked = v.notifications.friends_new_rides;
  $('notify-failures').checked = v.notifications.failures;
  $('launch-at-login').checked = v.launch_at_login;
  $('keychain-error').hidden = !v.keychain_error;
  $('keychain-error').textContent = v.keychain_error || '';
  $('settings-notices').hidden = v.notices.length === 0;
  $('settings-notices').textContent = v.notices.join(' ');
  $('env-overrides').hidden = v.env_overrides.length === 0;
  $('env-overrides').textContent = v.env_overrides.length
    ? `Set in the environment for this session, and used over these settings: ${v.env_overrides.join(', ')}.`
    : '';
  intervalNote();
}

function number(id) {
  const raw = $(id).value.trim();
  if (raw === '') return null;
  const n = Number(raw);
  return Number.isFinite(n) ? n : null;
}

function input() {
  return {
    peloton_email: $('peloton-email').value,
    peloton_password: $('peloton-password').value,
    coda_token: $('coda-token').value,
    coda_doc: $('coda-doc').value,
    interval_minutes: number('interval'),
    friend_workouts_per_friend: number('friend-workouts'),
    tables: tableKeys.map((key) => ({
      key,
      enabled: $(`table-${key}-enabled`).checked,
      name: $(`table-${key}-name`).value,
    })),
    notifications: {
      new_workouts: $('notify-new-workouts').checked,
      friends_new_rides: $('notify-friends').checked,
      failures: $('notify-failures').checked,
    },
    launch_at_login: $('launch-at-login').checked,
  };
}

function intervalNote() {
  const n = number('interval');
  $('interval-note').hidden = !(n !== null && n < warnBelow);
}

function saveResult(text, ok) {
  const r = $('save-result');
  r.textContent = text;
  r.className = 'result-line ' + (ok ? 'ok' : 'bad');
}

async function load() {
  try {
    fill(await invoke('get_settings'));
  } catch (err) {
    saveResult(message(err), false);
  }
}

async function save(ev) {
  ev.preventDefault();
  clearErrors();
  saveResult('Saving…', true);
  $('save').disabled = true;
  try {
    fill(await invoke('save_settings', { input: input() }));
    saveResult('Saved.', true);
  } catch (err) {
    showFieldErrors(err.fields);
    saveResult(message(err), false);
  } finally {
    $('save').disabled = false;
  }
}

// Copies text to the clipboard from a click; execCommand is the fallback
// where the asynchronous clipboard is not offered.
async function copyText(text, button) {
  const label = button.textContent;
  let ok = false;
  try {
    await navigator.clipboard.writeText(text);
    ok = true;
  } catch (_) {
    const area = document.createElement('textarea');
    area.value = text;
    area.setAttribute('readonly', '');
    area.className = 'offscreen';
    document.body.append(area);
    area.select();
    try { ok = document.execCommand('copy'); } catch (_) { ok = false; }
    area.remove();
  }
  button.textContent = ok ? 'Copied' : 'Copy failed';
  button.classList.toggle('copied', ok);
  setTimeout(() => { button.textContent = label; button.classList.remove('copied'); }, 1500);
}

function copyButton(label, text, title) {
  const b = document.createElement('button');
  b.type = 'button';
  b.className = 'copy';
  b.textContent = label;
  if (title) b.title = title;
  b.addEventListener('click', () => copyText(text, b));
  return b;
}

function el(tag, className, text) {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text !== undefined && text !== null) e.textContent = text;
  return e;
}

// The checklist the app formatted: a table per block, a line per column.
function renderChecklist(list) {
  $('checklist').hidden = !list;
  if (!list) return;
  $('checklist-tables').replaceChildren(...list.tables.map((t) => {
    const box = document.createElement('details');
    box.className = 'ck-table ' + (t.ok ? 'ok' : (t.optional ? 'optional' : 'bad'));
    box.id = `checklist-${t.key}`;
    box.open = !t.ok && !t.optional;
    const head = document.createElement('summary');
    head.append(el('span', 'mark', t.ok ? '✓' : (t.optional ? '–' : '✗')), el('strong', null, t.name), el('span', 'muted state', t.state));
    box.append(head);
    const tools = el('div', 'ck-tools');
    if (t.table_missing) tools.append(copyButton('Copy table name', t.name));
    if (t.missing_names) {
      const all = copyButton('Copy all missing column names', t.missing_names);
      all.id = `copy-missing-${t.key}`;
      tools.append(all);
    }
    if (tools.childElementCount) box.append(tools);
    const ul = el('ul', 'ck-columns');
    ul.replaceChildren(...t.columns.map((c) => {
      const li = el('li', c.ok ? 'ok' : (c.optional ? 'optional' : 'bad'));
      li.dataset.column = c.name;
      li.append(el('span', 'mark', c.ok ? '✓' : (c.optional ? '–' : '✗')), el('span', 'name', c.name), el('span', 'kind', c.kind));
      const note = c.note || (c.optional ? 'optional' : '');
      li.append(el('span', 'ck-note', note));
      if (c.missing) li.append(copyButton('Copy', c.name, `Copy "${c.name}"`));
      return li;
    }));
    box.append(ul);
    return box;
  }));
}

function docLines(r) {
  const lines = [];
  if (r.doc_name) lines.push(`Found the Coda doc "${r.doc_name}".`);
  if (r.tables_ok.length) lines.push(`Tables ready: ${r.tables_ok.join(', ')}.`);
  lines.push(...r.optional);
  return lines;
}

function showProblems(list) {
  $('test-problems').replaceChildren(...list.map((p) => el('li', null, p)));
}

const docNeedsFixes = (r) => !!r.checklist && r.checklist.tables.some((t) => !t.ok);
let pelotonLine = '';

async function test() {
  clearErrors();
  const box = $('test-result');
  const summary = $('test-summary');
  const problems = $('test-problems');
  box.hidden = false;
  box.className = 'result';
  summary.textContent = 'Checking Peloton and Coda…';
  problems.replaceChildren();
  $('test-connection').disabled = true;
  try {
    const r = await invoke('test_connection', { input: input() });
    pelotonLine = r.peloton_user ? `Logged in to Peloton as ${r.peloton_user}.` : '';
    const found = [pelotonLine, ...docLines(r)].filter(Boolean);
    renderChecklist(r.checklist);
    if (r.ok) {
      found.push(r.saved ? 'Everything works; the settings are saved.' : 'Everything works.');
      box.className = 'result ok';
      await load();
      saveResult('Saved.', true);
    } else if (docNeedsFixes(r) && r.problems.length === 0) {
      found.push('Nothing was saved: the doc needs what is marked ✗ below; then check the doc again.');
      box.className = 'result bad';
    } else {
      found.push('Nothing was saved; fix these, then test again:');
      box.className = 'result bad';
    }
    summary.textContent = found.join(' ');
    showProblems(r.problems);
  } catch (err) {
    showFieldErrors(err.fields);
    box.className = 'result bad';
    summary.textContent = message(err);
  } finally {
    $('test-connection').disabled = false;
  }
}

// Reads only the doc again, after the user added what the checklist asked for.
async function recheck() {
  const box = $('test-result');
  $('recheck').disabled = true;
  $('test-summary').textContent = 'Checking the Coda doc…';
  try {
    const r = await invoke('recheck_doc', { input: input() });
    renderChecklist(r.checklist);
    const found = [pelotonLine, ...docLines(r)].filter(Boolean);
    if (r.ok) {
      found.push('Every table and column is ready; press Save to keep these settings.');
      box.className = 'result ok';
    } else if (docNeedsFixes(r) && r.problems.length === 0) {
      found.push('The doc still needs what is marked ✗ below.');
      box.className = 'result bad';
    } else {
      found.push('Fix these, then check again:');
      box.className = 'result bad';
    }
    $('test-summary').textContent = found.join(' ');
    showProblems(r.problems);
  } catch (err) {
    showFieldErrors(err.fields);
    box.className = 'result bad';
    $('test-summary').textContent = message(err);
  } finally {
    $('recheck').disabled = false;
  }
}

// Deletes the app's keychain entries; the settings file stays.
async function forget() {
  const r = $('forget-result');
  $('forget-credentials').disabled = true;
  try {
    fill(await invoke('forget_credentials'));
    r.textContent = 'Credentials deleted from the keychain.';
    r.className = 'result-line ok';
  } catch (err) {
    r.textContent = message(err);
    r.className = 'result-line bad';
  } finally {
    $('forget-credentials').disabled = false;
  }
}

// Starts a sync that sends every row again. The first click asks, in the
// result line, for a second one that confirms it.
let writeAllAsked = false;
async function writeEveryRow() {
  const r = $('write-every-row-result');
  const button = $('write-every-row');
  if (!writeAllAsked) {
    writeAllAsked = true;
    r.textContent = 'This is safe: rows are matched by their Peloton ID, so nothing is '
      + 'duplicated and your own rows and columns are left alone. Click again to start.';
    r.className = 'result-line';
    button.textContent = 'Yes, write every row again';
    return;
  }
  writeAllAsked = false;
  button.textContent = 'Write every row again';
  button.disabled = true;
  try {
    r.textContent = await invoke('write_every_row_again');
    r.className = 'result-line ok';
  } catch (err) {
    r.textContent = message(err);
    r.className = 'result-line bad';
  } finally {
    button.disabled = false;
  }
}

// Opens Peloton's sign-in window; how it ends comes as an event.
async function signIn() {
  const r = $('sign-in-result');
  r.textContent = 'Sign in in the window that opened…';
  r.className = 'result-line';
  try {
    await invoke('sign_in_with_peloton');
  } catch (err) {
    r.textContent = message(err);
    r.className = 'result-line bad';
  }
}

window.__TAURI__.event.listen('peloton-sign-in', (ev) => {
  const r = $('sign-in-result');
  r.textContent = ev.payload.message;
  r.className = 'result-line ' + (ev.payload.ok ? 'ok' : 'bad');
  load();
});

$('sign-in-peloton').addEventListener('click', signIn);
$('settings-form').addEventListener('submit', save);
$('write-every-row').addEventListener('click', writeEveryRow);
$('forget-credentials').addEventListener('click', forget);
$('test-connection').addEventListener('click', test);
$('recheck').addEventListener('click', recheck);
$('interval').addEventListener('input', intervalNote);
$('close').addEventListener('click', () => window.__TAURI__.window.getCurrentWindow().close());
document.addEventListener('visibilitychange', () => {
  // Reopened from the tray: show what is saved now.
  if (document.visibilityState === 'visible') load();
});
load();
