"use strict";
const el = (tag, cls, text) => { const e = document.createElement(tag); if (cls) e.className = cls; if (text !== undefined) e.textContent = text; return e; };
const ago = (t) => { if (!t) return "never"; const s = Math.max(0, Math.round(Date.now() / 1000 - t)); return s < 60 ? s + "s ago" : s < 3600 ? Math.round(s / 60) + "m ago" : Math.round(s / 3600) + "h ago"; };
const tags = (images) => (images || []).map((i) => i.includes("@") ? i.slice(i.indexOf("@") + 1, i.indexOf("@") + 20) : i.slice(i.lastIndexOf(":") + 1)).join(", ") || "—";
function render(s) {
  const short = (c) => c ? c.slice(0, 12) : "—";
  document.getElementById("summary").textContent =
    `${s.source.url || "repository"} @ ${s.source.branch || "?"} · commit ${short(s.source.commit)} · refreshed ${ago(s.source.refreshed_at)}` +
    (s.source.error ? ` · fetch problem: ${s.source.error}` : "") + ` · ${s.webhook_deliveries} webhook deliveries`;
  const envs = document.querySelector("#envs tbody"); envs.replaceChildren();
  const order = s.environment_order.length ? s.environment_order : Object.keys(s.environments);
  for (const name of order) {
    const e = s.environments[name] || {}; const tr = el("tr");
    tr.append(el("td", "", name), el("td", e.state || "", e.state || "—"), el("td", "tag", short(e.revision)), el("td", "", ago(e.finished_at)), el("td", "err", e.error || ""));
    envs.append(tr);
  }
  const head = document.getElementById("apps-head"); head.replaceChildren(el("th", "", "app"), el("th", "", "wave"));
  for (const name of order) head.append(el("th", "", name));
  const apps = document.querySelector("#apps tbody"); apps.replaceChildren();
  for (const a of s.apps) {
    const tr = el("tr"); tr.dataset.app = a.name;
    tr.append(el("td", "", a.name), el("td", "muted", a.wave));
    for (const name of order) {
      const e = a.environments[name]; const td = el("td"); td.dataset.env = name;
      if (!e) { td.append(el("span", "muted", "not deployed")); }
      else {
        td.append(el("div", "tag", tags(e.images)));
        td.append(el("span", e.sync, e.sync), document.createTextNode(" · "), el("span", e.health, e.health));
        td.append(el("div", "muted", "synced " + ago(e.last_synced_at)));
        if (e.message) td.append(el("div", "err", e.message));
      }
      tr.append(td);
    }
    apps.append(tr);
  }
  const promos = document.querySelector("#promotions tbody"); promos.replaceChildren();
  if (!s.promotions.length) { const tr = el("tr"); const td = el("td", "muted", "none"); td.colSpan = 7; tr.append(td); promos.append(tr); }
  for (const p of s.promotions) {
    const tr = el("tr"); tr.dataset.app = p.app; tr.dataset.to = p.to;
    for (const k of ["app", "from", "to"]) tr.append(el("td", "", p[k] || ""));
    tr.append(el("td", "tag", p.tag || "—"), el("td", p.state, p.state));
    const why = el("td", "", p.reason || "");
    if (p.retry_at) why.append(el("div", "muted", "next check " + new Date(p.retry_at * 1000).toLocaleString()));
    tr.append(why);
    const pr = el("td");
    if (p.pr_url) { const a = el("a", "", "#" + p.pr_url.slice(p.pr_url.lastIndexOf("/") + 1)); a.href = p.pr_url; pr.append(a); } else pr.append(el("span", "muted", "—"));
    tr.append(pr); promos.append(tr);
  }
  document.body.dataset.loaded = "true";
}
async function refresh() {
  try { const r = await fetch("/api/v1/status", { cache: "no-store" }); render(await r.json()); }
  catch (e) { document.getElementById("summary").textContent = "cannot reach tidegate: " + e; }
}
refresh(); setInterval(refresh, 5000);
