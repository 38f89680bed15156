import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  authMessage,
  clientProof,
  createStoredSecret,
  decoySecret,
  deriveKeys,
  formatStoredSecret,
  parseStoredSecret,
  serverSignature,
  verifyClientProof,
  verifyPassword,
  verifyServerSignature,
  type ScryptParameters,
} from '../../../src/services/shell/auth.ts';

/** Small scrypt cost: the tests exercise the protocol, not the work factor. */
const FAST: ScryptParameters = { N: 1024, r: 8, p: 1 };
const SALT = Buffer.from('000102030405060708090a0b0c0d0e0f', 'hex');

async function exchange(password: string) {
  const stored = await createStoredSecret('correct horse', SALT, FAST);
  const keys = await deriveKeys(password, stored.salt, stored.parameters);
  const message = authMessage({ user: 'op', clientNonce: 'Y2xpZW50bm9uY2UxMjM0', serverNonce: 'c2VydmVybm9uY2U1Njc4', parameters: FAST, salt: SALT.toString('base64') });
  return { stored, keys, message };
}

describe('stored form', () => {
  it('formats as scrypt$params$salt$StoredKey$ServerKey and parses back', async () => {
    const stored = await createStoredSecret('correct horse', SALT, FAST);
    const text = formatStoredSecret(stored);
    assert.match(text, /^scrypt\$N=1024,r=8,p=1\$AAECAwQFBgcICQoLDA0ODw==\$[A-Za-z0-9+/]{43}=\$[A-Za-z0-9+/]{43}=$/);
    const parsed = parseStoredSecret(text);
    assert.ok(parsed);
    assert.deepEqual(parsed, stored);
  });

  it('rejects malformed stored forms without throwing', () => {
    for (const bad of ['', 'scrypt', 'bcrypt$N=1024,r=8,p=1$AAAA$AAAA$AAAA', 'scrypt$N=1000,r=8,p=1$AAECAwQFBgcICQoLDA0ODw==$x$y',
      'scrypt$N=1024,r=8,p=1$AAECAwQFBgcICQoLDA0ODw==$AAAA$AAAA', 'scrypt$N=4194304,r=8,p=1$AAECAwQFBgcICQoLDA0ODw==$a$b']) {
      assert.equal(parseStoredSecret(bad), undefined, bad);
    }
  });
});

describe('challenge-response', () => {
  it('the right secret logs in and the server signature verifies', async () => {
    const { stored, keys, message } = await exchange('correct horse');
    assert.equal(verifyClientProof(stored, message, clientProof(keys, message)), true);
    assert.equal(verifyServerSignature(keys, message, serverSignature(stored.serverKey, message)), true);
  });

  it('a wrong secret never logs in', async () => {
    const { stored, keys, message } = await exchange('wrong horse');
    assert.equal(verifyClientProof(stored, message, clientProof(keys, message)), false);
  });

  it('a proof for one challenge does not work for another (replay)', async () => {
    const { stored, keys, message } = await exchange('correct horse');
    const proof = clientProof(keys, message);
    assert.equal(verifyClientProof(stored, message.replace('c2VydmVybm9uY2U1Njc4', 'b3RoZXJub25jZQ=='), proof), false);
  });

  it('the stored form alone is not enough to log in', async () => {
    const { stored, message } = await exchange('correct horse');
    // An attacker with the configuration file knows StoredKey and ServerKey.
    const stolen = parseStoredSecret(formatStoredSecret(stored))!;
    // StoredKey in place of ClientKey: SHA-256(StoredKey) is not StoredKey.
    const forged = clientProof({ clientKey: stolen.storedKey, storedKey: stolen.storedKey, serverKey: stolen.serverKey }, message);
    assert.equal(verifyClientProof(stored, message, forged), false);
    assert.equal(verifyClientProof(stored, message, stolen.storedKey), false);
    // The stored form (or its StoredKey) presented as a password on the TLS port.
    assert.equal(await verifyPassword(stored, formatStoredSecret(stolen)), false);
    assert.equal(await verifyPassword(stored, stolen.storedKey.toString('base64')), false);
  });

  it('a truncated or empty proof fails', async () => {
    const { stored, keys, message } = await exchange('correct horse');
    assert.equal(verifyClientProof(stored, message, clientProof(keys, message).subarray(0, 31)), false);
    assert.equal(verifyClientProof(stored, message, new Uint8Array(0)), false);
  });

  it('the client rejects a server that does not hold the stored form', async () => {
    const { keys, message } = await exchange('correct horse');
    const impostor = await createStoredSecret('something else', SALT, FAST);
    assert.equal(verifyServerSignature(keys, message, serverSignature(impostor.serverKey, message)), false);
  });
});

describe('password login and decoys', () => {
  it('verifyPassword accepts only the password', async () => {
    const stored = await createStoredSecret('pässword', SALT, FAST);
    assert.equal(await verifyPassword(stored, 'pässword'), true);
    assert.equal(await verifyPassword(stored, 'password'), false);
    assert.equal(await verifyPassword(stored, ''), false);
  });

  it('decoy secrets are stable per user and differ between users', () => {
    const key = Buffer.alloc(32, 7);
    assert.deepEqual(decoySecret(key, 'ghost').salt, decoySecret(key, 'ghost').salt);
    assert.notDeepEqual(decoySecret(key, 'ghost').salt, decoySecret(key, 'other').salt);
  });
});
