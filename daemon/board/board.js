// The duty-office board (docs/board.md): reads the JSON API and each centre's alert stream with
// the browser's client certificate and shows, per centre the account may see, the current round
// and who is not yet accounted for, open absences with the time left until the authorities are
// told and each authority's delivery and receipt, unacknowledged alerts by priority (with an
// Acknowledge button for on-call staff, managers and admins), today's rounds, the centre's local
// time, and a banner while alerting is impaired or a stream is down.
//
// Resident names are data: they only ever reach the page through textContent, never innerHTML,
// and the Content-Security-Policy would refuse an injected script anyway.
"use strict";

(() => {
  const REFRESH_WITH_STREAM_MS = 30000; // the stream says when alerts change; this is a safety net
  const REFRESH_WITHOUT_STREAM_MS = 10000; // staff accounts have no alert stream
  const STREAM_RETRY_MS = 3000; // after the daemon refused or ended a stream
  const PRIORITY_RANK = { urgent: 0, normal: 1, info: 2 };
  const ALERT_ROLES = new Set(["oncall", "manager", "admin"]);
  const STATUS_RANK = { none: 0, absent: 1, excused: 2, present: 3 };
  const KIND_LABEL = {
    resident_absent: "Resident absent",
    round_overdue: "Round overdue",
    absence_reported: "Authorities notified",
    notification_failing: "Notification failing",
    notification_unconfirmed: "Receipt not confirmed",
    resident_returned: "Resident returned",
    turning_18: "Turning 18",
  };
  const REASON_LABEL = {
    threshold_12h: "12-hour rule (under 15)",
    threshold_24h: "24-hour rule (15 or older)",
    concern: "special concern",
    known_departure: "known departure",
  };

  const board = {
    account: null, // {"cn","role","centres"} from /board/account
    offsetMs: 0, // the daemon's clock (its Date header) minus the browser's
    names: new Map(), // resident id -> {case_number, given_name, family_name}
    centres: new Map(), // centre id -> per-centre state (below)
    fatal: null, // why the board cannot start, shown in a banner
  };

  // ---- small helpers ----

  function now() {
    return Date.now() + board.offsetMs;
  }

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
  }

  function residentLabel(id) {
    const r = board.names.get(id);
    if (!r) return `resident ${id}`;
    return `${r.given_name} ${r.family_name} (${r.case_number})`;
  }

  function formatter(timezone, options) {
    try {
      return new Intl.DateTimeFormat("en-GB", { timeZone: timezone, ...options });
    } catch (e) {
      return new Intl.DateTimeFormat("en-GB", options);
    }
  }

  function localTime(c, instant) {
    if (!instant) return "—";
    const t = new Date(instant);
    const day = c.dayFormat.format(t);
    const time = c.timeFormat.format(t);
    return day === c.dayFormat.format(new Date(now())) ? time : `${day} ${time}`;
  }

  // "2 h 05 min", "45 s"
  function duration(ms) {
    const s = Math.max(0, Math.round(ms / 1000));
    if (s < 60) return `${s} s`;
    const m = Math.floor(s / 60);
    if (m < 60) return `${m} min`;
    const h = Math.floor(m / 60);
    return `${h} h ${String(m % 60).padStart(2, "0")} min`;
  }

  // ---- the API ----

  async function api(path, options) {
    const init = { credentials: "same-origin", cache: "no-store", ...(options || {}) };
    let reply;
    try {
      reply = await fetch(path, init);
    } catch (e) {
      return { status: 0, body: null }; // the daemon is unreachable
    }
    const date = Date.parse(reply.headers.get("Date") || "");
    if (!Number.isNaN(date)) board.offsetMs = date - Date.now();
    let body = null;
    try {
      body = await reply.json();
    } catch (e) {
      body = null;
    }
    return { status: reply.status, body };
  }

  // Names of residents the current round did not list (moved, or away since before it).
  async function residentNames(call, ids) {
    const missing = [...new Set(ids)].filter((id) => id && !board.names.has(id));
    await Promise.all(
      missing.map(async (id) => {
        const r = await call(`/v1/residents/${encodeURIComponent(id)}`);
        if (r.status === 200) board.names.set(id, r.body);
      })
    );
  }

  function previousDate(date) {
    const d = new Date(`${date}T12:00:00Z`);
    d.setUTCDate(d.getUTCDate() - 1);
    return d.toISOString().slice(0, 10);
  }

  // The current round: the latest of today's that has begun, else yesterday's last.
  async function currentRound(call, c, rounds) {
    const started = rounds.filter((r) => Date.parse(r.scheduled_at) <= now());
    let date, slot;
    if (started.length) {
      ({ date, slot } = started[started.length - 1]);
    } else if (rounds.length) {
      date = previousDate(rounds[0].date);
      slot = 3;
    } else {
      return null;
    }
    const reply = await call(`/v1/centres/${c.path}/rounds/${date}/${slot}`);
    return reply.status === 200 ? reply.body : null;
  }

  // Everything the centre's part of the page shows; data.down when the daemon answered 503
  // (its database is away) or could not be reached.
  async function load(c) {
    const alertsAllowed = ALERT_ROLES.has(board.account.role);
    const data = { ok: true, down: false, alertsAllowed };
    const call = async (path, options) => {
      const reply = await api(path, options);
      if (reply.status === 503 || reply.status === 0) data.down = true;
      return reply;
    };
    const [rounds, absences, alerts] = await Promise.all([
      call(`/v1/centres/${c.path}/rounds`),
      call(`/v1/absences?centre=${c.path}&open=true&limit=1000`),
      alertsAllowed ? call(`/v1/alerts?centre=${c.path}&state=open&limit=1000`) : null,
    ]);
    // Refused (the account was disabled, its certificate revoked, or the centre taken away):
    // what the page shows must go with the right to see it.
    data.forbidden = rounds.status === 403 || absences.status === 403;
    data.rounds = rounds.status === 200 ? rounds.body.items : null;
    data.round = data.rounds ? await currentRound(call, c, data.rounds) : null;
    for (const r of data.round ? data.round.residents : []) board.names.set(r.resident, r);
    data.absences = absences.status === 200 ? absences.body.items : null;
    data.alerts = alerts && alerts.status === 200 ? alerts.body.items : null;
    data.deliveries = new Map();
    await Promise.all(
      (data.absences || []).map(async (a) => {
        const n = await call(`/v1/notifications?centre=${c.path}&absence=${a.id}&limit=1000`);
        if (n.status === 200) data.deliveries.set(a.id, n.body.items);
      })
    );
    await residentNames(call, [
      ...(data.absences || []).map((a) => a.resident),
      ...(data.alerts || []).map((a) => a.resident),
    ]);
    data.ok = data.rounds !== null && data.absences !== null && (!alertsAllowed || data.alerts !== null);
    return data;
  }

  // One refresh at a time per centre; a request for another while one runs runs it after.
  async function refresh(c) {
    if (c.forgotten) return;
    if (c.loading) {
      c.again = true;
      return;
    }
    c.loading = true;
    try {
      do {
        c.again = false;
        const data = await load(c);
        c.apiDown = data.down;
        if (data.forbidden) {
          forget(c);
          return;
        }
        if (data.ok) {
          render(c, data);
          c.loadedAt = now();
        }
        renderBanners();
      } while (c.again);
    } finally {
      c.loading = false;
    }
  }

  // Takes a centre off the page: its data, its stream and its timer.
  function forget(c) {
    if (c.source) c.source.close();
    clearInterval(c.timer);
    c.forgotten = true;
    c.node.remove();
    board.centres.delete(c.id);
    board.names.clear();
    board.fatal = `This certificate may no longer see ${c.name}.`;
    renderBanners();
  }

  // ---- acknowledging ----

  async function acknowledge(c, alert, button) {
    // One key per button: pressing again after a lost answer retries the same request.
    if (!button.dataset.key) button.dataset.key = crypto.randomUUID();
    button.disabled = true;
    button.textContent = "Acknowledging…";
    const reply = await api(`/v1/alerts/${encodeURIComponent(alert.id)}/ack`, {
      method: "POST",
      headers: { "Content-Type": "application/json", "Idempotency-Key": button.dataset.key },
      body: "{}",
    });
    if (reply.status === 200) {
      button.textContent = "Acknowledged";
      refresh(c);
    } else {
      button.disabled = false;
      button.textContent = "Acknowledge (failed, try again)";
    }
  }

  // ---- rendering ----

  function alertDetail(c, a) {
    const d = a.details || {};
    switch (a.kind) {
      case "resident_absent":
        return `away since ${localTime(c, d.since)}` + (d.reason ? `, ${REASON_LABEL[d.reason] || d.reason}` : "");
      case "round_overdue":
        return `round ${d.slot} of ${d.date}: ${(d.missing || []).length} not accounted for`;
      case "notification_failing":
      case "notification_unconfirmed":
        return [d.authority || d.channel_kind, d.last_error].filter(Boolean).join(": ");
      case "absence_reported":
        return d.authorities ? `told ${[].concat(d.authorities).join(", ")}` : "the authorities were told";
      case "turning_18":
        return d.birthday ? `18 on ${d.birthday}` : "";
      case "resident_returned":
        return d.returned_at ? `back at ${localTime(c, d.returned_at)}` : "";
      default:
        return "";
    }
  }

  function renderAlerts(c, data) {
    const list = c.node.querySelector(".alerts");
    const note = c.node.querySelector(".alerts-note");
    clear(list);
    if (!data.alertsAllowed) {
      note.hidden = false;
      note.textContent = "Alerts are shown to on-call staff and managers.";
      return;
    }
    const alerts = [...data.alerts].sort(
      (x, y) =>
        (PRIORITY_RANK[x.priority] ?? 9) - (PRIORITY_RANK[y.priority] ?? 9) ||
        Date.parse(x.raised_at) - Date.parse(y.raised_at) ||
        x.id - y.id
    );
    note.hidden = alerts.length > 0;
    note.textContent = "No unacknowledged alerts.";
    for (const a of alerts) {
      const item = el("li", `alert priority-${a.priority || "normal"}`);
      item.dataset.alert = a.id;
      item.dataset.priority = a.priority || "";
      const head = el("p", "alert-head");
      head.append(el("span", "alert-priority", a.priority || ""), " ", el("span", "alert-kind", KIND_LABEL[a.kind] || a.kind));
      item.append(head);
      if (a.resident) item.append(el("p", "alert-resident", residentLabel(a.resident)));
      const detail = alertDetail(c, a);
      if (detail) item.append(el("p", "alert-detail", detail));
      const age = el("p", "alert-age");
      age.dataset.since = a.raised_at;
      age.dataset.prefix = "raised ";
      age.dataset.suffix = " ago";
      item.append(age);
      if (a.escalated_at) item.append(el("p", "alert-escalated", "escalated to managers"));
      const button = el("button", "ack", "Acknowledge");
      button.type = "button";
      button.addEventListener("click", () => acknowledge(c, a, button));
      item.append(button);
      list.append(item);
    }
  }

  function renderDeliveries(deliveries) {
    const list = el("ul", "deliveries");
    const reported = (deliveries || []).filter((d) => d.type === "absence.reported");
    if (!reported.length) {
      list.append(el("li", "delivery delivery-none", "no notification yet"));
      return list;
    }
    for (const d of reported) {
      const item = el("li", `delivery delivery-${d.state || (d.delivered_at ? "delivered" : "pending")}`);
      item.dataset.authority = d.authority;
      item.append(el("span", "authority", d.authority), " ");
      if (d.delivered_at) item.append(el("span", "delivered", "delivered"));
      else item.append(el("span", "undelivered", `${d.state || "pending"}${d.last_error ? `: ${d.last_error}` : ""}`));
      if (d.receipt) {
        const who = [d.receipt.received_by, d.receipt.reference].filter(Boolean).join(", ");
        item.append(" · ", el("span", "receipt", `receipt confirmed${who ? ` (${who})` : ""}`));
      } else if (d.delivered_at && "receipt" in d) {
        item.append(" · ", el("span", "no-receipt", "receipt not confirmed"));
      }
      list.append(item);
    }
    return list;
  }

  function renderAbsences(c, data) {
    const list = c.node.querySelector(".absences");
    clear(list);
    if (!data.absences.length) {
      list.append(el("li", "empty", "No open absences."));
      return;
    }
    const urgent = (a) => a.reason === "concern" || a.reason === "known_departure" || !!a.concern;
    // A concern or known departure first, then whoever has been away longest.
    const absences = [...data.absences].sort(
      (x, y) => urgent(y) - urgent(x) || Date.parse(x.since) - Date.parse(y.since) || x.id - y.id
    );
    for (const a of absences) {
      const item = el("li", `absence${urgent(a) ? " absence-urgent" : ""}`);
      item.dataset.absence = a.id;
      item.dataset.resident = a.resident;
      item.append(el("p", "absence-resident", residentLabel(a.resident)));
      item.append(el("p", "absence-since", `away since ${localTime(c, a.since)} · ${REASON_LABEL[a.reason] || a.reason}`));
      if (a.concern) item.append(el("p", "absence-concern", `concern: ${a.concern}`));
      const when = el("p", "absence-notify");
      if (a.notified_at) {
        when.textContent = `authorities notified ${localTime(c, a.notified_at)}`;
      } else {
        when.classList.add("countdown");
        when.dataset.until = a.notify_at;
        when.dataset.prefix = "authorities notified in ";
        when.dataset.suffix = ` (at ${localTime(c, a.notify_at)})`;
      }
      item.append(when, renderDeliveries(data.deliveries.get(a.id)));
      list.append(item);
    }
  }

  function observationRank(r) {
    return STATUS_RANK[r.observation ? r.observation.status : "none"] ?? 9;
  }

  function renderRound(c, data) {
    const title = c.node.querySelector(".round-title");
    const summary = c.node.querySelector(".round-summary");
    const list = c.node.querySelector(".round-residents");
    clear(list);
    const round = data.round;
    if (!round) {
      title.textContent = "Current round";
      summary.textContent = "No round yet.";
      return;
    }
    title.textContent = `Current round: ${round.slot} of ${round.date}, ${localTime(c, round.scheduled_at)}`;
    const open = round.residents.filter((r) => !r.observation).length;
    summary.textContent = `${open} of ${round.expected} not yet accounted for · ${round.status}`;
    summary.className = `round-summary round-${round.status}`;
    const residents = [...round.residents].sort((x, y) => observationRank(x) - observationRank(y));
    for (const r of residents) {
      const status = r.observation ? r.observation.status : "unaccounted";
      const item = el("li", `round-resident status-${status}`);
      item.dataset.resident = r.resident;
      item.append(el("span", "name", `${r.given_name} ${r.family_name}`), " ", el("span", "case", r.case_number), " ");
      item.append(el("span", "status", status === "unaccounted" ? "not yet accounted for" : status));
      list.append(item);
    }
  }

  function renderRounds(c, data) {
    const body = c.node.querySelector(".rounds tbody");
    clear(body);
    for (const r of data.rounds) {
      const row = el("tr", `round-${r.status}`);
      row.append(
        el("td", null, r.slot),
        el("td", null, c.timeFormat.format(new Date(r.scheduled_at))),
        el("td", null, c.timeFormat.format(new Date(r.due_at))),
        el("td", "status", r.status),
        el("td", null, `${r.recorded} / ${r.expected}`)
      );
      body.append(row);
    }
  }

  function render(c, data) {
    renderAlerts(c, data);
    renderAbsences(c, data);
    renderRound(c, data);
    renderRounds(c, data);
    tick();
  }

  function renderBanners() {
    const impaired = document.getElementById("banner-impaired");
    const centres = [...board.centres.values()];
    const statusSince = centres.map((c) => c.impairedSince).filter((s) => s !== undefined);
    if (statusSince.length || centres.some((c) => c.apiDown)) {
      impaired.hidden = false;
      const since = statusSince.find(Boolean);
      impaired.textContent =
        "ALERTING IMPAIRED: the daemon cannot reach its database" +
        (since ? ` since ${new Date(since).toLocaleTimeString("en-GB")}` : "") +
        ". Alerts may not arrive; this board shows what it last read.";
    } else {
      impaired.hidden = true;
    }
    const stream = document.getElementById("banner-stream");
    const down = [...board.centres.values()].filter((c) => c.streamDown).map((c) => c.name);
    stream.hidden = down.length === 0;
    stream.textContent = down.length ? `Live alerts disconnected (${down.join(", ")}): reconnecting…` : "";
    const error = document.getElementById("banner-error");
    error.hidden = !board.fatal;
    error.textContent = board.fatal || "";
    const updated = document.getElementById("updated");
    const times = [...board.centres.values()].map((c) => c.loadedAt).filter(Boolean);
    updated.textContent = times.length ? `updated ${duration(now() - Math.min(...times))} ago · ${board.account.cn}` : "loading…";
  }

  // Every second: clocks, countdowns and ages, from the daemon's clock.
  function tick() {
    const t = now();
    for (const c of board.centres.values()) {
      const clock = c.node.querySelector(".clock");
      clock.textContent = c.clockFormat.format(new Date(t));
      clock.dateTime = new Date(t).toISOString();
    }
    for (const node of document.querySelectorAll("[data-until]")) {
      const left = Date.parse(node.dataset.until) - t;
      node.textContent = left > 0 ? `${node.dataset.prefix}${duration(left)}${node.dataset.suffix}` : `authorities being notified now${node.dataset.suffix}`;
      node.classList.toggle("soon", left < 3600000);
    }
    for (const node of document.querySelectorAll("[data-since]")) {
      node.textContent = `${node.dataset.prefix}${duration(t - Date.parse(node.dataset.since))}${node.dataset.suffix}`;
    }
    renderBanners();
  }

  // ---- the alert stream ----

  function openStream(c) {
    if (c.forgotten) return;
    const source = new EventSource(`/v1/centres/${c.path}/alerts/stream`);
    c.source = source;
    const changed = () => refresh(c);
    source.addEventListener("open", () => {
      c.streamDown = false;
      renderBanners();
      refresh(c); // whatever happened while it was down
    });
    source.addEventListener("alert", changed);
    source.addEventListener("alert_acked", changed);
    source.addEventListener("alert_resolved", changed);
    source.addEventListener("status", (event) => {
      let status = null;
      try {
        status = JSON.parse(event.data);
      } catch (e) {
        return;
      }
      if (status.database === "unreachable") c.impairedSince = status.since || null;
      else if (status.database === "ok") {
        delete c.impairedSince;
        refresh(c);
      }
      renderBanners();
    });
    // Other events (`handover`, any later addition) have no listener and are ignored.
    source.addEventListener("error", () => {
      c.streamDown = true;
      renderBanners();
      refresh(c);
      if (source.readyState === EventSource.CLOSED && !c.forgotten) {
        // Refused (503 while the database is away, 403 after a revocation): EventSource
        // does not retry by itself then.
        source.close();
        setTimeout(() => openStream(c), STREAM_RETRY_MS);
      }
    });
  }

  // ---- start ----

  function addCentre(centre) {
    const node = document.getElementById("centre-template").content.firstElementChild.cloneNode(true);
    node.dataset.centre = centre.id;
    node.querySelector(".centre-name").textContent = centre.name;
    const timezone = centre.timezone || "Europe/Copenhagen";
    const c = {
      id: centre.id,
      name: centre.name,
      path: encodeURIComponent(centre.id),
      node,
      clockFormat: formatter(timezone, { weekday: "short", day: "numeric", month: "short", hour: "2-digit", minute: "2-digit", second: "2-digit" }),
      timeFormat: formatter(timezone, { hour: "2-digit", minute: "2-digit" }),
      dayFormat: formatter(timezone, { day: "numeric", month: "short" }),
    };
    node.querySelector(".clock-label").textContent = timezone;
    board.centres.set(centre.id, c);
    document.getElementById("centres").append(node);
    return c;
  }

  async function start() {
    const me = await api("account");
    if (me.status === 403) {
      board.fatal = "This certificate's account may not open the board.";
      renderBanners();
      return;
    }
    if (me.status !== 200) {
      // The daemon or its database is away: say so, and try again.
      board.fatal = `The board cannot start yet (${me.status || "no answer"}): retrying.`;
      renderBanners();
      setTimeout(start, STREAM_RETRY_MS);
      return;
    }
    board.account = me.body;
    const centres = [];
    for (let after = null; ; ) {
      const page = await api(`/v1/centres?limit=1000${after ? `&after=${encodeURIComponent(after)}` : ""}`);
      if (page.status !== 200) {
        board.fatal = `The centres could not be read (${page.status}); retrying.`;
        renderBanners();
        setTimeout(start, STREAM_RETRY_MS);
        return;
      }
      centres.push(...page.body.items);
      if (!page.body.next) break;
      after = page.body.next;
    }
    board.fatal = null;
    if (!centres.length) board.fatal = "This account has no centres.";
    const streams = ALERT_ROLES.has(board.account.role);
    for (const centre of centres) {
      const c = addCentre(centre);
      refresh(c);
      if (streams) openStream(c);
      c.timer = setInterval(() => refresh(c), streams ? REFRESH_WITH_STREAM_MS : REFRESH_WITHOUT_STREAM_MS);
    }
    setInterval(tick, 1000);
    renderBanners();
  }

  document.addEventListener("DOMContentLoaded", start);
})();
