// Numeric LOCAL_CLOUD_* settings: one rule, a malformed or out-of-range value is an error naming the setting.
import { afterEach, describe, expect, it } from 'vitest';
import { numberSetting, parseNumberSetting } from '../../local/settings.js';
import { startLocalCloud } from '../../local/index.js';
import { FIXTURE_TEMPLATE } from './helpers.js';

const NAMES = [
  'LOCAL_CLOUD_RETRY_DELAY_MS',
  'LOCAL_CLOUD_INTEGRATION_TIMEOUT_MS',
  'LOCAL_CLOUD_TTL_SWEEP_MS',
  'LOCAL_CLOUD_DEFAULT_CONCURRENCY',
  'LOCAL_CLOUD_MAX_WORKERS',
  'LOCAL_CLOUD_API_THROTTLING',
];

afterEach(() => {
  for (const name of NAMES) delete process.env[name];
});

describe('numeric settings', () => {
  const ms = { min: 0, max: 1000, integer: true };

  it('reads plain numbers and treats unset or empty as the default', () => {
    expect(parseNumberSetting('X', ' 250 ', ms)).toBe(250);
    expect(parseNumberSetting('X', '0.5', { min: 0, max: 1 })).toBe(0.5);
    delete process.env.LOCAL_CLOUD_RETRY_DELAY_MS;
    expect(numberSetting('LOCAL_CLOUD_RETRY_DELAY_MS', ms)).toBeUndefined();
    process.env.LOCAL_CLOUD_RETRY_DELAY_MS = ' ';
    expect(numberSetting('LOCAL_CLOUD_RETRY_DELAY_MS', ms)).toBeUndefined();
  });

  it('rejects typos, units, fractions where a whole number is due, and values out of range', () => {
    for (const bad of ['29s', '1e', 'abc', '0x10', '1,000', '2.5', '-1', '1001', 'Infinity', 'NaN']) {
      expect(() => parseNumberSetting('LOCAL_CLOUD_X', bad, ms), bad).toThrow(/^LOCAL_CLOUD_X must be a whole number from 0 to 1000, got "/);
    }
  });

  it.each([
    ['LOCAL_CLOUD_INTEGRATION_TIMEOUT_MS', '29s'],
    ['LOCAL_CLOUD_RETRY_DELAY_MS', 'soon'],
    ['LOCAL_CLOUD_TTL_SWEEP_MS', '0'],
    ['LOCAL_CLOUD_DEFAULT_CONCURRENCY', '0'],
    ['LOCAL_CLOUD_MAX_WORKERS', '2.5'],
    ['LOCAL_CLOUD_API_THROTTLING', '10,x'],
  ])('refuses to start with %s=%s', async (name, value) => {
    process.env[name] = value;
    await expect(startLocalCloud({ templatePath: FIXTURE_TEMPLATE })).rejects.toThrow(name);
  });
});
