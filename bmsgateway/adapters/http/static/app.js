// bmsgateway page: plain JavaScript, no build step, no network access beyond the gateway itself.
// Live data comes from /api/events (server-sent events): "snapshot" at 1-2 Hz, "stale" while the
// gateway has no live data, and every "event" of the log with its sequence number as the SSE id, so
// a reconnect (the browser's own, or ours after a hard failure) resumes without losing events.
// The PIN is kept in memory only, and forgotten when the unlock timeout ends or on "Lock".
"use strict";

const $ = (id) => document.getElementById(id);
const state = {
  layout: null, lastSnapshotAt: 0, lastWallTime: null, nextSeq: null, es: null,
  pin: null, lockTimer: null, lockAt: 0, unlockTimeoutS: 300, settings: null,
};

function fmt(x, nd) { return x === null || x === undefined ? "–" : Number(x).toFixed(nd); }
function time(wall) { return wall ? new Date(wall * 1000).toLocaleTimeString() : "–"; }
function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}
function kv(container, rows) {
  container.replaceChildren();
  for (const [k, v, cls] of rows) {
    container.append(el("span", "k", k), el("span", cls || "v", v));
  }
}

// -- live view -------------------------------------------------------------------------------
function setStale(stale, sinceWall) {
  document.body.classList.toggle("stale", stale);
  const b = $("stale-banner");
  b.hidden = !stale;
  if (stale) {
    b.textContent = sinceWall ? `No live data since ${time(sinceWall)} — values shown are old`
                              : "No live data from the pack yet";
  }
}

function renderCells(doc) {
  const cells = doc.cells;
  const v = cells.voltages_v;
  const lo = state.layout ? state.layout.vmin_v : Math.min(...v.filter((x) => x !== null));
  const hi = state.layout ? state.layout.vmax_v : Math.max(...v.filter((x) => x !== null));
  const host = $("cells");
  const boards = state.layout ? state.layout.boards : [{ board: 1, cells: v.length }];
  if (host.querySelectorAll(".cell").length !== v.length) {
    host.replaceChildren();
    let i = 0;
    for (const b of boards) {
      const wrap = el("div", "board");
      wrap.append(el("h3", null, `Board ${b.board}`));
      const bars = el("div", "bars");
      for (let j = 0; j < b.cells; j++, i++) {
        const c = el("div", "cell");
        c.dataset.cell = String(i + 1);
        c.append(el("span", "v"), el("div", "bar"), el("span", "n", String(i + 1)));
        bars.append(c);
      }
      wrap.append(bars);
      host.append(wrap);
    }
  }
  host.querySelectorAll(".cell").forEach((c, i) => {
    const x = v[i];
    const frac = x === null ? 0 : Math.max(0.02, Math.min(1, (x - lo) / (hi - lo)));
    c.querySelector(".bar").style.height = `${(frac * 78).toFixed(1)}%`;
    c.querySelector(".v").textContent = x === null ? "n/a" : x.toFixed(3);
    c.classList.toggle("nan", x === null);
    c.classList.toggle("min", cells.min_cell === i + 1);
    c.classList.toggle("max", cells.max_cell === i + 1);
    c.classList.toggle("bal", !!cells.balancing[i]);
    c.title = `cell ${i + 1}: ${x === null ? "not read" : x.toFixed(4) + " V"}${cells.balancing[i] ? ", balancing" : ""}`;
  });
  $("cell-summary").textContent =
    `min ${fmt(cells.min_v, 3)} V (#${cells.min_cell ?? "–"}) · max ${fmt(cells.max_v, 3)} V (#${cells.max_cell ?? "–"})` +
    ` · spread ${cells.spread_v === null ? "–" : (cells.spread_v * 1000).toFixed(1)} mV` +
    ` · ${cells.balancing.filter(Boolean).length} balancing`;
}

function renderSnapshot(doc) {
  state.lastSnapshotAt = Date.now();
  state.lastWallTime = doc.wall_time;
  setStale(false);
  const e = doc.estimate, p = doc.protection;
  $("soc").textContent = fmt(e.soc_pct, 1);
  const cellSoc = doc.cells.soc_pct.filter((x) => x !== null);
  let sub = e.soc_std_pct !== undefined && e.soc_std_pct !== null ? `± ${fmt(e.soc_std_pct, 1)} %` : "";
  if (cellSoc.length) sub += `${sub ? " · " : ""}cells ${Math.min(...cellSoc).toFixed(1)}–${Math.max(...cellSoc).toFixed(1)} %`;
  if (!e.soc_calibrated) sub += " · not yet calibrated";
  $("soc-sub").textContent = sub || "–";
  $("pack-voltage").textContent = fmt(doc.pack.voltage_v, 2);
  $("pack-current").textContent = fmt(doc.pack.current_a, 2);
  $("pack-power").textContent = fmt(doc.pack.power_w, 0);
  $("soh").textContent = fmt(e.soh_pct, 1);
  $("pstate").textContent = p.state;
  $("relay-mode").textContent = `relay mode ${p.relay_mode}`;
  const chips = $("active");
  chips.replaceChildren();
  if (!p.active.length) chips.append(el("span", "chip ok", "no active faults or warnings"));
  for (const a of p.active) {
    const where = a.location ? ` #${a.location}` : "";
    chips.append(el("span", `chip ${a.severity}`, `${a.severity}: ${a.condition}${where}${a.latched ? " (latched)" : ""}`));
  }
  renderCells(doc);
  const t = doc.temperatures;
  kv($("temps"), [
    ...t.values_c.map((x, i) => [`sensor ${i + 1} (board ${t.board[i]})`, x === null ? "n/a" : `${x.toFixed(1)} °C`]),
    ...doc.boards.map((b) => [`board ${b.board} die`, `${fmt(b.die_temperature_c, 1)} °C${b.ok ? "" : " · comm error"}`]),
  ]);
  const onoff = (x) => (x === null ? ["n/a", "off"] : x ? ["on", "on"] : ["off", "off"]);
  kv($("contactors"), [
    ...p.contactors.map((c) => {
      const [txt, cls] = onoff(c.commanded);
      return [c.name, `${txt}${c.feedback === null ? "" : " (feedback " + (c.feedback ? "closed" : "open") + ")"}`, cls];
    }),
    ["allow charge relay", ...onoff(p.allow_charge_relay)],
    ["allow discharge relay", ...onoff(p.allow_discharge_relay)],
    ["heater", ...onoff(p.heater_on)],
    ["cooler", ...onoff(p.cooler_on)],
    ["alarm output", p.alarm_active ? (p.alarm_on ? "sounding" : "active (pause or silenced)") : "off",
     p.alarm_active ? "on" : "off"],
    ...(p.inputs || []).map((on, i) => [`input ${i + 1}`, ...onoff(on)]),
    ...(p.remote_off ? [["remote off", "active: everything stays open", "on"]] : []),
    ...(p.charger_present === null || p.charger_present === undefined ? [] : [["charger present", ...onoff(p.charger_present)]]),
  ]);
  kv($("limits"), [
    ["charge voltage limit (CVL)", `${fmt(p.cvl_v, 2)} V`],
    ["charge current limit (CCL)", `${fmt(p.ccl_a, 1)} A`],
    ["discharge current limit (DCL)", `${fmt(p.dcl_a, 1)} A`],
    ["charge allowed", ...onoff(p.charge_allowed)],
    ["discharge allowed", ...onoff(p.discharge_allowed)],
  ]);
  kv($("counters"), [
    ["energy in / out", `${fmt(e.energy_in_wh / 1000, 2)} / ${fmt(e.energy_out_wh / 1000, 2)} kWh`],
    ["today in / out", `${fmt(e.today_in_wh / 1000, 2)} / ${fmt(e.today_out_wh / 1000, 2)} kWh`],
    ["charge in / out", `${fmt(e.charge_in_ah, 1)} / ${fmt(e.charge_out_ah, 1)} Ah`],
    ["capacity", `${fmt(e.capacity_ah, 1)} Ah (rated ${fmt(e.rated_capacity_ah, 1)})`],
    ["equivalent cycles", fmt(e.equivalent_cycles, 2)],
    ["balancing energy", `${fmt(e.balancing_energy_wh, 2)} Wh`],
    ...(doc.current_sensors && doc.current_sensors.two_sensors ? [
      ["charger / solar now", `${fmt(doc.current_sensors.charger_current_a, 1)} A · ${fmt(doc.current_sensors.charger_power_w, 0)} W`],
      ["consumers now", `${fmt(doc.current_sensors.consumer_current_a, 1)} A · ${fmt(doc.current_sensors.consumer_power_w, 0)} W`],
      ["charger / solar today · total", `${fmt(doc.current_sensors.charger_today_kwh, 2)} · ${fmt(doc.current_sensors.charger_total_kwh, 1)} kWh`],
      ["consumers today · total", `${fmt(doc.current_sensors.consumer_today_kwh, 2)} · ${fmt(doc.current_sensors.consumer_total_kwh, 1)} kWh`],
    ] : []),
    ["PEC errors", String(doc.boards.reduce((n, b) => n + b.pec_errors_total, 0))],
    ["loop overruns", String(doc.timing.overruns)],
  ]);
}

function addEvent(ev) {
  const list = $("events");
  const li = el("li", ev.severity);
  li.dataset.seq = String(ev.seq);
  li.value = ev.seq + 1;
  li.append(el("span", "t", `#${ev.seq} t=${ev.time_s.toFixed(1)} s`));
  const where = ev.location ? ` #${ev.location}` : "";
  li.append(document.createTextNode(
    `${ev.kind} ${ev.condition}${where} (${ev.severity})${ev.message ? " — " + ev.message : ""}`));
  list.prepend(li);
  while (list.children.length > 300) list.lastElementChild.remove();
}

function connect() {
  const url = state.nextSeq === null ? "/api/events" : `/api/events?since=${state.nextSeq}`;
  const es = new EventSource(url);
  state.es = es;
  es.addEventListener("open", () => { $("conn").textContent = "live"; $("conn").className = "conn live"; });
  es.addEventListener("snapshot", (m) => renderSnapshot(JSON.parse(m.data)));
  es.addEventListener("stale", (m) => {
    const d = JSON.parse(m.data);
    setStale(true, d.last_wall_time || state.lastWallTime);
  });
  es.addEventListener("event", (m) => {
    const ev = JSON.parse(m.data);
    if (state.nextSeq !== null && ev.seq < state.nextSeq) return; // already shown
    state.nextSeq = ev.seq + 1;
    addEvent(ev);
  });
  es.addEventListener("gap", (m) => {
    const g = JSON.parse(m.data);
    addEvent({ seq: g.to_seq, time_s: 0, kind: "gap", condition: `events ${g.from_seq}–${g.to_seq} no longer kept`,
               severity: "warning", location: null, message: "" });
  });
  es.addEventListener("error", () => {
    $("conn").textContent = "reconnecting…";
    $("conn").className = "conn lost";
    if (es.readyState === EventSource.CLOSED) { // the browser gave up (e.g. the gateway restarted): start over
      setTimeout(() => { if (state.es === es) connect(); }, 2000);
    }
  });
}

// Grey out when snapshots stop arriving, whatever the reason (gateway stale, network down).
setInterval(() => {
  const limitMs = state.layout ? (state.layout.stale_after_s + 2 * state.layout.stream_interval_s) * 1000 : 4000;
  if (state.lastSnapshotAt && Date.now() - state.lastSnapshotAt > limitMs) setStale(true, state.lastWallTime);
  if (state.pin !== null) {
    const left = Math.max(0, Math.round((state.lockAt - Date.now()) / 1000));
    $("lock-state").textContent = `unlocked · locks in ${left} s`;
  }
}, 500);

// -- settings and commands (PIN) -------------------------------------------------------------
function setLocked(locked) {
  if (locked) {
    state.pin = null;
    if (state.lockTimer) clearTimeout(state.lockTimer);
    state.lockTimer = null;
  }
  $("lock-state").textContent = locked ? "locked" : "unlocked";
  $("lock-state").className = locked ? "locked" : "unlocked";
  $("lock").hidden = locked;
  $("unlock").hidden = !locked;
  $("pin").disabled = !locked;
  document.querySelectorAll("[data-needs-pin]").forEach((x) => { x.disabled = locked; });
}

async function post(path, body) {
  const r = await fetch(path, {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ ...body, pin: state.pin }),
  });
  let data = {};
  try { data = await r.json(); } catch (_) { /* empty */ }
  if (r.status === 403 || r.status === 429) setLocked(true);
  return [r.status, data];
}

$("unlock-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const pin = $("pin").value.trim();
  $("pin").value = "";
  if (!pin) return;
  const r = await fetch("/api/unlock", {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ pin }),
  });
  const msg = $("unlock-msg");
  if (r.status === 200) {
    const d = await r.json();
    state.unlockTimeoutS = d.unlock_timeout_s;
    state.pin = pin;
    state.lockAt = Date.now() + state.unlockTimeoutS * 1000;
    state.lockTimer = setTimeout(() => setLocked(true), state.unlockTimeoutS * 1000);
    setLocked(false);
    msg.textContent = ""; msg.className = "msg";
  } else {
    const d = await r.json().catch(() => ({}));
    msg.textContent = d.error || `refused (${r.status})`;
    msg.className = "msg err";
  }
});
$("lock").addEventListener("click", () => setLocked(true));

function settingInput(s) {
  let input;
  if (s.type === "choice") {
    input = el("select");
    for (const c of s.choices) { const o = el("option", null, String(c)); o.value = String(c); input.append(o); }
    input.value = String(s.value);
  } else if (s.type === "boolean") {
    input = el("select");
    for (const c of ["true", "false"]) { const o = el("option", null, c); o.value = c; input.append(o); }
    input.value = String(s.value);
  } else {
    input = el("input");
    input.type = "number";
    input.step = "any";
    if (s.minimum !== null) input.min = String(s.minimum);
    if (s.maximum !== null) input.max = String(s.maximum);
    input.value = s.value === null ? "" : String(s.value);
  }
  input.dataset.key = s.key;
  return input;
}

function parseValue(s, input) {
  if (s.type === "boolean") return input.value === "true";
  if (s.type === "choice") {
    const c = s.choices.find((x) => String(x) === input.value);
    return c === undefined ? input.value : c;
  }
  if (input.value === "" && s.optional) return null;
  return Number(input.value);
}

function renderSettings(doc) {
  state.unlockTimeoutS = doc.unlock_timeout_s;
  const host = $("settings");
  host.replaceChildren();
  const readOnly = [];
  for (const sec of doc.sections) {
    const writable = sec.settings.filter((s) => s.writable);
    readOnly.push(...sec.settings.filter((s) => !s.writable));
    if (!writable.length) continue;
    const d = el("details", "section");
    d.append(el("summary", null, sec.section));
    for (const s of writable) {
      const row = el("div", "setting");
      const name = el("label", "name", s.key.slice(sec.section.length + 1) || s.key);
      const input = settingInput(s);
      input.dataset.needsPin = "1";
      input.disabled = state.pin === null;
      const save = el("button", null, "Save");
      save.type = "button";
      save.dataset.needsPin = "1";
      save.dataset.save = s.key;
      save.disabled = state.pin === null;
      const msg = el("span", "range", `allowed: ${s.allowed}${s.description ? " — " + s.description : ""}`);
      save.addEventListener("click", async () => {
        const [status, data] = await post("/api/settings", { changes: { [s.key]: parseValue(s, input) } });
        if (status === 200) {
          msg.textContent = `saved (${data.source})`; msg.className = "range msg ok";
        } else {
          msg.textContent = `${data.error || "refused"}${data.allowed ? " — allowed: " + data.allowed : ""}`;
          msg.className = "range msg err";
        }
      });
      row.append(name, input, save, msg);
      d.append(row);
    }
    host.append(d);
  }
  const ro = el("details", "section");
  ro.append(el("summary", null, "file only (read-only here)"));
  const box = el("div", "kv");
  for (const s of readOnly) box.append(el("span", "k", s.key), el("span", "v", `${JSON.stringify(s.value)}  (${s.allowed})`));
  ro.append(box);
  host.append(ro);
}

async function loadCommands() {
  const r = await fetch("/api/commands");
  const doc = await r.json();
  const host = $("commands");
  host.replaceChildren();
  for (const c of doc.commands) {
    const b = el("button", null, c.command.replaceAll("_", " "));
    b.type = "button";
    b.title = c.description;
    b.dataset.command = c.command;
    if (c.needs_pin) { b.dataset.needsPin = "1"; b.disabled = state.pin === null; }
    b.addEventListener("click", async () => {
      const [status, data] = await post("/api/commands", { command: c.command });
      $("unlock-msg").textContent = status === 202 ? `${c.command}: queued` : `${c.command}: ${data.error || status}`;
      $("unlock-msg").className = status === 202 ? "msg ok" : "msg err";
    });
    host.append(b);
  }
}

async function start() {
  try {
    const r = await fetch("/api/state");
    const body = await r.json();
    state.layout = body.layout;
    if (body.state) renderSnapshot(body.state); else setStale(true, body.last_wall_time);
  } catch (_) { /* the stream below retries */ }
  connect();
  try {
    renderSettings(await (await fetch("/api/settings")).json());
    await loadCommands();
  } catch (_) { /* shown locked; reload to retry */ }
  setLocked(true);
}
start();
