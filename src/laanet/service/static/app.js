// laanet web page: upload a file and show the verdict, heatmaps and video timeline. Images go to
// POST /v1/detect; videos become jobs (POST /v1/jobs, polled with GET /v1/jobs/{id}) so the page shows their
// progress, can cancel them, and picks a job up again after a reload or a server restart.
// Plain DOM code, no build step. Text from the server is inserted with textContent only.
"use strict";

const $ = (id) => document.getElementById(id);
const SVG_NS = "http://www.w3.org/2000/svg";
const state = { threshold: 0.5, decision: 0.5, maxUploadBytes: Infinity, result: null, selected: null, job: null };
const JOB_KEY = "laanet-job"; // the video job being watched: {id, name}, kept across page reloads
const POLL_MS = 500;
const VIDEO_EXT = /\.(mp4|m4v|mov|avi|mkv|webm|mpg|mpeg|ts|flv|wmv|3gp)$/i;

function show(id, visible) { $(id).hidden = !visible; }

function setStatus(text) { $("status").textContent = text; }

function fmt(p) { return p == null ? "–" : p.toFixed(3); }

async function loadHealth() {
  try {
    const res = await fetch("/health");
    const health = await res.json();
    const m = health.model || {};
    state.threshold = typeof m.decision_threshold === "number" ? m.decision_threshold
      : typeof m.threshold === "number" ? m.threshold : 0.5;
    const limits = health.limits || {};
    if (limits.max_upload_mb) {
      state.maxUploadBytes = limits.max_upload_mb * 1024 * 1024;
      $("limit").textContent = `up to ${limits.max_upload_mb} MB`;
    }
    if (limits.default_frames) $("frames").value = limits.default_frames;
    if (limits.max_frames) $("frames").max = limits.max_frames;
    if (typeof limits.default_flip_test === "boolean") $("flip").checked = limits.default_flip_test;
    const family = { laanet: "LAA-Net", fakeformer: "FakeFormer" }[m.family] || m.family || "?";
    $("model").textContent =
      `model: ${family} (${m.model_name || "?"}) · ${m.weights || "?"} · ${m.backend || "?"} backend · ` +
      `${m.input_size || "?"} px input · ` +
      `faces: ${m.face_backend || "?"} · ` +
      (m.calibration
        ? `calibrated (${m.calibration}), labels at ${m.operating_point ? `operating point ${m.operating_point}, ` : ""}` +
          `threshold ${fmt(m.decision_threshold)}`
        : `threshold ${state.threshold}`);
  } catch (err) {
    $("model").textContent = "model information unavailable (is the server up?)";
  }
}

function isVideo(file) {
  return (file.type || "").startsWith("video/") || VIDEO_EXT.test(file.name);
}

function upload(file) {
  show("error", false);
  show("result", false);
  if (file.size > state.maxUploadBytes) {
    showError(`${file.name} is larger than the server's upload limit (${$("limit").textContent}).`);
    return;
  }
  stopWatching();
  const form = new FormData();
  form.append("file", file, file.name);
  if ($("frames").value) form.append("frames", $("frames").value);
  form.append("flip_test", $("flip").checked ? "true" : "false");
  if (isVideo(file)) submitJob(file, form);
  else detectNow(file, form);
}

// An upload of ``file`` to ``url`` with the progress bar following it; the caller sets the handlers and sends.
function startUpload(url, file) {
  const xhr = new XMLHttpRequest();
  xhr.open("POST", url);
  xhr.responseType = "json";
  const bar = $("progress");
  bar.hidden = false;
  bar.max = 1;
  bar.value = 0;
  setStatus(`Uploading ${file.name}…`);
  xhr.upload.onprogress = (e) => { if (e.lengthComputable) bar.value = e.loaded / e.total; };
  return [xhr, bar];
}

// A video: queue a job, then follow it.
function submitJob(file, form) {
  const [xhr, bar] = startUpload("/v1/jobs", file);
  xhr.onerror = () => { bar.hidden = true; setStatus(""); showError("The upload failed (network error or server gone)."); };
  xhr.onload = () => {
    const body = xhr.response || {};
    if (xhr.status !== 202) {
      bar.hidden = true;
      setStatus("");
      const retry = xhr.getResponseHeader("Retry-After");
      showError(`${xhr.status}: ${body.detail || body.error || xhr.statusText}` + (retry ? ` (retry in ${retry} s)` : ""));
      return;
    }
    watchJob({ id: body.id, name: file.name });
  };
  xhr.send(form);
}

function watchJob(job) {
  state.job = job;
  try { localStorage.setItem(JOB_KEY, JSON.stringify(job)); } catch (e) { /* storage off: no resume */ }
  const bar = $("progress");
  bar.hidden = false;
  bar.removeAttribute("value");
  show("cancel", true);
  $("job").textContent = `job ${job.id}`;
  show("job", true);
  pollJob(job, 0);
}

function stopWatching() {
  state.job = null;
  try { localStorage.removeItem(JOB_KEY); } catch (e) { /* ignore */ }
  show("cancel", false);
  show("job", false);
}

async function pollJob(job, failures) {
  if (state.job !== job) return; // another upload replaced it
  let res, body;
  try {
    res = await fetch(`/v1/jobs/${encodeURIComponent(job.id)}`, { cache: "no-store" });
    body = await res.json();
  } catch (err) {
    // The server may be restarting: its jobs survive it, so keep asking (less and less often).
    setStatus(`${job.name}: the server does not answer; retrying…`);
    setTimeout(() => pollJob(job, failures + 1), Math.min(10000, POLL_MS * 2 ** Math.min(failures + 1, 5)));
    return;
  }
  if (state.job !== job) return;
  const bar = $("progress");
  if (res.status === 404) {
    stopWatching();
    bar.hidden = true;
    setStatus("");
    showError(`${job.name}: the job is gone (deleted, or past the server's retention).`);
    return;
  }
  if (!res.ok) {
    setStatus(`${job.name}: ${res.status} ${body.detail || body.error || ""}; retrying…`);
    setTimeout(() => pollJob(job, failures + 1), 2000);
    return;
  }
  const p = body.progress || {};
  if (body.status === "queued") {
    bar.removeAttribute("value");
    setStatus(`Queued: ${job.name}` + (body.position ? ` (${body.position} job${body.position === 1 ? "" : "s"} ahead)` : " (next)"));
  } else if (body.status === "running") {
    if (p.total) {
      bar.max = p.total;
      bar.value = p.done;
      setStatus(p.done < p.total ? `Analysing ${job.name}: frame ${p.done} of ${p.total}`
                                 : `Analysing ${job.name}: scoring ${p.total} frames…`);
    } else {
      bar.removeAttribute("value");
      setStatus(`Analysing ${job.name}…`);
    }
    if (body.cancel_requested) setStatus(`Cancelling ${job.name}…`);
  } else {
    stopWatching();
    bar.hidden = true;
    if (body.status === "done") {
      setStatus(`Done: ${job.name}`);
      render(body.result, job.id);
    } else if (body.status === "cancelled") {
      setStatus(`Cancelled: ${job.name}`);
    } else {
      setStatus("");
      const e = body.error || {};
      showError(`${job.name}: ${e.error || "failed"}: ${e.detail || ""}`);
    }
    return;
  }
  setTimeout(() => pollJob(job, 0), POLL_MS);
}

async function cancelJob() {
  const job = state.job;
  if (!job) return;
  try {
    await fetch(`/v1/jobs/${encodeURIComponent(job.id)}`, { method: "DELETE" });
  } catch (err) {
    showError("Could not reach the server to cancel the job.");
  }
  // The next poll shows "cancelled" (at once for a queued job, at the next frame for a running one).
}

function resumeJob() {
  let job = null;
  try { job = JSON.parse(localStorage.getItem(JOB_KEY) || "null"); } catch (e) { job = null; }
  if (job && typeof job.id === "string" && typeof job.name === "string") watchJob(job);
}

// An image: one request, answered with the result.
function detectNow(file, form) {
  const [xhr, bar] = startUpload("/v1/detect", file);
  xhr.upload.onload = () => { bar.removeAttribute("value"); setStatus(`Analysing ${file.name}…`); };
  xhr.onerror = () => { bar.hidden = true; setStatus(""); showError("The upload failed (network error or server gone)."); };
  xhr.onload = () => {
    bar.hidden = true;
    const body = xhr.response || {};
    if (xhr.status !== 200) {
      setStatus("");
      showError(`${xhr.status}: ${body.detail || body.error || xhr.statusText}`);
      return;
    }
    setStatus(`Done: ${file.name}`);
    render(body);
  };
  xhr.send(form);
}

// The calibration block of a result (docs/calibration.md): the calibrated P(fake), its band and the operating
// point that decided the label, or a plain statement that the score is not calibrated.
function renderCalibration(cal, score) {
  const box = $("calibration");
  box.className = "small muted";
  if (!cal || !cal.calibrated) {
    box.textContent = "Uncalibrated score: the model's sigmoid output, not a probability of being fake " +
      "(serve with --calibration to get one).";
    return;
  }
  if (score == null) {
    box.textContent = `Calibrated (${cal.method}, ${cal.file}): no score to calibrate.`;
    return;
  }
  let text = `Calibrated P(fake) = ${fmt(cal.probability)}: ${cal.band}`;
  const op = cal.operating_point;
  if (op) {
    text += ` · label at operating point ${op.name} (measured FPR ${(100 * op.fpr).toFixed(1)} %, ` +
      `TPR ${(100 * op.tpr).toFixed(1)} %)`;
  }
  text += ` · ${cal.method}, ${cal.file}`;
  box.textContent = text;
  box.className = "small band " + String(cal.band).replace(/\s+/g, "-");
}

function showError(text) {
  const box = $("error");
  box.textContent = text;
  box.hidden = false;
}

// jobId: the job the result came from (videos), whose HTML report the page then links to.
function render(result, jobId) {
  state.result = result;
  const report = $("report");
  report.hidden = !jobId;
  if (jobId) report.href = `/v1/jobs/${encodeURIComponent(jobId)}/report`;
  const verdict = $("verdict");
  const label = result.status === "ok" ? result.label : result.status === "no_face" ? "no face" : result.status;
  verdict.textContent = String(label).toUpperCase();
  verdict.className = "verdict " + (result.status === "ok" ? result.label : "none");
  verdict.dataset.label = String(label);
  // the threshold that decided this result (a calibration's operating point moves it), for the verdict and colours
  const threshold = result.threshold == null ? state.threshold : result.threshold;
  state.decision = threshold;
  $("score").textContent = result.score == null
    ? "no face found: nothing to score"
    : `P(fake) = ${fmt(result.score)} (threshold ${fmt(threshold)})`;
  renderCalibration(result.calibration, result.score);
  const frames = result.frames || [];
  const faces = frames.reduce((n, f) => n + f.faces.length, 0);
  const withFaces = frames.filter((f) => f.faces.length).length;
  let meta = `${result.path} · ${result.kind}`;
  if (result.kind === "video") meta += ` · ${frames.length} frames sampled, ${withFaces} with a face`;
  meta += ` · ${faces} face${faces === 1 ? "" : "s"}`;
  if (result.error) meta += ` · warning: ${result.error}`;
  $("meta").textContent = meta;
  renderFlags(result.flags);
  renderPeople(result.people, result.person);
  $("json").textContent = JSON.stringify(result, (k, v) =>
    typeof v === "string" && v.startsWith("data:") ? v.slice(0, 40) + "…" : v, 2);

  show("result", true);
  const isVideo = result.kind === "video";
  show("timeline-box", isVideo && frames.length > 0);
  if (isVideo) drawTimeline(frames);
  // Show the most suspicious frame that has faces.
  let best = null;
  frames.forEach((f, i) => { if (f.score != null && (best == null || f.score > frames[best].score)) best = i; });
  selectFrame(best);
}

// Why a verdict may be out of scope (no face, tiny faces, blur, ...): shown above everything else.
function renderFlags(flags) {
  const list = $("flags");
  list.replaceChildren();
  const items = Array.isArray(flags) ? flags : [];
  for (const flag of items) {
    const li = document.createElement("li");
    li.className = "flag";
    li.dataset.code = String(flag.code);
    const code = document.createElement("strong");
    code.textContent = String(flag.code);
    li.append(code, document.createTextNode(": " + String(flag.message == null ? "" : flag.message)));
    list.appendChild(li);
  }
  show("flags-box", items.length > 0);
}

// People (face tracks) of a video, the verdict's own first.
function renderPeople(people, verdictPerson) {
  const list = $("people");
  list.replaceChildren();
  const items = Array.isArray(people) ? people : [];
  for (const person of items) {
    const li = document.createElement("li");
    const mine = verdictPerson != null && person.id === verdictPerson;
    li.className = "person " + (person.label || "none") + (mine ? " verdict-person" : "");
    const frames = Array.isArray(person.frames) ? person.frames.length : 0;
    li.textContent = `person ${person.id}: P(fake) ${fmt(person.score)} (${person.label || "?"}), ` +
      `${frames} frame${frames === 1 ? "" : "s"}` + (mine ? " · the verdict is this person's" : "");
    list.appendChild(li);
  }
  show("people-box", items.length > 0);
}

function drawTimeline(frames) {
  const svg = $("timeline");
  svg.replaceChildren();
  const W = 720, H = 180, L = 44, R = 14, T = 12, B = 30;
  const times = frames.map((f, i) => (f.time_s == null ? i : f.time_s));
  const t0 = Math.min(...times), t1 = Math.max(...times);
  const x = (t) => L + (t1 > t0 ? (t - t0) / (t1 - t0) : 0.5) * (W - L - R);
  const y = (p) => T + (1 - p) * (H - T - B);
  const el = (name, attrs, parent = svg) => {
    const node = document.createElementNS(SVG_NS, name);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    parent.appendChild(node);
    return node;
  };
  for (const p of [0, 0.25, 0.5, 0.75, 1]) {
    el("line", { x1: L, x2: W - R, y1: y(p), y2: y(p), class: "grid" });
    el("text", { x: L - 6, y: y(p) + 4, "text-anchor": "end" }).textContent = p.toFixed(2);
  }
  el("line", { x1: L, x2: L, y1: T, y2: H - B, class: "axis" });
  el("line", { x1: L, x2: W - R, y1: H - B, y2: H - B, class: "axis" });
  el("line", { x1: L, x2: W - R, y1: y(state.decision), y2: y(state.decision), class: "threshold" });
  el("text", { x: W - R, y: H - 8, "text-anchor": "end" }).textContent = `time (s), ${fmt(t1)} s`;
  el("text", { x: L, y: H - 8 }).textContent = `${fmt(t0)} s`;
  const pts = frames.map((f, i) => (f.score == null ? null : `${x(times[i])},${y(f.score)}`)).filter(Boolean);
  if (pts.length > 1) el("polyline", { points: pts.join(" "), class: "curve" });
  frames.forEach((f, i) => {
    const cls = f.score == null ? "noface" : f.score >= state.decision ? "fake" : "real";
    const dot = el("circle", {
      cx: x(times[i]), cy: f.score == null ? y(0) : y(f.score), r: 5, class: `pt ${cls}`, "data-index": i,
    });
    el("title", {}, dot).textContent =
      `frame ${f.index} at ${fmt(f.time_s)} s: ` + (f.score == null ? "no face" : `P(fake) ${fmt(f.score)}`);
    dot.addEventListener("click", () => selectFrame(i));
  });
}

function selectFrame(i) {
  state.selected = i;
  document.querySelectorAll("#timeline .pt").forEach((dot) => {
    dot.classList.toggle("selected", Number(dot.dataset.index) === i);
  });
  const frame = i == null ? null : state.result.frames[i];
  const url = frame && frame.faces.length ? frame.overlay : null;
  show("frame-box", Boolean(url));
  if (!url) return;
  $("frame-title").textContent = state.result.kind === "video"
    ? `Heatmap overlay: frame ${frame.index} (${fmt(frame.time_s)} s), P(fake) ${fmt(frame.score)}`
    : "Heatmap overlay";
  const img = $("overlay");
  img.onload = () => drawFaces(img, frame);
  if (img.src === url && img.complete) drawFaces(img, frame);
  else img.src = url;
}

function drawFaces(img, frame) {
  const box = $("faces");
  box.replaceChildren();
  const scale = frame.overlay_scale || 1;
  frame.faces.forEach((face, k) => {
    const [x1, y1, x2, y2] = face.box.map((v) => v * scale);
    const side = Math.max(x2 - x1, y2 - y1) * 1.3;
    const cx = (x1 + x2) / 2, cy = (y1 + y2) / 2;
    const sx = Math.max(0, cx - side / 2), sy = Math.max(0, cy - side / 2);
    const sw = Math.min(img.naturalWidth - sx, side), sh = Math.min(img.naturalHeight - sy, side);
    const card = document.createElement("div");
    card.className = "face " + (face.score >= state.decision ? "fake" : "real");
    const canvas = document.createElement("canvas");
    canvas.width = 160;
    canvas.height = 160;
    const ctx = canvas.getContext("2d");
    ctx.fillStyle = "#222";
    ctx.fillRect(0, 0, 160, 160);
    if (sw > 0 && sh > 0) {
      const s = 160 / Math.max(sw, sh);
      ctx.drawImage(img, sx, sy, sw, sh, (160 - sw * s) / 2, (160 - sh * s) / 2, sw * s, sh * s);
    }
    const caption = document.createElement("span");
    caption.textContent = `face ${k + 1}: P(fake) ${fmt(face.score)}`;
    card.append(canvas, caption);
    box.appendChild(card);
  });
}

function setUpDrop() {
  const drop = $("drop");
  const input = $("file");
  input.addEventListener("change", () => {
    if (input.files.length) upload(input.files[0]);
    input.value = ""; // choosing the same file again fires "change" again
  });
  drop.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); input.click(); } });
  for (const name of ["dragenter", "dragover"]) {
    drop.addEventListener(name, (e) => { e.preventDefault(); drop.classList.add("over"); });
  }
  for (const name of ["dragleave", "drop"]) {
    drop.addEventListener(name, (e) => { e.preventDefault(); drop.classList.remove("over"); });
  }
  drop.addEventListener("drop", (e) => {
    const files = e.dataTransfer && e.dataTransfer.files;
    if (files && files.length) upload(files[0]);
  });
  // A file dropped next to the zone should not make the browser navigate away.
  window.addEventListener("dragover", (e) => e.preventDefault());
  window.addEventListener("drop", (e) => e.preventDefault());
}

document.addEventListener("DOMContentLoaded", () => {
  setUpDrop();
  $("cancel").addEventListener("click", cancelJob);
  loadHealth();
  resumeJob();
});
