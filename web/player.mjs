// The avatar player (see player.html). window.playerStats reports what a test or a person wants
// to know: the frame rate rendered and tracked, the head yaw and jaw opening applied, triangles.
import * as THREE from "three";
import { GLTFLoader } from "three/addons/loaders/GLTFLoader.js";
import { FaceLandmarker, FilesetResolver } from "@mediapipe/tasks-vision";

const q = new URLSearchParams(location.search);
const size = Number(q.get("size") || 384);
const stats = { loaded: false, error: null, renderFps: 0, trackFps: 0, frames: 0, tracked: 0, triangles: 0,
                yawDeg: 0, pitchDeg: 0, jawOpen: 0, source: "sliders" };
window.playerStats = stats;
const show = document.getElementById("stats");

const canvas = document.getElementById("view");
const renderer = new THREE.WebGLRenderer({ canvas, antialias: false, preserveDrawingBuffer: true });
renderer.setPixelRatio(1);
renderer.setSize(size, size);
renderer.outputColorSpace = THREE.SRGBColorSpace;
const scene = new THREE.Scene();
scene.background = new THREE.Color(0xffffff);
// The volumetric renderer's portrait camera at pitch = yaw = 90 deg (RenderSettings).
const target = new THREE.Vector3(0, -0.0183, -0.0959);
const camera = new THREE.PerspectiveCamera(12, 1, 0.3, 6);
camera.position.set(0, 0, 1.895).add(target);
camera.lookAt(target);

const meshes = [];
let head = null;
const weights = {};  // ARKit name -> value

const mouthMeshes = [];
function setWeights() {
  for (const m of meshes) {
    const dict = m.morphTargetDictionary || {};
    for (const [name, v] of Object.entries(weights)) {
      if (name in dict) m.morphTargetInfluences[dict[name]] = v;
    }
  }
  // The interior only shows through an opened mouth: with every jaw and mouth unit near zero
  // the lips cover it, so its two passes are skipped (software WebGL pays for each triangle).
  const open = Object.entries(weights).some(([n, v]) => (n.startsWith("jaw") || n.startsWith("mouth")) && v > 0.02);
  for (const m of mouthMeshes) m.visible = open;
  stats.mouthDrawn = open;
}

function setHead(yawDeg, pitchDeg, rollDeg) {
  stats.yawDeg = yawDeg; stats.pitchDeg = pitchDeg;
  if (head) head.quaternion.setFromEuler(new THREE.Euler(THREE.MathUtils.degToRad(pitchDeg),
    THREE.MathUtils.degToRad(yawDeg), THREE.MathUtils.degToRad(rollDeg), "YXZ"));
}

function fromSliders() {
  if (stats.source !== "sliders") return;
  const v = (id) => Number(document.getElementById(id).value);
  weights.jawOpen = v("s_jawOpen");
  weights.mouthSmileLeft = weights.mouthSmileRight = v("s_smile");
  weights.eyeBlinkLeft = weights.eyeBlinkRight = v("s_blink");
  stats.jawOpen = weights.jawOpen;
  setWeights();
  setHead(v("s_yaw"), v("s_pitch"), 0);
}
for (const el of document.querySelectorAll("input[type=range]")) el.addEventListener("input", fromSliders);

async function load() {
  const url = q.get("glb");
  if (!url) throw new Error("no avatar: open this page with ?glb=URL of an exported .glb");
  const gltf = await new GLTFLoader().loadAsync(url);
  let order = 0;
  const mouth = [];
  gltf.scene.traverse((o) => {
    if (o.isMesh) {
      o.frustumCulled = false;
      const role = (o.material.name || "").startsWith("mouth_") ? o.material.name.slice(6) : null;
      if (role) mouth.push([role, o]);
      else {
        // the file's primitives come back to front: draw them in that order, blended, no depth
        o.renderOrder = order++;
        o.material.transparent = true;
        o.material.depthWrite = false;
        o.material.depthTest = false;
      }
      meshes.push(o);
      stats.triangles += o.geometry.index.count / 3;
    }
    if (o.isBone && o.name === "head") head = o;
  });
  // The mouth's dark interior (aniportrait_hub/export/avatar.py), after every layer: the face mesh
  // into the depth buffer only, then its cavity triangles where they are the nearest surface,
  // multiplying the colour by the tint (the file's masked-out materials stand in for viewers
  // without this rule).
  for (const [role, o] of mouth) {
    // the tint multiplies the image's (sRGB) values, as in the volumetric renderer
    const t = o.geometry.userData.tint || [1, 1, 1];
    const tint = new THREE.Color().setRGB(t[0], t[1], t[2], THREE.SRGBColorSpace);
    o.renderOrder = order + (role === "depth" ? 0 : 1);
    o.material = role === "depth"
      ? new THREE.MeshBasicMaterial({ colorWrite: false, depthWrite: true, depthTest: true, side: THREE.DoubleSide })
      : new THREE.MeshBasicMaterial({ color: tint, transparent: true, depthWrite: false,
          depthFunc: THREE.LessEqualDepth, side: THREE.DoubleSide, blending: THREE.CustomBlending,
          blendSrc: THREE.DstColorFactor, blendDst: THREE.ZeroFactor,
          blendSrcAlpha: THREE.ZeroFactor, blendDstAlpha: THREE.OneFactor });
    if (role === "depth") o.material.transparent = true;  // drawn in the same (ordered) list
    mouthMeshes.push(o);
  }
  scene.add(gltf.scene);
  stats.loaded = true;
  fromSliders();
}

let landmarker = null, video = null, lastVideoTime = -1;
async function startWebcam() {
  const model = q.get("model");
  if (!model) throw new Error("no face model: open this page with ?model=URL of face_landmarker.task");
  const fileset = await FilesetResolver.forVisionTasks(new URL("./node_modules/@mediapipe/tasks-vision/wasm",
                                                               location.href).href);
  landmarker = await FaceLandmarker.createFromOptions(fileset, {
    baseOptions: { modelAssetPath: model, delegate: "CPU" }, runningMode: "VIDEO", numFaces: 1,
    outputFaceBlendshapes: true, outputFacialTransformationMatrixes: true });
  video = document.getElementById("cam");
  video.srcObject = await navigator.mediaDevices.getUserMedia({ video: { width: 320, height: 240 } });
  await video.play();
  stats.source = "webcam";
}
document.getElementById("webcam").addEventListener("click", () => startWebcam().catch(fail));

const matrix = new THREE.Matrix4(), euler = new THREE.Euler();
let lastTrack = 0, trackMs = 0;
function track() {
  if (!landmarker || video.readyState < 2 || video.currentTime === lastVideoTime) return;
  // Detection blocks this thread: leave the renderer at least as much time as it takes.
  const now = performance.now();
  if (now - lastTrack < 2 * trackMs) return;
  lastVideoTime = video.currentTime;
  lastTrack = now;
  const r = landmarker.detectForVideo(video, now);
  trackMs = performance.now() - now;
  stats.trackMs = trackMs;
  stats.tracked++;
  if (!r.faceBlendshapes || !r.faceBlendshapes.length) return;
  for (const c of r.faceBlendshapes[0].categories) if (c.categoryName !== "_neutral") weights[c.categoryName] = c.score;
  stats.jawOpen = weights.jawOpen || 0;
  setWeights();
  matrix.fromArray(r.facialTransformationMatrixes[0].data);
  euler.setFromRotationMatrix(matrix, "YXZ");
  // a webcam is a mirror: the avatar turns the way the person's image does
  setHead(-THREE.MathUtils.radToDeg(euler.y), THREE.MathUtils.radToDeg(euler.x), -THREE.MathUtils.radToDeg(euler.z));
}

let t0 = performance.now(), frames0 = 0, tracked0 = 0;
function loop() {
  track();
  renderer.render(scene, camera);
  stats.frames++;
  const now = performance.now();
  if (now - t0 >= 1000) {
    stats.renderFps = (stats.frames - frames0) * 1000 / (now - t0);
    stats.trackFps = (stats.tracked - tracked0) * 1000 / (now - t0);
    t0 = now; frames0 = stats.frames; tracked0 = stats.tracked;
    show.textContent = `${stats.source}: ${stats.renderFps.toFixed(1)} fps rendered, ${stats.trackFps.toFixed(1)} tracked\n` +
      `${Math.round(stats.triangles)} triangles, ${size}x${size}\nyaw ${stats.yawDeg.toFixed(1)} deg, jaw ${stats.jawOpen.toFixed(2)}`;
  }
  requestAnimationFrame(loop);
}

function fail(e) { stats.error = String(e); show.textContent = `error: ${e}`; console.error(e); }

load().then(() => { loop(); if (q.get("webcam") === "1") return startWebcam(); }).catch(fail);
