// DeepShield web UI: a thin layer over the REST API. Server data is always written with
// textContent or as attribute values, never parsed as HTML.
"use strict";

const $ = (id) => document.getElementById(id);
const accountsOn = document.body.dataset.accounts === "on";
const HISTORY_KEY = "deepshield.jobs";
const IMAGE_EXT = [".jpg", ".jpeg", ".png", ".webp"];
const VIDEO_EXT = [".mp4", ".m4v", ".mov", ".webm", ".mkv"];
const STAGES = {
  validating: "Checking the file",
  frame_extraction: "Reading frames",
  face_detection: "Finding faces",
  inference: "Scoring faces",
  aggregation: "Combining scores",
  explainability: "Drawing heatmaps",
  saving_results: "Saving the results",
};

function sentence(text) {
  const trimmed = String(text || "Something went wrong").trim();
  const capital = trimmed.charAt(0).toUpperCase() + trimmed.slice(1);
  return /[.!?]$/.test(capital) ? capital : capital + ".";
}

function el(tag, attrs = {}, text) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  if (text !== undefined) node.textContent = text;
  return node;
}

async function api(path, options = {}) {
  const response = await fetch(path, { credentials: "same-origin", ...options });
  const type = response.headers.get("content-type") || "";
  const body = type.includes("application/json") ? await response.json() : null;
  if (!response.ok) {
    const error = new Error(body && body.error ? body.error.message : `The server answered ${response.status}`);
    error.status = response.status;
    error.code = body && body.error ? body.error.error_code : null;
    throw error;
  }
  return body;
}

const percent = (value) => `${Math.round(value * 100)}%`;

// --- history kept in this browser when accounts are off ---
function rememberedJobs() {
  try { return JSON.parse(localStorage.getItem(HISTORY_KEY) || "[]"); } catch { return []; }
}
function rememberJob(id) {
  const jobs = rememberedJobs().filter((job) => job !== id);
  localStorage.setItem(HISTORY_KEY, JSON.stringify([id, ...jobs].slice(0, 200)));
}
function forgetJob(id) {
  localStorage.setItem(HISTORY_KEY, JSON.stringify(rememberedJobs().filter((job) => job !== id)));
}

// --- analyzer ---
function kindOf(file) {
  const name = file.name.toLowerCase();
  if (IMAGE_EXT.some((ext) => name.endsWith(ext))) return "image";
  if (VIDEO_EXT.some((ext) => name.endsWith(ext))) return "video";
  return null;
}

function showUploadError(message) {
  $("upload-error").textContent = message ? sentence(message) : "";
  $("file-input").setAttribute("aria-invalid", message ? "true" : "false");
}

function upload(file, kind) {
  return new Promise((resolve, reject) => {
    const request = new XMLHttpRequest();
    request.open("POST", `/api/analyze-${kind}`);
    request.responseType = "json";
    request.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) setProgress("Uploading…", (100 * event.loaded) / event.total, "");
    });
    request.addEventListener("load", () => {
      const body = request.response;
      if (request.status === 202) resolve(body);
      else if (request.status === 401) reject(new Error("Log in first to analyze files"));
      else reject(new Error(body && body.error ? body.error.message : `The server answered ${request.status}`));
    });
    request.addEventListener("error", () => reject(new Error("The upload failed; check your connection")));
    const form = new FormData();
    form.append("file", file);
    request.send(form);
  });
}

function setProgress(label, value, stage) {
  $("progress").hidden = false;
  $("progress-label").textContent = label;
  $("progress-bar").value = value;
  $("progress-stage").textContent = stage;
}

function follow(jobId) {
  setProgress("Analysing…", 0, "Waiting in the queue");
  const source = new EventSource(`/api/results/${encodeURIComponent(jobId)}/events`);
  let finished = false;
  const finish = () => {
    if (finished) return;
    finished = true;
    source.close();
    loadResult(jobId);
  };
  source.addEventListener("progress", (event) => {
    const data = JSON.parse(event.data);
    setProgress("Analysing…", data.progress, STAGES[data.stage] || "Waiting in the queue");
  });
  source.addEventListener("end", finish);
  source.addEventListener("error", () => {
    // the stream failed (e.g. job not found): ask the results route, which says why
    if (!finished) finish();
  });
}

async function loadResult(jobId) {
  try {
    const job = await api(`/api/results/${encodeURIComponent(jobId)}`);
    if (job.state === "FAILED") {
      $("progress").hidden = true;
      showUploadError(`${job.file_name} could not be analysed: ${job.error ? job.error.message : "unknown error"}`);
      return;
    }
    if (job.state !== "COMPLETED") {
      setTimeout(() => follow(jobId), 1000);
      return;
    }
    setProgress("Done", 100, "");
    $("progress").hidden = true;
    renderResult(job);
  } catch (error) {
    $("progress").hidden = true;
    if (error.status === 404) forgetJob(jobId);
    showUploadError(error.status === 404 ? "This analysis does not exist or is not yours" : error.message);
  }
}

function renderResult(job) {
  const result = job.result;
  $("result").hidden = false;
  $("verdict-title").textContent = `Result for ${job.file_name}`;
  const score = result.final_score;
  const verdict = $("verdict");
  verdict.dataset.state = result.predicted_manipulation === null ? "inconclusive"
    : result.predicted_manipulation ? "manipulated" : "clean";
  $("verdict-label").textContent = score === null ? result.confidence_label
    : `${result.confidence_label}: ${percent(score)}`;
  $("verdict-explanation").textContent = result.confidence_explanation;
  $("meter-fill").style.width = score === null ? "0" : percent(score);
  $("meter-threshold").style.left = percent(result.decision_threshold);
  $("meter").setAttribute("aria-label", score === null ? "No score" :
    `Score ${percent(score)}; the decision threshold is ${percent(result.decision_threshold)}`);
  const low = $("low-confidence");
  low.hidden = !result.low_confidence;
  low.textContent = result.low_confidence ? `Low confidence (${result.low_confidence_reason.replaceAll("_", " ")}): no decision is made.` : "";
  const warnings = $("warnings");
  warnings.replaceChildren(...(result.warnings || []).map((text) => el("li", {}, text)));
  warnings.hidden = !warnings.children.length;
  renderPeople(result);
  renderTimelines(result);
  renderFrames(result);
  renderMedia(result);
  $("report-link").href = result.report_url;
  $("report-link").setAttribute("download", `${job.file_name}.deepshield.json`);
  $("result").scrollIntoView({ behavior: "smooth", block: "start" });
}

function renderPeople(result) {
  const body = $("people-table").querySelector("tbody");
  body.replaceChildren();
  if (!result.people.length) {
    body.append(el("tr", {}, ""));
    body.lastChild.append(el("td", { colspan: "5" }, "No face was found."));
    return;
  }
  for (const person of result.people) {
    const row = el("tr");
    const verdict = person.predicted_manipulation === null ? "inconclusive"
      : person.predicted_manipulation ? "signs of manipulation" : "no clear signs";
    const size = person.face_px === undefined ? "" : `${person.face_px} px`;  // older results
    row.append(el("td", {}, `Person ${person.person_id + 1}`), el("td", {}, percent(person.score)),
      el("td", {}, String(person.frames)), el("td", {}, size), el("td", {}, verdict));
    body.append(row);
  }
}

function renderTimelines(result) {
  const holder = $("timelines");
  holder.replaceChildren();
  $("timelines-section").hidden = result.media.kind !== "video" || !result.people.length;
  if (result.media.kind !== "video") return;
  const ns = "http://www.w3.org/2000/svg";
  const width = 640, height = 140, pad = 28;
  const duration = Math.max(result.media.duration_s * 1000, 1);
  for (const person of result.people) {
    const points = result.per_frame.filter((f) => f.person_id === person.person_id);
    const figure = el("figure", { class: "timeline" });
    const caption = el("figcaption", {}, `Person ${person.person_id + 1}: score per sampled frame over time`);
    const svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
    svg.setAttribute("role", "img");
    svg.setAttribute("aria-label", `Frame scores of person ${person.person_id + 1}, from ${percent(Math.min(...points.map((p) => p.p_fake)))} to ${percent(Math.max(...points.map((p) => p.p_fake)))}`);
    const x = (ms) => pad + ((width - 2 * pad) * ms) / duration;
    const y = (p) => height - pad - (height - 2 * pad) * p;
    const line = (x1, y1, x2, y2, cls) => {
      const node = document.createElementNS(ns, "line");
      Object.entries({ x1, y1, x2, y2, class: cls }).forEach(([k, v]) => node.setAttribute(k, v));
      svg.append(node);
    };
    line(pad, y(0), width - pad, y(0), "axis");
    line(pad, y(0), pad, y(1), "axis");
    line(pad, y(result.decision_threshold), width - pad, y(result.decision_threshold), "threshold");
    const polyline = document.createElementNS(ns, "polyline");
    polyline.setAttribute("points", points.map((p) => `${x(p.timestamp_ms).toFixed(1)},${y(p.p_fake).toFixed(1)}`).join(" "));
    polyline.setAttribute("class", "scores");
    svg.append(polyline);
    for (const p of points) {
      const dot = document.createElementNS(ns, "circle");
      dot.setAttribute("cx", x(p.timestamp_ms).toFixed(1));
      dot.setAttribute("cy", y(p.p_fake).toFixed(1));
      dot.setAttribute("r", "3");
      const title = document.createElementNS(ns, "title");
      title.textContent = `${(p.timestamp_ms / 1000).toFixed(1)} s: ${percent(p.p_fake)}`;
      dot.append(title);
      svg.append(dot);
    }
    const label = (text, lx, ly, anchor) => {
      const node = document.createElementNS(ns, "text");
      node.setAttribute("x", lx); node.setAttribute("y", ly); node.setAttribute("text-anchor", anchor);
      node.textContent = text;
      svg.append(node);
    };
    label("100%", pad - 4, y(1) + 4, "end");
    label("0%", pad - 4, y(0) + 4, "end");
    label(`threshold ${percent(result.decision_threshold)}`, width - pad, y(result.decision_threshold) - 4, "end");
    label("0 s", pad, height - 8, "start");
    label(`${(duration / 1000).toFixed(1)} s`, width - pad, height - 8, "end");
    figure.append(svg, caption);
    holder.append(figure);
  }
}

function renderFrames(result) {
  const holder = $("frames");
  holder.replaceChildren();
  if (!result.top_k_suspicious.length) {
    holder.append(el("p", {}, "No face to show."));
    return;
  }
  result.top_k_suspicious.forEach((item, index) => {
    const when = result.media.kind === "video" ? `at ${(item.timestamp_ms / 1000).toFixed(1)} s (frame ${item.frame_index})` : "";
    const figure = el("figure", { class: "frame" });
    const pair = el("div", { class: "pair" });
    pair.append(
      el("img", { src: item.heatmap_overlay_url, alt: `Heatmap ${index + 1}: where the detector saw signs, person ${item.person_id + 1} ${when}` }),
      el("img", { src: item.crop_url, alt: `Face crop ${index + 1} without overlay` }),
    );
    figure.append(pair, el("figcaption", {}, `#${index + 1}: person ${item.person_id + 1} ${when}, score ${percent(item.p_fake)}`));
    holder.append(figure);
  });
}

function renderMedia(result) {
  const media = result.media;
  const rows = [["Type", media.kind], ["Size", `${media.width} × ${media.height} px`]];
  if (media.kind === "video") {
    rows.push(["Duration", `${media.duration_s.toFixed(1)} s`], ["Frame rate", `${media.fps} fps`],
      ["Frames", String(media.frame_count)], ["Codec", `${media.codec} in ${media.container}`],
      ["Frames sampled", `${result.frames_sampled} (faces in ${result.frames_with_face})`]);
  }
  rows.push(["Model", result.model_version], ["Processing time", `${(result.processing_ms / 1000).toFixed(2)} s`]);
  const list = $("media");
  list.replaceChildren();
  for (const [term, value] of rows) list.append(el("dt", {}, term), el("dd", {}, value));
}

function setupAnalyzer() {
  const section = $("upload-section");
  if (!section) return;
  const maxBytes = Number(section.dataset.maxMb) * 1024 * 1024;
  const input = $("file-input");
  const drop = $("drop-zone");
  const check = (file) => {
    if (!file) return "Choose a file first";
    if (!kindOf(file)) return `${file.name} is not a supported image or video (JPEG, PNG, WebP, MP4, MOV, WebM, MKV)`;
    if (file.size > maxBytes) return `${file.name} is larger than ${section.dataset.maxMb} MB`;
    return null;
  };
  input.addEventListener("change", () => showUploadError(input.files[0] ? check(input.files[0]) : null));
  ["dragenter", "dragover"].forEach((name) => drop.addEventListener(name, (event) => {
    event.preventDefault();
    drop.classList.add("dragging");
  }));
  ["dragleave", "drop"].forEach((name) => drop.addEventListener(name, () => drop.classList.remove("dragging")));
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    if (event.dataTransfer.files.length) {
      input.files = event.dataTransfer.files;
      input.dispatchEvent(new Event("change"));
    }
  });
  $("upload-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const file = input.files[0];
    const problem = check(file);
    showUploadError(problem);
    if (problem) { input.focus(); return; }
    $("upload-button").disabled = true;
    $("result").hidden = true;
    try {
      const accepted = await upload(file, kindOf(file));
      if (!accountsOn) rememberJob(accepted.job_id);
      history.pushState({}, "", `/jobs/${accepted.job_id}`);
      follow(accepted.job_id);
    } catch (error) {
      $("progress").hidden = true;
      showUploadError(error.message);
      input.focus();
    } finally {
      $("upload-button").disabled = false;
    }
  });
  if (section.dataset.jobId) follow(section.dataset.jobId);
}

// --- history ---
async function setupHistory() {
  const table = $("history-table");
  if (!table) return;
  const body = table.querySelector("tbody");
  let jobs = [];
  try {
    if (accountsOn) {
      jobs = await api("/api/jobs/me?limit=100");
    } else {
      for (const id of rememberedJobs()) {
        try { jobs.push(await api(`/api/results/${encodeURIComponent(id)}`)); }
        catch (error) { if (error.status === 404) forgetJob(id); }
      }
    }
  } catch (error) {
    $("history-error").textContent = error.status === 401 ? "Log in to see your history." : sentence(error.message);
  }
  $("history-empty").hidden = jobs.length > 0;
  for (const job of jobs) {
    const row = el("tr");
    const open = el("a", { href: `/jobs/${job.job_id}` }, job.file_name);
    const verdict = job.result ? job.result.confidence_label : job.state === "FAILED" ? (job.error ? job.error.message : "failed") : "–";
    const remove = el("button", { type: "button", class: "link" }, "Delete");
    remove.setAttribute("aria-label", `Delete the analysis of ${job.file_name}`);
    remove.addEventListener("click", async () => {
      try {
        await api(`/api/jobs/${encodeURIComponent(job.job_id)}`, { method: "DELETE" });
        forgetJob(job.job_id);
        row.remove();
      } catch (error) {
        $("history-error").textContent = sentence(error.message);
      }
    });
    const cell = el("td");
    cell.append(open);
    const actions = el("td");
    actions.append(remove);
    row.append(cell, el("td", {}, job.state.toLowerCase()), el("td", {}, verdict),
      el("td", {}, new Date(job.created_at).toLocaleString()), actions);
    body.append(row);
  }
}

// --- accounts ---
function setupAccountForm() {
  const form = $("account-form");
  if (!form) return;
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const mode = form.dataset.mode;
    try {
      await api(`/api/auth/${mode}`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ email: $("email").value, password: $("password").value }),
      });
      window.location.assign("/");
    } catch (error) {
      $("account-error").textContent = sentence(error.message);
      $("email").focus();
    }
  });
}

async function setupAccountLinks() {
  if (!accountsOn) return;
  let me = null;
  try { me = await api("/api/auth/me"); } catch { me = null; }
  document.querySelectorAll("[data-when]").forEach((node) => {
    node.hidden = (node.dataset.when === "signed-in") !== Boolean(me);
  });
  if (me) $("account-email").textContent = me.email;
  const logout = $("logout");
  if (logout) logout.addEventListener("click", async () => {
    try { await api("/api/auth/logout", { method: "POST" }); } finally { window.location.assign("/login"); }
  });
}

document.addEventListener("DOMContentLoaded", () => {
  setupAnalyzer();
  setupHistory();
  setupAccountForm();
  setupAccountLinks();
});
