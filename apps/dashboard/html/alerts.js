// The alerts the webhook sink received (proxied read-only at /alerts.json), newest first.
"use strict";

async function load() {
  const answer = await fetch("alerts.json");
  const alerts = await answer.json();
  const body = document.querySelector("#alerts tbody");
  body.replaceChildren();
  for (const a of alerts.reverse()) {
    const tr = document.createElement("tr");
    tr.className = a.status;
    const cells = [new Date(a.received_at * 1000).toISOString(), a.status, a.labels.alertname, a.labels.severity,
      a.labels.host, a.labels.stack || a.labels.job, a.labels.service || a.labels.instance, (a.annotations || {}).summary];
    for (const c of cells) {
      const td = document.createElement("td");
      td.textContent = c || "";
      tr.appendChild(td);
    }
    body.appendChild(tr);
  }
  document.getElementById("status").textContent = alerts.length + " kept; updated " + new Date().toISOString();
}

load().catch(error => { document.getElementById("status").textContent = "error: " + error.message; });
setInterval(() => load().catch(() => {}), 15000);
