// The board's case page: builds a v1 profile from the form (or takes pasted JSON),
// asks the service for the case (an HTML fragment rendered from the report's
// templates), applies a what-if change when one is chosen, shows each problem next to
// its field, and records the board's decision. Talks only to the page's own origin.
"use strict";
(function () {
  const form = document.getElementById("profile-form");
  const result = document.getElementById("result");
  const json = document.getElementById("profile-json");
  const general = document.getElementById("form-errors");
  const context = document.getElementById("f-context");
  const hideId = document.getElementById("f-hide-id");
  let current = null; // the profile last evaluated (an object), or null

  function dom(path) {
    return path.split(/[./]/).join("-");
  }

  function setPath(obj, path, value) {
    const parts = path.split("/");
    let node = obj;
    for (const part of parts.slice(0, -1)) {
      if (node[part] === null || typeof node[part] !== "object") node[part] = {};
      node = node[part];
    }
    node[parts[parts.length - 1]] = value;
  }

  function getPath(obj, path) {
    return path.split("/").reduce(
      (node, part) => (node !== null && typeof node === "object" ? node[part] : undefined),
      obj
    );
  }

  function items(el) {
    return Array.from(form.querySelectorAll('[data-item-of="' + el.id + '"]'));
  }

  function read(el) {
    const kind = el.dataset.kind;
    if (kind === "number") {
      if (el.value.trim() === "") return null;
      const n = Number(el.value);
      return Number.isFinite(n) ? n : el.value;
    }
    if (kind === "boolean") return el.value === "" ? null : el.value === "true";
    if (kind === "list") {
      if (el.value === "") return null;
      if (el.value === "none") return [];
      const out = [];
      for (const item of items(el)) {
        if (item.type === "checkbox") {
          if (item.checked) out.push(item.value);
        } else {
          for (const word of item.value.split(",")) if (word.trim()) out.push(word.trim());
        }
      }
      return out;
    }
    return el.value === "" ? null : el.value;
  }

  function write(el, value) {
    const kind = el.dataset.kind;
    if (kind === "number") {
      el.value = value === null || value === undefined ? "" : String(value);
    } else if (kind === "boolean") {
      el.value = value === true ? "true" : value === false ? "false" : "";
    } else if (kind === "list") {
      const list = Array.isArray(value) ? value : null;
      el.value = list === null ? "" : list.length === 0 ? "none" : "listed";
      for (const item of items(el)) {
        if (item.type === "checkbox") item.checked = !!list && list.includes(item.value);
        else item.value = list ? list.join(", ") : "";
      }
    } else {
      const unknown = el.dataset.unknown || "";
      el.value = value === null || value === undefined ? unknown : String(value);
      if (el.value === "" && value !== null && value !== undefined) el.value = unknown;
    }
  }

  function fromForm() {
    const profile = { format_version: "1", id: document.getElementById("f-id").value };
    for (const el of form.querySelectorAll("[data-path]")) setPath(profile, el.dataset.path, read(el));
    return profile;
  }

  function fill(profile) {
    document.getElementById("f-id").value = profile && profile.id ? String(profile.id) : "";
    for (const el of form.querySelectorAll("[data-path]")) write(el, getPath(profile, el.dataset.path));
  }

  function clearProblems() {
    general.textContent = "";
    for (const el of document.querySelectorAll(".field-error")) {
      el.textContent = "";
      el.hidden = true;
    }
    for (const el of document.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
  }

  function showProblems(problems) {
    for (const problem of problems) {
      const field = String(problem.field || "");
      const parts = field.split(".");
      let shown = false;
      for (let n = parts.length; n > 0 && !shown; n--) {
        const key = dom(parts.slice(0, n).join("."));
        const spot = document.getElementById("e-" + key);
        if (spot) {
          const line = document.createElement("span");
          line.textContent = problem.message + " (" + problem.code + ")";
          if (spot.textContent) spot.appendChild(document.createElement("br"));
          spot.appendChild(line);
          spot.hidden = false;
          const control = document.getElementById("f-" + key);
          if (control) control.setAttribute("aria-invalid", "true");
          shown = true;
        }
      }
      if (!shown) {
        const line = document.createElement("p");
        line.textContent = (field ? field + ": " : "") + problem.message + " (" + problem.code + ")";
        general.appendChild(line);
      }
    }
    const first = document.querySelector('[aria-invalid="true"]');
    if (first) first.focus();
  }

  async function evaluate(body) {
    clearProblems();
    result.setAttribute("aria-busy", "true");
    const query = new URLSearchParams({ context: context.value, hide_id: hideId.checked ? "true" : "false" });
    try {
      const reply = await fetch("/page/evaluate?" + query.toString(), {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: body,
      });
      if (reply.ok) {
        result.innerHTML = await reply.text();
        const date = document.getElementById("d-date");
        if (date && !date.value) date.value = new Date().toISOString().slice(0, 10);
      } else {
        const data = await reply.json().catch(() => ({ error: "HTTP " + reply.status }));
        if (data.problems) showProblems(data.problems);
        else general.textContent = data.error || "HTTP " + reply.status;
      }
    } catch (error) {
      general.textContent = "The service did not answer: " + error;
    } finally {
      result.removeAttribute("aria-busy");
    }
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    current = fromForm();
    json.value = JSON.stringify(current, null, 2);
    evaluate(JSON.stringify(current));
  });

  document.getElementById("evaluate-json").addEventListener("click", () => {
    try {
      current = JSON.parse(json.value);
      fill(current);
    } catch (error) {
      current = null; // the service names the problem (malformed JSON)
    }
    evaluate(json.value);
  });

  document.getElementById("load-case").addEventListener("click", async () => {
    const key = document.getElementById("case-select").value;
    clearProblems();
    const reply = await fetch("/page/cases/" + encodeURIComponent(key));
    if (!reply.ok) {
      general.textContent = "Could not load the case (HTTP " + reply.status + ")";
      return;
    }
    const data = await reply.json();
    current = data.profile;
    if (data.context) context.value = data.context;
    fill(current);
    json.value = JSON.stringify(current, null, 2);
    evaluate(JSON.stringify(current));
  });

  result.addEventListener("click", async (event) => {
    if (event.target.closest("#print-report")) {
      const query = new URLSearchParams({ context: context.value, hide_id: hideId.checked ? "true" : "false" });
      const reply = await fetch("/page/report?" + query.toString(), {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(current || fromForm()),
      });
      const page = await reply.text();
      window.open(URL.createObjectURL(new Blob([page], { type: "text/html" })), "_blank");
      return;
    }
    const button = event.target.closest("button.apply");
    if (!button) return;
    const profile = current ? JSON.parse(JSON.stringify(current)) : fromForm();
    setPath(profile, button.dataset.key, JSON.parse(button.dataset.value));
    current = profile;
    fill(profile);
    json.value = JSON.stringify(profile, null, 2);
    evaluate(JSON.stringify(profile));
  });

  result.addEventListener("submit", async (event) => {
    const record = event.target.closest("#decision-form");
    if (!record) return;
    event.preventDefault();
    const status = document.getElementById("d-status");
    for (const el of record.querySelectorAll(".field-error")) {
      el.textContent = "";
      el.hidden = true;
    }
    const chosen = record.querySelector('input[name="chosen"]:checked');
    const body = {
      profile: current || fromForm(),
      context: context.value,
      chosen: chosen ? chosen.value : "",
      other_therapy: document.getElementById("d-other").value,
      reason: document.getElementById("d-reason").value,
      comment: document.getElementById("d-comment").value,
      meeting_date: document.getElementById("d-date").value,
      signed_by: document.getElementById("d-signed").value,
    };
    const reply = await fetch("/decisions", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
    const data = await reply.json().catch(() => ({ error: "HTTP " + reply.status }));
    status.textContent = "";
    if (reply.ok) {
      status.append("Recorded (" + data.outcome_words + "). ");
      const report = document.createElement("a");
      report.href = data.report;
      report.id = "decision-report";
      report.textContent = "The report with this decision";
      const list = document.createElement("a");
      list.href = "/decisions";
      list.textContent = "all decisions";
      status.append(report, " · ", list);
    } else if (data.problems) {
      for (const problem of data.problems) {
        const spot = document.getElementById("de-" + problem.field);
        const target = spot || status;
        target.append(problem.message + " (" + problem.code + ") ");
        target.hidden = false;
      }
    } else {
      status.textContent = data.error || "HTTP " + reply.status;
    }
  });
})();
