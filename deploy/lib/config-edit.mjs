#!/usr/bin/env node
// Sets keys in a piwire configuration file (JSON) for the installer and the first-boot
// step, so shell scripts never edit JSON with sed:
//
//   node config-edit.mjs FILE dotted.key=VALUE ... [-dotted.key ...]
//
// VALUE is read as JSON when it parses (numbers, true, {"a": 1}), else as a string;
// `-key` deletes a key. The file is rewritten atomically (temporary file + rename) with
// its mode and owner kept (the service reads it through its group), two-space
// indented, and the firmware validates it at start-up.
import { chownSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';

function fail(message) {
  process.stderr.write(`config-edit: ${message}\n`);
  process.exit(2);
}

const [file, ...edits] = process.argv.slice(2);
if (file === undefined || edits.length === 0) fail('usage: config-edit.mjs FILE key=VALUE ... [-key ...]');

let config;
try {
  config = JSON.parse(readFileSync(file, 'utf8'));
} catch (error) {
  fail(`cannot read ${file}: ${error.message}`);
}
if (typeof config !== 'object' || config === null || Array.isArray(config)) fail(`${file} does not hold a JSON object`);

const FORBIDDEN = new Set(['__proto__', 'constructor', 'prototype']);

function walk(path, create) {
  const keys = path.split('.');
  if (keys.some((key) => key === '' || FORBIDDEN.has(key))) fail(`bad key ${path}`);
  let node = config;
  for (const key of keys.slice(0, -1)) {
    if (typeof node[key] !== 'object' || node[key] === null || Array.isArray(node[key])) {
      if (!create) return undefined;
      node[key] = {};
    }
    node = node[key];
  }
  return { node, last: keys[keys.length - 1] };
}

for (const edit of edits) {
  if (edit.startsWith('-')) {
    const place = walk(edit.slice(1), false);
    if (place) delete place.node[place.last];
    continue;
  }
  const equals = edit.indexOf('=');
  if (equals <= 0) fail(`expected key=VALUE, got ${edit}`);
  const text = edit.slice(equals + 1);
  let value;
  try {
    value = JSON.parse(text);
  } catch {
    value = text;
  }
  const place = walk(edit.slice(0, equals), true);
  place.node[place.last] = value;
}

const temporary = `${file}.tmp-${process.pid}`;
const original = statSync(file);
writeFileSync(temporary, `${JSON.stringify(config, null, 2)}\n`, { mode: original.mode & 0o7777 });
// A root-owned file with group piwire and mode 0640 must stay readable by the service.
if (process.getuid?.() === 0) chownSync(temporary, original.uid, original.gid);
renameSync(temporary, file);
