// The saurus page: a little vanilla JS over the server's own API (/v1/...). No dependencies.
"use strict";

const $ = (id) => document.getElementById(id);
let models = {};

// A server that needs an API key answers 401: the page asks for it once (kept for the tab).
async function api(path, body, asked = false) {
  const headers = body === undefined ? {} : { "Content-Type": "application/json" };
  const key = sessionStorage.getItem("saurus-api-key");
  if (key) headers.Authorization = `Bearer ${key}`;
  const init = body === undefined ? { headers } : { method: "POST", headers, body: JSON.stringify(body) };
  const res = await fetch(path, init);
  const data = await res.json().catch(() => ({}));
  if (res.status === 401 && !asked) {
    const given = window.prompt("This server needs its API key:");
    if (given) {
      sessionStorage.setItem("saurus-api-key", given.trim());
      return api(path, body, true);
    }
  }
  if (!res.ok) throw new Error(data.error ? data.error.message : `${res.status} ${res.statusText}`);
  return data;
}

// A number input's value as a number (NaN when empty or malformed: the API says what is wrong).
const number = (id) => ($(id).value.trim() === "" ? NaN : Number($(id).value));

function decoding() {
  const body = {
    model: $("model").value,
    temperature: number("temperature"),
    top_k: number("top-k"),
    top_p: number("top-p"),
  };
  if ($("seed").value.trim() !== "") body.seed = number("seed");
  return body;
}

function showError(err) {
  $("error").textContent = err ? String(err.message || err) : "";
  $("error").hidden = !err;
}

// Run `job` with the page's buttons disabled, reporting its error or clearing the old one.
async function busy(job) {
  const buttons = document.querySelectorAll("button[type=submit]");
  buttons.forEach((b) => { b.disabled = true; });
  document.body.dataset.busy = "1";
  showError(null);
  $("status").textContent = "working…";
  const started = performance.now();
  try {
    const said = await job();
    $("status").textContent = `${said} in ${((performance.now() - started) / 1000).toFixed(2)} s`;
  } catch (err) {
    $("status").textContent = "";
    showError(err);
  } finally {
    buttons.forEach((b) => { b.disabled = false; });
    document.body.dataset.busy = "0";
  }
}

function cell(row, className, text) {
  const td = row.insertCell();
  td.className = className;
  td.textContent = text;
  return td;
}

function showNames(names, scores) {
  const body = $("names");
  body.replaceChildren();
  const best = Math.max(...scores.map((s) => -s.nats));
  names.forEach((name, i) => {
    const row = body.insertRow();
    const logp = -scores[i].nats;
    cell(row, "index", String(i + 1));
    cell(row, "name", name);
    cell(row, "score", logp.toFixed(3)).title = `${scores[i].bits.toFixed(3)} bits/char, perplexity ${scores[i].perplexity}`;
    const bar = document.createElement("span");
    bar.style.width = `${(100 * Math.exp(logp - best)).toFixed(1)}%`;
    cell(row, "bar", "").appendChild(bar);
  });
}

async function generateNames() {
  const model = models[$("model").value];
  const prefix = model.lowercase ? $("prefix").value.toLowerCase() : $("prefix").value;
  const asked = number("count");
  const reply = await api("/v1/completions", {
    ...decoding(), prompt: prefix, n: asked, novel: $("novel").checked,
  });
  const names = reply.choices.map((c) => prefix + c.text);
  const scores = names.length ? (await api("/v1/score", { model: model.id, texts: names })).data : [];
  showNames(names, scores);
  const fewer = names.length < asked ? ` (only ${names.length} of ${asked} were new; try a higher temperature)` : "";
  return `${names.length} names${fewer}`;
}

let lastText = "";

async function completeText() {
  const prompt = $("text-prompt").value;
  const reply = await api("/v1/completions", {
    ...decoding(), prompt, max_tokens: number("length"), n: 1, logprobs: true,
  });
  const choice = reply.choices[0];
  const shown = $("completion");
  shown.replaceChildren();
  const head = document.createElement("span");
  head.className = "prompt";
  head.textContent = prompt;
  const drawn = document.createElement("mark");
  drawn.textContent = choice.text;
  shown.append(head, drawn);
  lastText = prompt + choice.text;
  $("continue").disabled = false;
  const lps = choice.logprobs.token_logprobs;
  const mean = lps.reduce((a, b) => a + b, 0) / Math.max(lps.length, 1);
  return `${choice.text.length} characters, log p ${mean.toFixed(3)} per character`;
}

function showPanels() {
  const model = models[$("model").value];
  if (!model) return;
  $("names-panel").hidden = model.mode !== "lines";
  $("text-panel").hidden = model.mode !== "stream";
  $("model-info").textContent = `${model.mode === "lines" ? "names" : "text"}, ${model.vocab.length} characters`
    + (model.lowercase ? ", lowercase" : "");
}

async function start() {
  try {
    const list = await api("/v1/models");
    for (const m of list.data) {
      models[m.id] = m;
      $("model").add(new Option(`${m.id} (${m.mode === "lines" ? "names" : "text"})`, m.id));
    }
  } catch (err) {
    showError(err);
    return;
  }
  $("model").addEventListener("change", showPanels);
  $("names-form").addEventListener("submit", () => busy(generateNames));
  $("text-form").addEventListener("submit", () => busy(completeText));
  $("continue").addEventListener("click", () => { $("text-prompt").value = lastText; });
  showPanels();
  document.body.dataset.ready = "1";
}

start();
