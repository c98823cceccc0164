// ynagw admin page: refreshes the active-call table from GET /api/v1/calls every few
// seconds. Everything is built with DOM methods (textContent), never innerHTML.
(function () {
  "use strict";
  // The E911 hand-off page: POST the form (the access token is in its body, never in a URL).
  var e911 = document.getElementById("e911-post");
  if (e911) {
    e911.submit();
    return;
  }
  var body = document.body;
  var base = body.getAttribute("data-base") || "";
  var csrf = body.getAttribute("data-csrf") || "";
  var table = document.getElementById("calls");
  if (!table) return;
  var tbody = table.querySelector("tbody");
  var empty = document.getElementById("no-calls");

  function cell(tr, cls, text) {
    var td = document.createElement("td");
    td.className = cls;
    td.textContent = text;
    tr.appendChild(td);
    return td;
  }
  function dur(s) {
    s = Math.max(0, Math.round(s || 0));
    var m = Math.floor(s / 60);
    s = s % 60;
    return m + ":" + (s < 10 ? "0" : "") + s;
  }
  function render(calls) {
    while (tbody.firstChild) tbody.removeChild(tbody.firstChild);
    calls.forEach(function (c) {
      var tr = document.createElement("tr");
      tr.setAttribute("data-call-id", c.id);
      cell(tr, "call-id", c.id).title = "SIP " + (c.sipCallId || "") + " / YNA " + (c.ynaCallId || "");
      cell(tr, "direction", c.direction);
      cell(tr, "line", c.line);
      cell(tr, "user", c.user || "");
      cell(tr, "remote", c.remote || "");
      cell(tr, "remote-name", c.remoteName || "");
      cell(tr, "call-state", c.state);
      cell(tr, "duration", dur(c.durationSeconds));
      cell(tr, "sip-call-id", c.sipCallId || "");
      cell(tr, "yna-call-id", c.ynaCallId || "");
      var td = cell(tr, "actions", "");
      var f = document.createElement("form");
      f.method = "post";
      f.action = base + "/calls/" + encodeURIComponent(c.id) + "/hangup";
      var h = document.createElement("input");
      h.type = "hidden"; h.name = "csrf"; h.value = csrf;
      var b = document.createElement("button");
      b.type = "submit"; b.className = "danger hangup"; b.textContent = "Hang up";
      f.appendChild(h); f.appendChild(b); td.appendChild(f);
      tbody.appendChild(tr);
    });
    table.hidden = calls.length === 0;
    if (empty) empty.hidden = calls.length !== 0;
    body.setAttribute("data-refreshed", String(Date.now()));
  }
  // Lines: channel, phones and active calls change in place; a line whose state changed
  // (or a line added or removed) reloads the page, since its buttons differ.
  var lineRows = {};
  document.querySelectorAll("#lines tr[data-msisdn]").forEach(function (tr) {
    lineRows[tr.getAttribute("data-msisdn")] = tr;
  });
  function renderLines(lines) {
    var seen = 0, reload = false;
    lines.forEach(function (l) {
      var tr = lineRows[l.msisdn];
      if (!tr) { reload = true; return; }
      seen++;
      if (tr.getAttribute("data-state") !== l.state) { reload = true; return; }
      var ch = tr.querySelector(".channel");
      ch.textContent = l.channel || "\u2014";
      ch.className = "channel channel-" + (l.channel || "");
      tr.querySelector(".phones").textContent = String(l.phones);
      tr.querySelector(".calls").textContent = String(l.activeCalls);
      var owner = tr.querySelector(".owner"); // clustered mode: the node holding the line
      if (owner) owner.textContent = l.owner || "\u2014";
      else if (l.owner) reload = true;        // the page had no Node column yet
    });
    if (reload || seen !== Object.keys(lineRows).length) location.reload();
  }
  function poll() {
    fetch(location.origin + base + "/api/v1/lines", { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { if (!r.ok) throw new Error(r.status); return r.json(); })
      .then(renderLines)
      .catch(function () { body.setAttribute("data-refresh-error", String(Date.now())); });
    // location.origin: a page opened as http://user:pw@host/ would make a relative URL
    // carry the credentials, which fetch refuses.
    fetch(location.origin + base + "/api/v1/calls", { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { if (!r.ok) throw new Error(r.status); return r.json(); })
      .then(render)
      .catch(function () { body.setAttribute("data-refresh-error", String(Date.now())); });
  }
  setInterval(poll, 2000);
})();
