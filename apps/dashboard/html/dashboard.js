// The monitoring page: reads Prometheus' query API (proxied read-only by nginx at /api/v1/) and draws
// every stack's services with their health, restarts, and CPU and memory over the last hour as plain SVG
// polylines (two small line charts per row need no chart library, hence nothing vendored).
"use strict";

const RANGE = 3600, STEP = 30, WIDTH = 320, HEIGHT = 60;
const SVG = "http://www.w3.org/2000/svg";

async function query(path, params) {
  const answer = await fetch(path + "?" + new URLSearchParams(params));
  const body = await answer.json();
  if (body.status !== "success") throw new Error(path + ": " + (body.error || answer.status));
  return body.data.result;
}

// Several Docker hosts (EC2): the central Prometheus labels each host's series with host (its inventory name)
// and address (where a browser reaches its published ports); the same stack may run on two hosts.
function key(metric) { return (metric.host || "") + "/" + metric.stack + "/" + metric.service; }

function hostOf(metric, hostIp) {
  if (!["", "0.0.0.0", "::"].includes(hostIp)) return hostIp;
  return metric.address || location.hostname;
}

function byKey(results) {
  const map = new Map();
  for (const r of results) map.set(key(r.metric), r);
  return map;
}

function el(tag, attrs, text) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

function human(bytes) {
  const units = ["B", "KiB", "MiB", "GiB"];
  let i = 0;
  while (bytes >= 1024 && i < units.length - 1) { bytes /= 1024; i++; }
  return bytes.toFixed(i ? 1 : 0) + " " + units[i];
}

// One line chart: the series' values over [start, end], scaled to max (at least the limit, when given).
function graph(kind, values, start, end, limit, label) {
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("class", "graph " + kind);
  svg.setAttribute("width", WIDTH);
  svg.setAttribute("height", HEIGHT);
  const points = (values || []).map(([t, v]) => [Number(t), Number(v)]).filter(([, v]) => isFinite(v));
  svg.setAttribute("data-points", String(points.length));
  const top = Math.max(limit || 0, ...points.map(([, v]) => v), 1e-9) * 1.05;
  const x = t => ((t - start) / (end - start)) * WIDTH;
  const y = v => HEIGHT - (v / top) * HEIGHT;
  if (limit) {
    const line = document.createElementNS(SVG, "line");
    line.setAttribute("class", "limit");
    line.setAttribute("x1", 0); line.setAttribute("x2", WIDTH);
    line.setAttribute("y1", y(limit)); line.setAttribute("y2", y(limit));
    svg.appendChild(line);
  }
  const poly = document.createElementNS(SVG, "polyline");
  poly.setAttribute("points", points.map(([t, v]) => x(t).toFixed(1) + "," + y(v).toFixed(1)).join(" "));
  svg.appendChild(poly);
  const title = document.createElementNS(SVG, "title");
  title.textContent = label;
  svg.appendChild(title);
  return svg;
}

async function draw() {
  const end = Math.floor(Date.now() / 1000), start = end - RANGE;
  const range = { start, end, step: STEP };
  const [running, health, restarts, limits, ports, cpu, memory, firing] = await Promise.all([
    query("api/v1/query", { query: 'labs_container_running{oneshot="false"}' }),
    query("api/v1/query", { query: "labs_container_health == 1" }),
    query("api/v1/query", { query: "labs_container_restart_count" }),
    query("api/v1/query", { query: "labs_container_memory_limit_bytes" }),
    query("api/v1/query", { query: "labs_container_published_port" }),
    query("api/v1/query_range", Object.assign({ query: "labs_container_cpu_percent" }, range)),
    query("api/v1/query_range", Object.assign({ query: "labs_container_memory_bytes" }, range)),
    query("api/v1/query", { query: 'ALERTS{alertstate="firing"}' }),
  ]);
  for (const p of ports.filter(p => p.metric.service === "monitoring-prometheus")) {
    const host = hostOf(p.metric, p.metric.host_ip);
    // Debian's Prometheus serves its UI under /classic/.
    document.getElementById("prometheus-link").href = "http://" + host + ":" + p.metric.host_port + "/classic/targets";
  }
  const h = byKey(health), r = byKey(restarts), l = byKey(limits), c = byKey(cpu), m = byKey(memory);
  const stacks = new Map();
  const hosts = new Set(running.map(row => row.metric.host || ""));
  for (const row of running) {
    // One table per stack, per host when there are several.
    const s = (row.metric.stack || "(no stack)") + (hosts.size > 1 ? " on " + (row.metric.host || "?") : "");
    if (!stacks.has(s)) stacks.set(s, []);
    stacks.get(s).push(row);
  }
  const main = document.getElementById("stacks");
  main.replaceChildren();
  for (const stack of [...stacks.keys()].sort()) {
    main.appendChild(el("h2", {}, "stack " + stack));
    const table = el("table", { "class": "stack", "data-stack": stack });
    table.appendChild(el("tr", {})).append(el("th", {}, "service"), el("th", {}, "state"), el("th", {}, "health"),
      el("th", {}, "restarts"), el("th", {}, "CPU % (1 h)"), el("th", {}, "memory / limit (1 h)"), el("th", {}, "open"));
    for (const row of stacks.get(stack).sort((a, b) => key(a.metric).localeCompare(key(b.metric)))) {
      const k = key(row.metric);
      const up = row.value[1] === "1";
      const status = h.has(k) ? h.get(k).metric.status : "none";
      const limit = l.has(k) ? Number(l.get(k).value[1]) : 0;
      const tr = el("tr", { "class": "service", "data-service": row.metric.service });
      const cpuValues = c.has(k) ? c.get(k).values : [], memValues = m.has(k) ? m.get(k).values : [];
      const lastMem = memValues.length ? Number(memValues[memValues.length - 1][1]) : NaN;
      const links = el("td", {});
      for (const p of ports.filter(p => key(p.metric) === k)) {
        const host = hostOf(p.metric, p.metric.host_ip);
        links.appendChild(el("a", { href: "http://" + host + ":" + p.metric.host_port + "/" }, ":" + p.metric.host_port + " "));
      }
      tr.append(
        el("td", {}, row.metric.service),
        el("td", {}).appendChild(el("span", { "class": "badge " + (up ? "running" : "down") }, up ? "running" : "down")).parentNode,
        el("td", {}).appendChild(el("span", { "class": "badge " + status }, status)).parentNode,
        el("td", {}, r.has(k) ? r.get(k).value[1] : "?"),
        el("td", {}), el("td", {}), links);
      tr.children[4].append(graph("cpu", cpuValues, start, end, 0, k + " CPU %"),
        el("div", { "class": "caption" }, cpuValues.length ? Number(cpuValues[cpuValues.length - 1][1]).toFixed(1) + " %" : "no data"));
      tr.children[5].append(graph("memory", memValues, start, end, limit, k + " memory"),
        el("div", { "class": "caption" }, (isFinite(lastMem) ? human(lastMem) : "no data") + " / " + (limit ? human(limit) : "no limit")));
      table.appendChild(tr);
    }
    main.appendChild(table);
  }
  const alerts = document.getElementById("firing");
  alerts.replaceChildren(el("h2", {}, firing.length + " alert(s) firing"));
  for (const a of firing) {
    alerts.appendChild(el("div", { "class": "firing-alert" },
      [a.metric.alertname, a.metric.host, a.metric.stack || a.metric.job, a.metric.service || a.metric.instance]
        .filter(Boolean).join(" ")));
  }
  document.getElementById("status").textContent = "updated " + new Date().toISOString() + ", every 30 s";
}

function refresh() {
  draw().catch(error => { document.getElementById("status").textContent = "error: " + error.message; });
}

refresh();
setInterval(refresh, 30000);
