// The in-page check of a deletion certificate: what hushan.tlog.certificate.verify checks with
// the file and the log's key alone, in the same order and with the same reason codes
// (docs/transparency.md, "What `hushan verify` checks"). WebCrypto does the Ed25519 and
// SHA-256; the vocabulary of log entries comes from the server (verifier-vocab), taken from the
// Python code that defines it. Not checked here: `--earlier`, `--later`, `--max-age` and
// witness cosignatures, which need more than the file.
"use strict";

class CertificateError extends Error {
  constructor(reason, detail) {
    super(detail ? `${reason}: ${detail}` : reason);
    this.reason = reason;
    this.detail = detail || "";
  }
}

const fail = (reason, detail) => {
  throw new CertificateError(reason, detail);
};
const utf8 = new TextEncoder();
const REF = /^[0-9a-f]{64}$/;
const TIME = /^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z$/;
const B64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const SIZE = /^(0|[1-9][0-9]*)$/;
const CONTROL = /[\x00-\x09\x0b-\x1f\x7f]/;
const DASH = "\u2014 ";

const isObject = (v) => v !== null && typeof v === "object" && !Array.isArray(v);
const isInt = (v) => typeof v === "number" && Number.isSafeInteger(v);
const sameKeys = (v, keys) => {
  const have = Object.keys(v).sort();
  const want = [...keys].sort();
  return have.length === want.length && have.every((k, i) => k === want[i]);
};

// Integers past 2**53 as BigInt, read from their source text, so that the file's canonical
// form is checked on the numbers it holds (Python reads any integer exactly); no check takes a
// BigInt for a valid size, index or count.
const exactIntegers = (key, value, context) =>
  typeof value === "number" &&
  !Number.isSafeInteger(value) &&
  context &&
  /^-?[0-9]+$/.test(context.source)
    ? BigInt(context.source)
    : value;

// Python's json.dumps(sort_keys=True, separators=(",", ":"), ensure_ascii=False).
function canonical(value) {
  if (typeof value === "bigint") return value.toString();
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  if (isObject(value)) {
    const keys = Object.keys(value).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonical(value[k])}`).join(",")}}`;
  }
  return JSON.stringify(value);
}

function b64(text, reason, where) {
  if (typeof text !== "string" || !B64.test(text)) fail(reason, where);
  const raw = atob(text);
  const out = new Uint8Array(raw.length);
  for (let i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
  return out;
}

const concat = (...parts) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
};
const equal = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);
const hex = (bytes) => [...bytes].map((x) => x.toString(16).padStart(2, "0")).join("");
const sha256 = async (bytes) => new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
const u64 = (n) => {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, BigInt(n));
  return out;
};

// ---- signed notes (hushan.tlog.note) -------------------------------------------------------
class NoteError extends Error {
  constructor(reason) {
    super(reason);
    this.reason = reason;
  }
}
const noteFail = (reason) => {
  throw new NoteError(reason);
};
const checkName = (name) => {
  if (!name || /[\s+]/.test(name)) noteFail("key_name_invalid");
};

async function parseVerifier(text) {
  const parts = text.trim().split("+");
  if (parts.length < 3) noteFail("verifier_key_malformed");
  const [name, hashHex] = parts;
  const encoded = parts.slice(2).join("+");
  checkName(name);
  if (!B64.test(encoded)) noteFail("verifier_key_malformed");
  const raw = b64(encoded, "verifier_key_malformed");
  if (raw.length !== 33 || raw[0] !== 1) noteFail("verifier_key_unsupported");
  const publicKey = raw.slice(1);
  const keyHash = (await sha256(concat(utf8.encode(`${name}\n`), raw))).slice(0, 4);
  if (hashHex.length !== 8 || hex(keyHash) !== hashHex.toLowerCase()) {
    noteFail("verifier_key_hash_mismatch");
  }
  const key = await crypto.subtle.importKey("raw", publicKey, { name: "Ed25519" }, false, [
    "verify",
  ]);
  return { name, keyHash, key };
}

function checkText(text) {
  if (!text.endsWith("\n")) noteFail("note_text_must_end_in_newline");
  if (CONTROL.test(text)) noteFail("note_text_has_control_characters");
}

function splitNote(message) {
  if (!message.endsWith("\n")) noteFail("note_malformed");
  const cut = message.lastIndexOf("\n\n");
  if (cut < 0) noteFail("note_malformed");
  const text = message.slice(0, cut + 1);
  const block = message.slice(cut + 2);
  checkText(text);
  const lines = block.split("\n").slice(0, -1);
  if (!lines.length) noteFail("note_unsigned");
  return [
    text,
    lines.map((line) => {
      if (!line.startsWith(DASH)) noteFail("note_signature_line_malformed");
      const rest = line.slice(DASH.length);
      const space = rest.indexOf(" ");
      const name = space < 0 ? rest : rest.slice(0, space);
      checkName(name);
      const encoded = space < 0 ? "" : rest.slice(space + 1);
      if (!B64.test(encoded)) noteFail("note_signature_line_malformed");
      const blob = b64(encoded, "note_signature_line_malformed");
      if (space < 0 || blob.length < 5) noteFail("note_signature_line_malformed");
      return [name, blob];
    }),
  ];
}

async function openNote(verifier, message) {
  const [text, signatures] = splitNote(message);
  for (const [name, blob] of signatures) {
    if (name === verifier.name && equal(blob.slice(0, 4), verifier.keyHash)) {
      const ok = await crypto.subtle.verify("Ed25519", verifier.key, blob.slice(4), utf8.encode(text));
      if (!ok) noteFail("signature_invalid");
      return text;
    }
  }
  noteFail("signature_missing_for_key");
}

async function parseCheckpoint(text) {
  const lines = text.split("\n");
  if (lines.length < 4 || lines[lines.length - 1] !== "" || lines.slice(0, -1).some((l) => !l)) {
    noteFail("checkpoint_malformed");
  }
  const [origin, sizeText, rootText] = lines;
  if (!SIZE.test(sizeText) || BigInt(sizeText) >= 1n << 64n) noteFail("checkpoint_size_malformed");
  if (!B64.test(rootText)) noteFail("checkpoint_root_malformed");
  const root = b64(rootText, "checkpoint_root_malformed");
  const empty = await sha256(new Uint8Array());
  if (root.length !== 32 || (sizeText === "0" && !equal(root, empty))) {
    noteFail("checkpoint_root_malformed");
  }
  if (!Number.isSafeInteger(Number(sizeText))) noteFail("checkpoint_size_malformed");
  return { origin, size: Number(sizeText), root, note: "" };
}

async function openCheckpoint(note, verifier, origin, where) {
  if (typeof note !== "string" || typeof origin !== "string") fail("checkpoint_malformed", where);
  try {
    const checkpoint = await parseCheckpoint(await openNote(verifier, note));
    if (checkpoint.origin !== origin) noteFail("checkpoint_origin_mismatch");
    checkpoint.note = note;
    return checkpoint;
  } catch (error) {
    if (!(error instanceof NoteError)) throw error;
    fail(`checkpoint_${error.reason.replace(/^checkpoint_/, "")}`, where);
  }
}

// ---- Merkle proofs, RFC 9162 (hushan.tlog.merkle) ------------------------------------------
class ProofError extends Error {
  constructor(reason) {
    super(reason);
    this.reason = reason;
  }
}
const proofFail = (reason) => {
  throw new ProofError(reason);
};
const leafHash = (bytes) => sha256(concat(new Uint8Array([0]), bytes));
const nodeHash = (l, r) => sha256(concat(new Uint8Array([1]), l, r));

function decodeProof(value, where) {
  if (!Array.isArray(value) || !value.every((p) => typeof p === "string")) {
    fail("proof_malformed", where);
  }
  return value.map((p) => b64(p, "proof_malformed", where));
}

// Sizes and indexes are below 2**53 here (checked), so plain numbers hold them; the shifts use
// Math.floor, as JavaScript's bit operators cut to 32 bits.
const half = (n) => Math.floor(n / 2);
const odd = (n) => n % 2 === 1;

async function verifyInclusion(index, size, leaf, proof, root) {
  if (proof.some((p) => p.length !== 32)) proofFail("proof_hash_wrong_length");
  if (!(index >= 0 && index < size)) proofFail("leaf_index_beyond_tree");
  let fn = index;
  let sn = size - 1;
  let r = leaf;
  for (const p of proof) {
    if (sn === 0) proofFail("inclusion_proof_too_long");
    if (odd(fn) || fn === sn) {
      r = await nodeHash(p, r);
      while (!odd(fn) && fn !== 0) {
        fn = half(fn);
        sn = half(sn);
      }
    } else {
      r = await nodeHash(r, p);
    }
    fn = half(fn);
    sn = half(sn);
  }
  if (sn !== 0) proofFail("inclusion_proof_too_short");
  if (!equal(r, root)) proofFail("inclusion_root_mismatch");
}

async function verifyConsistency(oldSize, newSize, oldRoot, newRoot, proof) {
  if (proof.some((p) => p.length !== 32)) proofFail("proof_hash_wrong_length");
  if (!(oldSize > 0 && oldSize <= newSize)) proofFail("consistency_sizes_out_of_order");
  if (oldSize === newSize) {
    if (proof.length) proofFail("consistency_proof_not_empty");
    if (!equal(oldRoot, newRoot)) proofFail("consistency_root_mismatch");
    return;
  }
  const path = [...proof];
  let rest = oldSize;
  while (!odd(rest)) rest = half(rest);
  if (rest === 1) path.unshift(oldRoot); // a power of two
  if (!path.length) proofFail("consistency_proof_empty");
  let fn = oldSize - 1;
  let sn = newSize - 1;
  while (odd(fn)) {
    fn = half(fn);
    sn = half(sn);
  }
  let fr = path[0];
  let sr = path[0];
  for (const c of path.slice(1)) {
    if (sn === 0) proofFail("consistency_proof_too_long");
    if (odd(fn) || fn === sn) {
      fr = await nodeHash(c, fr);
      sr = await nodeHash(c, sr);
      while (!odd(fn) && fn !== 0) {
        fn = half(fn);
        sn = half(sn);
      }
    } else {
      sr = await nodeHash(sr, c);
    }
    fn = half(fn);
    sn = half(sn);
  }
  if (sn !== 0) proofFail("consistency_proof_too_short");
  if (!equal(fr, oldRoot)) proofFail("consistency_old_root_mismatch");
  if (!equal(sr, newRoot)) proofFail("consistency_new_root_mismatch");
}

// ---- log entries and their replay (hushan.tlog.entries) ------------------------------------
class EntryError extends Error {
  constructor(reason) {
    super(reason);
    this.reason = reason;
  }
}
const entryFail = (reason) => {
  throw new EntryError(reason);
};

function parseTime(text, reason) {
  if (typeof text !== "string" || !TIME.test(text)) entryFail(reason);
  const [date, clock] = text.slice(0, -1).split("T");
  const [y, mo, d] = date.split("-").map(Number);
  const [h, mi, s] = clock.split(":").map(Number);
  const probe = new Date(Date.UTC(y, mo - 1, d, h, mi, Math.floor(s)));
  const valid =
    y >= 1 &&
    probe.getUTCFullYear() === y &&
    probe.getUTCMonth() === mo - 1 &&
    probe.getUTCDate() === d &&
    probe.getUTCHours() === h &&
    probe.getUTCMinutes() === mi &&
    probe.getUTCSeconds() === Math.floor(s);
  if (!valid) entryFail(reason);
  return text; // kept as the canonical text: it orders and compares as the time does
}

function decodeEntry(text, vocab) {
  let value;
  try {
    value = JSON.parse(text);
  } catch {
    entryFail("entry_not_json");
  }
  const keys = isObject(value) ? Object.keys(value) : null;
  const allowed = new Set([...vocab.entry_keys, ...vocab.entry_optional]);
  if (!keys || !vocab.entry_keys.every((k) => k in value) || !keys.every((k) => allowed.has(k))) {
    entryFail("entry_fields_wrong");
  }
  if (canonical(value) !== text) entryFail("entry_not_canonical");
  if (!isInt(value.v) || value.v !== vocab.leaf_format) entryFail("entry_format_unknown");
  const actions = Object.values(vocab.action);
  const relations = Object.values(vocab.relation);
  const histories = Object.values(vocab.history);
  if (
    !actions.includes(value.action) ||
    !relations.includes(value.relation) ||
    (value.history !== null && !histories.includes(value.history))
  ) {
    entryFail("entry_value_unknown");
  }
  const isRef = (v) => typeof v === "string" && REF.test(v);
  if (!(isRef(value.a) && isRef(value.b) && value.a !== value.b)) entryFail("entry_refs_malformed");
  const system = value.actor === vocab.system && vocab.system_actions.includes(value.action);
  if (!(isRef(value.actor) || system)) entryFail("entry_refs_malformed");
  if (!isInt(value.pair_n) || value.pair_n < 1) entryFail("entry_fields_wrong");
  const reason = "reason" in value ? value.reason : null;
  const keyAction = value.action === vocab.action.KEY_DESTROYED;
  if (keyAction !== (reason !== null) || (reason !== null && !vocab.key_reasons.includes(reason))) {
    entryFail("entry_reason_wrong");
  }
  if ("purge_at" in value !== vocab.purge_at_actions.includes(value.action)) {
    entryFail("entry_purge_at_wrong");
  }
  return {
    at: parseTime(value.at, "entry_time_malformed"),
    action: value.action,
    actor: value.actor,
    a: value.a,
    b: value.b,
    relation: value.relation,
    history: value.history,
    pair_n: value.pair_n,
    reason,
    purge_at: "purge_at" in value ? parseTime(value.purge_at, "entry_time_malformed") : null,
  };
}

function replay(logged, a, b, vocab) {
  const A = vocab.action;
  const R = vocab.relation;
  const flipped = { [R.A_HAS_B]: R.B_HAS_A, [R.B_HAS_A]: R.A_HAS_B };
  const state = {
    relation: R.NONE,
    a_blocks_b: false,
    b_blocks_a: false,
    history_state: null,
    purge_at: null,
    key_destroyed_at: null,
    key_destroyed_reason: null,
    rows_purged_at: null,
    removals: [],
    legal_hold: null,
    history: [],
  };
  const endsCurrent = (entry) =>
    entry.action === A.KEY_DESTROYED
      ? state.key_destroyed_at === null && entry.history === vocab.history.PURGED
      : state.key_destroyed_at !== null && state.rows_purged_at === null;
  const purgeEarlier = (entry, key) => {
    for (let n = state.history.length - 1; n >= 0; n--) {
      const past = state.history[n];
      if (key && past.key_destroyed_at === null) {
        Object.assign(past, {
          state: vocab.history.PURGED,
          key_destroyed_at: entry.at,
          key_destroyed_reason: entry.reason,
        });
        return;
      }
      if (!key && past.key_destroyed_at !== null && past.rows_purged_at === null) {
        past.rows_purged_at = entry.at;
        return;
      }
    }
    if (key) {
      state.key_destroyed_at = entry.at;
      state.key_destroyed_reason = entry.reason;
    } else {
      state.rows_purged_at = entry.at;
    }
  };
  logged.forEach((entry, i) => {
    const pair = new Set([entry.a, entry.b]);
    if (pair.size !== 2 || !pair.has(a) || !pair.has(b)) entryFail("entry_of_another_pair");
    if (entry.pair_n !== i + 1) entryFail("pair_entries_missing_or_reordered");
    if (![a, b, vocab.system].includes(entry.actor)) entryFail("entry_actor_outside_pair");
    state.relation = entry.a === a ? entry.relation : flipped[entry.relation] || entry.relation;
    if (entry.action === A.HISTORY_STARTED && state.history_state !== null) {
      state.history.push({
        state: state.history_state,
        purge_at: state.purge_at,
        key_destroyed_at: state.key_destroyed_at,
        key_destroyed_reason: state.key_destroyed_reason,
        rows_purged_at: state.rows_purged_at,
      });
    }
    state.history_state = entry.history;
    const byA = entry.actor === a;
    switch (entry.action) {
      case A.BLOCK_ADDED:
      case A.BLOCK_REMOVED:
        state[byA ? "a_blocks_b" : "b_blocks_a"] = entry.action === A.BLOCK_ADDED;
        break;
      case A.EDGE_REMOVED:
        state.removals.push({ by: entry.actor, of: byA ? b : a, at: entry.at });
        break;
      case A.HISTORY_STARTED:
        state.purge_at = state.key_destroyed_at = state.rows_purged_at = null;
        state.key_destroyed_reason = null;
        break;
      case A.HISTORY_BUFFERED:
        state.purge_at = entry.purge_at;
        break;
      case A.LEGAL_HOLD_PLACED:
      case A.LEGAL_HOLD_RELEASED:
        state.legal_hold = vocab.hold_actions[entry.action];
        break;
      case A.PURGE_DEFERRED_LEGAL_HOLD:
        state.legal_hold = true;
        state.purge_at = entry.purge_at;
        break;
      case A.HISTORY_RESTORED:
        state.purge_at = null;
        break;
      case A.KEY_DESTROYED:
        if (!endsCurrent(entry)) purgeEarlier(entry, true);
        else {
          state.key_destroyed_at = entry.at;
          state.key_destroyed_reason = entry.reason;
        }
        break;
      case A.ROWS_PURGED:
        if (!endsCurrent(entry)) purgeEarlier(entry, false);
        else state.rows_purged_at = entry.at;
        break;
      default:
        break;
    }
  });
  return state;
}

function claimsOf(state) {
  const claims = {
    relation: state.relation,
    a_blocks_b: state.a_blocks_b,
    b_blocks_a: state.b_blocks_a,
    history_state: state.history_state,
    purge_at: state.purge_at,
    key_destroyed_at: state.key_destroyed_at,
    key_destroyed_reason: state.key_destroyed_reason,
    rows_purged_at: state.rows_purged_at,
    removals: state.removals,
    history: state.history.map((p) => ({
      state: p.state,
      purge_at: p.purge_at,
      key_destroyed_at: p.key_destroyed_at,
      key_destroyed_reason: p.key_destroyed_reason,
      rows_purged_at: p.rows_purged_at,
    })),
  };
  if (state.legal_hold !== null) claims.legal_hold = state.legal_hold;
  return claims;
}

// ---- the map of each pair's latest entry (hushan.tlog.smt, hushan.tlog.maproot) ------------
async function mapKey(refA, refB) {
  const [lo, hi] = [refA, refB].sort();
  return sha256(utf8.encode(`hushan/map-key/v1\n${lo}\n${hi}`));
}

async function mapValue(pairN, index, leaf) {
  return sha256(concat(utf8.encode("hushan/map-value/v1\n"), u64(pairN), u64(index), leaf));
}

const bitOf = (bytes, depth) => (bytes[depth >> 3] >> (7 - (depth & 7))) & 1;

async function verifyMapProof(key, value, proof, root) {
  const { depth, present, siblings } = proof;
  const ones = [];
  for (let level = 0; level < 256; level++) if (bitOf(present, level)) ones.push(level);
  if (!(depth >= 0 && depth <= 256)) fail("map_proof_malformed");
  if (ones.some((level) => level >= depth)) fail("map_proof_malformed");
  if (ones.length !== siblings.length) fail("map_proof_malformed");
  if (siblings.some((s) => s.length !== 32)) fail("map_proof_malformed");
  let current = await sha256(concat(new Uint8Array([0]), key, value));
  const remaining = [...siblings];
  for (let level = depth - 1; level >= 0; level--) {
    const sibling = bitOf(present, level) ? remaining.pop() : new Uint8Array(32);
    current = bitOf(key, level)
      ? await sha256(concat(new Uint8Array([1]), sibling, current))
      : await sha256(concat(new Uint8Array([1]), current, sibling));
  }
  if (!equal(current, root)) fail("map_proof_root_mismatch");
}

function decodeMapRoot(text) {
  let value;
  try {
    value = JSON.parse(text);
  } catch {
    entryFail("map_root_leaf_malformed");
  }
  const keys = ["kind", "map", "size", "time", "v"];
  if (!isObject(value) || !sameKeys(value, keys) || canonical(value) !== text) {
    entryFail("map_root_leaf_malformed");
  }
  if (value.kind !== "map_root" || !isInt(value.v) || value.v !== 1) {
    entryFail("map_root_leaf_malformed");
  }
  if (!isInt(value.size) || value.size < 0 || typeof value.map !== "string" || !B64.test(value.map)) {
    entryFail("map_root_leaf_malformed");
  }
  const root = b64(value.map, "map_root_leaf_malformed");
  if (root.length !== 32) entryFail("map_root_leaf_malformed");
  return { root, size: value.size, time: parseTime(value.time, "map_root_leaf_malformed") };
}

async function checkMap(value, checkpoint, key, last) {
  if (!isObject(value) || !sameKeys(value, ["root_leaf", "key", "value", "proof"])) {
    fail("map_malformed");
  }
  const rootLeaf = value.root_leaf;
  if (!isObject(rootLeaf) || !sameKeys(rootLeaf, ["index", "entry", "proof"])) fail("map_malformed");
  if (!isInt(rootLeaf.index) || typeof rootLeaf.entry !== "string") fail("map_malformed");
  if (rootLeaf.index !== checkpoint.size - 1) {
    fail("map_root_of_another_checkpoint", `leaf ${rootLeaf.index}`);
  }
  let found;
  try {
    await verifyInclusion(
      rootLeaf.index,
      checkpoint.size,
      await leafHash(utf8.encode(rootLeaf.entry)),
      decodeProof(rootLeaf.proof, "map"),
      checkpoint.root,
    );
    found = decodeMapRoot(rootLeaf.entry);
  } catch (error) {
    if (error instanceof ProofError) fail("map_root_leaf_not_in_checkpoint", error.reason);
    if (error instanceof EntryError) fail(error.reason);
    throw error;
  }
  if (found.size !== rootLeaf.index) fail("map_root_of_another_checkpoint", `size ${found.size}`);
  if (value.key !== hex(key)) fail("map_value_of_another_pair");
  const mapped = value.value;
  if (!isObject(mapped) || !sameKeys(mapped, ["pair_n", "index", "leaf_hash"])) fail("map_malformed");
  const { pair_n: pairN, index } = mapped;
  if (!isInt(pairN) || !isInt(index) || pairN < 1 || index < 0) fail("map_malformed");
  const [leaf] = decodeProof([mapped.leaf_hash], "map");
  if (leaf.length !== 32) fail("map_malformed");
  const proof = value.proof;
  if (!isObject(proof) || !sameKeys(proof, ["depth", "present", "siblings"])) {
    fail("map_proof_malformed");
  }
  if (!isInt(proof.depth) || typeof proof.present !== "string" || !/^[0-9a-f]{64}$/.test(proof.present)) {
    fail("map_proof_malformed");
  }
  const present = new Uint8Array(proof.present.match(/../g).map((h) => parseInt(h, 16)));
  const siblings = decodeProof(proof.siblings, "map");
  await verifyMapProof(key, await mapValue(pairN, index, leaf), { depth: proof.depth, present, siblings }, found.root);
  const shown = last === null ? 0 : last.pair_n;
  if (pairN > shown) {
    fail("pair_entries_truncated", `the map holds pair_n ${pairN}, the entries end at ${shown}`);
  }
  if (
    last === null ||
    pairN !== shown ||
    index !== last.index ||
    !equal(leaf, await leafHash(utf8.encode(last.text)))
  ) {
    fail("map_value_does_not_match_entries");
  }
  return { time: found.time, pairN };
}

// ---- the certificate (hushan.tlog.certificate) ---------------------------------------------
async function signedBody(data, verifier) {
  let text;
  let documentValue;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(data);
    documentValue = JSON.parse(text, exactIntegers);
  } catch {
    fail("not_json");
  }
  if (!isObject(documentValue) || !sameKeys(documentValue, ["body", "signature"])) {
    fail("not_a_certificate");
  }
  const { body, signature } = documentValue;
  if (!isObject(body) || typeof signature !== "string") fail("not_a_certificate");
  if (`${canonical(documentValue)}\n` !== text) {
    fail("not_canonical", "the file is not byte-for-byte as issued");
  }
  try {
    await openNote(verifier, `${canonical(body)}\n\n${signature}`);
  } catch (error) {
    if (!(error instanceof NoteError)) throw error;
    fail(`signature_${error.reason.replace(/^signature_/, "")}`);
  }
  return body;
}

async function includedEntries(value, checkpoint, vocab) {
  if (!Array.isArray(value)) fail("entries_malformed");
  const logged = [];
  let last = -1;
  for (const [i, item] of value.entries()) {
    const where = `entry ${i + 1}`;
    if (!isObject(item) || !sameKeys(item, ["index", "entry", "proof"])) fail("entries_malformed", where);
    if (!isInt(item.index) || typeof item.entry !== "string") fail("entries_malformed", where);
    if (item.index <= last) fail("entries_out_of_order", where);
    last = item.index;
    try {
      await verifyInclusion(
        item.index,
        checkpoint.size,
        await leafHash(utf8.encode(item.entry)),
        decodeProof(item.proof, where),
        checkpoint.root,
      );
      logged.push({ ...decodeEntry(item.entry, vocab), index: item.index, text: item.entry });
    } catch (error) {
      if (error instanceof ProofError || error instanceof EntryError) fail(error.reason, where);
      throw error;
    }
  }
  return logged;
}

function checkScope(scope, keyDestroyedAt) {
  if (!isObject(scope) || !sameKeys(scope, ["covers", "backups_expire_by", "text"])) {
    fail("scope_malformed");
  }
  const expiry = scope.backups_expire_by;
  if ((expiry === null) !== (keyDestroyedAt === null)) fail("scope_does_not_follow_from_entries");
  if (keyDestroyedAt !== null) {
    try {
      parseTime(expiry, "scope_malformed");
    } catch (error) {
      if (error instanceof EntryError) fail(error.reason);
      throw error;
    }
    if (expiry < keyDestroyedAt) fail("scope_does_not_follow_from_entries");
  }
}

async function userRef(salt, userId) {
  return hex(await sha256(concat(utf8.encode("hushan/user-ref/v1\n"), salt, utf8.encode(userId))));
}

async function checkDisclosure(value, a, b) {
  if (value === null) return null;
  if (!isObject(value) || !sameKeys(value, ["salt", "a", "b"])) fail("disclosure_malformed");
  if (typeof value.salt !== "string" || !/^([0-9a-fA-F]{2})*$/.test(value.salt)) {
    fail("disclosure_malformed");
  }
  if (typeof value.a !== "string" || typeof value.b !== "string") fail("disclosure_malformed");
  const salt = new Uint8Array((value.salt.match(/../g) || []).map((h) => parseInt(h, 16)));
  if ((await userRef(salt, value.a)) !== a || (await userRef(salt, value.b)) !== b) {
    fail("disclosure_does_not_match_refs");
  }
  return { a: value.a, b: value.b };
}

async function verifyCertificate(data, keyText, vocab) {
  let verifier;
  try {
    verifier = await parseVerifier(keyText);
  } catch (error) {
    if (error instanceof NoteError) fail(error.reason);
    throw error;
  }
  const body = await signedBody(data, verifier);
  const format1 = body.format === vocab.format_1;
  if (!sameKeys(body, format1 ? vocab.body_keys_1 : vocab.body_keys)) fail("body_fields_wrong");
  if (body.format !== vocab.format && !format1) fail("format_unknown", String(body.format));
  if (body.origin !== verifier.name) fail("origin_is_not_the_key_name");
  if (!vocab.legal_bases.includes(body.legal_basis)) fail("legal_basis_unknown");
  try {
    parseTime(body.issued_at, "issued_at_malformed");
  } catch (error) {
    if (error instanceof EntryError) fail(error.reason);
    throw error;
  }
  const checkpoint = await openCheckpoint(body.checkpoint, verifier, body.origin, "checkpoint");
  const pair = body.pair;
  if (!isObject(pair) || !sameKeys(pair, ["a", "b"])) fail("pair_malformed");
  const { a, b } = pair;
  const isRef = (v) => typeof v === "string" && REF.test(v);
  if (!(isRef(a) && isRef(b) && a !== b)) fail("pair_malformed");
  const logged = await includedEntries(body.entries, checkpoint, vocab);
  let state;
  try {
    state = replay(logged, a, b, vocab);
  } catch (error) {
    if (error instanceof EntryError) fail(error.reason);
    throw error;
  }
  const derived = claimsOf(state);
  if (format1) delete derived.history;
  if (canonical(body.claims) !== canonical(derived)) {
    const field = Object.keys(derived).find(
      (k) => !isObject(body.claims) || canonical(body.claims[k] ?? null) !== canonical(derived[k]),
    );
    fail("claims_do_not_follow_from_entries", field || "claims");
  }
  checkScope(body.scope, state.key_destroyed_at);
  if (body.previous !== null) {
    const previous = body.previous;
    if (!isObject(previous) || !sameKeys(previous, ["checkpoint", "consistency"])) {
      fail("previous_malformed");
    }
    const older = await openCheckpoint(previous.checkpoint, verifier, checkpoint.origin, "previous");
    try {
      await verifyConsistency(
        older.size,
        checkpoint.size,
        older.root,
        checkpoint.root,
        decodeProof(previous.consistency, "previous"),
      );
    } catch (error) {
      if (error instanceof ProofError) fail(`previous_${error.reason}`);
      throw error;
    }
  }
  if (body.earlier !== null) {
    const earlier = body.earlier;
    if (!isObject(earlier) || !sameKeys(earlier, ["size", "consistency"])) fail("earlier_malformed");
    if (!isInt(earlier.size) || !(earlier.size > 0 && earlier.size <= checkpoint.size)) {
      fail("earlier_malformed");
    }
    decodeProof(earlier.consistency, "earlier");
  }
  const disclosed = await checkDisclosure(body.disclosure, a, b);
  const verdict = { checkpoint, entries: logged.length, claims: derived, disclosed, time: null };
  if (format1) return verdict;
  const last = logged.length ? logged[logged.length - 1] : null;
  const map = await checkMap(body.map, checkpoint, await mapKey(a, b), last);
  return { ...verdict, time: map.time, latestPairN: map.pairN };
}

// ---- the page ------------------------------------------------------------------------------
function show(verdict, ok, lines) {
  const box = document.getElementById("verdict");
  box.className = ok ? "verdict-ok" : "verdict-bad";
  box.replaceChildren();
  const head = document.createElement("p");
  const strong = document.createElement("strong");
  strong.textContent = ok ? box.dataset.ok : box.dataset.bad;
  head.append(strong);
  box.append(head);
  for (const [label, text, id] of lines) {
    const p = document.createElement("p");
    p.textContent = `${label}: ${text}`;
    if (id) p.id = id;
    box.append(p);
  }
  box.dataset.verdict = verdict;
}

const form = document.getElementById("verify-form");
if (form) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const file = document.getElementById("certificate-file").files[0];
    if (!file) return;
    const vocab = JSON.parse(document.getElementById("verifier-vocab").textContent);
    const key = document.getElementById("log-key").textContent;
    const box = document.getElementById("verdict");
    try {
      const verdict = await verifyCertificate(new Uint8Array(await file.arrayBuffer()), key, vocab);
      const as = verdict.time ? `, ${verdict.time}` : "";
      show("valid", true, [
        ["checkpoint", `${verdict.checkpoint.size}${as}`],
        ["entries", String(verdict.entries)],
        ["relation", verdict.claims.relation],
        ["history", String(verdict.claims.history_state)],
      ]);
    } catch (error) {
      const reason = error instanceof CertificateError ? error.message : `not_checked: ${error}`;
      show("rejected", false, [[box.dataset.reason, reason, "verdict-reason"]]);
    }
  });
}

if (typeof module !== "undefined") module.exports = { verifyCertificate, canonical };
