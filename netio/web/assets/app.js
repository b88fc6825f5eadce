// lsbroadcast's web viewer: live video from /ws/video, chat from /ws/chat
// (netio/chat/PROTOCOL.md, one JSON object per line). No framework and no
// build step; ES2020 that WebKit 15 runs. Every string a user wrote goes in
// with textContent, never as HTML.
'use strict';

(() => {
  const $ = (id) => document.getElementById(id);
  const body = document.body;
  const wsBase = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host;

  // store is localStorage when the browser lets us use it (private modes
  // may not): the page still works, it only forgets.
  const store = {
    get(k) { try { return localStorage.getItem(k); } catch (e) { return null; } },
    set(k, v) { try { localStorage.setItem(k, v); } catch (e) { /* not kept */ } },
    del(k) { try { localStorage.removeItem(k); } catch (e) { /* nothing kept */ } },
  };
  const KEY_NAME = 'lsbroadcast.name';
  const KEY_HOST = 'lsbroadcast.hostKey';
  const KEY_QUALITY = 'lsbroadcast.quality';

  // Direction controls (overrides, embeddings, isolates) let a text
  // reorder what is shown around it ("gnp.exe" shown as "exe.png"). The
  // server refuses them; any that still reach the page are shown as codes.
  const BIDI = /[\u202A-\u202E\u2066-\u2069]/g;
  const visible = (s) => String(s).replace(BIDI, (c) => '[U+' + c.charCodeAt(0).toString(16).toUpperCase() + ']');

  // el makes an element whose text is set as text.
  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = visible(text);
    return e;
  }

  // backoff returns the wait before reconnect attempt n: doubling from
  // 0.5 s to 10 s, with jitter so a room of phones does not come back in
  // step after the Pi restarts.
  function backoff(n) {
    const base = Math.min(10000, 500 * Math.pow(2, n));
    return base / 2 + Math.random() * base / 2;
  }

  function fmtTime(ts) {
    const d = new Date(ts);
    if (isNaN(d.getTime())) return '';
    return d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  }

  function showStreamName(name) {
    if (typeof name !== 'string' || !name) return;
    $('stream-name').textContent = visible(name);
    document.title = visible(name) + ' · lsbroadcast';
  }

  // ---------------------------------------------------------------- video

  const video = (() => {
    const canvas = $('video');
    const ctx = canvas.getContext('2d', { alpha: false });
    const status = $('video-status');
    const stateEl = $('video-state');
    const fpsEl = $('fps');
    const latEl = $('latency');
    let ws = null;
    let attempt = 0;
    let timer = 0;
    let pending = null; // the newest frame not drawn yet
    let decoding = false;
    let drawn = 0;
    let lastFrameAt = 0;
    const times = []; // when the last frames were drawn, for fps
    let latency = -1;
    let wanted = true;

    // The quality ladder: the server tells each socket the rungs it offers
    // and which one each frame is of. Auto is the server's choice: it
    // steps this page down when its socket falls behind and back up when
    // it keeps up. The choice stays in this browser.
    const qualityBox = $('quality-box');
    const qualityEl = $('quality');
    const RUNG = /^[a-z0-9-]{1,16}$/;
    let quality = store.get(KEY_QUALITY);
    if (quality !== 'auto' && !RUNG.test(quality || '')) quality = 'auto';
    body.dataset.quality = quality;
    let rungs = []; // [{name, width, height}], largest first
    let rung = ''; // the rung of the frames arriving now
    const rungTitle = (name) => ({ full: 'Full', half: 'Half', quarter: 'Quarter' })[name] ||
      name.charAt(0).toUpperCase() + name.slice(1);

    function showLadder(got) {
      qualityEl.replaceChildren();
      const auto = el('option', null, 'Auto');
      auto.value = 'auto';
      qualityEl.append(auto);
      for (const r of rungs) {
        const size = r.width > 0 && r.height > 0 ? ' ' + r.width + '×' + r.height : '';
        const o = el('option', null, rungTitle(r.name) + size);
        o.value = r.name;
        qualityEl.append(o);
      }
      qualityEl.value = got;
      qualityEl.title = got === quality ? 'Video quality. Auto: the largest picture your connection keeps up with'
        : 'This broadcaster does not offer ' + quality + ': showing the full picture';
      qualityBox.hidden = rungs.length < 2;
      showRung();
    }

    function showRung() {
      body.dataset.rung = rung;
      const auto = qualityEl.options[0];
      if (auto) auto.textContent = rung && qualityEl.value === 'auto' ? 'Auto · ' + rungTitle(rung) : 'Auto';
    }

    function control(text) {
      let m;
      try { m = JSON.parse(text); } catch (e) { return; }
      if (!m || typeof m !== 'object') return;
      if (m.type === 'ladder' && Array.isArray(m.rungs)) {
        rungs = m.rungs.filter((r) => r && typeof r.name === 'string' && RUNG.test(r.name));
        showLadder(m.quality === 'auto' || rungs.some((r) => r.name === m.quality) ? m.quality : 'full');
      } else if (m.type === 'rung' && typeof m.name === 'string' && RUNG.test(m.name)) {
        rung = m.name;
        showRung();
      }
    }

    qualityEl.addEventListener('change', () => {
      quality = qualityEl.value;
      store.set(KEY_QUALITY, quality);
      body.dataset.quality = quality;
      // A new socket asks for the new rung; the canvas keeps the last
      // picture meanwhile.
      if (ws) {
        const s = ws;
        ws = null;
        s.close();
      }
      attempt = 0;
      connect();
    });

    function setState(s, text) {
      stateEl.dataset.state = s;
      stateEl.textContent = s;
      if (text) {
        status.textContent = text;
        status.hidden = false;
      } else {
        status.hidden = true;
      }
    }

    function connect() {
      clearTimeout(timer);
      if (!wanted || ws) return;
      setState('connecting', drawn ? null : 'Connecting to the video…');
      const s = new WebSocket(wsBase + '/ws/video?quality=' + encodeURIComponent(quality));
      s.binaryType = 'arraybuffer';
      ws = s;
      s.onopen = () => { if (!drawn) setState('connecting', 'Waiting for the first frame…'); };
      s.onmessage = (ev) => {
        if (ws !== s) return;
        if (typeof ev.data === 'string') {
          control(ev.data);
          return;
        }
        if (!(ev.data instanceof ArrayBuffer) || ev.data.byteLength <= 16) return;
        const dv = new DataView(ev.data);
        // Only the newest frame is kept: a slow phone skips, never lags.
        pending = {
          seq: Number(dv.getBigUint64(0)),
          captured: Number(dv.getBigInt64(8)) / 1000,
          jpeg: new Uint8Array(ev.data, 16),
        };
        if (!decoding) pump();
      };
      s.onclose = () => {
        if (ws !== s) return;
        ws = null;
        if (!wanted) return;
        setState('offline', drawn ? 'Video lost, reconnecting…' : 'No video yet, retrying…');
        timer = setTimeout(connect, backoff(attempt++));
      };
    }

    async function pump() {
      decoding = true;
      while (pending) {
        const f = pending;
        pending = null;
        let bmp;
        try {
          bmp = await createImageBitmap(new Blob([f.jpeg], { type: 'image/jpeg' }));
        } catch (e) {
          continue; // a damaged frame: the next one replaces it
        }
        if (canvas.width !== bmp.width || canvas.height !== bmp.height) {
          canvas.width = bmp.width;
          canvas.height = bmp.height;
        }
        ctx.drawImage(bmp, 0, 0);
        if (bmp.close) bmp.close();
        const now = Date.now();
        drawn++;
        attempt = 0;
        lastFrameAt = now;
        times.push(now);
        while (times.length && now - times[0] > 2000) times.shift();
        const l = now - f.captured;
        latency = latency < 0 ? l : latency * 0.9 + l * 0.1;
        // For measurements (the benchmarks read every frame's latency).
        document.dispatchEvent(new CustomEvent('lsbroadcast:frame', { detail: { seq: f.seq, latency: l } }));
        body.dataset.frames = String(drawn);
        body.dataset.lastSeq = String(f.seq);
        if (stateEl.dataset.state !== 'live') setState('live', null);
      }
      decoding = false;
    }

    // The figures are refreshed twice a second, not per frame: cheaper,
    // and readable.
    setInterval(() => {
      const now = Date.now();
      while (times.length && now - times[0] > 2000) times.shift();
      const span = times.length > 1 ? (times[times.length - 1] - times[0]) / 1000 : 0;
      fpsEl.textContent = span > 0 ? ((times.length - 1) / span).toFixed(0) + ' fps' : '– fps';
      latEl.textContent = latency >= 0 && now - lastFrameAt < 3000 ? Math.round(latency) + ' ms' : '– ms';
      if (ws && drawn && now - lastFrameAt > 3000 && stateEl.dataset.state === 'live') {
        setState('stalled', 'No new frames…');
      }
    }, 500);

    // A hidden tab does not need frames: a phone in a pocket saves its
    // battery and the Pi its bandwidth.
    document.addEventListener('visibilitychange', () => {
      wanted = document.visibilityState !== 'hidden';
      if (wanted) {
        attempt = 0;
        connect();
      } else if (ws) {
        const s = ws;
        ws = null;
        s.close();
      }
    });
    window.addEventListener('online', () => { attempt = 0; if (!ws) connect(); });

    // Full screen: the standard API, WebKit's prefixed one, or (iPhone,
    // which has neither for a canvas) the stage covering the page.
    const stage = $('stage');
    const fsBtn = $('fullscreen');
    const exitBtn = $('exit-full');
    const request = stage.requestFullscreen || stage.webkitRequestFullscreen;
    const fsElement = () => document.fullscreenElement || document.webkitFullscreenElement || null;
    const exitFs = () => (document.exitFullscreen || document.webkitExitFullscreen).call(document);
    fsBtn.addEventListener('click', () => {
      if (request) {
        if (fsElement()) {
          exitFs();
        } else {
          const p = request.call(stage);
          if (p && p.catch) p.catch(() => pseudo(true));
        }
      } else {
        pseudo(!stage.classList.contains('pseudo-full'));
      }
    });
    function pseudo(on) {
      stage.classList.toggle('pseudo-full', on);
      exitBtn.hidden = !on;
    }
    exitBtn.addEventListener('click', () => pseudo(false));
    document.addEventListener('keydown', (e) => { if (e.key === 'Escape') pseudo(false); });

    return { start: connect };
  })();

  // ---------------------------------------------------------------- camera

  // The host's camera settings (PROTOCOL.md, "Camera settings"), built
  // from the server's list by kind, whatever the camera offers. Viewers
  // get no settings at all: they may not change anything, and the video
  // itself shows them every change.
  const camera = (() => {
    const section = $('camera');
    const toggle = $('camera-toggle');
    const panel = $('camera-body');
    const fields = $('camera-fields');
    const listEl = $('camera-list');
    const noteEl = $('camera-note');
    const statusEl = $('camera-status');
    const allErr = $('camera-error');
    const resetAllBtn = $('camera-reset-all');
    const KEY_OPEN = 'lsbroadcast.cameraOpen';
    // At most one set every MIN_GAP ms, and one in flight per setting: a
    // dragged slider sends about 5 a second, half the server's limit of
    // 10, so the host's chat still gets through.
    const MIN_GAP = 200;

    let send = () => false;
    let on = false;
    let me = '';
    let refs = 0;
    let ids = 0;
    let listRef = '';
    let shape = '';
    let lastSend = 0;
    let timer = 0;
    const rows = new Map(); // key -> row
    const latest = new Map(); // key -> the control as the server last told it
    const queued = new Map(); // key -> {op, value}; '' is "reset all"
    const busy = new Map(); // ref -> key

    const isBusy = (key) => Array.from(busy.values()).includes(key);
    // A row the host is working on keeps what the host put in it: the
    // server's news is shown once the host's own change is answered.
    const dirty = (row) => queued.has(row.key) || isBusy(row.key) || row.holding || row.editing;

    function setOpen(open) {
      panel.hidden = !open;
      toggle.setAttribute('aria-expanded', String(open));
      if (open) store.set(KEY_OPEN, '1');
      else store.del(KEY_OPEN);
    }
    toggle.addEventListener('click', () => setOpen(panel.hidden));

    // A slider let go: the server's value shows again (it may differ).
    const release = () => {
      for (const row of rows.values()) {
        if (!row.holding) continue;
        row.holding = false;
        if (!dirty(row)) sync(row);
      }
    };
    window.addEventListener('pointerup', release);
    window.addEventListener('pointercancel', release);

    // start is called at every welcome.
    function start(sendFn, isHost, name) {
      send = sendFn;
      me = name;
      on = isHost;
      section.hidden = !isHost;
      fields.disabled = false;
      if (!isHost) {
        clear();
        return;
      }
      setOpen(!!store.get(KEY_OPEN));
      listRef = 'k' + (++refs);
      send({ type: 'controls', ref: listRef });
    }

    // stop: the connection dropped; what was not answered never will be.
    function stop() {
      busy.clear();
      queued.clear();
      clearTimeout(timer);
      timer = 0;
      fields.disabled = true;
      for (const row of rows.values()) {
        row.holding = false;
        row.editing = false;
      }
    }

    function clear() {
      stop();
      rows.clear();
      latest.clear();
      shape = '';
      listEl.textContent = '';
      noteEl.hidden = true;
      statusEl.textContent = '';
      allErr.hidden = true;
    }

    const owns = (ref) => typeof ref === 'string' && ref[0] === 'k';

    // message: the list, asked for or announced as changed.
    function message(m) {
      if (!on || !Array.isArray(m.controls)) return;
      if (m.ref !== listRef && m.event !== 'changed') return;
      apply(m.controls);
      note(latest.size ? '' : 'This source has no settings to change.');
      if (m.event === 'changed' && m.from && m.from !== me) {
        const c = latest.get(m.control);
        statusEl.textContent = visible(m.from + (m.control ? ' changed ' + (c ? c.name : m.control) : ' reset every setting'));
      }
    }

    // answer is the ack or error of one of ours.
    function answer(m) {
      if (m.ref === listRef) {
        if (m.type === 'error') {
          apply([]);
          note(m.code === 'unsupported' ? 'This source has no settings to change.' : 'The settings could not be read: ' + (m.message || m.code));
        }
        return;
      }
      if (!busy.has(m.ref)) return;
      const key = busy.get(m.ref);
      busy.delete(m.ref);
      const row = rows.get(key);
      showError(key, m.type === 'error' ? failure(m) : '');
      // A refusal shows the server's value again. An ack is followed by
      // the "changed" event with the new values: until then the row
      // keeps what the host chose rather than flash the old value.
      if (m.type === 'error' && row && !dirty(row)) sync(row);
      pump();
    }

    function note(text) {
      noteEl.textContent = visible(text);
      noteEl.hidden = !text;
    }

    function failure(m) {
      switch (m.code) {
        case 'bad_value': return m.message || 'that value is not allowed';
        case 'forbidden': return 'Only the host may change camera settings.';
        case 'unsupported': return 'The camera offers no settings now' + (m.message ? ': ' + m.message : '.');
        case 'rate_limited': return 'Too many changes at once: this one was not made. Wait a moment.';
        case 'not_found': return 'The camera no longer has this setting.';
        default: return m.message || m.code || 'refused';
      }
    }

    function showError(key, text) {
      const p = key ? (rows.get(key) || {}).err : allErr;
      if (!p) return;
      p.textContent = visible(text);
      p.hidden = !text;
    }

    function want(key, op) {
      queued.set(key, op);
      pump();
    }

    function pump() {
      if (timer) return;
      for (const [key, op] of queued) {
        if (isBusy(key)) continue;
        const wait = lastSend + MIN_GAP - Date.now();
        if (wait > 0) {
          timer = setTimeout(() => { timer = 0; pump(); }, wait);
          return;
        }
        queued.delete(key);
        const ref = 'k' + (++refs);
        const msg = { type: 'control', op: op.op, ref };
        if (key) msg.control = key;
        if (op.op === 'set') msg.value = op.value;
        if (!send(msg)) {
          showError(key, 'Not sent: not connected.');
          const row = rows.get(key);
          if (row && !dirty(row)) sync(row);
          continue;
        }
        busy.set(ref, key);
        lastSend = Date.now();
      }
    }

    // apply shows a list from the server: rebuilt when its shape changed
    // (another camera, other sizes), else only the values move.
    function apply(list) {
      const controls = list.filter((c) => c && typeof c.key === 'string' && c.key).map((c) => ({
        key: c.key,
        name: typeof c.name === 'string' && c.name ? c.name : c.key,
        kind: String(c.kind || ''),
        min: Number(c.min) || 0,
        max: Number(c.max) || 0,
        step: Number(c.step) || 1,
        def: Number(c.default) || 0,
        value: Number(c.value) || 0,
        menu: Array.isArray(c.menu) ? c.menu.map((i) => ({ value: Number(i.value) || 0, label: i.label === undefined ? String(i.value) : String(i.label) })) : [],
        inactive: !!c.inactive,
      }));
      latest.clear();
      for (const c of controls) latest.set(c.key, c);
      resetAllBtn.hidden = controls.length === 0;
      const s = JSON.stringify(controls.map((c) => [c.key, c.name, c.kind, c.min, c.max, c.step, c.menu]));
      if (s !== shape) {
        shape = s;
        rebuild(controls);
        return;
      }
      for (const row of rows.values()) if (!dirty(row)) sync(row);
    }

    function rebuild(controls) {
      const focused = document.activeElement;
      const focusKey = focused && focused.dataset ? focused.dataset.ctl : '';
      const focusPart = focused && focused.dataset ? focused.dataset.part : '';
      const errors = new Map();
      for (const [k, row] of rows) if (!row.err.hidden) errors.set(k, row.err.textContent);
      rows.clear();
      listEl.textContent = '';
      for (const c of controls) {
        const row = buildRow(c);
        rows.set(c.key, row);
        listEl.appendChild(row.el);
        sync(row);
        if (errors.has(c.key)) showError(c.key, errors.get(c.key));
      }
      // The host keeps the keyboard where it was, in the rebuilt row.
      const row = focusKey ? rows.get(focusKey) : null;
      if (row && row.parts[focusPart]) row.parts[focusPart].focus();
    }

    function buildRow(c) {
      const key = c.key;
      const id = 'ctl-' + (++ids);
      const row = { key, el: el('div', 'ctl'), parts: {}, holding: false, editing: false };
      row.el.dataset.key = key;
      row.el.dataset.kind = c.kind;
      const err = el('p', 'error');
      err.id = id + '-err';
      err.hidden = true;
      err.setAttribute('aria-live', 'polite');
      row.err = err;
      const note = el('p', 'note', 'Inactive: the camera ignores it for now (an automatic mode may be on).');
      note.id = id + '-note';
      note.hidden = true;
      row.note = note;
      const describedBy = err.id + ' ' + note.id;
      const part = (name, e) => {
        e.dataset.ctl = key;
        e.dataset.part = name;
        e.setAttribute('aria-describedby', describedBy);
        row.parts[name] = e;
        return e;
      };
      const head = el('div', 'ctl-head');
      const line = el('div', 'ctl-line');
      row.el.appendChild(head);
      row.el.appendChild(line);

      if (c.kind === 'button') {
        const b = part('button', el('button', 'ctl-button', c.name));
        b.type = 'button';
        b.addEventListener('click', () => want(key, { op: 'set', value: 1 }));
        line.appendChild(b);
      } else {
        const label = el('label', 'ctl-name', c.name);
        label.htmlFor = id;
        head.appendChild(label);
        if (c.kind === 'int') {
          const range = part('range', document.createElement('input'));
          range.type = 'range';
          range.id = id;
          const num = part('number', document.createElement('input'));
          num.type = 'number';
          num.inputMode = 'numeric';
          num.className = 'ctl-number';
          num.setAttribute('aria-label', c.name + ', value');
          for (const e of [range, num]) {
            e.min = String(c.min);
            e.max = String(c.max);
            e.step = String(c.step);
          }
          range.addEventListener('input', () => {
            num.value = range.value;
            want(key, { op: 'set', value: Number(range.value) });
          });
          range.addEventListener('pointerdown', () => { row.holding = true; });
          num.addEventListener('input', () => { row.editing = true; });
          num.addEventListener('blur', () => {
            row.editing = false;
            if (!dirty(row)) sync(row);
          });
          num.addEventListener('change', () => {
            // Enter and then the browser's own change: one set.
            if (!row.editing) return;
            row.editing = false;
            const v = num.value.trim();
            if (!/^-?\d+$/.test(v)) {
              showError(key, 'Type a whole number from ' + c.min + ' to ' + c.max + '.');
              return;
            }
            range.value = v;
            want(key, { op: 'set', value: Number(v) });
          });
          num.addEventListener('keydown', (e) => {
            if (e.key === 'Enter') {
              e.preventDefault();
              num.dispatchEvent(new Event('change'));
            }
          });
          line.appendChild(range);
          line.appendChild(num);
        } else if (c.kind === 'bool') {
          const box = part('switch', document.createElement('input'));
          box.type = 'checkbox';
          box.id = id;
          box.setAttribute('role', 'switch');
          box.addEventListener('change', () => want(key, { op: 'set', value: box.checked ? 1 : 0 }));
          line.appendChild(box);
          line.appendChild(el('span', 'spacer'));
        } else if (c.kind === 'menu' || c.kind === 'intmenu') {
          const sel = part('select', document.createElement('select'));
          sel.id = id;
          for (const i of c.menu) {
            const o = el('option', null, i.label);
            o.value = String(i.value);
            sel.appendChild(o);
          }
          sel.addEventListener('change', () => want(key, { op: 'set', value: Number(sel.value) }));
          line.appendChild(sel);
        } else {
          const v = part('value', el('output', 'ctl-value'));
          v.id = id;
          line.appendChild(v);
          line.appendChild(el('span', 'hint', 'not adjustable here'));
        }
        const reset = part('reset', el('button', 'ctl-reset secondary', 'Reset'));
        reset.type = 'button';
        reset.setAttribute('aria-label', 'Reset ' + visible(c.name) + ' to its default');
        reset.addEventListener('click', () => want(key, { op: 'reset' }));
        line.appendChild(reset);
      }
      row.el.appendChild(note);
      row.el.appendChild(err);
      return row;
    }

    // sync shows the server's value of one setting.
    function sync(row) {
      const c = latest.get(row.key);
      if (!c) return;
      const p = row.parts;
      if (p.range) {
        p.range.value = String(c.value);
        p.number.value = String(c.value);
      }
      if (p.switch) p.switch.checked = c.value !== 0;
      if (p.select) {
        // A value the menu lacks shows as itself rather than as another's.
        if (!c.menu.some((i) => i.value === c.value)) {
          const o = el('option', null, String(c.value));
          o.value = String(c.value);
          p.select.appendChild(o);
        }
        p.select.value = String(c.value);
      }
      if (p.value) p.value.textContent = String(c.value);
      if (p.reset) {
        const d = c.menu.find((i) => i.value === c.def);
        p.reset.title = 'Default: ' + visible(d ? d.label : String(c.def));
      }
      row.el.classList.toggle('inactive', c.inactive);
      row.note.hidden = !c.inactive;
    }

    // Reset all takes two taps: it may reopen the camera at another size.
    resetAllBtn.addEventListener('click', () => {
      if (resetAllBtn.dataset.armed) {
        delete resetAllBtn.dataset.armed;
        resetAllBtn.textContent = 'Reset all';
        showError('', '');
        want('', { op: 'reset' });
        return;
      }
      resetAllBtn.dataset.armed = '1';
      resetAllBtn.textContent = 'Reset all to defaults?';
      setTimeout(() => { delete resetAllBtn.dataset.armed; resetAllBtn.textContent = 'Reset all'; }, 4000);
    });

    return { start, stop, message, answer, owns };
  })();

  // ---------------------------------------------------------------- chat

  const chat = (() => {
    const list = $('messages');
    const wrap = $('messages-wrap');
    const banner = $('banner');
    const input = $('text');
    const notice = $('notice');
    const noticeText = $('notice-text');
    const noticeAction = $('notice-action');
    const hostBtn = $('host-btn');
    const hostTools = $('host-tools');
    const annText = $('announce-text');
    const annLabel = $('announce-label');
    const annError = $('announce-error');
    const annCancel = $('announce-cancel');
    const olderBtn = $('older');
    const presenceEl = $('presence');
    const presenceList = $('presence-list');

    let ws = null;
    let attempt = 0;
    let timer = 0;
    let joined = false;
    let me = '';
    let role = '';
    let newest = 0; // id of the newest stored message we have
    let oldest = 0;
    let refs = 0;
    let lastSent = 0;
    let lastHeard = 0;
    let stopped = false; // waiting for the user (a name to fix)
    let editing = 0; // announcement id being edited
    const byId = new Map(); // message id -> <li>
    const pendingByRef = new Map(); // ref -> {li, kind}
    const announcements = new Map(); // id -> {from, text, ts, edited}
    let present = [];

    function setChatState(s) {
      const d = $('chat-state');
      d.dataset.state = s;
      d.title = 'Chat: ' + s;
      body.dataset.chat = s;
    }

    function showNotice(text, actionLabel, action) {
      noticeText.textContent = text;
      notice.hidden = false;
      if (actionLabel) {
        noticeAction.textContent = actionLabel;
        noticeAction.hidden = false;
        noticeAction.onclick = () => { hideNotice(); action(); };
      } else {
        noticeAction.hidden = true;
        noticeAction.onclick = null;
      }
    }
    function hideNotice() { notice.hidden = true; }

    function send(obj) {
      if (!ws || ws.readyState !== WebSocket.OPEN) return false;
      ws.send(JSON.stringify(obj));
      lastSent = Date.now();
      return true;
    }

    function connect() {
      clearTimeout(timer);
      if (ws || stopped) return;
      const name = store.get(KEY_NAME);
      if (!name) {
        names.ask('', '');
        return;
      }
      setChatState('connecting');
      const s = new WebSocket(wsBase + '/ws/chat');
      ws = s;
      joined = false;
      s.onopen = () => {
        const hello = { type: 'hello', v: 2, name };
        const key = store.get(KEY_HOST);
        if (key) {
          hello.role = 'host';
          hello.key = key;
        }
        if (newest) hello.since = newest;
        lastHeard = Date.now();
        send(hello);
      };
      s.onmessage = (ev) => {
        if (typeof ev.data !== 'string') return;
        lastHeard = Date.now();
        // One WebSocket message holds one or more JSON lines.
        for (const line of ev.data.split('\n')) {
          if (!line) continue;
          let m;
          try { m = JSON.parse(line); } catch (e) { continue; }
          if (m && typeof m === 'object') handle(m);
        }
      };
      s.onclose = () => {
        if (ws !== s) return;
        ws = null;
        joined = false;
        setChatState('offline');
        failPending('not sent: the connection dropped');
        camera.stop();
        if (stopped) return;
        timer = setTimeout(connect, backoff(attempt++));
      };
    }

    function reconnect() {
      stopped = false;
      attempt = 0;
      if (ws) {
        const s = ws;
        ws = null;
        s.close();
      }
      setChatState('connecting');
      connect();
    }

    // Keepalive: the server drops a client silent for 15 s, and a server
    // silent for 15 s is gone.
    setInterval(() => {
      if (!ws || ws.readyState !== WebSocket.OPEN) return;
      const now = Date.now();
      if (now - lastHeard > 15000) {
        const s = ws;
        ws = null;
        s.close();
        s.onclose = null;
        setChatState('offline');
        failPending('not sent: the connection dropped');
        camera.stop();
        timer = setTimeout(connect, backoff(attempt++));
        return;
      }
      if (joined && now - lastSent > 5000) send({ type: 'ping' });
    }, 1000);

    function handle(m) {
      switch (m.type) {
        case 'welcome': return welcome(m);
        case 'chat': return addMessage(m, false);
        case 'ack': return camera.owns(m.ref) ? camera.answer(m) : ack(m);
        case 'error': return camera.owns(m.ref) ? camera.answer(m) : error(m);
        case 'controls': return camera.message(m);
        case 'bye': return bye(m);
        case 'presence': return presence(m);
        case 'announcement': return announcement(m);
        case 'history': return history(m);
        case 'who':
          present = Array.isArray(m.present) ? m.present.slice() : present;
          return renderPresence(m.count);
        case 'ping': return send({ type: 'pong' });
        default: return undefined;
      }
    }

    function welcome(m) {
      joined = true;
      attempt = 0;
      me = m.you || '';
      role = m.role || 'viewer';
      hideNotice();
      setChatState('live');
      body.dataset.role = role;
      $('my-name').textContent = visible(me);
      if (me) store.set(KEY_NAME, me);
      if (m.stream && m.stream.name) {
        showStreamName(m.stream.name);
      }
      const isHost = role === 'host';
      hostBtn.setAttribute('aria-pressed', String(isHost));
      hostTools.hidden = !isHost;
      camera.start(send, isHost, me);
      // A first welcome brings the last messages, a reconnect only what
      // came after `since`: either way they go after what we have.
      const msgs = Array.isArray(m.messages) ? m.messages : [];
      const first = !newest;
      for (const msg of msgs) addMessage(msg, true);
      if (first) {
        oldest = msgs.length ? msgs[0].id : 0;
        olderBtn.hidden = !m.more;
      }
      announcements.clear();
      for (const a of (Array.isArray(m.announcements) ? m.announcements : [])) {
        announcements.set(a.id, { from: a.from, text: a.text, ts: a.ts, edited: a.edited });
      }
      renderBanner();
      present = Array.isArray(m.present) ? m.present.slice() : [];
      renderPresence(m.count);
      scrollDown(true);
    }

    function nearBottom() {
      return wrap.scrollHeight - wrap.scrollTop - wrap.clientHeight < 80;
    }
    function scrollDown(force) {
      if (force || nearBottom()) wrap.scrollTop = wrap.scrollHeight;
    }

    // messageItem builds one message; text only, names isolated (<bdi>) so
    // a right-to-left name cannot reorder what follows it.
    function messageItem(m) {
      const li = el('li');
      const head = el('div', 'head');
      const from = el('bdi', 'from', m.from);
      from.dir = 'auto';
      head.appendChild(from);
      if (m.role === 'host') {
        li.classList.add('host');
        head.appendChild(el('span', 'badge', 'host'));
      }
      const time = el('time', 'time', fmtTime(m.ts));
      if (m.ts) {
        time.dateTime = m.ts;
        time.title = new Date(m.ts).toLocaleString();
      }
      head.appendChild(time);
      li.appendChild(head);
      const text = el('div', 'text', m.text);
      text.dir = 'auto';
      li.appendChild(text);
      if (m.id) li.dataset.id = String(m.id);
      if (m.from && me && m.from.toLowerCase() === me.toLowerCase()) li.classList.add('me');
      return li;
    }

    function addMessage(m, quiet) {
      if (!m || !m.id || byId.has(m.id)) return;
      if (m.type === 'announcement') return; // history pages may hold them; the banner shows them
      const stick = nearBottom();
      if (m.from && me && m.from.toLowerCase() === me.toLowerCase()) {
        for (const lost of list.querySelectorAll('li[data-lost]')) {
          if (lost.dataset.lost === m.text) {
            lost.remove();
            break;
          }
        }
      }
      const li = messageItem(m);
      byId.set(m.id, li);
      // Keep id order even when an ack made a pending line real first.
      let before = null;
      for (let n = list.lastElementChild; n; n = n.previousElementSibling) {
        if (n.classList.contains('pending') || n.classList.contains('failed')) { before = n; continue; }
        const id = Number(n.dataset.id || 0);
        if (id && id > m.id) { before = n; continue; }
        break;
      }
      list.insertBefore(li, before);
      if (m.id > newest) newest = m.id;
      if (!quiet) scrollDown(stick);
    }

    function history(m) {
      const msgs = (Array.isArray(m.messages) ? m.messages : []).filter((x) => x.id && !byId.has(x.id) && x.type !== 'announcement');
      const h = wrap.scrollHeight;
      const top = wrap.scrollTop;
      const frag = document.createDocumentFragment();
      for (const x of msgs) {
        const li = messageItem(x);
        byId.set(x.id, li);
        frag.appendChild(li);
      }
      list.insertBefore(frag, list.firstChild);
      if (msgs.length) oldest = msgs[0].id;
      olderBtn.hidden = !m.more;
      olderBtn.disabled = false;
      wrap.scrollTop = top + (wrap.scrollHeight - h);
    }
    olderBtn.addEventListener('click', () => {
      if (!oldest) return;
      olderBtn.disabled = true;
      send({ type: 'history', before: oldest, limit: 50, ref: 'h' + (++refs) });
    });

    function utf8Len(s) { return new TextEncoder().encode(s).length; }

    function sendChat() {
      const text = input.value.trim();
      if (!text) return;
      if (!joined) {
        showNotice('Not connected to the chat yet: your message is still in the box.');
        return;
      }
      if (utf8Len(text) > 2048) {
        showNotice('That message is too long (2 KiB at most). Shorten it and send again.');
        return;
      }
      const ref = 'c' + (++refs);
      const li = messageItem({ from: me, text, role });
      li.classList.add('pending', 'me');
      const status = el('div', 'status', 'sending…');
      li.appendChild(status);
      li.dataset.ref = ref;
      list.appendChild(li);
      pendingByRef.set(ref, { li, status, kind: 'chat', text });
      send({ type: 'chat', text, ref });
      input.value = '';
      scrollDown(true);
    }

    function ack(m) {
      const p = pendingByRef.get(m.ref);
      if (!p) return;
      pendingByRef.delete(m.ref);
      if (p.kind !== 'chat') return annDone();
      if (byId.has(m.id)) {
        p.li.remove(); // the message itself came first
        return;
      }
      // The ack came first: this line becomes the message.
      p.li.classList.remove('pending');
      p.status.remove();
      p.li.dataset.id = String(m.id);
      delete p.li.dataset.ref;
      const t = p.li.querySelector('time');
      t.textContent = fmtTime(m.ts);
      t.dateTime = m.ts || '';
      byId.set(m.id, p.li);
      if (m.id > newest) newest = m.id;
    }

    const reasons = {
      bad_json: 'the server could not read it',
      too_long: 'too long',
      bad_utf8: 'not valid text',
      bad_text: 'holds characters that are not allowed (control or direction-override characters)',
      bad_name: 'that name cannot be used',
      name_taken: 'someone here already has that name',
      forbidden: 'only the host may do that',
      rate_limited: 'too fast: wait a moment and send again',
      server_full: 'the chat is full: try again later',
      not_found: 'that announcement no longer exists',
      bad_request: 'the server refused it',
      internal: 'the server failed; try again',
      not_exported: 'saved, but the broadcaster could not write its announcements file',
    };
    const reason = (m) => reasons[m.code] || m.message || m.code || 'refused';

    function failItem(p, text) {
      p.li.classList.remove('pending');
      p.li.classList.add('failed');
      p.status.textContent = text;
      const again = el('button', null, 'Edit');
      again.type = 'button';
      again.addEventListener('click', () => {
        if (!input.value) input.value = p.text;
        p.li.remove();
        input.focus();
      });
      const drop = el('button', null, 'Dismiss');
      drop.type = 'button';
      drop.addEventListener('click', () => p.li.remove());
      p.status.appendChild(again);
      p.status.appendChild(drop);
    }

    // failPending: the connection dropped with messages unacknowledged.
    // They may still have been stored: each stays marked lost until the
    // history of the next join shows it (then the real one replaces it).
    function failPending(text) {
      for (const [ref, p] of pendingByRef) {
        if (p.kind === 'chat') {
          failItem(p, text);
          p.li.dataset.lost = p.text;
        } else {
          annFail(text);
        }
        pendingByRef.delete(ref);
      }
    }

    function error(m) {
      const p = m.ref ? pendingByRef.get(m.ref) : null;
      if (p) {
        pendingByRef.delete(m.ref);
        if (m.code === 'not_exported') return p.kind === 'chat' ? ack(m) : annDone('Saved and shown to everyone, but the broadcaster could not write its announcements file.');
        if (p.kind === 'chat') return failItem(p, 'not sent: ' + reason(m));
        return annFail(reason(m));
      }
      if (m.ref && m.ref[0] === 'h') {
        olderBtn.disabled = false;
        return undefined;
      }
      // Refusals at hello; a bye and a close follow.
      switch (m.code) {
        case 'name_taken':
        case 'bad_name':
          stopped = true;
          setChatState('offline');
          names.ask(m.suggestion || store.get(KEY_NAME) || '', (m.code === 'name_taken' ? 'Someone here is already called that. ' : 'That name cannot be used: ') + (m.message || '') + (m.suggestion ? ' How about “' + m.suggestion + '”?' : ''));
          return undefined;
        case 'forbidden':
          // A wrong host key: forget it and join as a viewer.
          store.del(KEY_HOST);
          showNotice('The host key was refused, so you joined as a viewer.', 'Try another key', () => keys.ask('The key was refused.'));
          return undefined;
        case 'server_full':
          showNotice('The chat is full right now; trying again shortly. The video keeps playing.');
          return undefined;
        case 'version':
          stopped = true;
          showNotice('This page and the broadcaster speak different chat versions: reload the page.', 'Reload', () => location.reload());
          return undefined;
        case 'rate_limited':
          showNotice('You are sending too fast: wait a moment.');
          return undefined;
        default:
          showNotice('Chat: ' + reason(m));
          return undefined;
      }
    }

    function bye(m) {
      if (stopped || m.code === 'forbidden' || m.code === 'name_taken' || m.code === 'bad_name') return;
      if (m.code === 'server_full') {
        showNotice('The chat is full right now; trying again shortly. The video keeps playing.');
      } else {
        showNotice('The chat closed the connection (' + (m.reason || m.code || 'no reason') + '); reconnecting…');
      }
    }

    function presence(m) {
      const name = m.name || '';
      const i = present.findIndex((n) => n.toLowerCase() === name.toLowerCase());
      if (m.event === 'join' && i < 0) present.push(name);
      if (m.event === 'leave' && i >= 0) present.splice(i, 1);
      renderPresence(m.count);
    }

    function renderPresence(count) {
      $('count').textContent = String(typeof count === 'number' ? count : present.length);
      presenceList.textContent = '';
      const sorted = present.slice().sort((a, b) => a.localeCompare(b));
      for (const n of sorted) {
        const li = el('li');
        const b = el('bdi', null, n);
        b.dir = 'auto';
        li.appendChild(b);
        presenceList.appendChild(li);
      }
    }
    $('who-btn').addEventListener('click', (e) => {
      presenceEl.hidden = !presenceEl.hidden;
      e.currentTarget.setAttribute('aria-expanded', String(!presenceEl.hidden));
    });

    // ---- announcements

    function announcement(m) {
      const target = m.target || m.id;
      if (m.op === 'delete') {
        announcements.delete(target);
      } else if (m.op === 'edit') {
        const a = announcements.get(target);
        announcements.set(target, { from: m.from || (a && a.from), text: m.text, ts: (a && a.ts) || m.ts, edited: m.ts });
      } else {
        announcements.set(m.id, { from: m.from, text: m.text, ts: m.ts, edited: m.edited });
      }
      if (m.id > newest) newest = m.id;
      renderBanner();
    }

    function renderBanner() {
      banner.textContent = '';
      const ids = Array.from(announcements.keys()).sort((a, b) => b - a);
      for (const id of ids) {
        const a = announcements.get(id);
        const row = el('div', 'announcement');
        row.dataset.id = String(id);
        row.appendChild(el('span', 'pin', '📌'));
        const b = el('div', 'body');
        const t = el('div', 'text', a.text);
        t.dir = 'auto';
        b.appendChild(t);
        const meta = el('div', 'meta');
        const who = el('bdi', null, a.from || 'host');
        who.dir = 'auto';
        meta.appendChild(who);
        meta.appendChild(document.createTextNode(' · ' + fmtTime(a.ts) + (a.edited ? ' · edited' : '')));
        b.appendChild(meta);
        row.appendChild(b);
        if (role === 'host') {
          const tools = el('div', 'tools');
          const edit = el('button', null, 'Edit');
          edit.type = 'button';
          edit.addEventListener('click', () => startEdit(id));
          const del = el('button', null, 'Delete');
          del.type = 'button';
          // Two taps, not a confirm() box: a dialog would stop the page
          // (and the video) on some phones.
          del.addEventListener('click', () => {
            if (del.dataset.armed) {
              annSend({ op: 'delete', id });
              return;
            }
            del.dataset.armed = '1';
            del.textContent = 'Delete for all?';
            setTimeout(() => { delete del.dataset.armed; del.textContent = 'Delete'; }, 4000);
          });
          tools.appendChild(edit);
          tools.appendChild(del);
          row.appendChild(tools);
        }
        banner.appendChild(row);
      }
      banner.hidden = ids.length === 0;
    }

    function startEdit(id) {
      const a = announcements.get(id);
      if (!a) return;
      editing = id;
      annText.value = a.text;
      annLabel.textContent = 'Edit the announcement';
      $('announce-send').textContent = 'Save';
      annCancel.hidden = false;
      annText.focus();
    }
    function stopEdit() {
      editing = 0;
      annLabel.textContent = 'New announcement';
      $('announce-send').textContent = 'Post';
      annCancel.hidden = true;
    }
    annCancel.addEventListener('click', () => { stopEdit(); annText.value = ''; });

    function annSend(op) {
      annError.hidden = true;
      const ref = 'a' + (++refs);
      if (!send(Object.assign({ type: 'announce', ref }, op))) {
        annFail('not connected');
        return false;
      }
      pendingByRef.set(ref, { kind: 'announce' });
      $('announce-send').disabled = true;
      return true;
    }
    function annDone(warn) {
      $('announce-send').disabled = false;
      annText.value = '';
      stopEdit();
      if (warn) annFail(warn);
    }
    function annFail(text) {
      $('announce-send').disabled = false;
      annError.textContent = text;
      annError.hidden = false;
    }
    hostTools.addEventListener('submit', (e) => {
      e.preventDefault();
      const text = annText.value.trim();
      if (!text) return;
      if (utf8Len(text) > 2048) return annFail('too long (2 KiB at most)');
      annSend(editing ? { op: 'edit', id: editing, text } : { op: 'post', text });
      return undefined;
    });
    annText.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
        e.preventDefault();
        hostTools.requestSubmit ? hostTools.requestSubmit() : hostTools.dispatchEvent(new Event('submit', { cancelable: true }));
      }
    });

    // ---- compose

    $('compose').addEventListener('submit', (e) => {
      e.preventDefault();
      sendChat();
    });
    input.addEventListener('keydown', (e) => {
      // Enter that ends an IME composition (Japanese, Chinese…) is not a send.
      if (e.key === 'Enter' && !e.shiftKey && !e.isComposing && e.keyCode !== 229) {
        e.preventDefault();
        sendChat();
      }
    });
    input.addEventListener('focus', () => setTimeout(() => scrollDown(true), 300));

    hostBtn.addEventListener('click', () => keys.ask(''));

    return { start: connect, reconnect, get role() { return role; } };
  })();

  // ---------------------------------------------------------------- dialogs

  function dialog(box, input, onOpen) {
    let last = null;
    return {
      open() {
        last = document.activeElement;
        box.hidden = false;
        if (onOpen) onOpen();
        setTimeout(() => input.focus(), 0);
      },
      close() {
        box.hidden = true;
        if (last && last.focus) last.focus();
      },
    };
  }

  const names = (() => {
    const box = $('name-dialog');
    const input = $('name-input');
    const err = $('name-error');
    const d = dialog(box, input);
    $('name-cancel').addEventListener('click', () => {
      if (store.get(KEY_NAME) && !err.textContent) d.close();
    });
    $('name-form').addEventListener('submit', (e) => {
      e.preventDefault();
      const name = input.value.trim();
      if (!name) {
        err.textContent = 'Type a name first.';
        err.hidden = false;
        return;
      }
      if (Array.from(name).length > 32) {
        err.textContent = 'At most 32 characters.';
        err.hidden = false;
        return;
      }
      store.set(KEY_NAME, name);
      err.textContent = '';
      err.hidden = true;
      d.close();
      chat.reconnect();
    });
    $('name-btn').addEventListener('click', () => names.ask(store.get(KEY_NAME) || '', ''));
    return {
      ask(value, why) {
        input.value = value;
        err.textContent = why || '';
        err.hidden = !why;
        $('name-cancel').hidden = !store.get(KEY_NAME) || !!why;
        d.open();
        if (value) input.select();
      },
    };
  })();

  const keys = (() => {
    const box = $('key-dialog');
    const input = $('key-input');
    const err = $('key-error');
    const d = dialog(box, input);
    $('key-cancel').addEventListener('click', () => d.close());
    $('key-forget').addEventListener('click', () => {
      store.del(KEY_HOST);
      d.close();
      chat.reconnect();
    });
    $('key-form').addEventListener('submit', (e) => {
      e.preventDefault();
      const key = input.value.trim();
      input.value = '';
      if (!key) {
        err.textContent = 'Paste the key first.';
        err.hidden = false;
        return;
      }
      store.set(KEY_HOST, key);
      d.close();
      chat.reconnect();
    });
    return {
      ask(why) {
        const isHost = chat.role === 'host';
        input.value = '';
        err.textContent = why || '';
        err.hidden = !why;
        $('key-forget').hidden = !isHost && !store.get(KEY_HOST);
        $('key-ok').hidden = isHost;
        input.hidden = isHost;
        $('key-title').textContent = isHost ? 'You are the host' : 'Host mode';
        box.querySelector('.hint').textContent = isHost
          ? 'You can post, edit and delete announcements and change the camera\'s settings. The key is kept in this browser until you stop.'
          : 'Paste the host key (the broadcaster\'s host-key file). It stays in this browser.';
        d.open();
        if (isHost) setTimeout(() => $('key-forget').focus(), 0);
      },
    };
  })();

  // Escape closes a dialog that may be closed.
  document.addEventListener('keydown', (e) => {
    if (e.key !== 'Escape') return;
    if (!$('key-dialog').hidden) $('key-cancel').click();
    else if (!$('name-dialog').hidden && !$('name-cancel').hidden) $('name-cancel').click();
  });

  // ---------------------------------------------------------------- layout

  // The on-screen keyboard: where the browser does not resize the layout
  // (Safari), the visual viewport tells how much is still visible, and the
  // page shrinks to it so the input stays above the keyboard.
  if (window.visualViewport) {
    const vv = window.visualViewport;
    const fit = () => {
      // Pinch zoom shrinks the visual viewport too: only the keyboard
      // (at scale 1) should shrink the page.
      if (Math.abs(vv.scale - 1) > 0.01) return;
      document.documentElement.style.setProperty('--app-h', Math.round(vv.height) + 'px');
      // Safari scrolls the page up under the keyboard; the page now fits.
      window.scrollTo(0, 0);
      if (document.activeElement === $('text')) $('text').scrollIntoView({ block: 'nearest' });
    };
    vv.addEventListener('resize', fit);
    fit();
  }

  video.start();
  chat.start();
  // The stream's name before any chat (the name dialog may be open).
  fetch('/state', { cache: 'no-store' })
    .then((r) => (r.ok ? r.json() : null))
    .then((st) => {
      if (!st) return;
      showStreamName(st.name);
      // A relay re-serves the stream to audiences the broadcaster can't.
      const url = st.relay && st.relay.url;
      if (typeof url === 'string' && url.startsWith('rtsp://')) {
        const a = $('relay-link');
        a.href = url;
        a.hidden = false;
      }
    })
    .catch(() => { /* the chat's welcome names it too */ });
})();
