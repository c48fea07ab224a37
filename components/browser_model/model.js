// The page's model in the browser: TensorFlow.js rebuilds the model a server exported
// (convlab/browsermodel.py: a JSON topology with its weight manifest, and one binary of float32
// weights named by its sha256) with its layers API, and one call gives the whole journey of an image:
// every conv and pool layer's maps and the class probabilities.
//
//   import {loadModel} from ".../model.js";
//   const model = await loadModel(urls);   // urls: ui/modelroute.model_urls(...), or the tests' own
//   const {maps, probabilities} = model.journey(pixels);   // 28×28 floats 0–1 (n images: n × 784)
//
// A plain ES module, no build step: tfjs is its released file (vendor/tfjs), loaded once per page by a
// classic script tag; the WASM backend (vendor/tfjs-backend-wasm) likewise when it is asked for.
// Weights are used only once their sha256 matches the name (a mismatch is fetched once more, bypassing
// the cache, then refused), and never when they hold NaN or infinities.

// The backend bench/browser_model.py measured faster in headless Chromium on a 2-core machine
// (bench/results/browser_model.md); CPU is the fallback when WebAssembly is missing or fails.
export const DEFAULT_BACKEND = "wasm";
export const IMAGE_PIXELS = 28 * 28;
const FORMAT = 1;  // convlab/browsermodel.py's FORMAT
const KINDS = ["conv2d", "maxPooling2d", "flatten", "dense"];

/** A model the browser can't use, worded for a person (the page shows the message). */
export class BrowserModelError extends Error {
  constructor(message) {
    super(message);
    this.name = "BrowserModelError";
  }
}

// -- tfjs, once per page ----------------------------------------------------------------------
const scripts = new Map();  // url -> Promise of its load
function loadScript(url) {
  if (!scripts.has(url)) {
    scripts.set(url, new Promise((resolve, reject) => {
      const script = document.createElement("script");
      script.src = url;
      script.onload = resolve;
      script.onerror = () => {
        scripts.delete(url);  // a later call may try again
        reject(new BrowserModelError(`TensorFlow.js could not be loaded from ${url}.`));
      };
      document.head.appendChild(script);
    }));
  }
  return scripts.get(url);
}

/** tfjs (the global ``tf`` its release defines) on the backend asked for, else CPU. */
export async function loadTfjs(urls, backend = DEFAULT_BACKEND) {
  if (!window.tf) await loadScript(urls.tfjs);
  const tf = window.tf;
  if (backend === "wasm" && typeof WebAssembly === "object" && urls.wasm) {
    try {
      const first = !tf.wasm;
      await loadScript(urls.wasm + "tf-backend-wasm.es2017.min.js");
      if (first) tf.wasm.setWasmPaths(urls.wasm);  // before the backend starts: where its .wasm files are
      if (tf.getBackend() === "wasm" || await tf.setBackend("wasm")) return tf;
    } catch (error) {
      console.warn("ConvLab: the WASM backend failed, using the CPU backend:", error);
    }
  }
  if (tf.getBackend() !== "cpu") await tf.setBackend("cpu");
  return tf;
}

// -- fetching and checking ----------------------------------------------------------------------
/** The sha256 of ``buffer`` in hex: crypto.subtle where the page may use it, else a small JS one. */
export async function sha256Hex(buffer) {
  // crypto.subtle exists only in secure contexts (https, localhost): a classroom's http://<address>:8501 isn't.
  const bytes = globalThis.crypto && crypto.subtle ? new Uint8Array(await crypto.subtle.digest("SHA-256", buffer))
    : sha256Plain(new Uint8Array(buffer));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

async function fetchOk(url, init) {
  let response;
  try {
    response = await fetch(url, init);
  } catch (error) {
    throw new BrowserModelError(`The model could not be fetched from ${url} (${error.message}).`);
  }
  if (!response.ok) {
    const text = (await response.text()).slice(0, 200);
    throw new BrowserModelError(`The model could not be fetched from ${url}: ${response.status} ${text}`);
  }
  return response;
}

/** The weights, checked against ``checksum``; a mismatch is fetched once more past the cache, then refused. */
async function fetchWeights(url, checksum) {
  let found;
  for (const cache of ["default", "reload"]) {
    const buffer = await (await fetchOk(url, {cache: cache})).arrayBuffer();
    found = await sha256Hex(buffer);
    if (found === checksum) return buffer;
    console.warn(`ConvLab: the model's weights from ${url} failed their checksum (${found}); ` +
                 (cache === "default" ? "fetching them again." : "refusing them."));
  }
  throw new BrowserModelError(
    `The model's weights failed their checksum twice (sha256 ${found.slice(0, 12)}…, expected ` +
    `${checksum.slice(0, 12)}…): they were damaged on the way, so the browser won't use them.`);
}

function checkTopology(topology) {
  if (!topology || topology.format !== FORMAT) {
    throw new BrowserModelError(`The model's description is of format ${topology && topology.format}, ` +
                                `not ${FORMAT}: this page can't rebuild it.`);
  }
  const unknown = topology.layers.find((layer) => !KINDS.includes(layer.kind));
  if (unknown) {
    throw new BrowserModelError(`The browser can't rebuild layer "${unknown.name}" (${unknown.kind}): ` +
                                `it knows ${KINDS.join(", ")}.`);
  }
}

/** Each weight of the manifest as a Float32Array view of ``buffer``; refuses NaN and infinities, naming where. */
function weightArrays(topology, buffer) {
  if (buffer.byteLength !== topology.bytes) {
    throw new BrowserModelError(`The model's weights are ${buffer.byteLength} bytes, not ${topology.bytes}.`);
  }
  return topology.weights.map((entry) => {
    const size = entry.shape.reduce((a, b) => a * b, 1);
    const values = new Float32Array(buffer, entry.offset, size);  // little-endian, as every browser's float32
    for (let i = 0; i < size; i++) {
      if (!Number.isFinite(values[i])) {
        throw new BrowserModelError(
          `This model's weights contain ${Number.isNaN(values[i]) ? "NaN" : "infinite values"} (in ` +
          `${entry.name}): its training broke down, so its maps and predictions would mean nothing. ` +
          "Train it again, perhaps with fewer epochs.");
      }
    }
    return values;
  });
}

// -- the model ----------------------------------------------------------------------------
function buildSequential(tf, topology) {
  const model = tf.sequential();
  topology.layers.forEach((layer, index) => {
    const common = Object.assign({name: layer.name}, index === 0 ? {inputShape: topology.inputShape} : {});
    if (layer.kind === "conv2d") {
      model.add(tf.layers.conv2d(Object.assign(common, {filters: layer.filters, kernelSize: layer.kernelSize,
                                                        activation: layer.activation, padding: "valid"})));
    } else if (layer.kind === "maxPooling2d") {
      model.add(tf.layers.maxPooling2d(Object.assign(common, {poolSize: layer.poolSize, padding: "valid"})));
    } else if (layer.kind === "flatten") {
      model.add(tf.layers.flatten(common));
    } else {
      model.add(tf.layers.dense(Object.assign(common, {units: layer.units, activation: layer.activation})));
    }
  });
  return model;
}

function setWeights(tf, model, topology, arrays) {
  if (model.weights.length !== arrays.length) {
    throw new BrowserModelError(`The rebuilt model has ${model.weights.length} weights, the file ${arrays.length}.`);
  }
  const tensors = arrays.map((values, i) => {
    const wanted = model.weights[i].shape.join("×"), given = topology.weights[i].shape.join("×");
    if (wanted !== given) {
      throw new BrowserModelError(`Weight ${topology.weights[i].name} is ${given}, the rebuilt model wants ${wanted}.`);
    }
    return tf.tensor(values, topology.weights[i].shape, "float32");
  });
  model.setWeights(tensors);
  tensors.forEach((tensor) => tensor.dispose());
}

/**
 * The model at ``urls`` ({tfjs, wasm?, topology, weights}), rebuilt and checked: an object with
 * ``journey(pixels)`` → {maps: [{layer, shape, data}], probabilities} (``pixels``: n × 784 floats,
 * 28×28 images row by row, 0–1; ``shape`` and ``probabilities`` include the n), ``backend``,
 * ``checksum``, ``timings`` (ms: ``tfjs`` loaded and its backend started, ``weights`` fetched and their
 * sha256 checked, ``verify`` the NaN check, ``build``, ``first`` journey, ``total``) and ``dispose()``.
 * ``options.backend``: "wasm" or "cpu" (default DEFAULT_BACKEND). Rejects with a BrowserModelError.
 */
export async function loadModel(urls, options = {}) {
  const started = performance.now(), timings = {};
  const lap = (name, since) => (timings[name] = performance.now() - since, performance.now());
  const [tf, topology] = await Promise.all([
    loadTfjs(urls, options.backend || DEFAULT_BACKEND).then((tf) => (timings.tfjs = performance.now() - started, tf)),
    fetchOk(urls.topology).then((response) => response.json()).catch((error) => {
      throw error instanceof BrowserModelError ? error
        : new BrowserModelError(`The model's description from ${urls.topology} is not JSON (${error.message}).`);
    }),
  ]);
  checkTopology(topology);
  let now = performance.now();
  const buffer = await fetchWeights(urls.weights, topology.checksum);
  now = lap("weights", now);
  const arrays = weightArrays(topology, buffer);
  now = lap("verify", now);
  const model = buildSequential(tf, topology);
  setWeights(tf, model, topology, arrays);
  // One model, many outputs: every conv and pool layer's maps, then the probabilities.
  const mapped = new Set(topology.layers.filter((l) => l.kind === "conv2d" || l.kind === "maxPooling2d").map((l) => l.name));
  const layers = model.layers.filter((layer) => mapped.has(layer.name));
  const journeyModel = tf.model({inputs: model.inputs, outputs: [...layers.map((l) => l.output), ...model.outputs]});
  now = lap("build", now);

  function journey(pixels) {
    if (!(pixels instanceof Float32Array) || pixels.length === 0 || pixels.length % IMAGE_PIXELS) {
      throw new BrowserModelError(`journey() takes a Float32Array of n × ${IMAGE_PIXELS} pixels, not ${pixels && pixels.length}.`);
    }
    const n = pixels.length / IMAGE_PIXELS;
    const outputs = tf.tidy(() => {
      const out = journeyModel.predict(tf.tensor4d(pixels, [n, 28, 28, 1]), {batchSize: n});
      return Array.isArray(out) ? out : [out];
    });
    const arrays = outputs.map((tensor) => tensor.dataSync());
    const shapes = outputs.map((tensor) => tensor.shape);
    outputs.forEach((tensor) => tensor.dispose());
    return {
      maps: layers.map((layer, i) => ({layer: layer.name, shape: shapes[i], data: arrays[i]})),
      probabilities: arrays[arrays.length - 1],
    };
  }

  journey(new Float32Array(IMAGE_PIXELS));  // the first call compiles the kernels: not the user's first drawing
  lap("first", now);
  timings.total = performance.now() - started;
  return {
    backend: tf.getBackend(),
    checksum: topology.checksum,
    topology: topology,
    timings: timings,
    journey: journey,
    dispose: () => journeyModel.dispose(),  // its layers are the model's, every one: their weights go with them
  };
}

// -- SHA-256 without crypto.subtle (FIPS 180-4), for pages that aren't a secure context ----------------
const K = new Uint32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98,
  0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
  0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8,
  0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
  0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819,
  0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
  0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
  0xc67178f2]);

export function sha256Plain(bytes) {
  const padded = new Uint8Array(((bytes.length + 72) >> 6) << 6);
  padded.set(bytes);
  padded[bytes.length] = 0x80;
  const view = new DataView(padded.buffer);
  view.setUint32(padded.length - 8, Math.floor(bytes.length / 0x20000000));
  view.setUint32(padded.length - 4, bytes.length * 8);
  const h = new Uint32Array([0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab,
                             0x5be0cd19]);
  const w = new Uint32Array(64);
  const rotr = (x, n) => (x >>> n) | (x << (32 - n));
  for (let block = 0; block < padded.length; block += 64) {
    for (let i = 0; i < 16; i++) w[i] = view.getUint32(block + 4 * i);
    for (let i = 16; i < 64; i++) {
      const s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >>> 3);
      const s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >>> 10);
      w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    let [a, b, c, d, e, f, g, hh] = h;
    for (let i = 0; i < 64; i++) {
      const t1 = hh + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + K[i] + w[i];
      const t2 = (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
      [hh, g, f, e, d, c, b, a] = [g, f, e, (d + t1) >>> 0, c, b, a, (t1 + t2) >>> 0];
    }
    [a, b, c, d, e, f, g, hh].forEach((value, i) => (h[i] = (h[i] + value) >>> 0));
  }
  const out = new Uint8Array(32);
  const outView = new DataView(out.buffer);
  h.forEach((value, i) => outView.setUint32(4 * i, value));
  return out;
}
