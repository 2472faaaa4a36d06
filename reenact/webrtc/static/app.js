// Reenact live page: camera -> server over WebRTC, reenacted video back, controls over a data channel.
"use strict";

const $ = (id) => document.getElementById(id);
const token = new URLSearchParams(location.search).get("token") || "";
let pc = null, channel = null, statsTimer = null, serverStats = {}, portraitMode = false;

function setStatus(text, isError = false) {
  $("status").textContent = text;
  $("status").className = isError ? "error" : "";
}

function send(message) {
  if (channel && channel.readyState === "open") channel.send(JSON.stringify(message));
}

function buildControls(hello) {
  const portrait = portraitMode = hello.mode === "portrait";
  if (portrait && pc && pc.connectionState === "connected") {
    setStatus("Streaming: your expressions drive the portrait; the sliders act on top.");
  }
  $("presets-section").hidden = portrait;
  $("caption-remote").textContent = portrait ? "the portrait, with your expressions" : "reenacted";
  const presets = $("presets");
  presets.querySelectorAll("button:not([data-preset=own])").forEach((b) => b.remove());
  for (const name of hello.presets) {
    const b = document.createElement("button");
    b.textContent = name; b.dataset.preset = name;
    presets.appendChild(b);
  }
  presets.onclick = (e) => {
    const name = e.target.dataset && e.target.dataset.preset;
    if (name) send({ type: "preset", name });
  };
  const aus = $("aus");
  aus.textContent = "";
  for (const au of hello.aus) {
    const row = document.createElement("div");
    row.className = "au"; row.id = "row-" + au;
    row.innerHTML = `<label for="au-${au}">${au}</label>` +
      `<input id="au-${au}" data-au="${au}" type="range" min="0" max="5" step="0.1" value="0">` +
      `<output id="val-${au}">–</output>`;
    aus.appendChild(row);
  }
  aus.oninput = (e) => {
    const au = e.target.dataset.au;
    if (!au) return;
    $("val-" + au).textContent = Number(e.target.value).toFixed(1);
    send({ type: "au", name: au, value: Number(e.target.value) });
  };
  showState(hello.state);
}

function showState(state) {
  for (const b of $("presets").querySelectorAll("button")) {
    b.classList.toggle("active", (state.preset || "own") === b.dataset.preset);
  }
  $("strength").value = state.strength;
  $("strength-value").textContent = Number(state.strength).toFixed(2);
  for (const row of $("aus").querySelectorAll(".au")) {
    const au = row.id.slice(4), pinned = au in state.aus;
    row.classList.toggle("pinned", pinned);
    if (pinned) { $("au-" + au).value = state.aus[au]; $("val-" + au).textContent = state.aus[au].toFixed(1); }
    else $("val-" + au).textContent = "–";
  }
}

function onMessage(event) {
  let msg;
  try { msg = JSON.parse(event.data); }  // a message the page cannot read must not stop it
  catch (err) { setStatus("unreadable message from the server: " + String(event.data).slice(0, 80), true); return; }
  if (msg.type === "hello") buildControls(msg);
  else if (msg.type === "state") showState(msg.state);
  else if (msg.type === "stats") serverStats = msg;
  else if (msg.type === "error") setStatus(msg.message, true);
}

// fps and latency: frames decoded here per second, and latency = server time (camera frame in ->
// result out) + network round trip + this browser's jitter buffer delay, from getStats().
let lastInbound = null;
async function updateStats() {
  if (!pc) return;
  const report = await pc.getStats();
  let rtt = null, fps = null, jitter = null;
  report.forEach((s) => {
    if (s.type === "candidate-pair" && s.nominated && s.currentRoundTripTime !== undefined) rtt = s.currentRoundTripTime;
    if (s.type === "inbound-rtp" && s.kind === "video") {
      if (lastInbound && s.framesDecoded !== undefined) {
        fps = (s.framesDecoded - lastInbound.framesDecoded) / ((s.timestamp - lastInbound.timestamp) / 1000);
      }
      if (lastInbound && s.jitterBufferEmittedCount > lastInbound.jitterBufferEmittedCount) {
        jitter = (s.jitterBufferDelay - lastInbound.jitterBufferDelay) /
                 (s.jitterBufferEmittedCount - lastInbound.jitterBufferEmittedCount);
      }
      lastInbound = s;
    }
  });
  const server = serverStats.server_latency_ms;
  const parts = [];
  parts.push(`received ${fps === null ? "–" : fps.toFixed(1)} fps (camera ${serverStats.fps_in ?? "–"} fps)`);
  if (server != null) {
    const total = server + (rtt ?? 0) * 1000 + (jitter ?? 0) * 1000;
    parts.push(`latency ≈ ${total.toFixed(0)} ms (server ${server.toFixed(0)}, network ${rtt === null ? "–" :
      (rtt * 1000).toFixed(0)}, buffer ${jitter === null ? "–" : (jitter * 1000).toFixed(0)})`);
  }
  if (serverStats.dropped !== undefined) parts.push(`dropped ${serverStats.dropped}`);
  $("stats").textContent = parts.join(" · ");
  window.reenactStats = { fps, rtt, jitter, server: serverStats };
}

function waitForIce(pc) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const check = () => { if (pc.iceGatheringState === "complete") { pc.removeEventListener("icegatheringstatechange", check); resolve(); } };
    pc.addEventListener("icegatheringstatechange", check);
    setTimeout(resolve, 3000);  // gather what we have; no STUN servers are used anyway
  });
}

async function start() {
  $("start").disabled = true;
  setStatus("Opening the camera…");
  let camera;
  try {
    camera = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 }, audio: false });
  } catch (err) {
    setStatus(`No camera: ${err.message}`, true);
    $("start").disabled = false;
    return;
  }
  $("local").srcObject = camera;
  pc = new RTCPeerConnection({ iceServers: [] });
  pc.addTransceiver(camera.getVideoTracks()[0], { direction: "sendrecv" });
  pc.ontrack = (e) => { $("remote").srcObject = new MediaStream([e.track]); };
  pc.onconnectionstatechange = () => {
    if (["failed", "closed", "disconnected"].includes(pc.connectionState)) setStatus(`Connection ${pc.connectionState}.`, pc.connectionState === "failed");
    else if (pc.connectionState === "connected") setStatus(portraitMode ?
      "Streaming: your expressions drive the portrait; the sliders act on top." :
      "Streaming. Move the sliders or pick a preset.");
  };
  channel = pc.createDataChannel("controls");
  channel.onmessage = onMessage;
  await pc.setLocalDescription(await pc.createOffer());
  await waitForIce(pc);
  setStatus("Connecting…");
  const response = await fetch("offer", {
    method: "POST",
    headers: { "Content-Type": "application/json", ...(token ? { Authorization: "Bearer " + token } : {}) },
    body: JSON.stringify({ sdp: pc.localDescription.sdp, type: pc.localDescription.type }),
  });
  const answer = await response.json().catch(() => ({ message: `HTTP ${response.status}` }));
  if (!response.ok) {
    setStatus(answer.message || `The server refused: HTTP ${response.status}`, true);
    stop(false);
    return;
  }
  await pc.setRemoteDescription(answer);
  $("stop").disabled = false;
  statsTimer = setInterval(updateStats, 1000);
}

function stop(resetStatus = true) {
  clearInterval(statsTimer);
  if (pc) { pc.getSenders().forEach((s) => s.track && s.track.stop()); pc.close(); }
  pc = null; channel = null; lastInbound = null;
  $("start").disabled = false; $("stop").disabled = true;
  if (resetStatus) setStatus("Stopped.");
}

$("start").onclick = start;
$("stop").onclick = () => stop();
$("reset").onclick = () => send({ type: "reset" });
$("strength").oninput = (e) => {
  $("strength-value").textContent = Number(e.target.value).toFixed(2);
  send({ type: "strength", value: Number(e.target.value) });
};
window.reenact = { start, stop, send };
