import { Injectable } from '@nestjs/common';
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { ServiceUnavailableError } from '../common/app-error';
import type { AppConfig } from '../config/app-config';
import { InjectConfig } from '../config/config.module';

/** What the database stores: AES-256-GCM of the secrets' JSON, and which key sealed it. */
export interface SealedSecrets {
  v: 1;
  kid: string;
  iv: string;
  tag: string;
  data: string;
}

/** A key's id: the first 16 hex digits of its SHA-256 (identifies, does not reveal, the key). */
export function keyId(key: Buffer): string {
  return createHash('sha256').update(key).digest('hex').slice(0, 16);
}

/**
 * Encrypts adapter secrets under SECRETS_KEY. Secrets sealed under SECRETS_KEY_PREVIOUS still open,
 * so a key can be rotated: set the new key, keep the old one as previous, run `npm run secrets:rotate`,
 * then drop the previous key.
 */
@Injectable()
export class SecretsCipher {
  private readonly keys = new Map<string, Buffer>();
  private readonly current: { id: string; key: Buffer } | undefined;

  constructor(@InjectConfig() config: AppConfig) {
    const { key, previousKey } = config.secrets;
    if (previousKey !== undefined) this.keys.set(keyId(previousKey), previousKey);
    if (key !== undefined) {
      this.current = { id: keyId(key), key };
      this.keys.set(this.current.id, key);
    }
  }

  get currentKeyId(): string | undefined {
    return this.current?.id;
  }

  seal(secrets: object): SealedSecrets {
    if (this.current === undefined) {
      throw new ServiceUnavailableError(
        'SECRETS_KEY_MISSING',
        'Adapter secrets cannot be stored: SECRETS_KEY is not configured on this server.',
      );
    }
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.current.key, iv);
    const data = Buffer.concat([cipher.update(JSON.stringify(secrets), 'utf8'), cipher.final()]);
    return {
      v: 1,
      kid: this.current.id,
      iv: iv.toString('base64'),
      tag: cipher.getAuthTag().toString('base64'),
      data: data.toString('base64'),
    };
  }

  open<T>(sealed: SealedSecrets): T {
    const key = this.keys.get(sealed.kid);
    if (key === undefined) {
      throw new ServiceUnavailableError(
        'SECRETS_KEY_UNKNOWN',
        'Adapter secrets were sealed with a key this server does not have (set SECRETS_KEY or SECRETS_KEY_PREVIOUS).',
      );
    }
    const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(sealed.iv, 'base64'));
    decipher.setAuthTag(Buffer.from(sealed.tag, 'base64'));
    const json = Buffer.concat([
      decipher.update(Buffer.from(sealed.data, 'base64')),
      decipher.final(),
    ]).toString('utf8');
    return JSON.parse(json) as T;
  }
}
