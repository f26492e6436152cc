// The saurus studio: a little vanilla JS over the server's own API (/v1/...). No dependencies.
// Train a model (POST /v1/jobs), watch its curve (server-sent events), then sample from it:
// names (by category, for a model trained on labelled names), streamed text, or music.
"use strict";

const $ = (id) => document.getElementById(id);
const KEY = "saurus-api-key";
let models = {};
let jobs = []; // the training jobs, newest first

// ---- talking to the server -------------------------------------------------------------

// fetch with the stored API key. A server that needs a key answers 401: the page asks for it
// once (kept for the tab) and tries again. `json` is sent as JSON, `form` (FormData) as
// multipart/form-data.
async function call(path, { method, json, form, signal } = {}, asked = false) {
  const headers = {};
  const key = sessionStorage.getItem(KEY);
  if (key) headers.Authorization = `Bearer ${key}`;
  const init = { headers, signal };
  if (json !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(json);
  } else if (form !== undefined) {
    init.body = form;
  }
  init.method = method || (init.body === undefined ? "GET" : "POST");
  const res = await fetch(path, init);
  if (res.status === 401 && !asked) {
    const given = window.prompt("This server needs its API key:");
    if (given) {
      sessionStorage.setItem(KEY, given.trim());
      return call(path, { method, json, form, signal }, true);
    }
  }
  return res;
}

async function failure(res) {
  const data = await res.json().catch(() => ({}));
  const err = new Error(data.error ? data.error.message : `${res.status} ${res.statusText}`);
  err.status = res.status;
  return err;
}

// The JSON reply of a request, or an Error carrying the server's message.
async function api(path, body, options = {}) {
  const res = await call(path, body === undefined ? options : { ...options, json: body });
  if (!res.ok) throw await failure(res);
  return res.json();
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

function showError(err, where = "error") {
  $(where).textContent = err ? String(err.message || err) : "";
  $(where).hidden = !err;
}

function seconds(s) {
  if (s === null || s === undefined || !Number.isFinite(s)) return "—";
  if (s < 60) return `${s < 10 ? s.toFixed(1) : Math.round(s)} s`;
  const m = Math.floor(s / 60);
  return `${m} min ${String(Math.round(s - 60 * m)).padStart(2, "0")} s`;
}

const loss = (v) => (v === null || v === undefined || !Number.isFinite(v) ? "—" : v.toFixed(3));

// ---- sampling: names, text, music --------------------------------------------------------

// Run `job` with the sampling buttons disabled, reporting its error or clearing the old one.
async function busy(job) {
  const buttons = $("sample").querySelectorAll("button[type=submit]");
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

// "new" or "in the data" for each name, as the server marks it (blank where it cannot tell).
const MARKS = { true: ["in the data", "seen", "this name is in the model's training data"],
  false: ["new", "new", "not in the model's training data: a new name"] };

function showNames(names, scores, known = []) {
  const body = $("names");
  body.replaceChildren();
  const best = Math.max(...scores.map((s) => -s.nats));
  names.forEach((name, i) => {
    const row = body.insertRow();
    const logp = -scores[i].nats;
    cell(row, "index", String(i + 1));
    cell(row, "name", name);
    const mark = MARKS[known[i]];
    const badge = cell(row, "mark", "");
    if (mark) {
      const tag = document.createElement("span");
      tag.className = `tag ${mark[1]}`;
      tag.textContent = mark[0];
      tag.title = mark[2];
      badge.appendChild(tag);
    }
    cell(row, "score", logp.toFixed(3)).title = `${scores[i].bits.toFixed(3)} bits/char, perplexity ${scores[i].perplexity}`;
    const bar = document.createElement("span");
    bar.style.width = `${(100 * Math.exp(logp - best)).toFixed(1)}%`;
    cell(row, "bar", "").appendChild(bar);
  });
}

// The constraints panel as API fields (empty fields are left out).
function constraints(model) {
  const text = (id) => (model.lowercase ? $(id).value.toLowerCase() : $(id).value).trim();
  const list = (id) => text(id).split(",").map((s) => s.trim()).filter((s) => s);
  const body = {};
  if (text("ends-with")) body.ends_with = text("ends-with");
  if (list("contains").length) body.contains = list("contains");
  if (list("excludes").length) body.excludes = list("excludes");
  if ($("min-len").value.trim()) body.min_len = number("min-len");
  if ($("max-len").value.trim()) body.max_len = number("max-len");
  if ($("pattern").value.trim()) body.pattern = $("pattern").value.trim();
  return body;
}

const hasCategories = (m) => Boolean(m) && Array.isArray(m.categories) && m.categories.length > 0;

// The `category` field of a names request: the blend typed, else the category picked, none
// for "all" (every category by its share of the training names) or a model without them.
function category(model) {
  if (!hasCategories(model)) return {};
  const chosen = $("blend").value.trim() || $("category").value;
  return chosen ? { category: chosen } : {};
}

// GET /v1/models/{id}/export: the model as one HTML page, saved by the browser.
async function exportPage() {
  const id = $("model").value;
  const key = sessionStorage.getItem(KEY);
  const res = await fetch(`/v1/models/${encodeURIComponent(id)}/export`, { headers: key ? { Authorization: `Bearer ${key}` } : {} });
  if (!res.ok) {
    const data = await res.json().catch(() => ({}));
    throw new Error(data.error ? data.error.message : `${res.status} ${res.statusText}`);
  }
  const blob = await res.blob();
  const link = document.createElement("a");
  link.href = URL.createObjectURL(blob);
  link.download = `${id}.html`;
  document.body.append(link);
  link.click();
  link.remove();
  return `exported ${id}.html (${Math.round(blob.size / 1024)} KiB)`;
}

async function generateNames() {
  const model = models[$("model").value];
  const prefix = model.lowercase ? $("prefix").value.toLowerCase() : $("prefix").value;
  const asked = number("count");
  const reply = await api("/v1/completions", {
    ...decoding(), prompt: prefix, n: asked, novel: $("novel").checked, ...constraints(model), ...category(model),
  });
  const names = reply.choices.map((c) => prefix + c.text);
  const known = reply.choices.map((c) => c.in_training_data);
  const scoring = { model: model.id, texts: names, ...category(model) };
  const scores = names.length ? (await api("/v1/score", scoring)).data : [];
  showNames(names, scores, known);
  const constrained = Object.keys(constraints(model)).length > 0;
  const why = constrained ? "met the constraints in the time given; loosen them" : "were new; try a higher temperature";
  const fewer = names.length < asked ? ` (only ${names.length} of ${asked} ${why})` : "";
  return `${names.length} names${fewer}`;
}

const percent = (p) => `${(100 * p).toFixed(1)}%`;

// POST /v1/classify: each name's likeliest category, its probability, and the next ones.
async function classifyNames() {
  const model = models[$("model").value];
  const names = $("classify-names").value.split("\n").map((s) => s.trim()).filter((s) => s);
  if (!names.length) throw new Error("write the names to classify, one a line");
  const top = Math.min(3, model.categories.length);
  const reply = await api("/v1/classify", { model: model.id, names, top });
  const body = $("classified");
  body.replaceChildren();
  for (const item of reply.data) {
    const [best, ...others] = item.categories;
    const row = body.insertRow();
    cell(row, "name", item.name);
    cell(row, "category", best.category);
    cell(row, "probability", percent(best.probability)).title = String(best.probability);
    const bar = document.createElement("span");
    bar.style.width = `${(100 * best.probability).toFixed(1)}%`;
    cell(row, "bar", "").appendChild(bar);
    cell(row, "others", others.map((c) => `${c.category} ${percent(c.probability)}`).join(", "));
  }
  $("classify-table").hidden = false;
  return `${names.length} name${names.length === 1 ? "" : "s"} classified`;
}

let lastText = "";
let textStop = null; // the AbortController of the completion being streamed

// The payloads of OpenAI's data-only server-sent events in `buffer` (`data: {json}` and a
// blank line each); returns [payloads, what is left for the next read].
function ssePayloads(buffer) {
  const payloads = [];
  const events = buffer.replace(/\r\n?/g, "\n").split("\n\n");
  const rest = events.pop();
  for (const block of events) {
    const data = block.split("\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5).replace(/^ /, ""));
    if (data.length) payloads.push(data.join("\n"));
  }
  return [payloads, rest];
}

// POST /v1/completions with stream: true, showing each piece as it comes; Stop aborts it.
async function completeText() {
  const prompt = $("text-prompt").value;
  const shown = $("completion");
  shown.replaceChildren();
  const head = document.createElement("span");
  head.className = "prompt";
  head.textContent = prompt;
  const drawn = document.createElement("mark");
  shown.append(head, drawn);
  $("continue").disabled = true;
  textStop = new AbortController();
  $("stop-text").disabled = false;
  let text = "";
  let stopped = false;
  const started = performance.now();
  try {
    const res = await call("/v1/completions", {
      json: { ...decoding(), prompt, max_tokens: number("length"), n: 1, stream: true },
      signal: textStop.signal,
    });
    if (!res.ok) throw await failure(res);
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    let done = false;
    while (!done) {
      const part = await reader.read();
      buffer += decoder.decode(part.value || new Uint8Array(), { stream: !part.done });
      const [payloads, rest] = ssePayloads(part.done ? `${buffer}\n\n` : buffer);
      buffer = rest;
      for (const payload of payloads) {
        if (payload === "[DONE]") { done = true; break; }
        const chunk = JSON.parse(payload);
        if (chunk.error) throw new Error(chunk.error.message || "the server stopped the completion");
        if (chunk.choices && chunk.choices.length) {
          text += chunk.choices[0].text;
          drawn.textContent = text;
        }
      }
      if (part.done) break;
    }
    if (!done) throw new Error("the connection closed before the completion ended");
  } catch (err) {
    if (err.name !== "AbortError") throw err;
    stopped = true;
  } finally {
    textStop = null;
    $("stop-text").disabled = true;
    lastText = prompt + text;
    $("continue").disabled = false;
  }
  const took = (performance.now() - started) / 1000;
  const rate = `${Math.round(text.length / Math.max(took, 1e-3))} characters/s`;
  return `${stopped ? "stopped after " : ""}${text.length} characters, ${rate},`;
}

let musicUrls = [];

function base64Bytes(data) {
  const raw = atob(data);
  const bytes = new Uint8Array(raw.length);
  for (let i = 0; i < raw.length; i += 1) bytes[i] = raw.charCodeAt(i);
  return bytes;
}

// A Blob URL for `data` (revoked when the next tune comes).
function blobUrl(data, type) {
  const url = URL.createObjectURL(new Blob([data], { type }));
  musicUrls.push(url);
  return url;
}

// A frame model (JSB Chorales style) draws with the temperature only: no top-k, no top-p.
const isFrameModel = (m) => Boolean(m && m.frames);

async function generateMusic() {
  const body = { ...decoding(), bars: number("bars") };
  if (isFrameModel(models[body.model])) {
    delete body.top_k;
    delete body.top_p;
  }
  const reply = await api("/v1/music", body);
  musicUrls.forEach((u) => URL.revokeObjectURL(u));
  musicUrls = [];
  // The piano roll is shown as an image: an SVG in an <img> runs no script.
  $("piano-roll").src = blobUrl(reply.piano_roll, "image/svg+xml");
  const audio = reply.audio || {};
  $("music-audio").src = blobUrl(base64Bytes(audio.data || ""), "audio/wav");
  $("music-audio").load();
  const renderer = {
    fluidsynth: "Audio rendered by FluidSynth (General MIDI instruments)",
    sine: "Audio rendered as sine tones (a quick preview: no instruments, drums silent)",
  }[audio.renderer] || `Audio rendered by ${audio.renderer || "an unknown renderer"}`;
  $("music-renderer").textContent = audio.note ? `${renderer}. ${audio.note}` : `${renderer}.`;
  const link = $("midi-download");
  link.href = blobUrl(base64Bytes(reply.midi), "audio/midi");
  link.download = `${body.model}${body.seed !== undefined ? `-${body.seed}` : ""}.mid`;
  $("music-result").hidden = false;
  const frames = reply.frames ? `${reply.frames} frames, ` : "";
  return `${reply.notes} notes, ${frames}${seconds(reply.seconds)} of music`;
}

// ---- the model picker ---------------------------------------------------------------------

const kindOf = (m) => m.kind || (m.mode === "lines" ? "names" : "text");

// A model's line in the picker: "dinos (names)"; a trained job's model also shows the job's name.
function modelLabel(m) {
  const job = jobs.find((j) => j.model === m.id);
  const named = job && job.name && job.name !== m.id ? `${job.name}: ` : "";
  return `${named}${m.id} (${kindOf(m)})`;
}

function relabelModels() {
  for (const option of $("model").options) {
    if (models[option.value]) option.textContent = modelLabel(models[option.value]);
  }
}

// The category picker and the classify panel, for a names model trained on labelled names;
// the picker keeps its choice while the model's categories stay the same.
function showCategories(model) {
  const labelled = hasCategories(model) && kindOf(model) === "names";
  $("category-row").hidden = !labelled;
  $("classify-panel").hidden = !labelled;
  if (!labelled) return;
  const picker = $("category");
  const wanted = JSON.stringify(["", ...model.categories]);
  if (JSON.stringify(Array.from(picker.options, (o) => o.value)) === wanted) return;
  const counts = model.category_counts || [];
  const options = model.categories.map((c, i) => new Option(counts[i] !== undefined ? `${c} (${counts[i]})` : c, c));
  picker.replaceChildren(new Option("all", ""), ...options);
  $("blend").value = "";
  $("classify-table").hidden = true;
  $("classified").replaceChildren();
}

function showPanels() {
  const model = models[$("model").value];
  const kind = model ? kindOf(model) : null;
  $("names-panel").hidden = kind !== "names";
  $("text-panel").hidden = kind !== "text";
  $("music-panel").hidden = kind !== "music";
  showCategories(model);
  for (const id of ["top-k", "top-p"]) $(id).disabled = isFrameModel(model);
  if (!model) {
    $("model-info").textContent = "no model yet: train one above";
    return;
  }
  if (isFrameModel(model)) {
    const what = model.frames === "roll" ? "piano-roll" : "notes-as-tokens";
    $("model-info").textContent = `music, a ${what} frame model (88 keys, a frame every ${model.step} quarter notes; temperature only)`;
    return;
  }
  const vocab = model.vocab && model.vocab.length !== undefined ? `, ${model.vocab.length} ${kind === "music" ? "tokens" : "characters"}` : "";
  const categories = hasCategories(model) ? `, ${model.categories.length} categories` : "";
  $("model-info").textContent = `${kind}${vocab}${model.lowercase ? ", lowercase" : ""}${categories}`;
}

// Fill the picker from GET /v1/models, keeping the model shown (or selecting `choose`).
async function loadModels(choose) {
  const list = await api("/v1/models");
  const picker = $("model");
  const keep = choose || picker.value;
  models = {};
  picker.replaceChildren();
  for (const m of list.data) {
    models[m.id] = m;
    picker.add(new Option(modelLabel(m), m.id));
  }
  if (keep && models[keep]) picker.value = keep;
  showPanels();
}

// ---- training: jobs, their curves ----------------------------------------------------------

let polling = null;
const ACTIVE = new Set(["queued", "running"]);
const follow = { id: null, source: null, points: [], job: null, pick: false };

function trainForm() {
  const form = new FormData();
  const file = $("train-file").files[0];
  const dataset = $("train-dataset").value;
  if (file) form.append("file", file, file.name);
  else if (dataset) form.append("dataset", dataset);
  else throw new Error("choose a file or a dataset to train on");
  const fields = {
    time_budget: "train-budget", mode: "train-mode", name: "train-name", iterations: "train-iterations",
    engine: "train-engine", model: "train-model", hidden: "train-hidden", seed: "train-seed",
  };
  for (const [field, id] of Object.entries(fields)) {
    const value = $(id).value.trim();
    if (value !== "") form.append(field, value);
  }
  if ($("train-labelled").checked) form.append("labelled", "true");
  return form;
}

async function startTraining() {
  const button = $("train");
  button.disabled = true;
  showError(null, "train-error");
  try {
    const job = await api("/v1/jobs", undefined, { form: trainForm() });
    upsertJob(job);
    followJob(job, true);
    watchJobs();
  } catch (err) {
    showError(err, "train-error");
  } finally {
    button.disabled = false;
  }
}

function upsertJob(job) {
  const i = jobs.findIndex((j) => j.id === job.id);
  if (i >= 0) jobs[i] = job;
  else jobs.unshift(job);
  renderJobs();
  if (follow.id === job.id) {
    follow.job = job;
    showFollowed();
  }
}

async function jobAction(job, method, path) {
  showError(null, "train-error");
  try {
    const changed = await api(path, undefined, { method });
    upsertJob(changed);
    if (method === "POST") followJob(changed, true);
    watchJobs();
  } catch (err) {
    showError(err, "train-error");
  }
}

function jobTime(job) {
  const p = job.progress || {};
  const spent = seconds(p.seconds);
  if (ACTIVE.has(job.status) && p.eta !== null && p.eta !== undefined) return `${spent} / ${seconds(p.eta)} left`;
  return spent;
}

function renderJobs() {
  const body = $("jobs");
  body.replaceChildren();
  $("jobs-empty").hidden = jobs.length > 0;
  $("jobs-table").hidden = jobs.length === 0;
  for (const job of jobs) {
    const row = body.insertRow();
    row.className = "job";
    row.dataset.id = job.id;
    row.dataset.status = job.status;
    if (job.id === follow.id) row.classList.add("selected");
    row.title = "show this job's curve";
    cell(row, "job-name", job.name || job.id).title = job.id;
    const status = cell(row, "job-status", "");
    const badge = document.createElement("span");
    badge.className = `badge ${job.status}`;
    badge.textContent = job.status;
    status.append(badge);
    if (job.error) status.title = job.error;
    const data = job.data || {};
    const size = data.lines ? `${data.lines.toLocaleString()} lines` : data.chars ? `${data.chars.toLocaleString()} chars` : "";
    cell(row, "job-data", data.name || "").title = `${data.source || ""} ${size}`.trim();
    cell(row, "job-time", jobTime(job));
    const p = job.progress || {};
    cell(row, "job-loss", loss(p.best_val_loss ?? p.val_loss));
    const actions = cell(row, "job-actions", "");
    const button = (label, cls, handler) => {
      const b = document.createElement("button");
      b.type = "button";
      b.className = cls;
      b.textContent = label;
      b.addEventListener("click", (event) => { event.stopPropagation(); handler(); });
      actions.append(b);
    };
    if (ACTIVE.has(job.status)) button("Stop", "stop", () => jobAction(job, "DELETE", `/v1/jobs/${job.id}`));
    if (job.status === "interrupted" || job.status === "cancelled") {
      button("Resume", "resume", () => jobAction(job, "POST", `/v1/jobs/${job.id}/resume`));
    }
    if (job.model && models[job.model] && !ACTIVE.has(job.status)) {
      button("Use", "use", () => { $("model").value = job.model; showPanels(); });
    }
    row.addEventListener("click", () => followJob(job, ACTIVE.has(job.status)));
  }
  relabelModels();
}

async function loadJobs() {
  try {
    const list = await api("/v1/jobs");
    jobs = list.data;
    renderJobs();
    return true;
  } catch (err) {
    if (err.status === 404 || err.status === 403) return false; // a server without training
    showError(err, "train-error");
    return true;
  }
}

// Poll the jobs list while any job is queued or running (the curve has its own events).
function watchJobs() {
  if (polling) return;
  polling = setInterval(async () => {
    await loadJobs();
    if (!jobs.some((j) => ACTIVE.has(j.status))) {
      clearInterval(polling);
      polling = null;
    }
  }, 1500);
}

function eventsUrl(id) {
  const key = sessionStorage.getItem(KEY);
  return `/v1/jobs/${encodeURIComponent(id)}/events${key ? `?key=${encodeURIComponent(key)}` : ""}`;
}

function until(job) {
  const options = (job && job.options) || {};
  const p = (job && job.progress) || {};
  const last = follow.points.length ? follow.points[follow.points.length - 1] : null;
  const expected = last && Number.isFinite(last.eta) ? last.seconds + last.eta : 0;
  if (!job || !ACTIVE.has(job.status)) return 0; // a finished run: the axis fits its points
  return Math.max(expected, Number(options.time_budget) || 0, (p.seconds || 0) + (p.eta || 0));
}

function showFollowed() {
  const job = follow.job;
  const last = follow.points.length ? follow.points[follow.points.length - 1] : null;
  const p = (job && job.progress) || {};
  const data = job && job.data ? job.data.name : "";
  $("curve-job").textContent = job ? (job.name || job.id) + (data && data !== job.name ? ` · ${data}` : "") : "";
  $("curve-status").textContent = job ? job.status : "—";
  $("curve-step").textContent = last ? last.step.toLocaleString() : p.step ? p.step.toLocaleString() : "—";
  $("curve-time").textContent = seconds(last ? last.seconds : p.seconds);
  const eta = job && !ACTIVE.has(job.status) ? null : last ? last.eta : p.eta;
  $("curve-eta").textContent = job && !ACTIVE.has(job.status) ? "done" : seconds(eta);
  const vals = follow.points.filter((q) => Number.isFinite(q.val_loss));
  $("curve-val").textContent = loss(vals.length ? vals[vals.length - 1].val_loss : p.val_loss);
  const best = vals.length ? Math.min(...vals.map((q) => q.val_loss)) : p.best_val_loss;
  $("curve-best").textContent = loss(best ?? p.best_val_loss);
  if (job && job.status === "failed") $("curve-note").textContent = `Failed: ${job.error || "no reason given"}`;
  else if (job && job.status === "succeeded" && job.model) $("curve-note").textContent = `Done: the model ${job.model} is in the picker below.`;
  else if (job && job.status === "interrupted") $("curve-note").textContent = "Interrupted (the server stopped): Resume goes on from its last checkpoint.";
  else if (job && job.status === "cancelled") $("curve-note").textContent = job.model ? `Stopped; its best model ${job.model} is in the picker below.` : "Stopped before it had a model.";
  else if (job) $("curve-note").textContent = job.status === "queued" ? "Waiting for the trainer…" : "Training: each evaluation adds a point.";
  drawCurve($("curve"), follow.points, until(job));
}

// Follow `job`'s events: every past point, then live ones, then its end. `pick`: when it
// ends with a model, select that model in the picker.
function followJob(job, pick) {
  if (follow.source) follow.source.close();
  Object.assign(follow, { id: job.id, job, points: [], pick, source: null });
  renderJobs();
  showFollowed();
  const source = new EventSource(eventsUrl(job.id));
  follow.source = source;
  const mine = () => follow.source === source;
  source.onopen = () => { if (mine()) { follow.points = []; showFollowed(); } }; // a reconnection replays all
  source.addEventListener("progress", (event) => {
    if (!mine()) return;
    const point = JSON.parse(event.data);
    if (!Number.isFinite(point.seconds)) return;
    follow.points.push(point);
    // the jobs list shows the same progress at once, not at its next poll
    const job = jobs.find((j) => j.id === follow.id);
    if (job && ACTIVE.has(job.status)) {
      const p = job.progress || {};
      const best = p.best_val_loss ?? null;
      job.progress = {
        ...p,
        step: point.step,
        seconds: point.seconds,
        eta: point.eta,
        train_loss: point.train_loss ?? p.train_loss,
        val_loss: point.val_loss ?? p.val_loss,
        best_val_loss: Number.isFinite(point.val_loss) && (best === null || point.val_loss < best) ? point.val_loss : best,
      };
      renderJobs();
    }
    showFollowed();
  });
  source.addEventListener("status", (event) => {
    if (mine()) upsertJob(JSON.parse(event.data));
  });
  source.addEventListener("end", async (event) => {
    if (!mine()) return;
    source.close();
    const final = JSON.parse(event.data);
    upsertJob(final);
    if (final.model) {
      try {
        await loadModels(follow.pick ? final.model : undefined);
        if (follow.pick && models[final.model]) {
          $("status").textContent = `${final.model} is ready: pick your settings and generate.`;
        }
        renderJobs();
      } catch (err) {
        showError(err);
      }
    }
    follow.pick = false;
  });
  source.onerror = () => {
    if (!mine()) return;
    if (source.readyState === EventSource.CLOSED) {
      showError(new Error("the job's progress stream was refused (is the API key right?)"), "train-error");
    }
  };
}

async function startStudio() {
  let health = {};
  try {
    const res = await fetch("/health");
    health = await res.json();
  } catch (err) {
    health = {};
  }
  if (health.training === false) return;
  if (!(await loadJobs())) return;
  $("studio").hidden = false;
  drawCurve($("curve"), []);
  $("train-form").addEventListener("submit", startTraining);
  $("train-file").addEventListener("change", () => {
    if ($("train-file").files.length) $("train-dataset").value = "";
  });
  $("train-dataset").addEventListener("change", () => {
    if ($("train-dataset").value) $("train-file").value = "";
  });
  const active = jobs.find((j) => ACTIVE.has(j.status));
  if (active) followJob(active, true);
  else if (jobs.length) followJob(jobs[0], false);
  if (jobs.some((j) => ACTIVE.has(j.status))) watchJobs();
}

async function start() {
  $("model").addEventListener("change", showPanels);
  $("names-form").addEventListener("submit", () => busy(generateNames));
  $("text-form").addEventListener("submit", () => busy(completeText));
  $("music-form").addEventListener("submit", () => busy(generateMusic));
  $("classify-form").addEventListener("submit", () => busy(classifyNames));
  $("stop-text").addEventListener("click", () => { if (textStop) textStop.abort(); });
  $("export").addEventListener("click", () => busy(exportPage));
  $("continue").addEventListener("click", () => { $("text-prompt").value = lastText; });
  try {
    await loadModels();
  } catch (err) {
    showError(err);
    return;
  }
  await startStudio();
  document.body.dataset.ready = "1";
}

start();
