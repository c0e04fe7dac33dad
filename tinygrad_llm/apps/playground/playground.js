// tinygrad_llm playground: talks only to the server that sent it (see tinygrad_llm/apps/serve.py for the API).
"use strict";

const $ = (id) => document.getElementById(id);
const ACCENT = [37, 99, 235];
const state = {
  info: null,
  prompt: [],          // [{id, piece}] of the prompt as the model reads it
  generated: [],       // [{id, piece, prob, top}] one per generated token
  selected: null,      // index into generated, or null = the token after the prompt
  generating: null,    // AbortController of the running generation
  attention: null,     // the last /api/attention answer
};

// ------------------------------------------------------------------ helpers
function visible(piece) {
  return piece.replace(/ /g, "\u2423").replace(/\n/g, "\u21b5").replace(/\t/g, "\u21e5");
}

function shade(p) {
  return `rgba(${ACCENT.join(", ")}, ${(0.06 + 0.64 * p).toFixed(3)})`;
}

function setError(message) {
  const box = $("error");
  box.textContent = message || "";
  box.hidden = !message;
}

async function api(path, body, signal) {
  const init = body === undefined ? { signal } : {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body), signal,
  };
  const r = await fetch(path, init);
  const data = await r.json();
  if (!r.ok) {
    const err = new Error(data.error || `HTTP ${r.status}`);
    err.status = r.status;
    throw err;
  }
  return data;
}

function debounce(fn, ms) {
  let t = null;
  return (...args) => { clearTimeout(t); t = setTimeout(() => fn(...args), ms); };
}

// One request of a kind at a time; while one runs, only the latest wish is kept and sent after it.
function latestOnly(run) {
  let busy = false, pending = null;
  return async function request(...args) {
    if (busy) { pending = args; return; }
    busy = true;
    try {
      await run(...args);
    } catch (e) {
      if (e.status === 429) { pending = pending || args; await new Promise((ok) => setTimeout(ok, 250)); }
      else if (e.name !== "AbortError") setError(e.message);
    } finally {
      busy = false;
      if (pending) { const next = pending; pending = null; request(...next); }
    }
  };
}

function sampling() {
  const k = parseInt($("top-k").value, 10);
  const p = parseFloat($("top-p").value);
  return {
    temperature: parseFloat($("temperature").value),
    top_k: Number.isFinite(k) && k > 0 ? k : null,
    top_p: p < 1 ? p : null,
  };
}

function allIds(upto) {
  const gen = state.generated.slice(0, upto === undefined ? state.generated.length : upto);
  return state.prompt.map((t) => t.id).concat(gen.map((t) => t.id));
}

// ------------------------------------------------------------------ tokens (chapter 03)
function renderTokens(tokens) {
  const box = $("tokens");
  box.replaceChildren(...tokens.map((t) => {
    const chip = document.createElement("span");
    chip.className = "tok";
    const piece = document.createElement("span");
    piece.textContent = visible(t.piece);
    const id = document.createElement("span");
    id.className = "id";
    id.textContent = t.id;
    chip.append(piece, id);
    return chip;
  }));
  $("status").textContent = `${tokens.length} prompt tokens`;
}

const tokenize = latestOnly(async () => {
  const text = $("prompt").value;
  if (!text) { state.prompt = []; renderTokens([]); return; }
  const data = await api("/api/tokenize", { text });
  state.prompt = data.tokens;
  setError("");
  renderTokens(data.tokens);
  renderOutput();
  selectStep(null);
  refreshAttention();
});

// ------------------------------------------------------------------ generation (chapter 09)
function renderOutput() {
  const out = $("output");
  const head = document.createElement("span");
  head.className = "prompt";
  head.textContent = state.prompt.map((t) => t.piece).join("");
  out.replaceChildren(head, ...state.generated.map((t, i) => tokenSpan(t, i)));
}

function tokenSpan(t, i) {
  const s = document.createElement("span");
  s.className = "gen" + (i === state.selected ? " selected" : "");
  s.textContent = t.piece;
  s.style.background = shade(t.prob);
  s.title = `step ${i}: id ${t.id}, p = ${t.prob.toFixed(4)}`;
  s.dataset.step = i;
  return s;
}

function onEvent(ev) {
  if (ev.event === "start") {
    state.prompt = ev.prompt;
    renderTokens(ev.prompt);
    renderOutput();
  } else if (ev.event === "token") {
    state.generated.push(ev);
    $("output").append(tokenSpan(ev, state.generated.length - 1));
    if (state.generated.length === 1) selectStep(0);
    $("status").textContent = `${state.generated.length} tokens…`;
  } else if (ev.event === "error") {
    setError(ev.error);
  } else if (ev.event === "done") {
    const rate = ev.tokens_per_s === null ? "" : `, ${ev.tokens_per_s} tokens/s`;
    const why = ev.stopped === "eos" ? "the model ended the text" : "max new tokens reached";
    $("status").textContent = `${ev.new_tokens} new tokens in ${ev.seconds.toFixed(2)} s${rate} (${why})`;
    refreshAttention();
  }
}

async function generate() {
  if (state.generating) state.generating.abort();
  const ctl = new AbortController();
  state.generating = ctl;
  state.generated = [];
  state.selected = null;
  setError("");
  renderOutput();
  $("generate").disabled = true;
  $("stop").disabled = false;
  const body = { prompt: $("prompt").value, max_new_tokens: parseInt($("max-new-tokens").value, 10),
    seed: parseInt($("seed").value, 10) || 0, ...sampling() };
  if (state.info && state.info.chat) body.chat = $("chat").checked;
  try {
    const r = await fetch("/api/generate", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body), signal: ctl.signal,
    });
    if (!r.ok) throw new Error((await r.json()).error || `HTTP ${r.status}`);
    const reader = r.body.getReader();
    const decoder = new TextDecoder();
    let buf = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += decoder.decode(value, { stream: true });
      let nl;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line.trim()) onEvent(JSON.parse(line));
      }
    }
  } catch (e) {
    if (e.name !== "AbortError") setError(e.message);
    else $("status").textContent = `stopped after ${state.generated.length} tokens`;
  } finally {
    if (state.generating === ctl) {
      state.generating = null;
      $("generate").disabled = false;
      $("stop").disabled = true;
    }
  }
}

// ------------------------------------------------------------------ the distribution at one step (chapter 09)
function selectStep(i) {
  state.selected = i;
  for (const s of $("output").querySelectorAll(".gen")) s.classList.toggle("selected", Number(s.dataset.step) === i);
  refreshDistribution();
}

const refreshDistribution = latestOnly(async () => {
  if (!state.prompt.length) { $("distribution").replaceChildren(); return; }
  const i = state.selected;
  const params = sampling();
  const data = await api("/api/distribution", { ids: allIds(i === null ? undefined : i), ...params });
  const chosen = i === null ? null : state.generated[i];
  const rows = [];
  for (const t of data.top) {
    const label = document.createElement("span");
    label.className = "piece" + (chosen && t.id === chosen.id ? " chosen" : "");
    label.textContent = visible(t.piece);
    label.title = `id ${t.id}`;
    const bar = document.createElement("div");
    bar.className = "bar";
    const fill = document.createElement("div");
    fill.className = "fill";
    fill.style.width = `${(100 * t.p).toFixed(2)}%`;
    const model = document.createElement("div");
    model.className = "model";
    model.style.left = `calc(${(100 * t.p_model).toFixed(2)}% - 1px)`;
    bar.append(fill, model);
    const num = document.createElement("span");
    num.className = "num";
    num.textContent = `${t.p.toFixed(3)} (model ${t.p_model.toFixed(3)})`;
    rows.push(label, bar, num);
  }
  $("distribution").replaceChildren(...rows);
  const where = i === null ? "the token after the prompt" : `step ${i} (drawn: \u201c${visible(chosen.piece)}\u201d, model p = ${chosen.prob.toFixed(3)})`;
  const how = params.temperature === 0 ? "greedy" : `temperature ${params.temperature}` +
    (params.top_k ? `, top-k ${params.top_k}` : "") + (params.top_p ? `, top-p ${params.top_p}` : "");
  $("distribution-caption").textContent = `${where} — ${how}: ${data.kept} token${data.kept === 1 ? "" : "s"} can be drawn, entropy ${data.entropy.toFixed(3)} nats.`;
});

// ------------------------------------------------------------------ attention (chapters 06-07)
const refreshAttention = latestOnly(async () => {
  const info = state.info;
  if (!info || !info.layers || !state.prompt.length) return;
  const data = await api("/api/attention", { ids: allIds(), layer: parseInt($("layer").value, 10) || 0 });
  state.attention = data;
  renderAttention(data);
});

function renderAttention(data) {
  const group = data.heads / data.kv_heads;
  const boxes = [];
  const canvasOf = (h) => {
    const wrap = document.createElement("div");
    wrap.className = "head";
    const c = document.createElement("canvas");
    drawMap(c, data.maps[h]);
    c.dataset.head = h;
    c.addEventListener("mousemove", (e) => readout(e, c, data, h));
    const label = document.createElement("span");
    label.textContent = group > 1 ? `query head ${h} (K/V ${Math.floor(h / group)})` : `head ${h}`;
    wrap.append(c, label);
    return wrap;
  };
  if (group > 1) {
    for (let g = 0; g < data.kv_heads; g++) {
      const box = document.createElement("div");
      box.className = "group";
      const title = document.createElement("span");
      title.className = "group-title";
      title.textContent = `K/V head ${g}: shared by query heads ${g * group}\u2013${(g + 1) * group - 1}`;
      box.append(title);
      for (let h = g * group; h < (g + 1) * group; h++) box.append(canvasOf(h));
      boxes.push(box);
    }
  } else {
    for (let h = 0; h < data.heads; h++) boxes.push(canvasOf(h));
  }
  $("attention").replaceChildren(...boxes);
  const cut = data.offset ? ` (the last ${data.tokens.length} tokens)` : "";
  $("attention-info").textContent = `layer ${data.layer} of ${data.layers}: ${data.heads} heads` +
    (group > 1 ? ` in ${data.kv_heads} groups sharing keys and values` : "") + `, ${data.tokens.length} tokens${cut}; shade \u221d \u221ap`;
}

function drawMap(canvas, map) {
  const T = map.length;
  canvas.width = T;
  canvas.height = T;
  const ctx = canvas.getContext("2d");
  const img = ctx.createImageData(T, T);
  for (let i = 0; i < T; i++) {
    for (let j = 0; j < T; j++) {
      const v = Math.sqrt(Math.max(0, map[i][j]));
      const o = 4 * (i * T + j);
      img.data[o] = Math.round(255 - v * (255 - ACCENT[0]));
      img.data[o + 1] = Math.round(255 - v * (255 - ACCENT[1]));
      img.data[o + 2] = Math.round(255 - v * (255 - ACCENT[2]));
      img.data[o + 3] = 255;
    }
  }
  ctx.putImageData(img, 0, 0);
}

function readout(e, canvas, data, h) {
  const T = data.tokens.length;
  const i = Math.min(T - 1, Math.floor((e.offsetY / canvas.clientHeight) * T));
  const j = Math.min(T - 1, Math.floor((e.offsetX / canvas.clientWidth) * T));
  const q = visible(data.tokens[i].piece), k = visible(data.tokens[j].piece);
  $("attention-readout").textContent = `layer ${data.layer}, head ${h}: \u201c${q}\u201d (position ${data.offset + i}) looks at ` +
    `\u201c${k}\u201d (position ${data.offset + j}) with weight ${data.maps[h][i][j].toFixed(4)}`;
}

// ------------------------------------------------------------------ start
async function start() {
  for (const s of document.querySelectorAll(".swatch")) s.style.background = shade(parseFloat(s.dataset.p));
  try {
    const info = await api("/api/info");
    state.info = info;
    const heads = info.kv_heads < info.heads ? `${info.heads} query heads sharing ${info.kv_heads} K/V heads` : `${info.heads} heads`;
    $("model").textContent = `${info.name}: ${info.model}, ${info.layers} layers \u00d7 ${heads}, vocabulary ${info.vocab_size}` +
      (info.context ? `, context ${info.context}` : "");
    $("temperature").value = info.defaults.temperature;
    $("temperature-out").textContent = info.defaults.temperature;
    $("max-new-tokens").value = info.defaults.max_new_tokens;
    $("max-new-tokens").max = info.limits.max_new_tokens;
    $("chat-label").hidden = !info.chat;
    $("model-file").href = `/source/${info.model_file}`;
    $("model-file").textContent = info.model_file.replace(/^tinygrad_llm\//, "");
    $("layer").replaceChildren(...Array.from({ length: info.layers }, (_, l) => new Option(String(l), String(l))));
    if (!info.layers) $("attention-info").textContent = "this model has no attention layers";
  } catch (e) {
    setError(e.message);
    return;
  }
  const onPrompt = debounce(() => { state.generated = []; tokenize(); }, 250);
  const onControls = debounce(() => refreshDistribution(), 80);
  $("prompt").addEventListener("input", onPrompt);
  $("temperature").addEventListener("input", () => { $("temperature-out").textContent = $("temperature").value; onControls(); });
  $("top-p").addEventListener("input", () => { $("top-p-out").textContent = $("top-p").value; onControls(); });
  $("top-k").addEventListener("input", onControls);
  $("layer").addEventListener("change", () => refreshAttention());
  $("generate").addEventListener("click", generate);
  $("stop").addEventListener("click", () => state.generating && state.generating.abort());
  $("output").addEventListener("click", (e) => {
    const step = e.target.dataset && e.target.dataset.step;
    if (step !== undefined) selectStep(Number(step));
  });
  tokenize();
}

document.addEventListener("DOMContentLoaded", start);
