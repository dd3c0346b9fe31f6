import { randomBytes } from 'node:crypto';
import type { AppConfig } from '../config/app-config';
import { keyId, SecretsCipher } from './secrets-cipher';

const cipherWith = (key?: Buffer, previousKey?: Buffer) =>
  new SecretsCipher({ secrets: { key, previousKey } } as unknown as AppConfig);

describe('SecretsCipher', () => {
  const secret = { bearerToken: 'tok-SECRET-123' };

  it('seals without the plaintext and opens again', () => {
    const cipher = cipherWith(randomBytes(32));
    const sealed = cipher.seal(secret);
    expect(JSON.stringify(sealed)).not.toContain('SECRET');
    expect(cipher.open(sealed)).toEqual(secret);
    expect(cipher.seal(secret).iv).not.toBe(sealed.iv);
  });

  it('opens secrets sealed under the previous key after a rotation, and refuses tampering', () => {
    const oldKey = randomBytes(32);
    const newKey = randomBytes(32);
    const sealed = cipherWith(oldKey).seal(secret);
    const rotated = cipherWith(newKey, oldKey);
    expect(rotated.open(sealed)).toEqual(secret);
    expect(rotated.seal(secret).kid).toBe(keyId(newKey));
    expect(() => cipherWith(newKey).open(sealed)).toThrow(
      expect.objectContaining({ code: 'SECRETS_KEY_UNKNOWN' }),
    );
    const tampered = { ...sealed, data: Buffer.from('x' + sealed.data).toString('base64') };
    expect(() => rotated.open(tampered)).toThrow();
  });

  it('refuses to store secrets without a key', () => {
    expect(() => cipherWith().seal(secret)).toThrow(expect.objectContaining({ code: 'SECRETS_KEY_MISSING' }));
  });
});
