// The clinic's booking page: a plain client of the public API (/api/v1), no framework.
// Routes live in the URL hash so that links in emails work: #/bookings/{id},
// #/reset-password?token=…
'use strict';

const API = '/api/v1';
const body = document.body.dataset;
const settings = {
  clinicName: body.clinicName || '',
  cancelHours: Number(body.cancellationWindowHours) || 24,
  holdMinutes: Number(body.holdMinutes) || 10,
  horizonDays: Number(body.bookingHorizonDays) || 90,
};
const SESSION_KEY = 'booking-page.session';

// ---------------------------------------------------------------- DOM helpers

/** Builds an element; text is always set as text, never parsed as HTML. */
function h(tag, attrs, ...kids) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value == null || value === false) continue;
    if (key.startsWith('on')) el.addEventListener(key.slice(2), value);
    else if (key === 'class') el.className = value;
    else if (value === true) el.setAttribute(key, '');
    else el.setAttribute(key, String(value));
  }
  for (const kid of kids.flat(Infinity)) {
    if (kid == null || kid === false) continue;
    el.append(kid instanceof Node ? kid : String(kid));
  }
  return el;
}

/** Replaces an element's children, skipping the absent ones (null, undefined, false, ''). */
function fill(el, ...kids) {
  el.replaceChildren(...kids.flat(Infinity).filter((k) => k != null && k !== false && k !== '')
    .map((k) => (k instanceof Node ? k : String(k))));
}

let idCounter = 0;
const uid = (prefix) => `${prefix}-${++idCounter}`;

/** A labelled form field; `name` matches the API's field name so errors find it. */
function field(label, attrs, hint) {
  const { tag, options, ...rest } = attrs;
  const id = uid('f');
  const hintId = hint ? uid('hint') : null;
  const control = tag
    ? h(tag, { ...rest, id, 'aria-describedby': hintId }, options || [])
    : h('input', { type: 'text', ...rest, id, 'aria-describedby': hintId });
  return h('div', { class: 'field' },
    h('label', { for: id }, label),
    control,
    hint && h('p', { class: 'hint', id: hintId }, hint));
}

function message(kind, text) {
  const el = h('div', { class: `message${kind === 'error' ? ' error' : ''}`, role: kind === 'error' ? 'alert' : 'status' });
  if (text) el.textContent = text;
  return el;
}

function setMessage(el, kind, text) {
  el.className = `message${kind === 'error' ? ' error' : ''}`;
  el.setAttribute('role', kind === 'error' ? 'alert' : 'status');
  el.textContent = text || '';
}

const statusEl = document.getElementById('status');
/** Announces a result politely (the page-wide live region). */
function say(text, kind) {
  statusEl.textContent = '';
  statusEl.className = `status${kind === 'error' ? ' error' : ''}`;
  // A fresh text node after clearing makes screen readers announce a repeated message too.
  setTimeout(() => { statusEl.textContent = text || ''; }, 30);
}

// ---------------------------------------------------------------- formatting

const money = (cents, currency) =>
  new Intl.NumberFormat(undefined, { style: 'currency', currency }).format(cents / 100);

function partsIn(instant, timeZone) {
  const parts = {};
  for (const p of new Intl.DateTimeFormat('en-US', {
    timeZone, year: 'numeric', month: '2-digit', day: '2-digit', hourCycle: 'h23',
  }).formatToParts(instant)) parts[p.type] = p.value;
  return parts;
}
/** The calendar date (YYYY-MM-DD) of an instant in a time zone. */
function localDate(instant, timeZone) {
  const p = partsIn(new Date(instant), timeZone);
  return `${p.year}-${p.month}-${p.day}`;
}
function addDays(ymd, n) {
  const d = new Date(`${ymd}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + n);
  return d.toISOString().slice(0, 10);
}
const dateFmt = (ymd, options) =>
  new Intl.DateTimeFormat(undefined, { timeZone: 'UTC', ...options }).format(new Date(`${ymd}T12:00:00Z`));
const timeFmt = (instant, timeZone) =>
  new Intl.DateTimeFormat(undefined, { timeZone, hour: 'numeric', minute: '2-digit' }).format(new Date(instant));
const whenFmt = (instant, timeZone) =>
  new Intl.DateTimeFormat(undefined, {
    timeZone, weekday: 'long', month: 'long', day: 'numeric', year: 'numeric', hour: 'numeric', minute: '2-digit', timeZoneName: 'short',
  }).format(new Date(instant));

// ---------------------------------------------------------------- session and API

let session = readSession();
function readSession() {
  try { return JSON.parse(localStorage.getItem(SESSION_KEY) || 'null'); } catch { return null; }
}
function setSession(value) {
  session = value ? { access_token: value.access_token, refresh_token: value.refresh_token, user: value.user || session?.user } : null;
  try {
    if (session) localStorage.setItem(SESSION_KEY, JSON.stringify(session));
    else localStorage.removeItem(SESSION_KEY);
  } catch { /* private mode: the session lasts as long as the page */ }
  renderAccountNav();
}

/** An API error, in the words of its problem+json body. */
class Problem extends Error {
  constructor(p) {
    super(p.detail || p.title || 'Something went wrong.');
    Object.assign(this, p);
    this.detail = this.message;
  }
  get kind() { return String(this.type || '').split('/').pop(); }
}

let refreshing = null;
/** Trades the refresh token for a new pair, once even when several requests ask at once
 *  (presenting a rotated refresh token twice would end the whole login). */
function refreshSession() {
  if (!refreshing) {
    refreshing = (async () => {
      const token = session?.refresh_token;
      if (!token) return false;
      try {
        const res = await fetch(`${API}/auth/refresh`, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
          body: JSON.stringify({ refresh_token: token }),
        });
        if (!res.ok) return false;
        setSession(await res.json());
        return true;
      } catch { return false; }
    })().finally(() => { refreshing = null; });
  }
  return refreshing;
}

let clockSkew = 0; // server time minus this browser's time, from the Date header
async function api(method, path, payload, opts = {}) {
  const headers = { Accept: 'application/json', ...(opts.headers || {}) };
  const init = { method, headers };
  if (payload !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(payload);
  }
  const token = opts.anonymous ? null : session?.access_token;
  if (token) headers.Authorization = `Bearer ${token}`;
  let res;
  try {
    res = await fetch(API + path, init);
  } catch {
    throw new Problem({ status: 0, detail: 'The clinic could not be reached. Check your connection and try again.' });
  }
  const date = Date.parse(res.headers.get('Date') || '');
  if (!Number.isNaN(date)) clockSkew = date - Date.now();
  if (res.status === 401 && token && !opts.retried) {
    // An expired access token: refresh silently, then retry once.
    if (session?.access_token !== token || await refreshSession()) {
      return api(method, path, payload, { ...opts, retried: true });
    }
    setSession(null);
    throw new Problem({ status: 401, type: 'session-ended', detail: 'Your session has ended. Please sign in again.' });
  }
  if (!res.ok) {
    let problem = {};
    try { problem = await res.json(); } catch { /* not JSON */ }
    throw new Problem({ ...problem, status: res.status, detail: problem.detail || problem.title || `The request failed (${res.status}).` });
  }
  if (opts.raw) return res;
  if (res.status === 204) return null;
  const text = await res.text();
  return text ? JSON.parse(text) : null;
}

/** A random key (works outside secure contexts too, unlike crypto.randomUUID). */
function randomKey() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** Shows an API error: `detail` in the form's message, each field error next to its field. */
function showError(msgEl, err, form) {
  if (form) clearFieldErrors(form);
  let text = err instanceof Problem ? err.detail : 'Something went wrong. Please try again.';
  const leftovers = [];
  for (const { field: name, message: fieldMessage } of (err && err.errors) || []) {
    const input = form && name && form.querySelector(`[name="${CSS.escape(name)}"]`);
    if (input) {
      const id = uid('err');
      input.setAttribute('aria-invalid', 'true');
      input.setAttribute('aria-describedby', [input.getAttribute('aria-describedby'), id].filter(Boolean).join(' '));
      const note = h('p', { class: 'field-error', id }, fieldMessage);
      const wrapper = input.closest('.field') || input.parentElement;
      wrapper.append(note);
    } else if (fieldMessage) leftovers.push(fieldMessage);
  }
  if (leftovers.length) text = `${text} ${leftovers.join(' ')}`;
  setMessage(msgEl, 'error', text);
  const firstInvalid = form && form.querySelector('[aria-invalid="true"]');
  if (firstInvalid) firstInvalid.focus();
}
function clearFieldErrors(form) {
  for (const note of form.querySelectorAll('.field-error')) {
    const input = form.querySelector(`[aria-describedby~="${note.id}"]`);
    if (input) {
      input.removeAttribute('aria-invalid');
      const rest = input.getAttribute('aria-describedby').split(' ').filter((x) => x !== note.id).join(' ');
      if (rest) input.setAttribute('aria-describedby', rest); else input.removeAttribute('aria-describedby');
    }
    note.remove();
  }
}

/** Runs a form's submit with its button disabled, errors shown in `msgEl`. */
function onSubmit(form, msgEl, action) {
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const button = form.querySelector('button[type="submit"]');
    if (button) button.disabled = true;
    clearFieldErrors(form);
    setMessage(msgEl, 'status', '');
    try {
      await action(new FormData(form));
    } catch (err) {
      showError(msgEl, err, form);
    } finally {
      if (button) button.disabled = false;
    }
  });
}

// ---------------------------------------------------------------- catalog

const catalog = { types: [], locations: [], therapists: [], loaded: false };
const byId = (list, id) => list.find((x) => x.id === id);
const zoneOf = (locationId) => (byId(catalog.locations, locationId) || catalog.locations[0] || {}).timezone || 'UTC';

async function loadCatalog() {
  const [types, locations, therapists] = await Promise.all([
    api('GET', '/massage-types?limit=100', undefined, { anonymous: true }),
    api('GET', '/locations?limit=100', undefined, { anonymous: true }),
    api('GET', '/therapists?limit=100', undefined, { anonymous: true }),
  ]);
  catalog.types = types.items.filter((t) => t.active !== false && t.options.length);
  catalog.locations = locations.items;
  catalog.therapists = therapists.items.filter((t) => t.active !== false);
  catalog.loaded = true;
  const list = document.getElementById('locations');
  fill(list, ...catalog.locations.map((l) =>
    h('li', {}, h('strong', {}, l.name), h('br'), l.address)));
}

function describe(booking) {
  const type = byId(catalog.types, booking.massage_type_id);
  const therapist = byId(catalog.therapists, booking.therapist_id);
  const location = byId(catalog.locations, booking.location_id);
  const rows = [
    ['Massage', type ? type.name : 'Massage'],
    ['Length', `${booking.duration_minutes} minutes`],
    ['When', whenFmt(booking.start, zoneOf(booking.location_id))],
    ['Therapist', therapist ? therapist.name : '—'],
    ['Where', location ? `${location.name}, ${location.address}` : '—'],
  ];
  if (booking.price_cents != null) rows.splice(2, 0, ['Price', money(booking.price_cents, booking.currency)]);
  else if (type) {
    const option = type.options.find((o) => o.duration_minutes === booking.duration_minutes);
    if (option) rows.splice(2, 0, ['Price', money(option.price_cents, option.currency)]);
  }
  return h('dl', { class: 'summary' }, rows.map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
}

const policyText = () =>
  `You can cancel or move this booking here up to ${settings.cancelHours} hours before it starts. ` +
  'After that, please call the clinic.';

// ---------------------------------------------------------------- sign in / register

/** Inline sign-in or registration; `onDone` runs once signed in. */
function authPanel({ intro, onDone, startWith = 'register' }) {
  const panel = h('section', { class: 'auth', 'aria-labelledby': uid('auth') });
  const titleId = panel.getAttribute('aria-labelledby');
  let mode = startWith;
  const render = () => {
    const msg = message('status');
    const isRegister = mode === 'register';
    const form = h('form', { novalidate: true, class: isRegister ? 'register' : 'sign-in' },
      isRegister && field('Your name', { name: 'name', autocomplete: 'name', required: true }),
      field('Email', { name: 'email', type: 'email', autocomplete: 'email', required: true }),
      isRegister && field('Phone (optional)', { name: 'phone', type: 'tel', autocomplete: 'tel' }),
      field('Password', { name: 'password', type: 'password', autocomplete: isRegister ? 'new-password' : 'current-password', required: true },
        isRegister ? 'At least 8 characters; a few unrelated words work well.' : null),
      msg,
      h('div', { class: 'actions' },
        h('button', { type: 'submit' }, isRegister ? 'Create account' : 'Sign in'),
        !isRegister && h('a', { href: '#/forgot-password' }, 'Forgot your password?')));
    onSubmit(form, msg, async (data) => {
      const payload = { email: data.get('email').trim(), password: data.get('password') };
      if (isRegister) {
        payload.name = data.get('name').trim();
        const phone = data.get('phone').trim();
        if (phone) payload.phone = phone;
      }
      const result = await api('POST', isRegister ? '/auth/register' : '/auth/login', payload, { anonymous: true });
      setSession(result);
      say(`Signed in as ${result.user.name}.`);
      await onDone();
    });
    const tab = (which, label) => h('button', {
      type: 'button', class: 'secondary', 'aria-pressed': String(mode === which),
      onclick: () => { mode = which; render(); panel.querySelector('input').focus(); },
    }, label);
    fill(panel,
      h('h2', { id: titleId }, isRegister ? 'Create your account' : 'Sign in'),
      intro && h('p', {}, intro),
      h('div', { class: 'tabs', role: 'group', 'aria-label': 'Account' },
        tab('register', 'New here'), tab('sign-in', 'I have an account')),
      form);
  };
  render();
  return panel;
}

// ---------------------------------------------------------------- day and time picker

/** A week strip (which days have openings) and the offered times of the chosen day.
 *  `state` keeps the week and day across re-renders; `params()` gives the slot query. */
function makePicker({ params, state, onPick, notice, extra }) {
  const root = h('div', { class: 'picker' });
  const msg = message(notice ? 'error' : 'status', notice);
  let byDay = new Map();
  let week = null;

  async function load(newNotice, focusSelector) {
    const p = params();
    const tz = zoneOf(p.location_id);
    const today = localDate(Date.now(), tz);
    if (!state.weekStart || state.weekStart < today) state.weekStart = today;
    const from = state.weekStart;
    const to = addDays(from, 6);
    if (newNotice !== undefined) setMessage(msg, newNotice ? 'error' : 'status', newNotice);
    if (!root.firstChild) fill(root, h('p', { class: 'muted' }, 'Looking for open times…'), msg);
    root.setAttribute('aria-busy', 'true');
    const query = new URLSearchParams({ massage_type_id: p.massage_type_id, duration_minutes: p.duration_minutes, from, to });
    if (p.location_id) query.set('location_id', p.location_id);
    if (p.therapist_id) query.set('therapist_id', p.therapist_id);
    let slots;
    try {
      const page = await api('GET', `/slots?${query}`, undefined, { anonymous: true });
      // One button per start and place; the first therapist free then takes it.
      const seen = new Set();
      slots = page.items.filter((s) => {
        const key = `${s.start}|${s.location_id}`;
        if (seen.has(key)) return false;
        seen.add(key);
        return true;
      });
    } catch (err) {
      root.removeAttribute('aria-busy');
      showError(msg, err);
      fill(root, msg, h('button', { type: 'button', class: 'secondary', onclick: () => load() }, 'Try again'));
      return;
    }
    root.removeAttribute('aria-busy');
    byDay = new Map();
    for (let i = 0; i < 7; i++) byDay.set(addDays(from, i), []);
    for (const s of slots) {
      const day = localDate(s.start, zoneOf(s.location_id));
      if (byDay.has(day)) byDay.get(day).push(s);
    }
    if (!byDay.has(state.day)) {
      state.day = [...byDay.keys()].find((d) => byDay.get(d).length) || from;
    }
    week = { from, to, today, tz, p, total: slots.length };
    draw(focusSelector);
  }

  function draw(focusSelector) {
    const { from, to, today, tz, total } = week;
    const lastDay = addDays(today, settings.horizonDays);
    const range = `${dateFmt(from, { month: 'short', day: 'numeric' })} – ${dateFmt(to, { month: 'short', day: 'numeric' })}`;
    const weekNav = h('div', { class: 'week-nav' },
      h('button', {
        type: 'button', class: 'secondary earlier', disabled: from <= today,
        onclick: () => { state.weekStart = addDays(from, -7); state.day = null; load('', '.earlier:not([disabled]), .later'); },
      }, h('span', { 'aria-hidden': 'true' }, '‹ '), 'Earlier week'),
      h('p', {}, range),
      h('button', {
        type: 'button', class: 'secondary later', disabled: addDays(from, 7) > lastDay,
        onclick: () => { state.weekStart = addDays(from, 7); state.day = null; load('', '.later:not([disabled]), .earlier'); },
      }, 'Later week', h('span', { 'aria-hidden': 'true' }, ' ›')));
    const strip = h('ul', { class: 'week', 'aria-label': `Days from ${range}`, 'data-week': from }, [...byDay].map(([day, list]) => {
      const count = list.length;
      const label = `${dateFmt(day, { weekday: 'long', month: 'long', day: 'numeric' })}: ${count ? `${count} open time${count === 1 ? '' : 's'}` : 'no openings'}`;
      return h('li', {}, h('button', {
        type: 'button', class: `day ${count ? 'open' : 'closed'}`, 'aria-pressed': String(day === state.day),
        'data-date': day,
        onclick: () => { state.day = day; draw(`[data-date="${day}"]`); },
      },
      h('span', { class: 'dow' }, dateFmt(day, { weekday: 'short' })),
      h('span', { class: 'visually-hidden' }, `, ${dateFmt(day, { month: 'long' })}`),
      h('span', { class: 'num' }, dateFmt(day, { day: 'numeric' })),
      h('span', { class: 'visually-hidden' }, ', '),
      h('span', { class: 'avail' }, count ? `${count} open` : 'none')));
    }));
    const daySlots = byDay.get(state.day);
    const headingId = uid('times');
    const timeList = (list, showPlace) => h('ul', { class: 'times' }, list.map((s) => {
      const therapist = byId(catalog.therapists, s.therapist_id);
      const location = byId(catalog.locations, s.location_id);
      const where = [therapist && therapist.name, showPlace && location && location.name].filter(Boolean).join(' · ');
      return h('li', {}, h('button', {
        type: 'button', class: 'time secondary', 'data-start': s.start,
        onclick: () => onPick(s),
      }, timeFmt(s.start, zoneOf(s.location_id)), where && h('small', {}, h('span', { class: 'visually-hidden' }, ', '), where)));
    }));
    // With any location, the times are grouped by place (each under the place's name).
    const places = [...new Set(daySlots.map((s) => s.location_id))];
    let times;
    if (!daySlots.length) {
      times = h('p', { class: 'none' }, total
        ? 'No openings on this day. Pick another day.'
        : 'No openings this week. Try a later week, another length or location, or join the waitlist.');
    } else if (places.length > 1) {
      times = places.map((id) => {
        const place = byId(catalog.locations, id);
        const placeId = uid('place');
        const list = timeList(daySlots.filter((s) => s.location_id === id), false);
        list.setAttribute('aria-labelledby', `${headingId} ${placeId}`);
        return [h('h4', { id: placeId, class: 'place' }, place ? place.name : 'Clinic'), list];
      });
    } else {
      times = timeList(daySlots, false);
      times.setAttribute('aria-labelledby', headingId);
    }
    fill(root,
      weekNav, strip,
      h('h3', { id: headingId }, `Times on ${dateFmt(state.day, { weekday: 'long', month: 'long', day: 'numeric' })}`),
      h('p', { class: 'hint' }, `Shown in the clinic's local time (${tz.replace(/_/g, ' ')}).`),
      msg, times, extra && extra());
    if (focusSelector) root.querySelector(focusSelector)?.focus();
  }
  load();
  return { el: root, reload: load };
}

// ---------------------------------------------------------------- booking flow

const flow = {
  typeId: null, duration: null, locationId: '', therapistId: '',
  weekStart: null, day: null,
  pending: null, // a slot picked before signing in
  hold: null, holdKey: null,
  booked: null,
  notice: null,
  waitlist: false,
};
let holdTimer = null;
let stepEl = null;

function currentType() { return byId(catalog.types, flow.typeId); }
function slotParams() {
  return { massage_type_id: flow.typeId, duration_minutes: flow.duration, location_id: flow.locationId, therapist_id: flow.therapistId };
}

function viewBook() {
  if (!flow.typeId || !currentType()) {
    const first = catalog.types[0];
    if (!first) return [h('h1', { tabindex: '-1' }, 'Book a massage'), h('p', {}, 'No massages can be booked online just now.')];
    flow.typeId = first.id;
    flow.duration = (first.options.find((o) => o.duration_minutes === 60) || first.options[0]).duration_minutes;
  }
  stepEl = h('section', { class: 'card step', 'aria-labelledby': 'step-title' });
  const layout = h('div', { class: 'book-layout' }, chooseCard(), stepEl);
  renderStep();
  return [h('h1', { tabindex: '-1' }, 'Book a massage'), layout];
}

function chooseCard() {
  const card = h('section', { class: 'card choose', 'aria-labelledby': 'choose-title' });
  const render = () => {
    const type = currentType();
    const therapistSelect = field('Therapist', {
      tag: 'select', name: 'therapist_id',
      options: [h('option', { value: '' }, 'Any therapist')],
    });
    const locationSelect = field('Location', {
      tag: 'select', name: 'location_id',
      options: [h('option', { value: '' }, 'Any location'),
        ...catalog.locations.map((l) => h('option', { value: l.id, selected: l.id === flow.locationId }, l.name))],
    });
    fill(card,
      h('h2', { id: 'choose-title' }, 'Your massage'),
      h('fieldset', {},
        h('legend', {}, 'Type of massage'),
        h('div', { class: 'choices' }, catalog.types.map((t) => h('label', { class: 'choice' },
          h('input', {
            type: 'radio', name: 'massage_type_id', value: t.id, checked: t.id === flow.typeId,
            onchange: () => {
              flow.typeId = t.id;
              if (!t.options.some((o) => o.duration_minutes === flow.duration)) flow.duration = t.options[0].duration_minutes;
              choicesChanged(true);
            },
          }),
          h('span', {}, h('strong', {}, t.name), t.description && h('span', { class: 'hint' }, t.description)))))),
      h('fieldset', {},
        h('legend', {}, 'Length and price'),
        h('div', { class: 'choices durations' }, type.options.map((o) => h('label', { class: 'choice' },
          h('input', {
            type: 'radio', name: 'duration_minutes', value: o.duration_minutes, checked: o.duration_minutes === flow.duration,
            onchange: () => { flow.duration = o.duration_minutes; choicesChanged(false); },
          }),
          h('span', {}, `${o.duration_minutes} min`),
          h('span', { class: 'price' }, money(o.price_cents, o.currency)))))),
      locationSelect, therapistSelect);
    const locSel = locationSelect.querySelector('select');
    locSel.addEventListener('change', () => { flow.locationId = locSel.value; choicesChanged(true); });
    const thSel = therapistSelect.querySelector('select');
    thSel.addEventListener('change', () => { flow.therapistId = thSel.value; choicesChanged(false); });
    fillTherapists(thSel);
  };
  async function fillTherapists(select) {
    const query = new URLSearchParams({ massage_type_id: flow.typeId, limit: '100' });
    if (flow.locationId) query.set('location_id', flow.locationId);
    let list = [];
    try {
      list = (await api('GET', `/therapists?${query}`, undefined, { anonymous: true })).items.filter((t) => t.active !== false);
    } catch { list = catalog.therapists; }
    if (flow.therapistId && !list.some((t) => t.id === flow.therapistId)) {
      flow.therapistId = '';
      renderStep();
    }
    fill(select, h('option', { value: '' }, 'Any therapist'),
      ...list.map((t) => h('option', { value: t.id, selected: t.id === flow.therapistId }, t.name)));
  }
  function choicesChanged(rerender) {
    releaseHold();
    flow.booked = null;
    flow.pending = null;
    flow.waitlist = false;
    if (rerender) {
      const focused = document.activeElement && document.activeElement.name;
      render();
      if (focused) card.querySelector(`[name="${focused}"]:checked, select[name="${focused}"]`)?.focus();
    }
    renderStep();
  }
  render();
  return card;
}

function stepTitle(text) { return h('h2', { id: 'step-title', tabindex: '-1' }, text); }

function renderStep(focus) {
  if (!stepEl) return;
  clearInterval(holdTimer);
  let content;
  if (flow.booked) content = bookedPanel();
  else if (flow.hold) content = heldPanel();
  else if (flow.pending && !session) {
    const slot = flow.pending;
    content = [stepTitle('Sign in to hold your time'), authPanel({
      intro: `You picked ${whenFmt(slot.start, zoneOf(slot.location_id))}. Create an account or sign in and we will hold it for you for ${settings.holdMinutes} minutes while you confirm.`,
      onDone: () => holdSlot(slot),
    })];
  } else if (flow.waitlist) content = waitlistPanel();
  else {
    const notice = flow.notice;
    flow.notice = null;
    content = [stepTitle('Choose a day and time'), makePicker({
      params: slotParams, state: flow, notice, onPick: pickSlot,
      extra: () => h('p', { class: 'actions' }, h('button', {
        type: 'button', class: 'link', onclick: () => { flow.waitlist = true; renderStep(true); },
      }, 'None of these times work? Join the waitlist')),
    }).el];
  }
  fill(stepEl, ...[content].flat());
  if (focus) stepEl.querySelector('#step-title')?.focus();
}

function pickSlot(slot) {
  if (!session) {
    flow.pending = slot;
    renderStep(true);
    return;
  }
  holdSlot(slot);
}

async function holdSlot(slot) {
  flow.pending = null;
  try {
    const hold = await api('POST', '/holds', {
      therapist_id: slot.therapist_id, massage_type_id: flow.typeId, duration_minutes: flow.duration, start: slot.start,
    });
    flow.hold = hold;
    flow.holdKey = randomKey();
    say(`Held for you until ${timeFmt(hold.expires_at, zoneOf(hold.location_id))}.`);
  } catch (err) {
    if (err.status === 409) {
      flow.notice = 'Sorry, that time was just taken. Here are the times still open.';
    } else if (err.status === 401) {
      flow.pending = slot;
    } else {
      flow.notice = err.detail;
    }
  }
  renderStep(true);
}

function releaseHold() {
  if (flow.hold) {
    const id = flow.hold.id;
    flow.hold = null;
    api('DELETE', `/holds/${id}`).catch(() => { /* it runs out by itself */ });
  }
  clearInterval(holdTimer);
}

function heldPanel() {
  const hold = flow.hold;
  const expires = Date.parse(hold.expires_at);
  const clock = h('span', { class: 'countdown', role: 'timer', 'aria-atomic': 'true' });
  const msg = message('status');
  let warned = false;
  const tick = () => {
    const left = Math.min(settings.holdMinutes * 60000, Math.max(0, expires - (Date.now() + clockSkew)));
    const minutes = Math.floor(left / 60000);
    const seconds = Math.floor((left % 60000) / 1000);
    clock.textContent = `${minutes}:${String(seconds).padStart(2, '0')}`;
    if (left <= 60000 && !warned) { warned = true; say('One minute left to confirm your booking.'); }
    if (left <= 0) {
      clearInterval(holdTimer);
      flow.hold = null;
      flow.notice = 'Your hold ran out, so the time may have gone to someone else. Here are the times open now.';
      renderStep(true);
    }
  };
  const notes = field('Anything your therapist should know? (optional)', { tag: 'textarea', name: 'notes', maxlength: 2000 });
  const form = h('form', { novalidate: true, class: 'confirm' },
    describe({ ...hold, price_cents: null }),
    h('p', {}, 'We are holding this time for you for ', clock, ' more.'),
    notes,
    h('p', { class: 'policy' }, policyText()),
    msg,
    h('div', { class: 'actions' },
      h('button', { type: 'submit' }, 'Confirm booking'),
      h('button', {
        type: 'button', class: 'secondary',
        onclick: () => { releaseHold(); say('The held time is released.'); renderStep(true); },
      }, 'Choose another time')));
  onSubmit(form, msg, async (data) => {
    const payload = { hold_id: hold.id };
    const text = data.get('notes').trim();
    if (text) payload.notes = text;
    try {
      const booking = await api('POST', '/bookings', payload, { headers: { 'Idempotency-Key': flow.holdKey } });
      flow.hold = null;
      flow.booked = booking;
      say('You are booked.');
      renderStep(true);
    } catch (err) {
      if (err.status === 409 && err.kind !== 'idempotency-in-flight') {
        flow.hold = null;
        flow.notice = err.kind === 'hold-expired'
          ? 'Your hold ran out before you confirmed. Here are the times open now.'
          : 'Sorry, that time was just taken. Here are the times still open.';
        renderStep(true);
        return;
      }
      throw err;
    }
  });
  holdTimer = setInterval(tick, 1000);
  tick();
  return [stepTitle('Confirm your booking'), form];
}

function bookedPanel() {
  const booking = flow.booked;
  const msg = message('status');
  return [
    stepTitle('You are booked'),
    h('p', { class: 'message' }, `See you on ${whenFmt(booking.start, zoneOf(booking.location_id))}. We have emailed you the details.`),
    describe(booking),
    h('p', { class: 'policy' }, policyText()),
    msg,
    h('div', { class: 'actions' },
      calendarButton(booking, msg),
      h('a', { class: 'button secondary', href: '#/bookings' }, 'My bookings'),
      h('button', {
        type: 'button', class: 'secondary',
        onclick: () => { flow.booked = null; flow.day = null; renderStep(true); },
      }, 'Book another')),
  ];
}

function calendarButton(booking, msg) {
  return h('button', {
    type: 'button', class: 'secondary calendar',
    onclick: async () => {
      try {
        const res = await api('GET', `/bookings/${booking.id}.ics`, undefined, { raw: true, headers: { Accept: 'text/calendar' } });
        const url = URL.createObjectURL(await res.blob());
        const link = h('a', { href: url, download: `booking-${localDate(booking.start, zoneOf(booking.location_id))}.ics`, hidden: true });
        document.body.append(link);
        link.click();
        link.remove();
        setTimeout(() => URL.revokeObjectURL(url), 60000);
        say('The calendar file is downloading; open it to add the booking to your calendar.');
      } catch (err) { showError(msg, err); }
    },
  }, 'Add to calendar');
}

// ---------------------------------------------------------------- waitlist

function waitlistPanel() {
  const type = currentType();
  const tz = zoneOf(flow.locationId);
  const today = localDate(Date.now(), tz);
  const from = flow.weekStart && flow.weekStart > today ? flow.weekStart : today;
  const msg = message('status');
  const location = byId(catalog.locations, flow.locationId);
  const therapist = byId(catalog.therapists, flow.therapistId);
  const what = [`${type.name}, ${flow.duration} minutes`, location && `at ${location.name}`, therapist && `with ${therapist.name}`].filter(Boolean).join(' ');
  const form = h('form', { novalidate: true, class: 'waitlist' },
    h('p', {}, `Tell us which days suit you. If a time opens up for ${what}, we hold it for you and email you.`),
    h('div', { class: 'grid two' },
      field('From', { name: 'from', type: 'date', value: from, min: today, required: true }),
      field('To', { name: 'to', type: 'date', value: addDays(from, 6), min: today, required: true }, 'Up to 31 days after the first date.')),
    msg,
    h('div', { class: 'actions' },
      h('button', { type: 'submit' }, 'Join the waitlist'),
      h('button', { type: 'button', class: 'secondary', onclick: () => { flow.waitlist = false; renderStep(true); } }, 'Back to times')));
  const submit = async (data) => {
    const payload = { massage_type_id: flow.typeId, duration_minutes: flow.duration, from: data.get('from'), to: data.get('to') };
    if (flow.locationId) payload.location_id = flow.locationId;
    if (flow.therapistId) payload.therapist_id = flow.therapistId;
    await api('POST', '/waitlist', payload);
    fill(form, message('status', `You are on the waitlist from ${dateFmt(payload.from, { month: 'long', day: 'numeric' })} to ${dateFmt(payload.to, { month: 'long', day: 'numeric' })}. We will email you when a time opens up.`),
      h('p', {}, h('a', { href: '#/bookings' }, 'See your bookings and waitlist')));
  };
  if (!session) {
    return [stepTitle('Join the waitlist'), authPanel({
      intro: 'Sign in or create an account to join the waitlist.',
      onDone: () => renderStep(true),
    })];
  }
  onSubmit(form, msg, submit);
  return [stepTitle('Join the waitlist'), form];
}

// ---------------------------------------------------------------- my bookings

function needSession(title, after) {
  return [h('h1', { tabindex: '-1' }, title), h('div', { class: 'card' }, authPanel({
    intro: 'Sign in to see your bookings.', startWith: 'sign-in', onDone: after,
  }))];
}

async function viewBookings() {
  if (!session) return needSession('My bookings', () => route());
  const [bookings, waitlist] = await Promise.all([
    api('GET', '/bookings?limit=100'),
    api('GET', '/waitlist?limit=100').catch(() => ({ items: [] })),
  ]);
  const now = Date.now();
  const upcoming = bookings.items.filter((b) => b.status === 'confirmed' && Date.parse(b.start) > now)
    .sort((a, b) => a.start.localeCompare(b.start));
  const past = bookings.items.filter((b) => !upcoming.includes(b)).sort((a, b) => b.start.localeCompare(a.start));
  const waiting = waitlist.items.filter((w) => w.status === 'waiting' || w.status === 'offered');
  return [
    h('h1', { tabindex: '-1' }, 'My bookings'),
    h('section', { 'aria-labelledby': 'upcoming' },
      h('h2', { id: 'upcoming' }, 'Upcoming'),
      upcoming.length ? h('ul', { class: 'bookings' }, upcoming.map(bookingItem))
        : h('p', {}, 'Nothing booked yet. ', h('a', { href: '#/' }, 'Book a massage'))),
    waiting.length ? h('section', { 'aria-labelledby': 'waitlist-title' },
      h('h2', { id: 'waitlist-title' }, 'Waitlist'),
      h('ul', { class: 'bookings' }, waiting.map(waitlistItem))) : null,
    past.length ? h('section', { 'aria-labelledby': 'past' },
      h('h2', { id: 'past' }, 'Past and cancelled'),
      h('ul', { class: 'bookings' }, past.map(bookingItem))) : null,
  ];
}

async function viewBooking(id) {
  if (!session) return needSession('Your booking', () => route());
  let booking;
  try {
    booking = await api('GET', `/bookings/${id}`);
  } catch (err) {
    if (err.status === 404) return [h('h1', { tabindex: '-1' }, 'Booking not found'), h('p', {}, 'This booking is not on your account. ', h('a', { href: '#/bookings' }, 'See your bookings'))];
    throw err;
  }
  return [h('h1', { tabindex: '-1' }, 'Your booking'), h('ul', { class: 'bookings' }, bookingItem(booking)),
    h('p', {}, h('a', { href: '#/bookings' }, 'All my bookings'))];
}

const statusWords = { confirmed: 'Confirmed', cancelled: 'Cancelled', completed: 'Completed', no_show: 'Missed' };

function bookingItem(booking) {
  const li = h('li', { class: 'card booking', 'data-booking-id': booking.id });
  const render = (extra) => {
    const tz = zoneOf(booking.location_id);
    const type = byId(catalog.types, booking.massage_type_id);
    const open = booking.status === 'confirmed' && Date.parse(booking.start) > Date.now();
    const msg = message('status');
    const titleId = uid('b');
    li.setAttribute('aria-labelledby', titleId);
    fill(li,
      h('h3', { id: titleId }, `${type ? type.name : 'Massage'} · ${whenFmt(booking.start, tz)} `,
        h('span', { class: `badge ${booking.status}` }, statusWords[booking.status] || booking.status)),
      describe(booking),
      booking.cancel_reason && h('p', { class: 'muted' }, `Reason: ${booking.cancel_reason}`),
      msg,
      extra ? extra(msg) : open && h('div', { class: 'actions' },
        calendarButton(booking, msg),
        h('button', { type: 'button', class: 'secondary', onclick: () => render(reschedulePanel) }, 'Reschedule'),
        h('button', { type: 'button', class: 'secondary', onclick: () => render(cancelPanel) }, 'Cancel booking')));
    if (extra) li.querySelector('[data-focus]')?.focus();
  };
  const cancelPanel = (msg) => {
    const form = h('form', { novalidate: true, class: 'cancel' },
      field('Reason (optional)', { name: 'reason', 'data-focus': true }),
      h('p', { class: 'policy' }, `You can cancel here up to ${settings.cancelHours} hours before the start; after that, please call the clinic.`),
      h('div', { class: 'actions' },
        h('button', { type: 'submit', class: 'danger' }, 'Yes, cancel it'),
        h('button', { type: 'button', class: 'secondary', onclick: () => render() }, 'Keep it')));
    onSubmit(form, msg, async (data) => {
      const reason = data.get('reason').trim();
      booking = await api('POST', `/bookings/${booking.id}/cancel`, reason ? { reason } : {});
      render();
      say('Your booking is cancelled.');
    });
    return form;
  };
  const reschedulePanel = (msg) => {
    const state = { weekStart: null, day: null };
    const picker = makePicker({
      params: () => ({ massage_type_id: booking.massage_type_id, duration_minutes: booking.duration_minutes, location_id: booking.location_id }),
      state,
      onPick: async (slot) => {
        try {
          booking = await api('POST', `/bookings/${booking.id}/reschedule`, { start: slot.start, therapist_id: slot.therapist_id });
          render();
          say(`Moved to ${whenFmt(booking.start, zoneOf(booking.location_id))}.`);
        } catch (err) {
          if (err.status === 409 && err.kind === 'slot-unavailable') picker.reload('Sorry, that time was just taken. Here are the times still open.');
          else showError(msg, err);
        }
      },
    });
    return h('div', { class: 'reschedule' },
      h('h4', { tabindex: '-1', 'data-focus': true }, 'Pick a new time'), picker.el,
      h('div', { class: 'actions' }, h('button', { type: 'button', class: 'secondary', onclick: () => render() }, 'Keep the current time')));
  };
  render();
  return li;
}

function waitlistItem(entry) {
  const type = byId(catalog.types, entry.massage_type_id);
  const msg = message('status');
  const li = h('li', { class: 'card' },
    h('h3', {}, `${type ? type.name : 'Massage'}, ${entry.duration_minutes} minutes`),
    h('p', {}, `Any time from ${dateFmt(entry.from, { month: 'long', day: 'numeric' })} to ${dateFmt(entry.to, { month: 'long', day: 'numeric' })}.`),
    entry.offer && h('p', { class: 'message' }, `A time opened up: ${whenFmt(entry.offer.start, zoneOf(entry.offer.location_id))}. It is held for you until ${timeFmt(entry.offer.expires_at, zoneOf(entry.offer.location_id))}.`),
    msg,
    h('div', { class: 'actions' },
      entry.offer && h('button', {
        type: 'button',
        onclick: async () => {
          try {
            const booking = await api('POST', '/bookings', { hold_id: entry.offer.hold_id }, { headers: { 'Idempotency-Key': `waitlist-${entry.offer.hold_id}` } });
            say('You are booked.');
            location.hash = `#/bookings/${booking.id}`;
          } catch (err) { showError(msg, err); }
        },
      }, 'Book this time'),
      h('button', {
        type: 'button', class: 'secondary',
        onclick: async () => {
          try { await api('DELETE', `/waitlist/${entry.id}`); li.remove(); say('You have left the waitlist.'); } catch (err) { showError(msg, err); }
        },
      }, 'Leave the waitlist')));
  return li;
}

// ---------------------------------------------------------------- passwords

function viewForgot() {
  const msg = message('status');
  const form = h('form', { novalidate: true, class: 'card' },
    h('p', {}, 'Enter the email of your account and we will send you a link to set a new password.'),
    field('Email', { name: 'email', type: 'email', autocomplete: 'email', required: true }),
    msg,
    h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Send the link')));
  onSubmit(form, msg, async (data) => {
    await api('POST', '/auth/password-reset', { email: data.get('email').trim() }, { anonymous: true });
    setMessage(msg, 'status', 'If an account uses that address, a link to set a new password is on its way. It works for a limited time.');
  });
  return [h('h1', { tabindex: '-1' }, 'Forgot your password?'), form];
}

function viewReset(query) {
  const token = new URLSearchParams(query).get('token') || '';
  const msg = message('status');
  const form = h('form', { novalidate: true, class: 'card' },
    field('New password', { name: 'new_password', type: 'password', autocomplete: 'new-password', required: true },
      'At least 8 characters; a few unrelated words work well.'),
    field('New password again', { name: 'confirm', type: 'password', autocomplete: 'new-password', required: true }),
    msg,
    h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Set the password')));
  onSubmit(form, msg, async (data) => {
    if (data.get('new_password') !== data.get('confirm')) {
      throw new Problem({ detail: 'The two passwords differ.', errors: [{ field: 'confirm', message: 'Type the same password twice.' }] });
    }
    await api('POST', '/auth/password-reset/confirm', { token, new_password: data.get('new_password') }, { anonymous: true });
    setSession(null);
    fill(form, message('status', 'Your password is set. Sign in with it now.'),
      authPanel({ startWith: 'sign-in', onDone: () => { location.hash = '#/bookings'; } }));
  });
  if (!token) setMessage(msg, 'error', 'This link has no token. Open the link from the email again, or ask for a new one.');
  return [h('h1', { tabindex: '-1' }, 'Set a new password'), form];
}

function viewSignIn() {
  if (session) { location.hash = '#/bookings'; return []; }
  return [h('h1', { tabindex: '-1' }, 'Sign in'), h('div', { class: 'card' }, authPanel({
    startWith: 'sign-in', onDone: () => { location.hash = '#/bookings'; },
  }))];
}

// ---------------------------------------------------------------- navigation

function renderAccountNav() {
  const slot = document.getElementById('account-nav');
  if (!slot) return;
  if (session && session.user) {
    fill(slot, h('span', { class: 'who' }, session.user.name), ' ', h('button', {
      type: 'button', class: 'link',
      onclick: async () => {
        const token = session && session.refresh_token;
        setSession(null);
        releaseHold();
        if (token) api('POST', '/auth/logout', { refresh_token: token }, { anonymous: true }).catch(() => {});
        say('You are signed out.');
        route();
      },
    }, 'Sign out'));
  } else {
    fill(slot, h('a', { href: '#/sign-in', 'data-nav': 'sign-in' }, 'Sign in'));
  }
}

const view = document.getElementById('view');
let lastHash = null;
async function route() {
  const hash = location.hash || '#/';
  const [path, query = ''] = hash.slice(1).split('?');
  const changed = hash !== lastHash;
  lastHash = hash;
  clearInterval(holdTimer);
  if (path !== '/' && path !== '') stepEl = null;
  const section = path.startsWith('/bookings') ? 'bookings' : path === '/sign-in' ? 'sign-in' : path === '/' || path === '' ? 'book' : '';
  for (const link of document.querySelectorAll('[data-nav]')) {
    if (link.dataset.nav === section) link.setAttribute('aria-current', 'page'); else link.removeAttribute('aria-current');
  }
  try {
    if (!catalog.loaded) await loadCatalog();
    let content;
    const bookingMatch = path.match(/^\/bookings\/([0-9a-fA-F-]{36})$/);
    if (path === '/' || path === '') content = viewBook();
    else if (path === '/bookings') content = await viewBookings();
    else if (bookingMatch) content = await viewBooking(bookingMatch[1]);
    else if (path === '/reset-password') content = viewReset(query);
    else if (path === '/forgot-password') content = viewForgot();
    else if (path === '/sign-in') content = viewSignIn();
    else content = [h('h1', { tabindex: '-1' }, 'Page not found'), h('p', {}, h('a', { href: '#/' }, 'Book a massage'))];
    if (location.hash !== hash && !(hash === '#/' && !location.hash)) return; // moved on meanwhile
    fill(view, ...content.flat().filter(Boolean));
    document.title = `${view.querySelector('h1')?.textContent || 'Book'} · ${settings.clinicName}`;
    if (changed) view.querySelector('h1')?.focus();
  } catch (err) {
    const msg = message('error');
    showError(msg, err);
    fill(view, h('h1', { tabindex: '-1' }, 'Something went wrong'), msg,
      h('button', { type: 'button', onclick: () => route() }, 'Try again'));
  }
}

window.addEventListener('hashchange', route);
renderAccountNav();
route();
