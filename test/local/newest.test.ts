import { describe, expect, it } from 'vitest';
import { Newest } from '../../local/newest.js';

describe('Newest', () => {
  it('keeps the newest items, oldest first, past its capacity and after a clear', () => {
    const newest = new Newest<number>(3);
    for (let i = 1; i <= 2; i++) newest.push(i);
    expect(newest.toArray()).toEqual([1, 2]);
    for (let i = 3; i <= 7; i++) newest.push(i);
    expect(newest.toArray()).toEqual([5, 6, 7]);
    newest.clear();
    newest.push(8);
    expect(newest.toArray()).toEqual([8]);
  });
});
