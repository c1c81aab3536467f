"""The page of ``serkit serve`` (``GET /``): one self-contained HTML file, no external resources.

A person chooses an audio file or records from the microphone, the page posts it to ``/predict`` and draws the
answer: the label, one bar per class (an SVG drawn by hand) and, for a model with a timeline, the probability of
each class over time (one line per class, the winning label of each window as a coloured strip) and, if asked, a
table of the speech regions the VAD found (start, end, label, its probability). A model of emotion dimensions
(``task`` in ``/health``) gets one bar per dimension (its [0, 1] value, labelled with the value on the corpus scale),
their values in the regions' table and, for a regression model (no classes), the dimensions over time.

Recording captures raw PCM with an AudioContext (a ScriptProcessorNode, available in every current browser) and
encodes a 16-bit mono WAV in the page, because what MediaRecorder gives (WebM/Opus, Ogg/Opus) is not reliably
readable by libsndfile. Microphones need a secure context: ``http://127.0.0.1`` and ``http://localhost`` are.

Element ids the browser test reads: ``file`` (the file input), ``status``, ``label``, ``bars``, ``dimensions`` (the
dimension bars, each ``rect`` with ``data-dimension`` and ``data-value``), ``timeline``, ``segments`` (the regions'
table), ``error``; ``result`` gets ``data-state="done"`` when an answer is shown.
"""

from __future__ import annotations

import json

__all__ = ["render_page"]


def render_page(info: dict) -> str:
    """The page, with the server's ``/health`` answer (labels, limits, timeline and segments support) embedded as
    JSON."""
    config = json.dumps(info).replace("<", "\\u003c")  # no "</script>" can end the script early
    return _PAGE.replace("__SERKIT_CONFIG__", config)


_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>serkit: speech emotion</title>
<style>
  body { font: 15px/1.45 system-ui, sans-serif; max-width: 46rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
  h1 { font-size: 1.4rem; margin-bottom: 0.2rem; }
  .muted { color: #666; font-size: 0.9rem; }
  fieldset { border: 1px solid #ccc; border-radius: 6px; margin: 1rem 0; padding: 0.8rem 1rem; }
  button { font: inherit; padding: 0.35rem 0.9rem; margin-right: 0.5rem; cursor: pointer; }
  #label { font-size: 2rem; font-weight: 600; margin: 0.3rem 0; }
  #error { color: #b00020; white-space: pre-wrap; }
  svg text { font: 13px system-ui, sans-serif; fill: #222; }
  #recording { color: #b00020; }
  #segments td, #segments th { padding: 0.1rem 0.8rem 0.1rem 0; text-align: left; }
</style>
</head>
<body>
<h1>Speech emotion recognition</h1>
<div class="muted" id="model"></div>

<fieldset>
  <legend>Audio</legend>
  <p><input type="file" id="file" accept="audio/*,.wav,.flac,.ogg,.mp3"> <button id="send">Predict</button></p>
  <p><button id="record">Record</button><button id="stop" disabled>Stop and predict</button>
     <span id="recording"></span></p>
  <p id="text-row" hidden><label>Transcript <input id="text" size="50"></label></p>
  <p id="timeline-row"><label><input type="checkbox" id="want-timeline" checked> emotion timeline
     (3 s windows every second)</label></p>
  <p id="segments-row"><label><input type="checkbox" id="want-segments"> speech regions
     (one emotion per region the VAD finds)</label></p>
  <p class="muted" id="limits"></p>
</fieldset>

<div id="status" class="muted"></div>
<div id="error" role="alert"></div>

<div id="result" data-state="empty" hidden>
  <div id="label"></div>
  <div class="muted" id="meta"></div>
  <svg id="bars" width="100%" height="0" role="img" aria-label="class probabilities"></svg>
  <svg id="dimensions" width="100%" height="0" role="img" aria-label="emotion dimensions"></svg>
  <svg id="timeline" width="100%" height="0" role="img" aria-label="emotion timeline"></svg>
  <table id="segments" hidden></table>
</div>

<script>
"use strict";
const CFG = __SERKIT_CONFIG__;
const COLORS = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7",
                "#9c755f", "#bab0ac"];
const SVGNS = "http://www.w3.org/2000/svg";
const $ = (id) => document.getElementById(id);
const color = (label) => COLORS[Math.max(0, CFG.labels.indexOf(label)) % COLORS.length];
const DIMS = CFG.dimensions || [];
const dimColor = (name) => COLORS[(CFG.labels.length + DIMS.indexOf(name)) % COLORS.length];
const scaleText = CFG.dimension_range ? CFG.dimension_range[0] + "-" + CFG.dimension_range[1] : "";
const dimText = (values) => DIMS.map((d) => d + " " + values[d].toFixed(2)).join(", ");

function el(name, attrs, text) {
  const node = document.createElementNS(SVGNS, name);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  if (text !== undefined) node.textContent = text;
  return node;
}

function setup() {
  $("model").textContent = "Model: " + CFG.model + " (" + CFG.runtime + ")" +
    (CFG.labels.length ? ", classes: " + CFG.labels.join(", ") : "") +
    (DIMS.length ? ", dimensions: " + DIMS.join(", ") + " (" + scaleText + ")" : "");
  $("limits").textContent = "Up to " + CFG.max_upload_mb + " MB and " + CFG.max_seconds + " s per file.";
  $("text-row").hidden = !CFG.needs_text;
  if (!CFG.timeline) {
    $("want-timeline").checked = false;
    $("want-timeline").disabled = true;
    $("timeline-row").append(" (not available for this model)");
  }
  if (!CFG.segments) {
    $("want-segments").disabled = true;
    $("segments-row").append(CFG.needs_text ? " (not available for this model)"
                                            : ' (needs the VAD on the server: pip install "serkit[vad]")');
  }
  $("send").onclick = () => {
    const file = $("file").files[0];
    if (!file) { showError("Choose an audio file first."); return; }
    if (file.size > CFG.max_upload_mb * 1048576) {
      showError(file.name + " is larger than the " + CFG.max_upload_mb + " MB limit.");
      return;
    }
    send(file, file.name);
  };
  $("file").onchange = () => $("send").click();
  $("record").onclick = startRecording;
  $("stop").onclick = stopRecording;
}

function showError(message) {
  $("error").textContent = message;
  $("status").textContent = "";
}

async function send(blob, name) {
  const form = new FormData();
  form.append("file", blob, name);
  if (CFG.needs_text) form.append("text", $("text").value);
  const params = new URLSearchParams();
  if (CFG.timeline && $("want-timeline").checked) params.set("timeline", "true");
  if (CFG.segments && $("want-segments").checked) params.set("segments", "true");
  const query = params.toString() ? "?" + params : "";
  $("error").textContent = "";
  $("status").textContent = "Predicting " + name + " ...";
  $("result").dataset.state = "busy";
  try {
    const response = await fetch("predict" + query, { method: "POST", body: form });
    const body = await response.json().catch(() => ({ error: "HTTP " + response.status }));
    if (!response.ok) { showError(body.error || "HTTP " + response.status); return; }
    show(body);
  } catch (err) {
    showError("The server did not answer: " + err);
  }
}

function show(answer) {
  $("status").textContent = "";
  $("label").textContent = answer.label === null ? dimText(answer.dimensions) : answer.label;
  $("label").style.color = answer.no_speech || answer.label === null ? "#666" : color(answer.label);
  $("meta").textContent = answer.file + ", " + answer.duration_seconds.toFixed(1) + " s" +
    (answer.no_speech ? ": no speech found (silence or a very quiet recording)" : "");
  $("result").hidden = false;  // before drawing: a hidden SVG has no width
  drawBars(answer.probabilities);
  drawDimensions(answer.dimensions, answer.dimensions_01);
  drawTimeline(answer.timeline || []);
  showSegments(answer.segments);
  $("result").dataset.state = "done";
}

function drawBars(probabilities) {
  const svg = $("bars");
  svg.replaceChildren();
  const rowHeight = 26, labelWidth = 110, width = svg.clientWidth || 600, barMax = width - labelWidth - 60;
  CFG.labels.forEach((label, i) => {
    const p = probabilities[label], y = i * rowHeight + 4;
    svg.append(el("text", { x: 0, y: y + 16 }, label));
    svg.append(el("rect", { x: labelWidth, y: y, width: Math.max(1, p * barMax), height: rowHeight - 8,
                            fill: color(label), "data-label": label }));
    svg.append(el("text", { x: labelWidth + p * barMax + 6, y: y + 16 }, (100 * p).toFixed(1) + " %"));
  });
  svg.setAttribute("height", CFG.labels.length * rowHeight + 8);
}

function drawDimensions(values, unit) {  // one bar per dimension: its [0, 1] value, labelled on the corpus scale
  const svg = $("dimensions");
  svg.replaceChildren();
  if (!DIMS.length || !values) { svg.setAttribute("height", 0); return; }
  const rowHeight = 26, labelWidth = 110, width = svg.clientWidth || 600, barMax = width - labelWidth - 110;
  DIMS.forEach((name, i) => {
    const v = Math.max(0, Math.min(1, unit[name])), y = i * rowHeight + 4;
    svg.append(el("text", { x: 0, y: y + 16 }, name));
    svg.append(el("rect", { x: labelWidth, y: y, width: barMax, height: rowHeight - 8, fill: "#eee" }));
    svg.append(el("rect", { x: labelWidth, y: y, width: Math.max(1, v * barMax), height: rowHeight - 8,
                            fill: dimColor(name), "data-dimension": name, "data-value": values[name] }));
    svg.append(el("text", { x: labelWidth + barMax + 6, y: y + 16 }, values[name].toFixed(2) + " (" + scaleText + ")"));
  });
  svg.setAttribute("height", DIMS.length * rowHeight + 8);
}

function drawTimeline(entries) {
  const svg = $("timeline");
  svg.replaceChildren();
  if (entries.length < 3) { svg.setAttribute("height", 0); return; }  // a short file: the bars say it all
  const width = svg.clientWidth || 600, height = 220, left = 40, right = 10, top = 30, plot = 140;
  const end = entries[entries.length - 1].end;
  const x = (t) => left + (t / end) * (width - left - right);
  const y = (p) => top + (1 - Math.max(0, Math.min(1, p))) * plot;  // a dimension's value may leave [0, 1]
  svg.append(el("text", { x: left, y: 14 }, "Emotion over time"));
  for (const p of [0, 0.5, 1]) {
    svg.append(el("line", { x1: left, x2: width - right, y1: y(p), y2: y(p), stroke: "#ddd" }));
    svg.append(el("text", { x: 4, y: y(p) + 4 }, p.toFixed(1)));
  }
  // classes: their probabilities; a regression model: its dimensions' [0, 1] values
  const series = CFG.labels.length ? CFG.labels : DIMS, paint = CFG.labels.length ? color : dimColor;
  const value = (e, name) => CFG.labels.length ? e.probabilities[name] : e.dimensions_01[name];
  series.forEach((name) => {
    const points = entries.map((e) => x((e.start + e.end) / 2) + "," + y(value(e, name))).join(" ");
    svg.append(el("polyline", { points: points, fill: "none", stroke: paint(name), "stroke-width": 2 }));
  });
  for (const e of entries) {  // the winning label of each window, as a strip under the plot
    const hop = entries.length > 1 ? entries[1].start - entries[0].start : e.end - e.start;
    svg.append(el("rect", { x: x(e.start), y: top + plot + 8, width: Math.max(1, x(e.start + hop) - x(e.start)),
                            height: 12, fill: e.speech ? (e.label ? color(e.label) : "#999") : "#ccc" }));
  }
  svg.append(el("text", { x: left, y: top + plot + 36 }, "0 s"));
  svg.append(el("text", { x: width - right - 50, y: top + plot + 36 }, end.toFixed(1) + " s"));
  let legendX = left + 60;
  for (const label of series) {
    svg.append(el("rect", { x: legendX, y: top + plot + 27, width: 10, height: 10, fill: paint(label) }));
    svg.append(el("text", { x: legendX + 14, y: top + plot + 36 }, label));
    legendX += 24 + 8 * label.length;
  }
  svg.setAttribute("height", height);
}

function showSegments(segments) {  // undefined: not asked for
  const table = $("segments");
  table.replaceChildren();
  table.hidden = segments === undefined;
  if (table.hidden) return;
  const row = (cells, tag) => {
    const tr = document.createElement("tr");
    for (const text of cells) {
      const cell = document.createElement(tag);
      cell.textContent = text;
      tr.append(cell);
    }
    table.append(tr);
    return tr;
  };
  const extra = DIMS.length ? ["Dimensions (" + scaleText + ")"] : [];
  row(["Speech region", "Label", "Probability", ...extra], "th");
  if (!segments.length) row(["no speech found", "", "", ...extra.map(() => "")], "td");
  for (const s of segments) {
    const tr = row([s.start.toFixed(2) + " - " + s.end.toFixed(2) + " s", s.label || "",
                    s.label ? (100 * s.probabilities[s.label]).toFixed(1) + " %" : "",
                    ...(DIMS.length ? [dimText(s.dimensions)] : [])], "td");
    if (s.label) tr.children[1].style.color = color(s.label);
  }
}

let recording = null;

async function startRecording() {
  if (!navigator.mediaDevices || !window.AudioContext) {
    showError("This browser gives no microphone here (it needs http://127.0.0.1 or https).");
    return;
  }
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ audio: true });
  } catch (err) {
    showError("No microphone: " + err.message);
    return;
  }
  const context = new AudioContext();
  const source = context.createMediaStreamSource(stream);
  const node = context.createScriptProcessor(4096, 1, 1);
  const chunks = [];
  node.onaudioprocess = (event) => {
    chunks.push(new Float32Array(event.inputBuffer.getChannelData(0)));
    const seconds = chunks.length * 4096 / context.sampleRate;
    $("recording").textContent = "recording " + seconds.toFixed(0) + " s";
    if (seconds >= CFG.max_seconds) stopRecording();
  };
  source.connect(node);
  node.connect(context.destination);
  recording = { stream, context, source, node, chunks };
  $("record").disabled = true;
  $("stop").disabled = false;
}

function stopRecording() {
  if (!recording) return;
  const { stream, context, source, node, chunks } = recording;
  recording = null;
  node.disconnect();
  source.disconnect();
  stream.getTracks().forEach((track) => track.stop());
  const rate = context.sampleRate;
  context.close();
  $("record").disabled = false;
  $("stop").disabled = true;
  $("recording").textContent = "";
  send(encodeWav(chunks, rate), "recording.wav");
}

function encodeWav(chunks, rate) {  // 16-bit PCM mono WAV
  const samples = chunks.reduce((total, chunk) => total + chunk.length, 0);
  const view = new DataView(new ArrayBuffer(44 + 2 * samples));
  const ascii = (offset, text) => { for (let i = 0; i < text.length; i++) view.setUint8(offset + i, text.charCodeAt(i)); };
  ascii(0, "RIFF"); view.setUint32(4, 36 + 2 * samples, true); ascii(8, "WAVE");
  ascii(12, "fmt "); view.setUint32(16, 16, true); view.setUint16(20, 1, true); view.setUint16(22, 1, true);
  view.setUint32(24, rate, true); view.setUint32(28, 2 * rate, true); view.setUint16(32, 2, true);
  view.setUint16(34, 16, true); ascii(36, "data"); view.setUint32(40, 2 * samples, true);
  let offset = 44;
  for (const chunk of chunks) {
    for (let i = 0; i < chunk.length; i++, offset += 2) {
      const s = Math.max(-1, Math.min(1, chunk[i]));
      view.setInt16(offset, s < 0 ? s * 32768 : s * 32767, true);
    }
  }
  return new Blob([view.buffer], { type: "audio/wav" });
}

setup();
</script>
</body>
</html>
"""
